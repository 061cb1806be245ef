"""A run whose process died is ``interrupted``, never ``running`` forever; each step's result is
written when it is done (issue 19)."""

from __future__ import annotations

import subprocess
from datetime import datetime, timedelta, timezone

import _steps
import pytest
from sqlalchemy import update

from scidex_replay.errors import BadInput
from scidex_replay.outcomes import Outcome, Status
from scidex_replay.recording import record_call
from scidex_replay.registry.models import RunRow
from scidex_replay.registry.records import StepResult
from scidex_replay.replay import rerun_artifact


@pytest.fixture
def chain(registry):
    raw = registry.add_artifact(b"r\n", name="r.txt").id
    first = record_call(registry, _steps.shout, inputs=[raw], output="a.txt")
    second = record_call(registry, _steps.shout, inputs=[first.id], output="b.txt")
    return [registry.producing_step(a.id) for a in (first, second)]


def _run_of(registry, target: str, **row):
    run = registry.create_run(target_artifact_id=target, kind="replay", options={})
    if row:
        with registry.session() as s:
            s.execute(update(RunRow).where(RunRow.run_id == run.run_id).values(**row))
    return run.run_id


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def test_a_run_of_this_process_is_running_and_cannot_be_restarted(registry, chain):
    run_id = _run_of(registry, chain[-1].target_artifact_id)
    assert registry.get_run(run_id).status is Status.RUNNING
    with pytest.raises(BadInput, match=f"run {run_id} is still running"):
        rerun_artifact(chain[-1].target_artifact_id, registry=registry, restart=run_id)


def test_a_run_whose_process_is_gone_is_interrupted_in_the_registry_too(registry, chain):
    run_id = _run_of(registry, chain[-1].target_artifact_id, pid=_dead_pid())
    assert registry.get_run(run_id).status is Status.INTERRUPTED
    with registry.session() as s:
        assert s.get(RunRow, run_id).status == "interrupted"


def test_a_reused_pid_is_not_taken_for_the_run(registry, chain):
    """A live process that started after the run holds its pid: the run's process died."""
    run_id = _run_of(registry, chain[-1].target_artifact_id)
    stranger = subprocess.Popen(["sleep", "60"])
    try:
        with registry.session() as s:
            s.execute(update(RunRow).where(RunRow.run_id == run_id).values(pid=stranger.pid, started_at=datetime.now(timezone.utc) - timedelta(minutes=5)))
        assert [r.status for r in registry.runs() if r.run_id == run_id] == [Status.INTERRUPTED]
    finally:
        stranger.kill()
        stranger.wait()


def test_a_run_of_another_host_lives_while_its_heartbeat_is_fresh(registry, chain):
    fresh = _run_of(registry, chain[-1].target_artifact_id, host="elsewhere", heartbeat_at=datetime.now(timezone.utc))
    stale = _run_of(
        registry, chain[-1].target_artifact_id, host="elsewhere",
        heartbeat_at=datetime.now(timezone.utc) - timedelta(hours=1),
    )
    assert registry.get_run(fresh).status is Status.RUNNING
    assert registry.get_run(stale).status is Status.INTERRUPTED
    assert registry.get_run(stale).completed_at < datetime.now(timezone.utc) - timedelta(minutes=59)


def test_results_written_during_the_run_are_kept_and_finish_run_adds_only_the_missing(registry, chain):
    run_id = _run_of(registry, chain[-1].target_artifact_id)
    first, second = (StepResult(s.step_id, i, Outcome.REPRODUCED, True, "", duration_s=0.1) for i, s in enumerate(chain))
    registry.add_result(run_id, first)
    assert [r.step_id for r in registry.results(run_id)] == [chain[0].step_id]
    registry.finish_run(run_id, status="reproduced", results=[first, second], manifest={})
    assert [r.step_id for r in registry.results(run_id)] == [s.step_id for s in chain]


def test_a_killed_run_shows_what_it_did_and_how_to_go_on(registry, chain, cli):
    target = chain[-1].target_artifact_id
    run_id = _run_of(registry, target, pid=_dead_pid())
    registry.add_result(run_id, StepResult(chain[0].step_id, 0, Outcome.REPRODUCED, True, "", duration_s=0.1))
    shown = cli("runs", "show", run_id)
    assert shown.returncode == 0, shown.stderr
    assert "interrupted" in shown.stdout and chain[0].step_id in shown.stdout and chain[1].step_id not in shown.stdout
    assert f"--restart {run_id}" in shown.stderr
    assert rerun_artifact(target, registry=registry, restart=run_id).manifest["parent_run_id"] == run_id


def test_a_long_step_keeps_its_run_alive_with_heartbeats(registry, monkeypatch, tmp_path):
    import threading

    from scidex_replay.replay import engine

    marker, release = tmp_path / "started", tmp_path / "release"
    raw = registry.add_artifact(b"r\n", name="r.txt").id
    release.touch()
    slow = record_call(registry, _steps.wait_for_release, inputs=[raw], output="b.txt", marker=str(marker), release=str(release))
    release.unlink()
    marker.unlink()
    monkeypatch.setattr(engine, "HEARTBEAT_S", 0.1)
    replay = threading.Thread(target=rerun_artifact, args=(slow.id,), kwargs={"registry": registry})
    replay.start()
    try:
        while not marker.exists():
            assert replay.is_alive()
            replay.join(0.05)
        run_id = registry.runs(slow.id)[-1].run_id

        def beat():
            with registry.session() as s:
                return s.get(RunRow, run_id).heartbeat_at

        first = beat()
        replay.join(0.5)
        assert beat() > first, "the heartbeat goes on while the step runs"
    finally:
        release.touch()
        replay.join(60)
    assert registry.get_run(run_id).status is Status.REPRODUCED
