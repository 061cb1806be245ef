"""How a step's process is started, limited and ended: the one helper every place that starts
a step's command or interpreter goes through (the shell handler's command, the subprocess
executor's child, the dask executor's tasks, ``scidex-replay run``).

``run_step_process`` starts the process as the leader of a session of its own, under the
step's ``Limits``: a timeout (the whole session is stopped when it passes) and a memory limit
(``RLIMIT_AS`` of the process and all it starts). On Linux the process runs under a small
supervisor (``_supervise.py``) that is a *child subreaper*: whatever the step starts and
leaves behind, a daemon that double-forks and calls ``setsid`` included, is re-parented to
it, and it ends all of it (SIGTERM, ``GRACE_S``, SIGKILL) when the step ends, however it ends.
Elsewhere only the process group is ended.

The limits come, in order, from the values given where the step runs (``--timeout``,
``--memory-limit``, ``ReplayOptions``, ``record_call(timeout_s=, memory_limit_mb=)``), from
the limits in force around it (``applied``: a replay sets them for all its steps), and from
the defaults: ``DEFAULT_TIMEOUT_S`` and ``$SCIDEX_REPLAY_MEMORY_LIMIT_MB`` (unset: no limit).
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scidex_replay.errors import BadInput

#: Address-space limit (MiB) of every step's process, unless one is given explicitly.
MEMORY_ENV = "SCIDEX_REPLAY_MEMORY_LIMIT_MB"
DEFAULT_TIMEOUT_S = 3600.0
#: How long the processes of a step that ends are given between SIGTERM and SIGKILL.
GRACE_S = 0.5
_SUPERVISOR = str(Path(__file__).with_name("_supervise.py"))


def parse_timeout(value: Any, what: str = "--timeout") -> float:
    """``value`` (text or a number) as seconds: a finite number above 0; ``BadInput`` naming ``what`` otherwise."""
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        seconds = math.nan
    if isinstance(value, bool) or not math.isfinite(seconds) or seconds <= 0:
        raise BadInput(f"{what} {value!r}: expected a number of seconds above 0, such as 600")
    return seconds


def parse_memory_limit(value: Any, what: str = "--memory-limit") -> int:
    """``value`` (text or a number) as MiB: a whole number above 0; ``BadInput`` naming ``what`` otherwise."""
    text = str(value).strip()
    if isinstance(value, bool) or not text.isdigit() or int(text) <= 0:
        raise BadInput(f"{what} {value!r}: expected a whole number of MB above 0, such as 4096")
    return int(text)


@dataclass(frozen=True)
class Limits:
    """What a step's process may use: ``timeout_s`` seconds of wall time, ``memory_limit_mb`` MiB
    of address space (None: no limit)."""

    timeout_s: float = DEFAULT_TIMEOUT_S
    memory_limit_mb: int | None = None

    def note(self) -> str:
        """`` (memory limit N MB)`` when there is one, for the reason a step that ran out of memory failed."""
        return f" (memory limit {self.memory_limit_mb} MB)" if self.memory_limit_mb else ""

    def to_json(self) -> dict[str, Any]:
        return {"timeout_s": self.timeout_s, "memory_limit_mb": self.memory_limit_mb}


_IN_FORCE: ContextVar[Limits | None] = ContextVar("scidex_replay_limits", default=None)
_STARTED: ContextVar[list[int] | None] = ContextVar("scidex_replay_started", default=None)


def memory_default(env: Mapping[str, str] | None = None) -> int | None:
    """``$SCIDEX_REPLAY_MEMORY_LIMIT_MB`` of ``env`` (default ``os.environ``), checked; None when unset or empty."""
    raw = (os.environ if env is None else env).get(MEMORY_ENV)
    return parse_memory_limit(raw, MEMORY_ENV) if raw not in (None, "") else None


def limits(timeout_s: float | None = None, memory_limit_mb: int | None = None, env: Mapping[str, str] | None = None) -> Limits:
    """The limits a step runs under: each value given here, else the one in force (``applied``),
    else the default (``memory_default(env)`` for memory). ``BadInput`` for a bad value."""
    in_force = _IN_FORCE.get()
    if timeout_s is None:
        timeout_s = in_force.timeout_s if in_force else DEFAULT_TIMEOUT_S
    if memory_limit_mb is None:
        memory_limit_mb = in_force.memory_limit_mb if in_force else memory_default(env)
    return Limits(
        parse_timeout(timeout_s),
        parse_memory_limit(memory_limit_mb) if memory_limit_mb is not None else None,
    )


@contextlib.contextmanager
def applied(in_force: Limits) -> Iterator[Limits]:
    """Make ``in_force`` the limits of every step started in this context (this thread, this task)
    that is not given its own."""
    token = _IN_FORCE.set(in_force)
    try:
        yield in_force
    finally:
        _IN_FORCE.reset(token)


@contextlib.contextmanager
def watching() -> Iterator[list[int]]:
    """A list that receives the pid of every step process ``run_step_process`` starts in this
    context: empty afterwards when the code ran no process of its own (its limits did not apply)."""
    started: list[int] = []
    token = _STARTED.set(started)
    try:
        yield started
    finally:
        _STARTED.reset(token)


def supervised() -> bool:
    """Whether steps run under the subreaper supervisor here (Linux)."""
    return sys.platform.startswith("linux") and bool(sys.executable)


def run_step_process(
    argv: Sequence[str],
    *,
    cwd: str | os.PathLike[str],
    env: Mapping[str, str],
    limits: Limits,
    input: bytes | None = None,
    stdin: Any = None,
    stdout: Any = subprocess.PIPE,
    stderr: Any = subprocess.PIPE,
    cpus: Sequence[int] | None = None,
    on_start: Callable[[subprocess.Popen], None] | None = None,
) -> subprocess.CompletedProcess:
    """Run ``argv`` to its end, as ``subprocess.run`` would, in a session of its own under ``limits``,
    then end every process it left behind (see the module).

    ``cpus``: the CPUs it (and all it starts) may use. ``on_start(proc)`` is called once it runs
    (the dask executor tracks it to ``stop`` it). Returns the ``CompletedProcess`` (a negative
    ``returncode`` for a signal). Raises ``subprocess.TimeoutExpired`` after ``limits.timeout_s``
    seconds, once all its processes are ended; ``FileNotFoundError``/``PermissionError`` (an
    ``OSError``) when ``argv[0]`` cannot be executed; and what ``input`` writing raises.
    """
    argv = list(argv)
    read_fd = write_fd = None
    preexec = None
    if supervised():
        read_fd, write_fd = os.pipe()
        memory = (limits.memory_limit_mb or 0) * 1024 * 1024
        cpu_list = ",".join(str(c) for c in sorted(cpus)) if cpus else "-"
        command = [sys.executable, "-I", "-S", _SUPERVISOR, str(write_fd), str(memory), cpu_list, "--", *argv]
    else:
        command = argv
        if limits.memory_limit_mb or cpus:
            preexec = _preexec(limits.memory_limit_mb, cpus)
    if input is not None:
        stdin = subprocess.PIPE
    try:
        proc = subprocess.Popen(
            command, stdin=stdin, stdout=stdout, stderr=stderr, cwd=cwd, env=dict(env), start_new_session=True,
            pass_fds=(write_fd,) if write_fd is not None else (), preexec_fn=preexec,
        )
    finally:
        if write_fd is not None:
            os.close(write_fd)
    try:
        with proc:
            started = _STARTED.get()
            if started is not None:
                started.append(proc.pid)
            if on_start is not None:
                on_start(proc)
            try:
                out, err = proc.communicate(input, timeout=limits.timeout_s)
            except subprocess.TimeoutExpired as exc:
                stop(proc)
                out, err = _rest(proc)
                raise subprocess.TimeoutExpired(argv, limits.timeout_s, out, err) from exc
            except BaseException:
                stop(proc)
                raise
        if read_fd is not None:
            _raise_exec_error(read_fd, argv[0])
        if not supervised():
            _end_group(proc.pid)
        return subprocess.CompletedProcess(argv, proc.returncode, out, err)
    finally:
        if read_fd is not None:
            os.close(read_fd)


def stop(proc: subprocess.Popen) -> None:
    """End ``proc`` (started by ``run_step_process``) and everything it started: SIGTERM to its
    session's process group (the supervisor then ends what escaped the group), SIGKILL to the
    group after ``GRACE_S`` and a little more; waits for ``proc``. Safe to call twice."""
    if proc.returncode is not None:
        return
    _signal_group(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=GRACE_S * 2 + 1)
    except subprocess.TimeoutExpired:
        _signal_group(proc.pid, signal.SIGKILL)
        proc.wait()
    if not supervised():
        _end_group(proc.pid)


def terminate(proc: subprocess.Popen) -> None:
    """Ask ``proc`` (started by ``run_step_process``) and everything it started to end (SIGTERM to its
    session's group; the supervisor ends the rest), without waiting: whoever waits for it
    (``run_step_process``, in another thread) then returns."""
    if proc.returncode is None:
        _signal_group(proc.pid, signal.SIGTERM)


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _end_group(pgid: int) -> None:
    """Without a supervisor: end what is left of the process group ``pgid`` once its leader was reaped."""
    _signal_group(pgid, signal.SIGTERM)
    deadline = time.monotonic() + GRACE_S
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except (ProcessLookupError, PermissionError):
            return
        time.sleep(0.02)
    _signal_group(pgid, signal.SIGKILL)


def _rest(proc: subprocess.Popen) -> tuple[Any, Any]:
    """What ``proc`` wrote after it was stopped (nothing when its pipes stay open elsewhere)."""
    try:
        return proc.communicate(timeout=GRACE_S)
    except subprocess.TimeoutExpired:
        for pipe in (proc.stdout, proc.stderr):
            if pipe is not None:
                pipe.close()
        return None, None
    except ValueError:  # pipes already closed
        return None, None


def _raise_exec_error(read_fd: int, program: str) -> None:
    """Raise the ``OSError`` the supervisor reported for executing ``program``, if it did."""
    os.set_blocking(read_fd, False)
    try:
        data = os.read(read_fd, 64)
    except BlockingIOError:
        return
    if data:
        code = int(data or b"0")
        raise OSError(code, os.strerror(code), program)


def _preexec(memory_limit_mb: int | None, cpus: Sequence[int] | None) -> Callable[[], None]:
    def limit() -> None:  # between fork and exec
        if cpus:
            os.sched_setaffinity(0, set(cpus))
        if memory_limit_mb:
            import resource

            size = memory_limit_mb * 1024 * 1024
            resource.setrlimit(resource.RLIMIT_AS, (size, size))

    return limit


def memory_failure(limits: Limits, returncode: int, stderr: bytes | str | None) -> bool:
    """Whether a step that failed with ``returncode`` and ``stderr`` looks like it ran out of the
    memory its ``limits`` allow: a ``MemoryError``, a failed allocation, or death by a signal
    (an allocation that fails in C code often ends in SIGSEGV/SIGABRT/SIGKILL)."""
    if not limits.memory_limit_mb:
        return False
    text = stderr.decode(errors="replace") if isinstance(stderr, bytes) else (stderr or "")
    markers = ("MemoryError", "Cannot allocate memory", "std::bad_alloc", "out of memory", "Out of memory", "cannot allocate")
    return returncode < 0 or any(m in text for m in markers)
