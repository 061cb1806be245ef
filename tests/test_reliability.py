"""Faults and concurrency: memory limits, kill mid-replay, two replays at once (issue 11)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import _steps

from scidex_replay.recording import record_call
from scidex_replay.registry import Registry
from scidex_replay.replay import rerun_artifact

CLI = str(Path(sys.executable).with_name("scidex-replay"))


def test_a_step_over_its_memory_limit_fails_alone(registry, monkeypatch, tmp_path):
    raw = registry.add_artifact(b"x\n", name="x.txt").id
    hog = record_call(registry, _steps.hog_memory, inputs=[raw], output="hog.txt", mib=1024)
    fine = record_call(registry, _steps.shout, inputs=[raw], output="fine.txt")
    top = record_call(registry, _steps.shout, inputs=[fine.id, hog.id], output="top.txt")
    monkeypatch.setenv("SCIDEX_REPLAY_MEMORY_LIMIT_MB", "300")  # enough for an interpreter, not for 1 GiB more
    report = rerun_artifact(top.id, registry=registry, executor="subprocess", out=tmp_path / "m")
    by_target = {s["target_artifact_id"]: s for s in report.manifest["steps"]}
    assert by_target[hog.id]["outcome"] == "failed", by_target[hog.id]["reason"]
    assert "MemoryError" in by_target[hog.id]["reason"]
    assert by_target[fine.id]["outcome"] == "reproduced"
    assert by_target[top.id]["reason"] == "skipped: upstream failed"


def test_kill_mid_replay_marks_the_run_interrupted_and_it_resumes(registry, home, tmp_path):
    marker, release = tmp_path / "started", tmp_path / "release"
    raw = registry.add_artifact(b"r\n", name="r.txt").id
    first = record_call(registry, _steps.shout, inputs=[raw], output="a.txt")
    release.touch()
    second = record_call(
        registry, _steps.wait_for_release, inputs=[first.id], output="b.txt", marker=str(marker), release=str(release)
    )
    release.unlink()
    marker.unlink()
    proc = subprocess.Popen([CLI, "rerun-artifact", second.id], env=dict(os.environ), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not marker.exists():
        assert time.monotonic() < deadline and proc.poll() is None, proc.stderr.read() if proc.poll() is not None else ""
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    run = registry.runs(second.id)[-1]
    assert run.status == "interrupted"
    assert [r.reason for r in registry.results(run.run_id)] == ["reproduced"]
    assert not list((registry.store.root / "tmp").glob("*")), "no partial blob is left in the store"
    release.touch()
    resumed = rerun_artifact(second.id, registry=registry, restart=run.run_id)
    assert resumed.ok
    assert [s["outcome"] for s in resumed.manifest["steps"]] == ["reused", "reproduced"]


def _chain(registry: Registry) -> str:
    current = registry.add_artifact(b"seed\n", name="seed.txt").id
    for _ in range(4):
        current = record_call(registry, _steps.shout, inputs=[current], output="x.txt").id
    return current


def test_two_replays_of_one_chain_at_once(registry):
    target = _chain(registry)
    procs = [
        subprocess.Popen([CLI, "rerun-artifact", target, "--json"], env=dict(os.environ), stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [e for _, e in outs]
    manifests = [json.loads(o) for o, _ in outs]
    assert manifests[0]["run_id"] != manifests[1]["run_id"]
    runs = registry.runs(target)
    assert sorted(r.run_id for r in runs) == sorted(m["run_id"] for m in manifests)
    for run in runs:
        assert run.status == "reproduced"
        assert [r.reason for r in registry.results(run.run_id)] == ["reproduced"] * 4
