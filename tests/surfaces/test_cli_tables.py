"""CLI tables: on a terminal, folded to its width and never cropped; in a pipe, plain and parseable."""

from __future__ import annotations

import sys

from rich.text import Text

PY = sys.executable
LONG = "--label=" + "very-long-sample-label-" * 6


def recorded(cli, tmp_path) -> str:
    (tmp_path / "echo.py").write_text("import sys\nprint(sys.argv[1])\n")
    proc = cli("run", "-i", "echo.py", "--stdout", "label.txt", "--step", "label", "--", PY, "echo.py", LONG, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.split()[0]


def test_in_a_pipe_a_table_is_tab_separated_with_every_value_whole(cli, tmp_path):
    out = recorded(cli, tmp_path)
    lines = cli("chain", out).stdout.splitlines()
    assert lines[0] == f"# chain of {out} (label.txt)"
    assert lines[1].split("\t") == ["#", "step", "type", "inputs → outputs", "command"]
    (row,) = [line.split("\t") for line in lines[2:]]
    assert row[:3] == ["1", f"label ({row[1].split('(')[1]}", "shell"] and row[4] == f"{PY} echo.py {LONG} > label.txt"
    types = cli("step-types").stdout.splitlines()
    assert types[0].split("\t") == ["step_type", "steps", "handler"] and "shell\t1\tyes" in types


def test_on_a_narrow_terminal_a_table_folds_to_its_width_and_crops_nothing(cli, tmp_path, monkeypatch):
    out = recorded(cli, tmp_path)
    monkeypatch.setenv("TTY_COMPATIBLE", "1")  # rich draws for a terminal, as on a real one
    monkeypatch.setenv("COLUMNS", "60")
    for args in (("chain", out), ("rerun-artifact", out, "--dry-run"), ("step-types",)):
        text = cli(*args).stdout
        assert "┃" in text and "…" not in text, text
        assert max(Text.from_ansi(line).cell_len for line in text.splitlines()) <= 60, text
