"""``SCIDEX_REPLAY_ALLOW``, one policy for both Python step types: a ``python.call`` module must
be listed, a ``python.cell`` runs only when ``python.cell`` is; checked by the replaying process,
so a step whose subprocess does not see the variable is refused all the same."""

from __future__ import annotations

from pathlib import Path

from scidex_replay.handlers.allow import ALLOW_ENV, refusal
from scidex_replay.handlers.python_cell import PythonCellHandler
from scidex_replay.recording import record_call, record_step
from scidex_replay.replay import rerun_artifact

HERE = Path(__file__).parent


def test_the_policy_allows_everything_unset_listed_modules_and_cells_only_when_listed(monkeypatch):
    monkeypatch.delenv(ALLOW_ENV, raising=False)
    assert refusal("python.cell", "import os") is None and refusal("python.call", "os:system") is None
    monkeypatch.setenv(ALLOW_ENV, "json, mylab")
    assert "does not list python.cell" in refusal("python.cell", "import json")
    assert refusal("python.call", "mylab.fit:run") is None and "module os" in refusal("python.call", "os:system")
    assert refusal("shell", "rm -rf /") is None  # not Python: a shell step runs its recorded command
    monkeypatch.setenv(ALLOW_ENV, "json, python.cell")
    assert refusal("python.cell", "import os") is None


def test_with_allow_set_a_cell_and_an_unlisted_call_are_refused_at_replay_without_running(registry, tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(HERE.parent / "replay"))
    monkeypatch.setenv("PYTHONPATH", str(HERE.parent / "replay"))
    import _funcs

    log = tmp_path / "ran.log"
    raw = tmp_path / "raw.txt"
    raw.write_text("x")
    source = f"open({str(log)!r}, 'a').write('cell\\n')\noutput.write_text('cell')\n"
    with record_step(registry, "python.cell", method=source, inputs=[str(raw)], output="cell.txt") as st:
        PythonCellHandler()(st.provisional_step(), st.inputs, st.output)
    # a call that declared its environment: its subprocess starts from that environment, not ours
    call = record_call(registry, _funcs.concat, inputs=[str(raw)], output="call.txt", tag="call", log=str(log), env={"A": "1"})
    log.unlink()

    monkeypatch.setenv(ALLOW_ENV, "json")
    for artifact in (st.artifact, call):
        report = rerun_artifact(artifact.id, registry=registry, executor="subprocess")
        step = report.manifest["steps"][-1]
        assert step["outcome"] == "failed" and ALLOW_ENV in step["reason"], step
    assert not log.exists(), log.read_text()

    monkeypatch.setenv(ALLOW_ENV, "json, python.cell, _funcs")
    assert all(rerun_artifact(a.id, registry=registry, executor="subprocess").ok for a in (st.artifact, call))
    assert log.read_text() == "cell\ncall\n"
