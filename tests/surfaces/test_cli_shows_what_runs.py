"""``chain`` and ``rerun-artifact --dry-run`` show what replay runs: a shell step's argv as it is in
the registry (never its free-text ``method``), a ``python.call``'s ``module:function``, a
``python.cell``'s source, every line of it."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from scidex_replay.handlers.python_cell import PythonCellHandler
from scidex_replay.recording import record_call, record_step

PY = sys.executable
HERE = Path(__file__).parent


def _set_parameters(db_url: str, parameters: dict) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(db_url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE processing_steps SET parameters = :p"), {"p": json.dumps(parameters)})
    engine.dispose()


@pytest.fixture
def echoed(cli, tmp_path):
    (tmp_path / "echo.py").write_text("import sys\nprint(sys.argv[1])\n")
    proc = cli("run", "-i", "echo.py", "--stdout", "said.txt", "--", PY, "echo.py", "recorded-word", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.split()[0]


def _commands(cli, out: str) -> list[str]:
    """The command column of ``chain``, of the plan, and the plan's JSON ``command``, in a pipe."""
    chain = cli("chain", out).stdout.splitlines()[2].split("\t")[4]
    plan = cli("rerun-artifact", out, "--dry-run").stdout.splitlines()[2].split("\t")[4]
    (row,) = json.loads(cli("rerun-artifact", out, "--dry-run", "--json").stdout)["steps"]
    return [chain, plan, row["command"]]


def test_an_argv_edited_in_the_registry_is_what_both_displays_show_and_what_runs(cli, echoed, db_url, registry):
    parameters = registry.producing_step(echoed).parameters
    _set_parameters(db_url, {**parameters, "argv": [PY, "echo.py", "edited-word"]})
    assert all(c == f"{PY} echo.py edited-word > said.txt" for c in _commands(cli, echoed))
    replay = cli("rerun-artifact", echoed)
    assert replay.returncode == 1 and "output-differs" in replay.stdout  # it ran the edited argv, as shown


def test_a_shell_step_without_an_argv_shows_that_nothing_runs_not_its_method(cli, echoed, db_url, registry):
    parameters = registry.producing_step(echoed).parameters
    _set_parameters(db_url, {k: v for k, v in parameters.items() if k != "argv"})
    for command in _commands(cli, echoed):
        assert "recorded-word" not in command and "nothing runs" in command, command


def test_python_steps_show_their_function_and_every_line_of_their_cell(cli, registry, tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(HERE.parent / "replay"))
    import _funcs

    raw = tmp_path / "raw.txt"
    raw.write_text("x")
    source = "text = inputs[0].read_text()\n\noutput.write_text(text * 2)\n"
    with record_step(registry, "python.cell", method=source, inputs=[str(raw)], output="cell.txt") as st:
        PythonCellHandler()(st.provisional_step(), st.inputs, st.output)
    call = record_call(registry, _funcs.concat, inputs=[st.artifact.id], output="call.txt", tag="t")
    lines = cli("chain", call.id).stdout.splitlines()
    assert [line.split("\t")[4] for line in lines[2:]] == [
        "text = inputs[0].read_text() ; output.write_text(text * 2)", "_funcs:concat",
    ]
