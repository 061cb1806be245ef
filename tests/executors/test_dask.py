"""The Dask executor: independent steps of a wave in parallel, same manifest as the sequential executor.

Most tests share one LocalCluster of two worker processes per module, passed by
address, as a user's own scheduler would be. The CLI test and the own-cluster
tests let the executor start and close its own LocalCluster (thread workers by
default, worker processes on request).
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import socket
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import distributed  # the test extra installs dask[distributed]
import pytest

from scidex_replay.errors import BadInput, OutputMissing, StepFailed
from scidex_replay.executors import get_executor
from scidex_replay.executors.dask import DaskExecutor
from scidex_replay.handlers.python_call import PythonCallHandler
from scidex_replay.handlers.spec import ReplayedArtifact
from scidex_replay.recording import record_call
from scidex_replay.registry.records import Step
from scidex_replay.replay import rerun_artifact

HERE = Path(__file__).resolve().parent
VOLATILE_STEP_KEYS = {"duration_s"}
VOLATILE_KEYS = {"run_id", "started_at", "completed_at"}


def with_here(pythonpath: str | None) -> str:
    return os.pathsep.join(filter(None, [str(HERE), pythonpath]))


@pytest.fixture(scope="module")
def dask_address():
    """A two-worker LocalCluster whose workers can import ``_dask_steps``."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PYTHONPATH", with_here(os.environ.get("PYTHONPATH")))
        cluster = distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address="127.0.0.1:0",
            scheduler_kwargs={"dashboard": False}, silence_logs=logging.ERROR,
        )
    try:
        yield cluster.scheduler_address
    finally:
        cluster.close()


@pytest.fixture
def steps(monkeypatch):
    """``_dask_steps``, importable here and by the subprocess executor's child."""
    monkeypatch.syspath_prepend(str(HERE))
    monkeypatch.setenv("PYTHONPATH", with_here(os.environ.get("PYTHONPATH")))
    return importlib.import_module("_dask_steps")


def comparable(manifest: dict) -> dict:
    """The manifest less what differs between any two runs (ids, clock times, the executor option)."""
    kept = {k: v for k, v in manifest.items() if k not in VOLATILE_KEYS}
    kept["options"] = {k: v for k, v in manifest["options"].items() if k != "executor"}
    kept["steps"] = [{k: v for k, v in s.items() if k not in VOLATILE_STEP_KEYS} for s in manifest["steps"]]
    return kept


def by_step(report) -> dict[str, dict]:
    return {s["step_id"]: s for s in report.manifest["steps"]}


def diamond(reg, steps) -> dict[str, str]:
    """src -> a, b, c (one wave of three) -> join(a, b, c) -> last; returns artifact ids by name."""
    ids = {"src": reg.add_artifact(b"seed\n", name="seed.txt").id}
    for tag in "abc":
        ids[tag] = record_call(reg, steps.tagged, inputs=[ids["src"]], output=f"{tag}.txt", tag=tag).id
    ids["join"] = record_call(reg, steps.tagged, inputs=[ids["a"], ids["b"], ids["c"]], output="join.txt", tag="j").id
    ids["last"] = record_call(reg, steps.tagged, inputs=[ids["join"]], output="last.txt", tag="!").id
    return ids


def test_get_executor_dask_is_a_dask_executor_on_the_given_scheduler(dask_address):
    with get_executor("dask", address=dask_address, timeout_s=7) as ex:
        assert isinstance(ex, DaskExecutor)
        assert ex.address == dask_address and ex.step_options["timeout_s"] == 7
        assert ex.client.scheduler_info()["address"] == dask_address


def test_get_executor_dask_without_dask_installed_is_bad_input_naming_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)
    monkeypatch.delitem(sys.modules, "scidex_replay.executors.dask")
    with pytest.raises(BadInput, match=r"^the dask executor needs `pip install scidex-replay\[dask\]`$"):
        get_executor("dask")


def test_rerun_artifact_on_dask_without_dask_installed_is_bad_input_before_any_run(registry, steps, monkeypatch, tmp_path):
    target = diamond(registry, steps)["last"]
    monkeypatch.setitem(sys.modules, "distributed", None)
    monkeypatch.delitem(sys.modules, "scidex_replay.executors.dask")
    with pytest.raises(BadInput, match="pip install scidex-replay"):
        rerun_artifact(target, registry=registry, executor="dask", out=tmp_path / "m")
    assert registry.runs() == []


def test_a_scheduler_address_for_another_executor_is_bad_input():
    with pytest.raises(BadInput, match="use executor dask"):
        get_executor("kernel", address="tcp://127.0.0.1:8786")


def test_an_unreachable_scheduler_is_bad_input_naming_the_address():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens there once the socket is closed
    with pytest.raises(BadInput, match=f"cannot reach the dask scheduler at tcp://127.0.0.1:{port}"):
        DaskExecutor(f"tcp://127.0.0.1:{port}", connect_timeout_s=1)


def test_wide_dag_replays_on_dask_with_the_manifest_of_the_sequential_executor(registry, steps, dask_address, tmp_path):
    ids = diamond(registry, steps)
    sequential = rerun_artifact(ids["last"], registry=registry, executor="subprocess", out=tmp_path / "seq")
    parallel = rerun_artifact(ids["last"], registry=registry, executor="dask", dask_address=dask_address, out=tmp_path / "dask")
    assert sequential.ok and parallel.ok
    assert parallel.manifest["options"]["executor"] == "dask"
    assert parallel.manifest["summary"] == {"reproduced": 5}
    assert comparable(parallel.manifest) == comparable(sequential.manifest)
    written = json.loads((tmp_path / "dask" / "manifest.json").read_text())
    assert [s["output_hash_replayed"] for s in written["steps"]] == [s["output_hash_live"] for s in written["steps"]]


def test_a_failing_branch_stops_only_its_dependents(registry, steps, dask_address, tmp_path):
    flag = tmp_path / "flag"
    src = registry.add_artifact(b"seed\n", name="seed.txt").id
    good = record_call(registry, steps.tagged, inputs=[src], output="good.txt", tag="g").id
    bad = record_call(registry, steps.fails_when_flagged, inputs=[src], output="bad.txt", flag=str(flag)).id
    good2 = record_call(registry, steps.tagged, inputs=[good], output="good2.txt", tag="G").id
    bad2 = record_call(registry, steps.tagged, inputs=[bad], output="bad2.txt", tag="B").id
    target = record_call(registry, steps.tagged, inputs=[good2, bad2], output="both.txt", tag="=").id
    flag.touch()

    report = rerun_artifact(target, registry=registry, executor="dask", dask_address=dask_address, out=tmp_path / "d")
    sequential = rerun_artifact(target, registry=registry, executor="subprocess", out=tmp_path / "s")

    step_of = {a: registry.producing_step(a).step_id for a in (good, bad, good2, bad2, target)}
    got = by_step(report)
    assert got[step_of[good]]["reason"] == "reproduced"
    assert got[step_of[good2]]["reason"] == "reproduced"
    assert got[step_of[bad]]["reason"] == "failed: RuntimeError: the flag is up"
    assert got[step_of[bad2]]["reason"] == "skipped: upstream failed"
    assert got[step_of[target]]["reason"] == "skipped: upstream failed"
    assert report.status == "failed" and report.exit_code == 1
    assert comparable(report.manifest) == comparable(sequential.manifest)


def test_steps_of_one_wave_run_at_the_same_time(registry, steps, dask_address, tmp_path):
    log = tmp_path / "times.log"
    src = registry.add_artifact(b"seed\n", name="seed.txt").id
    left = record_call(registry, steps.timed_sleep, inputs=[src], output="l.txt", seconds=0.5, log=str(log)).id
    right = record_call(registry, steps.timed_sleep, inputs=[src], output="r.txt", seconds=0.5, log=str(log)).id
    target = record_call(registry, steps.tagged, inputs=[left, right], output="t.txt", tag="t").id
    log.unlink()

    report = rerun_artifact(target, registry=registry, executor="dask", dask_address=dask_address, out=tmp_path / "d")

    assert report.ok
    (s1, e1), (s2, e2) = sorted(tuple(map(float, line.split())) for line in log.read_text().splitlines())
    assert s2 < e1, f"the second step started {s2 - e1:.3f} s after the first ended: they ran one after the other"


def test_a_step_waiting_for_a_worker_does_not_count_the_wait(registry, steps, dask_address, tmp_path):
    # Two workers, four 2 s steps in one wave: two of them wait 2 s in the queue. Each step's
    # duration is its own 2 s plus start-up, under 3.6 s; counting the wait would make it over 4 s.
    src = registry.add_artifact(b"seed\n", name="seed.txt").id
    log = tmp_path / "times.log"
    sleeps = [
        record_call(registry, steps.timed_sleep, inputs=[src], output=f"{k}.txt", seconds=2.0, log=str(log)).id for k in range(4)
    ]
    target = record_call(registry, steps.tagged, inputs=sleeps, output="t.txt", tag="t").id
    report = rerun_artifact(target, registry=registry, executor="dask", dask_address=dask_address, out=tmp_path / "d")
    assert report.ok
    durations = sorted(s["duration_s"] for s in report.manifest["steps"][:4])
    assert durations[0] >= 2.0 and durations[-1] < 3.6, durations


def test_rerun_artifact_closes_the_executor_when_the_run_ends(registry, steps, dask_address, tmp_path, monkeypatch):
    ids = diamond(registry, steps)
    closed = []
    real_close = DaskExecutor.close
    monkeypatch.setattr(DaskExecutor, "close", lambda self: closed.append(self) or real_close(self))
    rerun_artifact(ids["last"], registry=registry, executor="dask", dask_address=dask_address, out=tmp_path / "d")
    assert len(closed) == 1 and closed[0]._client is None


STARTED = datetime(2024, 5, 1, 12, 0, 7, tzinfo=timezone.utc)


def call(func: str, **parameters) -> Step:
    return Step(
        step_id=f"s_{func}", step_type="python.call", method=f"_dask_steps:{func}", parameters=parameters,
        target_artifact_id="a_out", source_artifact_ids=("a_in",), input_hash="0" * 64, output_hash="1" * 64,
        env_hash=None, trace_id=None, started_at=STARTED, completed_at=STARTED,
    )


def job(tmp_path: Path, name: str, step: Step):
    src = tmp_path / "in.txt"
    src.write_text("input\n")
    out_dir = tmp_path / name
    out_dir.mkdir()
    return (PythonCallHandler(), step, [src], out_dir / "out.txt")


def test_run_many_reports_every_outcome_in_the_calling_thread(steps, dask_address, tmp_path):
    calls = [
        job(tmp_path, "ok", call("tagged", tag="x")),
        job(tmp_path, "raises", call("fails_when_flagged", flag=str(tmp_path / "in.txt"))),
        job(tmp_path, "forgets", call("forgets_output")),
    ]
    done: list[tuple[int, object, int]] = []
    with DaskExecutor(dask_address) as ex:
        ex.run_many(calls, lambda i, outcome, seconds: done.append((i, outcome, threading.get_ident())))

    assert sorted(i for i, _, _ in done) == [0, 1, 2]
    assert {t for _, _, t in done} == {threading.get_ident()}
    outcome = {i: o for i, o, _ in done}
    assert isinstance(outcome[0], ReplayedArtifact) and outcome[0].path == calls[0][3]
    assert calls[0][3].read_text() == "input\nx"
    assert isinstance(outcome[1], StepFailed) and "RuntimeError: the flag is up" in str(outcome[1])
    assert isinstance(outcome[2], OutputMissing)


def test_stopping_early_cancels_queued_steps_and_kills_running_ones(steps, dask_address, tmp_path):
    pidfiles = [tmp_path / "pid1", tmp_path / "pid2"]
    calls = [job(tmp_path, "quick", call("tagged", tag="q"))] + [
        job(tmp_path, f"slow{i}", call("pid_then_sleep", pidfile=str(pidfile), seconds=60))
        for i, pidfile in enumerate(pidfiles)
    ]

    def interrupt(index, outcome, seconds):
        deadline = time.monotonic() + 30
        while not any(p.exists() for p in pidfiles) and time.monotonic() < deadline:
            time.sleep(0.05)  # a slow step is running: now stop, as SIGTERM would
        raise KeyboardInterrupt

    t0 = time.monotonic()
    with DaskExecutor(dask_address) as ex, pytest.raises(KeyboardInterrupt):
        ex.run_many(calls, interrupt)
    assert time.monotonic() - t0 < 20
    started = [int(p.read_text()) for p in pidfiles if p.exists()]
    assert started, "no slow step ever started"
    deadline = time.monotonic() + 10
    while any(alive(pid) for pid in started) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(alive(pid) for pid in started), "a step process outlived the run that started it"
    assert not any((tmp_path / f"slow{i}" / "out.txt").exists() for i in range(2))


def test_a_step_over_its_timeout_is_killed_and_reported_as_timed_out(steps, dask_address, tmp_path):
    pidfile = tmp_path / "pid"
    with DaskExecutor(dask_address, timeout_s=1) as ex, pytest.raises(StepFailed, match="timed out after 1 s"):
        ex.run(*job(tmp_path, "slow", call("pid_then_sleep", pidfile=str(pidfile), seconds=30)))
    assert not alive(int(pidfile.read_text()))


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_run_runs_one_step_in_a_fresh_interpreter_in_deterministic_mode(steps, dask_address, tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHONHASHSEED", "random")
    handler, step, inputs, output = job(tmp_path, "env", call("write_env", name="PYTHONHASHSEED"))
    with DaskExecutor(dask_address) as ex:
        result = ex.run(handler, step, inputs, output)
        got = json.loads(output.read_text())
        with pytest.raises(StepFailed, match="the flag is up"):
            ex.run(*job(tmp_path, "raises", call("fails_when_flagged", flag=str(inputs[0]))))
    assert result.path == output
    assert got["seed"] == "0" and got["pid"] != os.getpid()


@pytest.mark.parametrize("processes", [False, True], ids=["thread workers", "process workers"])
def test_own_local_cluster_runs_steps_in_the_callers_environment_and_close_stops_it(steps, tmp_path, monkeypatch, processes):
    monkeypatch.setenv("SCIDEX_TEST_MARK", "before")
    ex = DaskExecutor(n_workers=1, processes=processes)
    with ex:
        first = job(tmp_path, "first", call("write_env", name="SCIDEX_TEST_MARK"))
        ex.run(*first)
        cluster = ex._cluster
        assert len(cluster.workers) == 1
        monkeypatch.setenv("SCIDEX_TEST_MARK", "after the cluster started")
        second = job(tmp_path, "second", call("write_env", name="SCIDEX_TEST_MARK"))
        ex.run(*second)
    assert json.loads(first[3].read_text())["value"] == "before"
    assert json.loads(second[3].read_text())["value"] == "after the cluster started"
    assert cluster.status.name == "closed" and ex._client is None


def test_cli_rerun_artifact_with_executor_dask_exits_0(cli, registry, steps, tmp_path):
    target = diamond(registry, steps)["last"]

    replay = cli("rerun-artifact", target, "--executor", "dask", "--out", tmp_path / "m", "--json")

    assert replay.returncode == 0, replay.stderr
    manifest = json.loads(replay.stdout)
    assert manifest["options"]["executor"] == "dask"
    assert manifest["summary"] == {"reproduced": 5}
    assert json.loads((tmp_path / "m" / "manifest.json").read_text())["ok"] is True
