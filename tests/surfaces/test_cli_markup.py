"""Data is shown, never obeyed: Rich markup (``[/x]``, ``[bold]``) and terminal escape codes in a
command, a step or artifact name, or a step's stderr print as written, in a pipe and on a terminal."""

from __future__ import annotations

import json
import sys

import pytest
from rich.text import Text

PY = sys.executable
MARKUP = "[/x][bold]"
TITLE = "\x1b]0;pwned\x07"  # sets the terminal's title when echoed raw
SCRIPT = f"""import os, sys
if os.path.exists(sys.argv[2]):
    sys.stderr.write("[/x] broke [bold] {TITLE.encode('unicode_escape').decode()}\\n")
    sys.exit(1)
print(sys.argv[1])
"""


@pytest.fixture
def edited(cli, db_url, tmp_path):
    """A recorded step whose command holds markup, its name and output's name edited in the
    registry to hold markup and an escape code, and which fails on replay writing both to stderr."""
    from sqlalchemy import create_engine, text

    (tmp_path / "echo.py").write_text(SCRIPT)
    marker = tmp_path / "fail-now"
    proc = cli("run", "-i", "echo.py", "--stdout", "out.txt", "--step", "fit", "--", PY, "echo.py", MARKUP, marker, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout.split()[0]
    engine = create_engine(db_url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE processing_steps SET name = :n"), {"n": f"[bold]fit{TITLE}"})
        conn.execute(text("UPDATE artifacts SET name = :n WHERE id = :a"), {"n": f"[/x]out{TITLE}.txt", "a": out})
    engine.dispose()
    marker.write_text("")
    return out


def _check(proc, code: int) -> str:
    both = proc.stdout + proc.stderr
    assert proc.returncode == code and "Traceback" not in proc.stderr, proc.stderr
    assert TITLE not in both and "\x07" not in both, both
    assert "\\x1b]0;pwned\\x07" in both
    return Text.from_ansi(proc.stdout).plain


@pytest.mark.parametrize("terminal", [False, True], ids=["pipe", "terminal"])
def test_markup_and_escape_codes_in_data_print_as_written(cli, edited, monkeypatch, terminal):
    if terminal:
        monkeypatch.setenv("TTY_COMPATIBLE", "1")
        monkeypatch.setenv("COLUMNS", "250")
    chain = _check(cli("chain", edited), 0)
    assert MARKUP in chain and "[bold]fit" in chain and "[/x]out" in chain
    plan = _check(cli("rerun-artifact", edited, "--dry-run"), 0)
    assert MARKUP in plan and "[bold]fit" in plan
    replay = cli("rerun-artifact", edited)
    shown = _check(replay, 1)
    assert "[bold]fit" in shown and "[/x] broke [bold]" in shown
    assert "[/x] broke [bold]" in replay.stderr  # the per-step line
    (run,) = json.loads(cli("runs", "--json").stdout)
    show = _check(cli("runs", "show", run["run_id"]), 0)
    assert "[bold]fit" in show and "[/x] broke [bold]" in show
