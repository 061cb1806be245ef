"""Steps forked from a warm zygote (``executors/zygote.py``) end the same as in a fresh interpreter."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest
from _procs import alive

from scidex_replay.errors import OutputMissing, StepFailed
from scidex_replay.executors import KernelExecutor, SubprocessExecutor
from scidex_replay.executors import zygote as zygotes
from scidex_replay.handlers.process import Cancelled, cancelling
from scidex_replay.handlers.python_call import PythonCallHandler
from scidex_replay.handlers.python_cell import PythonCellHandler
from scidex_replay.registry.records import Step

pytestmark = pytest.mark.skipif(not zygotes.supported(), reason="the zygote runs on Linux only; elsewhere every step is fresh")

STEPS_DIR = Path(__file__).parent
STARTED = datetime(2024, 5, 1, 12, 0, 7, tzinfo=timezone.utc)


@pytest.fixture
def steps(monkeypatch):
    monkeypatch.syspath_prepend(str(STEPS_DIR))
    monkeypatch.setenv("PYTHONPATH", str(STEPS_DIR))
    monkeypatch.delenv("SCIDEX_REPLAY_ZYGOTE", raising=False)


def call(func: str, step_type: str = "python.call", legacy: bool = False, **parameters) -> Step:
    """A step that declares its environment (``env``, default none), or with ``legacy`` one recorded
    before steps declared it (it sees this process's whole environment)."""
    method = f"_zygote_steps:{func}" if step_type == "python.call" else func
    if not legacy:
        parameters.setdefault("env", {})
    return Step(
        step_id="s_test", step_type=step_type, method=method, parameters=parameters,
        target_artifact_id="a_out", source_artifact_ids=("a_in",), input_hash="0" * 64, output_hash="1" * 64,
        env_hash=None, trace_id=None, started_at=STARTED, completed_at=STARTED,
    )


@pytest.fixture
def io(tmp_path):
    src = tmp_path / "in.txt"
    src.write_text("input\n")
    work = tmp_path / "work"
    work.mkdir()
    return [src], work / "result.txt"


def warm(executor: SubprocessExecutor, io) -> int:
    """Run the executor's first step (always fresh: a one-step executor starts no zygote) and a
    second one, which starts the zygote; the zygote's pid."""
    inputs, output = io
    for _ in range(2):
        executor.run(PythonCallHandler(), call("parent"), inputs, output)
    (zygote,) = executor.zygotes.values()
    assert not zygote.dead and int(output.read_text()) == zygote.proc.pid  # the second step was forked
    return zygote.proc.pid


@pytest.fixture
def forked(steps, io):
    executor = SubprocessExecutor()
    executor.zygote_pid = warm(executor, io)
    yield executor
    executor.close()


@pytest.fixture
def fresh(steps):
    """An executor that runs every step in a fresh interpreter, as before zygotes."""
    return SubprocessExecutor(zygote=False)


def outcome(executor, step: Step, io, handler=None) -> tuple:
    """(kind, what): the output's bytes and their hash, or the exception's type and message."""
    inputs, output = io
    output.unlink(missing_ok=True)
    try:
        executor.run(handler or PythonCallHandler(), step, inputs, output)
    except (StepFailed, OutputMissing) as exc:
        return type(exc).__name__, str(exc)
    data = output.read_bytes()
    return "ok", hashlib.sha256(data).hexdigest(), data.decode()


def test_a_forked_step_starts_in_the_state_a_fresh_interpreter_gives(steps, io, monkeypatch):
    executor = SubprocessExecutor()
    warm(executor, io)
    try:
        through_zygote = outcome(executor, call("facts", env={"DECLARED": "yes"}), io)
    finally:
        executor.close()
    monkeypatch.setattr(zygotes, "supported", lambda: False)
    fresh = outcome(SubprocessExecutor(), call("facts", env={"DECLARED": "yes"}), io)
    assert through_zygote[0] == "ok", through_zygote
    seen, expected = json.loads(through_zygote[2]), json.loads(fresh[2])
    assert {k: v for k, v in seen.items() if v != expected[k]} == {}
    assert through_zygote == fresh  # hash, random, modules, sys.path, argv, cwd, environ, fds, signals, ...


def test_a_legacy_step_inherits_the_same_environment_forked_and_fresh(steps, io, monkeypatch):
    executor = SubprocessExecutor()  # warmed here: a legacy step's environment holds PYTEST_CURRENT_TEST
    inputs, output = io
    for _ in range(2):
        executor.run(PythonCallHandler(), call("parent", legacy=True), inputs, output)
    try:
        (zygote,) = executor.zygotes.values()
        assert int(output.read_text()) == zygote.proc.pid
        through_zygote = outcome(executor, call("facts", legacy=True), io)
    finally:
        executor.close()
    monkeypatch.setattr(zygotes, "supported", lambda: False)
    assert through_zygote[0] == "ok" and through_zygote == outcome(SubprocessExecutor(), call("facts", legacy=True), io)


def test_hash_seed_and_rngs_of_a_cell_match_the_fresh_path(forked, fresh, io):
    source = (
        "import random, numpy as np\n"
        "output.write_text(repr([hash('x'), list({'a', 'b', 'c', 'd'}), random.random(), np.random.rand(),"
        " np.random.default_rng().random()]))\n"
    )
    step = call(source, step_type="python.cell")
    got = outcome(forked, step, io, PythonCellHandler())
    assert got[0] == "ok" and got == outcome(fresh, step, io, PythonCellHandler())


def test_modules_and_globals_of_one_step_do_not_reach_the_next(forked, io):
    assert outcome(forked, call("leaves_state"), io)[0] == "ok"
    seen = json.loads(outcome(forked, call("sees_state"), io)[2])
    assert seen == {"colorsys": False, "leaked": False, "marker": "as imported"}
    inputs, output = io
    forked.run(PythonCallHandler(), call("parent"), inputs, output)
    assert int(output.read_text()) == forked.zygote_pid  # still forked from the zygote, not a fresh start


@pytest.mark.parametrize(
    "func, parameters",
    [
        ("exits", {"code": 3}),
        ("raises_system_exit", {"code": 4}),
        ("segfaults", {}),
        ("fails", {}),
        ("prints_and_forgets", {}),
    ],
)
def test_a_step_that_crashes_or_fails_is_reported_the_same_forked_and_fresh(forked, fresh, io, func, parameters):
    through_zygote = outcome(forked, call(func, **parameters), io)
    assert through_zygote[0] != "ok"
    assert through_zygote == outcome(fresh, call(func, **parameters), io)
    inputs, output = io
    forked.run(PythonCallHandler(), call("parent"), inputs, output)
    assert int(output.read_text()) == forked.zygote_pid  # the zygote survived the step


def test_a_timeout_ends_a_forked_step(forked, io, tmp_path):
    forked.timeout_s = 1
    pid_file = tmp_path / "pid"
    t0 = time.monotonic()
    with pytest.raises(StepFailed, match="timed out after 1 s"):
        forked.run(PythonCallHandler(), call("sleeps", pid_file=str(pid_file)), *io)
    assert time.monotonic() - t0 < 10
    assert not alive(int(pid_file.read_text()))
    forked.timeout_s = 60
    assert outcome(forked, call("parent"), io)[2] == str(forked.zygote_pid)


def test_cancelling_ends_a_forked_step(forked, io, tmp_path):
    pid_file = tmp_path / "pid"
    cancel = threading.Event()
    threading.Timer(1.0, cancel.set).start()
    with pytest.raises(Cancelled), cancelling(cancel):
        forked.run(PythonCallHandler(), call("sleeps", pid_file=str(pid_file)), *io)
    assert not alive(int(pid_file.read_text()))


def test_a_memory_limit_applies_to_a_forked_step_as_to_a_fresh_one(forked, fresh, io):
    forked.memory_limit_mb = fresh.memory_limit_mb = 300
    step = call("allocates", mb=400)
    through_zygote = outcome(forked, step, io)
    assert through_zygote[0] == "StepFailed" and "(memory limit 300 MB)" in through_zygote[1]
    assert through_zygote == outcome(fresh, step, io)
    forked.memory_limit_mb = fresh.memory_limit_mb = 1000
    assert outcome(forked, step, io)[0] == "ok"


def test_a_forked_step_has_the_umask_this_process_has_now(forked, fresh, io):
    before = os.umask(0o027)  # changed after the zygote started
    try:
        through_zygote = outcome(forked, call("umask"), io)
        assert through_zygote[2] == "0o27" and through_zygote == outcome(fresh, call("umask"), io)
    finally:
        os.umask(before)


def test_a_daemon_a_forked_step_leaves_behind_is_ended(forked, io, tmp_path, leftovers):
    pid_file = tmp_path / "daemon"
    assert outcome(forked, call("starts_a_daemon", pid_file=str(pid_file)), io)[0] == "ok"
    daemon = int(pid_file.read_text())
    leftovers.append(daemon)
    assert not alive(daemon)
    assert alive(forked.zygote_pid)


def test_a_step_for_another_interpreter_runs_fresh(steps, io, tmp_path):
    python = tmp_path / "python"  # another path: a pinned venv's interpreter, say
    python.write_text(f"#!/bin/sh\nexec {sys.executable} \"$@\"\n")
    python.chmod(0o755)
    executor = SubprocessExecutor(python=str(python))
    inputs, output = io
    for _ in range(3):
        executor.run(PythonCallHandler(), call("parent"), inputs, output)
    assert executor.zygotes == {}
    assert int(output.read_text()) == os.getpid()


def test_a_step_under_a_perturbation_runs_fresh(steps, io):
    executor = SubprocessExecutor(overlay={"PYTHONHASHSEED": "1"})
    inputs, output = io
    for _ in range(3):
        executor.run(PythonCallHandler(), call("parent"), inputs, output)
    assert executor.zygotes == {} and int(output.read_text()) == os.getpid()


def test_a_step_with_another_startup_environment_gets_its_own_zygote(forked, io):
    assert outcome(forked, call("parent", env={"PYTHONHASHSEED": "5"}), io)[2] == str(forked.zygote_pid)  # fixed: 0
    other = outcome(forked, call("parent", env={"LC_CTYPE": "C.UTF-8"}), io)[2]  # read at interpreter start
    assert other != str(forked.zygote_pid)
    assert sorted(int(other) == z.proc.pid for z in forked.zygotes.values()) == [False, True]


def test_a_dead_zygote_leaves_its_steps_to_fresh_interpreters(forked, io):
    os.kill(forked.zygote_pid, signal.SIGKILL)
    time.sleep(0.2)
    got = outcome(forked, call("parent"), io)
    assert got[0] == "ok" and int(got[2]) == os.getpid()
    assert outcome(forked, call("parent"), io)[2] == str(os.getpid())


def test_a_step_whose_zygote_dies_under_it_runs_again_fresh(forked, io, tmp_path):
    pid_file = tmp_path / "pid"
    threading.Timer(1.0, os.kill, (forked.zygote_pid, signal.SIGKILL)).start()
    got = outcome(forked, call("sleeps", pid_file=str(pid_file), seconds=2), io)
    assert got[0] == "ok" and got[2] == "woke up"


def test_closing_the_executor_ends_its_zygote(steps, io):
    executor = KernelExecutor()
    inputs, output = io
    for _ in range(2):
        executor.run(PythonCallHandler(), call("parent"), inputs, output)
    pid = int(output.read_text())
    assert pid != os.getpid() and alive(pid)
    executor.close()
    assert not alive(pid)


def test_zygote_can_be_turned_off(steps, io, monkeypatch):
    monkeypatch.setenv("SCIDEX_REPLAY_ZYGOTE", "0")
    executor = SubprocessExecutor()
    inputs, output = io
    for _ in range(3):
        executor.run(PythonCallHandler(), call("parent"), inputs, output)
    assert executor.zygotes == {} and int(output.read_text()) == os.getpid()


def test_a_zygote_serves_a_step_with_another_home_only_while_no_user_site_is_in_play(tmp_path):
    zygote_home, step_home = tmp_path / "zygote-home", tmp_path / "step-home"
    base = {"PATH": "/bin", "PYTHONHASHSEED": "0", "SOURCE_DATE_EPOCH": "1"}
    started = {**base, "HOME": str(zygote_home)}
    step = {**base, "HOME": str(step_home), "SOURCE_DATE_EPOCH": "2"}

    def zygote(enabled: bool, added: bool):
        fake = zygotes.Zygote.__new__(zygotes.Zygote)
        fake.env, fake.key, fake.user_site = started, zygotes.key(started), (enabled, added)
        return fake

    assert zygote(False, False).serves(step)  # a venv: no user site at all
    assert zygote(True, False).serves(step)  # neither HOME has one
    assert not zygote(True, True).serves(step)  # the zygote's sys.path holds its HOME's user site
    user_site = step_home / ".local" / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}" / "site-packages"
    user_site.mkdir(parents=True)
    assert not zygote(True, False).serves(step)  # the step's would
    assert not zygote(False, False).serves({**step, "LC_ALL": "C"})  # read at interpreter start


def test_asking_a_running_forked_step_for_its_status_without_waiting_does_not_lose_it(forked, io, tmp_path):
    zygote = next(iter(forked.zygotes.values()))
    inputs, output = io
    proc = zygote.start(["python"], str(output.parent), {"PATH": os.defpath, "HOME": str(tmp_path)}, None)
    with proc:  # the child waits for a job on its stdin, which never comes
        assert proc.poll() is None and proc.poll() is None
        os.killpg(proc.pid, signal.SIGKILL)
        assert proc.wait(10) == -signal.SIGKILL
    assert not zygote.dead
    assert outcome(forked, call("parent"), io)[2] == str(forked.zygote_pid)


def test_a_rerun_under_a_perturbation_or_a_repeat_never_forks_from_the_replays_zygote(forked, io):
    from types import SimpleNamespace

    from scidex_replay.replay.perturb import Conditions, Rerunner

    rerunner = SimpleNamespace(subject=SimpleNamespace(executor=forked), reference_s=1.0)
    executor = Rerunner._executor(rerunner, Conditions())  # the `repeat` factor: no perturbation at all
    for _ in range(3):
        assert outcome(executor, call("parent"), io)[2] == str(os.getpid())  # a fresh interpreter each time
    assert executor.zygotes == {} and len(forked.zygotes) == 1


def test_the_zygote_imports_no_module_of_a_steps_own_named_like_the_standard_librarys(steps, io, tmp_path, monkeypatch):
    mark = tmp_path / "mark"
    monkeypatch.setenv("SHADOW_MARK", str(mark))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(STEPS_DIR), str(STEPS_DIR / "_shadowing")]))
    executor = SubprocessExecutor(memory_limit_mb=2000)
    inputs, output = io
    try:
        for _ in range(3):
            executor.run(PythonCallHandler(), call("parent", legacy=True), inputs, output)
            assert not mark.exists()
        (zygote,) = executor.zygotes.values()
        assert int(output.read_text()) == zygote.proc.pid
    finally:
        executor.close()
