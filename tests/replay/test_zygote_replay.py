"""A replay whose steps fork from a zygote gives the manifest a replay in fresh interpreters gives."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from scidex_replay.executors import zygote as zygotes
from scidex_replay.recording import record_call
from scidex_replay.replay import rerun_artifact

STEPS_DIR = Path(__file__).parents[1] / "executors"


def verdicts(report) -> list[tuple]:
    return [(s["step_id"], s["ok"], s["reason"], s["output_hash_live"], s["output_hash_replayed"]) for s in report.manifest["steps"]]


@pytest.mark.skipif(not zygotes.supported(), reason="the zygote runs on Linux only")
def test_a_chain_replays_to_the_same_verdicts_forked_and_fresh(registry, tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(STEPS_DIR))
    monkeypatch.delenv("SCIDEX_REPLAY_ZYGOTE", raising=False)
    import _zygote_steps

    log = tmp_path / "parents"
    current = registry.add_artifact(b"start\n", name="start.txt").id
    for k in range(4):
        current = record_call(registry, _zygote_steps.seeded, inputs=[current], output=f"out{k}.txt", log=str(log)).id
    log.write_text("")
    forked = rerun_artifact(current, registry=registry)
    parents = log.read_text().split()
    log.write_text("")
    monkeypatch.setenv("SCIDEX_REPLAY_ZYGOTE", "0")
    fresh = rerun_artifact(current, registry=registry)
    assert log.read_text().split() == [str(os.getpid())] * 4  # every step in a fresh interpreter
    assert parents[0] == str(os.getpid()) and set(parents[1:]) != {str(os.getpid())}  # steps 2-4 forked
    assert forked.ok and fresh.ok
    assert verdicts(forked) == verdicts(fresh)
    digest = hashlib.sha256(json.dumps(verdicts(forked)).encode()).hexdigest()
    assert digest == hashlib.sha256(json.dumps(verdicts(fresh)).encode()).hexdigest()
