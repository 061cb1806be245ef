"""A step's processes end with the step (issue 19, "Processes"): each step runs in a session of
its own under a subreaper supervisor; what it leaves behind, a daemon that double-forks and
calls ``setsid`` included, is ended when the step ends; a timeout ends the whole group; the
timeout and the memory limit apply in every executor."""

from __future__ import annotations

import random
import sys
import time
import warnings
from datetime import datetime, timezone
from pathlib import Path

import pytest
from _procs import alive, processes_with

from scidex_replay.errors import BadInput, Notice, StepFailed
from scidex_replay.executors import KernelExecutor, SubprocessExecutor
from scidex_replay.handlers.copy import CopyHandler
from scidex_replay.handlers.process import Limits, applied, limits
from scidex_replay.handlers.shell import ShellHandler
from scidex_replay.registry.records import Step

STARTED = datetime(2024, 5, 1, 12, 0, 7, tzinfo=timezone.utc)
PY = sys.executable

#: Starts ``sleep SECONDS`` as a daemon (fork, setsid, fork), writes its pid to PIDFILE, writes OUT and exits.
DAEMONIZE = """
import os, sys, time
seconds, pidfile, out = sys.argv[1:4]
r, w = os.pipe()
if os.fork() == 0:
    os.setsid()
    pid = os.fork()
    if pid == 0:
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        os.execvp("sleep", ["sleep", seconds])
    os.write(w, str(pid).encode())
    os._exit(0)
os.close(w)
pid = os.read(r, 32).decode()
os.wait()
open(pidfile, "w").write(pid)
open(out, "w").write("done")
"""


def step(**parameters) -> Step:
    return Step(
        step_id="s_test", step_type="shell", method="m", parameters=parameters, target_artifact_id="a_out",
        source_artifact_ids=(), input_hash="0" * 64, output_hash="1" * 64, env_hash=None, trace_id=None,
        started_at=STARTED, completed_at=STARTED,
    )


@pytest.fixture
def work(tmp_path):
    path = tmp_path / "work"
    path.mkdir()
    return path


def run_on(name: str, handler, the_step: Step, output: Path):
    """Run ``the_step`` with ``handler`` called directly, or through the executor ``name``."""
    if name == "handler":
        return handler(the_step, [], output)
    if name == "dask":
        from scidex_replay.executors.dask import DaskExecutor

        with DaskExecutor(n_workers=1) as executor:
            return executor.run(handler, the_step, [], output)
    return (KernelExecutor() if name == "kernel" else SubprocessExecutor()).run(handler, the_step, [], output)


@pytest.mark.parametrize("where", ["handler", "kernel", "subprocess", "dask"])
def test_a_daemon_the_step_started_is_gone_when_the_step_ends(where, work, tmp_path, leftovers):
    pidfile = tmp_path / "daemon.pid"
    argv = [PY, "-c", DAEMONIZE, "300", str(pidfile), "{out}"]
    run_on(where, ShellHandler(), step(argv=argv), work / "out.txt")
    pid = int(pidfile.read_text())
    if alive(pid):
        leftovers.append(pid)
    assert not alive(pid), f"the daemonized sleep {pid} outlived its step ({where})"


def test_a_process_of_ours_in_a_session_of_its_own_started_before_the_step_is_left_alone(work, leftovers):
    import subprocess

    server = subprocess.Popen(["sleep", "300"], start_new_session=True)  # as a notebook may start a server
    leftovers.append(server.pid)
    time.sleep(0.05)
    ShellHandler()(step(argv=["sh", "-c", "echo > {out}"]), [], work / "out.txt")
    assert server.poll() is None, "a step ended a process it did not start"
    server.kill()
    server.wait()


def test_a_daemon_of_a_failing_step_is_gone_too(work, tmp_path, leftovers):
    pidfile = tmp_path / "daemon.pid"
    program = DAEMONIZE + "\nraise SystemExit(3)\n"
    with pytest.raises(StepFailed, match="exit 3"):
        ShellHandler()(step(argv=[PY, "-c", program, "300", str(pidfile), "{out}"]), [], work / "out.txt")
    pid = int(pidfile.read_text())
    if alive(pid):
        leftovers.append(pid)
    assert not alive(pid)


@pytest.mark.parametrize("where", ["handler", "kernel", "subprocess", "dask"])
def test_a_timeout_ends_the_whole_group_not_only_the_direct_child(where, work, leftovers):
    marker = f"{random.randint(10_000, 99_999)}.5"  # an argument no other sleep has
    t0 = time.monotonic()
    with applied(Limits(timeout_s=1)), pytest.raises(StepFailed, match=r"^timed out after 1 s$"):
        run_on(where, ShellHandler(), step(argv=["sh", "-c", f"sleep {marker} & sleep {marker}; echo > {{out}}"]), work / "out.txt")
    left = processes_with(marker)
    leftovers.extend(left)
    assert left == [], f"sleeps of the timed-out step still run ({where})"
    assert time.monotonic() - t0 < 20


def test_the_memory_limit_applies_to_a_shell_step_run_from_the_kernel(work):
    hog = "x = bytearray(800 * 1024 * 1024); open('out.txt', 'w').write('fed')"
    with pytest.raises(StepFailed, match=r"MemoryError.*\(memory limit 200 MB\)"):
        KernelExecutor(memory_limit_mb=200).run(ShellHandler(), step(argv=[PY, "-c", hog, "{out}"]), [], work / "out.txt")
    # without a limit it runs
    KernelExecutor().run(ShellHandler(), step(argv=[PY, "-c", hog, "{out}"]), [], work / "out.txt")


def test_a_step_killed_under_the_memory_limit_says_so(work):
    with pytest.raises(StepFailed, match=r"killed by signal 9.*\(memory limit 300 MB\)"):
        ShellHandler(memory_limit_mb=300)(step(argv=["sh", "-c", "kill -9 $$", "{out}"]), [], work / "out.txt")


def test_an_in_process_step_under_a_memory_limit_is_warned_about_once(tmp_path):
    src = tmp_path / "in.txt"
    src.write_text("x\n")
    executor = KernelExecutor(memory_limit_mb=500)
    copy_step = Step(
        step_id="s_copy", step_type="copy", method="copy", parameters={}, target_artifact_id="a_out",
        source_artifact_ids=("a_in",), input_hash="0" * 64, output_hash="1" * 64, env_hash=None, trace_id=None,
        started_at=STARTED, completed_at=STARTED,
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        executor.run(CopyHandler(), copy_step, [src], tmp_path / "a.txt")
        executor.run(CopyHandler(), copy_step, [src], tmp_path / "b.txt")
    notices = [w for w in caught if issubclass(w.category, Notice)]
    assert len(notices) == 1
    assert "memory limit 500 MB does not apply to step s_copy (copy)" in str(notices[0].message)
    with warnings.catch_warnings(record=True) as caught:  # a shell step starts a process: the limit applies
        warnings.simplefilter("always")
        KernelExecutor(memory_limit_mb=500).run(ShellHandler(), step(argv=["sh", "-c", "echo > {out}"]), [], tmp_path / "c.txt")
    assert not [w for w in caught if issubclass(w.category, Notice)]


def test_limits_come_from_the_call_then_the_context_then_the_environment(monkeypatch):
    monkeypatch.setenv("SCIDEX_REPLAY_MEMORY_LIMIT_MB", "700")
    assert limits() == Limits(3600, 700)
    with applied(Limits(5, 100)):
        assert limits() == Limits(5, 100)
        assert limits(7, 50) == Limits(7, 50)
        assert SubprocessExecutor().limits == Limits(5, 100)
    assert SubprocessExecutor(timeout_s=9).limits == Limits(9, 700)
    monkeypatch.setenv("SCIDEX_REPLAY_MEMORY_LIMIT_MB", "")  # empty is unset
    assert limits() == Limits(3600, None)


@pytest.mark.parametrize("bad", ["abc", "-1", "0", "1.5"])
def test_a_bad_memory_limit_in_the_environment_is_bad_input(bad, monkeypatch):
    monkeypatch.setenv("SCIDEX_REPLAY_MEMORY_LIMIT_MB", bad)
    with pytest.raises(BadInput, match="SCIDEX_REPLAY_MEMORY_LIMIT_MB"):
        SubprocessExecutor()


def test_the_python_api_takes_the_limits(registry, tmp_path):
    import _steps

    from scidex_replay.recording import record_call
    from scidex_replay.replay import rerun_artifact

    raw = registry.add_artifact(b"x\n", name="x.txt").id
    with pytest.raises(StepFailed, match=r"MemoryError.*\(memory limit 200 MB\)"):
        record_call(registry, _steps.hog_memory, inputs=[raw], output="hog.txt", mib=600, memory_limit_mb=200)
    hog = record_call(registry, _steps.hog_memory, inputs=[raw], output="hog.txt", mib=600)
    for executor in ("kernel", "subprocess"):
        report = rerun_artifact(hog.id, registry=registry, executor=executor, memory_limit_mb=200, out=tmp_path / executor)
        assert "MemoryError" in report.manifest["steps"][0]["reason"]
        assert "(memory limit 200 MB)" in report.manifest["steps"][0]["reason"]
    with pytest.raises(BadInput, match="--timeout 'soon'"):
        rerun_artifact(hog.id, registry=registry, timeout_s="soon")


def test_a_step_started_while_another_ends_is_not_taken_for_a_daemon_it_left(monkeypatch):
    """Thread A's step has ended and A looks for what it left behind while thread B starts a step
    (the Dask executor's worker threads): B's process, in a session of its own and started since
    A's step began, must not be ended as A's daemon (it was, with what A read when its step ended)."""
    import os
    import subprocess
    import threading

    from scidex_replay.handlers import process

    a_looking, b_running = threading.Event(), threading.Event()
    real_children = process._children

    def children() -> list[int]:
        if threading.current_thread().name == "step-a" and not a_looking.is_set():
            a_looking.set()
            b_running.wait(2)  # B starts its step now, if it can
        return real_children()

    monkeypatch.setattr(process, "_children", children)
    b_result: list[subprocess.CompletedProcess] = []
    step_a = threading.Thread(
        name="step-a",
        target=lambda: process.run_step_process([sys.executable, "-c", "pass"], cwd=".", env=os.environ, limits=Limits()),
    )
    step_b = threading.Thread(target=lambda: b_result.append(process.run_step_process(
        [sys.executable, "-c", "import time; time.sleep(1)"], cwd=".", env=os.environ, limits=Limits(),
        on_start=lambda proc: b_running.set(),
    )))
    step_a.start()
    assert a_looking.wait(30)
    step_b.start()
    step_a.join(60)
    step_b.join(60)
    assert [r.returncode for r in b_result] == [0]
