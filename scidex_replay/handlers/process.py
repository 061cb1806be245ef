"""How a step's process is started, limited and ended: the one helper every place that starts
a step's command or interpreter goes through (the shell handler's command, the subprocess
executor's child, the dask executor's tasks, ``scidex-replay run``).

``run_step_process`` starts the process as the leader of a session of its own, under the
step's ``Limits``: a timeout (the whole session is stopped when it passes) and a memory limit
(``RLIMIT_AS`` of the process and all it starts). When the step ends (done, failed, timed out,
interrupted) its process group is ended (SIGTERM, ``GRACE_S``, SIGKILL), and so is every
process it left behind in another session: on Linux, while steps run, this process is a
*child subreaper* (``prctl(PR_SET_CHILD_SUBREAPER)``), so a daemon a step starts (fork,
``setsid``, fork) is re-parented to it instead of to init, and is found among its children
and ended (and reaped) at the end of the step. A child of this process in a session of its
own that is no running step's, and that started while steps ran, is taken for such a daemon
(a server this process started before, in a session of its own, is left alone); when steps run
at once (the dask executor's threads), one that no step's session claims is ended when the
last of them ends. No process is started for this: a step costs what its own process costs.

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
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from scidex_replay.errors import BadInput

#: Address-space limit (MiB) of every step's process, unless one is given explicitly.
MEMORY_ENV = "SCIDEX_REPLAY_MEMORY_LIMIT_MB"
DEFAULT_TIMEOUT_S = 3600.0
#: How long the processes of a step that ends are given between SIGTERM and SIGKILL.
GRACE_S = 0.5
PR_SET_CHILD_SUBREAPER = 36


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
_CANCEL: ContextVar[threading.Event | None] = ContextVar("scidex_replay_cancel", default=None)
#: How often a running step process looks at its replay's cancel event (seconds).
CANCEL_POLL_S = 0.05


class Cancelled(BaseException):
    """The replay was cancelled (its ``cancelling`` event was set). A ``BaseException``, like
    ``KeyboardInterrupt``: an executor reports a step's ``Exception`` as the step's failure, but
    lets this one end the run (``interrupted``)."""


@contextlib.contextmanager
def cancelling(event: threading.Event | None) -> Iterator[threading.Event | None]:
    """Make ``event`` (None: none) the cancel event of every step process started in this context:
    once it is set, the running step process and its session are ended and ``Cancelled`` raised."""
    token = _CANCEL.set(event)
    try:
        yield event
    finally:
        _CANCEL.reset(token)


def check_cancelled() -> None:
    """Raise ``Cancelled`` when the cancel event in force (``cancelling``) is set."""
    event = _CANCEL.get()
    if event is not None and event.is_set():
        raise Cancelled("the replay was cancelled")


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


class _Steps:
    """The step processes this process runs, and the subreaper setting that lasts while any does."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.active = 0  # steps between ``enter`` and ``done``
        self.running: set[int] = set()  # pids of their processes, each its own session's id
        self.since = 0  # clock ticks since boot when the first of the active steps began
        self.prctl: Any = None

    def _subreaper(self, on: bool) -> None:
        if not sys.platform.startswith("linux"):
            return
        if self.prctl is None:
            import ctypes

            self.prctl = ctypes.CDLL(None, use_errno=True).prctl
        self.prctl(PR_SET_CHILD_SUBREAPER, int(on), 0, 0, 0)

    def enter(self) -> None:
        with self.lock:
            self.active += 1
            if self.active == 1:
                self.since = _ticks()
                self._subreaper(True)

    def started(self, pid: int) -> None:
        with self.lock:
            self.running.add(pid)

    def ended(self, pid: int) -> None:
        """Forget the process ``pid`` (its step is still active until ``done``)."""
        with self.lock:
            self.running.discard(pid)

    def left_behind(self, session: int) -> tuple[set[int], list[tuple[int, int]]]:
        """The sessions of the steps running now, and what the step that led ``session`` left behind
        (``_left_behind``; daemons only looked for when no other step is active). Read under the
        lock, afresh at each look: a step another thread starts is active (``enter``, which takes
        the lock) before its process exists, so its process is never taken for a daemon."""
        with self.lock:
            running = set(self.running)
            since = self.since if self.active == 1 else None
            found = _left_behind(session, running, since) if sys.platform.startswith("linux") else []
            return running, found

    def done(self) -> None:
        with self.lock:
            self.active -= 1
            if self.active == 0:
                self._subreaper(False)


def _ticks() -> int:
    """Now, in the clock ticks since boot that ``/proc/PID/stat`` gives a process's start in."""
    if not sys.platform.startswith("linux"):
        return 0
    return int(time.clock_gettime(time.CLOCK_BOOTTIME) * os.sysconf("SC_CLK_TCK"))


_STEPS = _Steps()


def _children() -> list[int]:
    """The pids of this process's children (those of every thread), from ``/proc``: each thread's
    ``children`` file, or where the kernel has none (``CONFIG_PROC_CHILDREN``), every process's parent."""
    me = os.getpid()
    pids: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{me}/task")
        for task in tasks:
            with contextlib.suppress(ProcessLookupError):  # a thread that ended meanwhile
                with open(f"/proc/{me}/task/{task}/children") as f:
                    pids.extend(int(p) for p in f.read().split())
    except FileNotFoundError:
        pids = [pid for pid in _all_pids() if _parent(pid) == me]
    except OSError:
        return []
    return pids


def _all_pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def _parent(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return int(f.read().rsplit(b")", 1)[1].split()[1])
    except OSError:
        return None


def _stat(pid: int) -> tuple[int, int, int] | None:
    """(process group, session, start in clock ticks since boot) of ``pid``; None once it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
    except OSError:
        return None
    return int(fields[2]), int(fields[3]), int(fields[19])


def _left_behind(own_session: int, running: set[int], since: int | None) -> list[tuple[int, int]]:
    """(pid, process group) of each child of this process that a step left behind: one in the
    step's session ``own_session``; and, when no other step is active (``since`` is not None),
    one in a session of its own (a daemon) that started since ``since``, when this process became
    the subreaper, and is neither this process's session nor a running step's. A child that
    other code of this process started before (a server in a session of its own) is left alone."""
    mine = os.getsid(0)
    found = []
    for pid in _children():
        if pid in running:
            continue
        info = _stat(pid)
        if info is None:
            continue
        pgid, sid, start = info
        daemon = since is not None and sid != mine and sid not in running and start >= since
        if sid == own_session or daemon:
            found.append((pid, pgid))
    return found


def _reap(pid: int) -> bool:
    """Reap ``pid`` if it has ended; True when it is gone."""
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return True
    return done != 0


def _group_gone(pgid: int) -> bool:
    """Whether no process is left in the group ``pgid`` that this process may signal."""
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return True
    return False


def _end_step(session: int) -> None:
    """End (SIGTERM, ``GRACE_S``, SIGKILL) what the step whose process led ``session`` left behind:
    what is left of its process group (a pid stays unused while a group of that id has members,
    so the id names no other group), and the processes it left among this process's children
    (``_left_behind``), reaped."""
    deadline = time.monotonic() + GRACE_S
    give_up = deadline + 10  # a process in uninterruptible sleep may never go
    sig = signal.SIGTERM
    while time.monotonic() < give_up:
        running, found = _STEPS.left_behind(session)
        if not found and _group_gone(session):
            return
        _signal_group(session, sig)
        mine = os.getpgid(0)
        for pid, pgid in found:
            if pgid != mine and pgid not in running:
                _signal_group(pgid, sig)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)
        time.sleep(0.01)
        for pid, _ in found:
            _reap(pid)
        if sig == signal.SIGTERM and time.monotonic() > deadline:
            sig = signal.SIGKILL


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
    start: Callable[[], Any] | None = None,
) -> subprocess.CompletedProcess:
    """Run ``argv`` to its end, as ``subprocess.run`` would, in a session of its own under ``limits``,
    then end every process it left behind (see the module).

    ``cpus``: the CPUs it (and all it starts) may use. ``on_start(proc)`` is called once it runs
    (the dask executor tracks it to ``terminate`` it). Returns the ``CompletedProcess`` (a negative
    ``returncode`` for a signal). Raises ``subprocess.TimeoutExpired`` after ``limits.timeout_s``
    seconds, once all its processes are ended; ``FileNotFoundError``/``PermissionError`` (an
    ``OSError``) when ``argv[0]`` cannot be executed; and what writing ``input`` raises.

    ``start()``, when given, starts the process instead of ``subprocess.Popen`` (a child forked
    by a zygote, ``executors/zygote.py``, already in a session of its own and under its memory
    limit; its stdin, stdout and stderr are pipes); it returns an object with the ``Popen``
    methods used here, or raises, and then nothing ran.
    """
    argv = list(argv)
    check_cancelled()
    cancel = _CANCEL.get()
    preexec = _preexec(limits.memory_limit_mb, cpus) if limits.memory_limit_mb or cpus else None
    if input is not None:
        stdin = subprocess.PIPE
    _STEPS.enter()
    proc = None
    try:
        if start is not None:
            proc = start()
        else:
            proc = subprocess.Popen(
                argv, stdin=stdin, stdout=stdout, stderr=stderr, cwd=cwd, env=dict(env), start_new_session=True,
                preexec_fn=preexec,
            )
        _STEPS.started(proc.pid)
        with proc:
            started = _STARTED.get()
            if started is not None:
                started.append(proc.pid)
            if on_start is not None:
                on_start(proc)
            watcher = _watch_cancel(proc, cancel) if cancel is not None else None
            try:
                out, err = proc.communicate(input, timeout=limits.timeout_s)
            except subprocess.TimeoutExpired as exc:
                stop(proc)
                out, err = _rest(proc)
                raise subprocess.TimeoutExpired(argv, limits.timeout_s, out, err) from exc
            except BaseException:
                stop(proc)
                raise
            finally:
                if watcher is not None:
                    watcher.set()
        if cancel is not None and cancel.is_set():
            raise Cancelled(f"the replay was cancelled while {argv[0]} ran")
        return subprocess.CompletedProcess(argv, proc.returncode, out, err)
    finally:
        try:
            if proc is not None:
                _STEPS.ended(proc.pid)
                _end_step(proc.pid)
        finally:
            _STEPS.done()


def _watch_cancel(proc: subprocess.Popen, cancel: threading.Event) -> threading.Event:
    """A daemon thread that ends ``proc``'s session (``terminate``) once ``cancel`` is set; it
    stops when the returned event is set (the process ended)."""
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            if cancel.wait(CANCEL_POLL_S):
                if not done.is_set():
                    terminate(proc)
                return

    threading.Thread(target=watch, name=f"cancel-watch-{proc.pid}", daemon=True).start()
    return done


def stop(proc: subprocess.Popen) -> None:
    """End ``proc`` (started by ``run_step_process``) and its process group: SIGTERM, SIGKILL after
    ``GRACE_S``; waits for ``proc``. Safe to call twice."""
    if proc.returncode is not None:
        return
    _signal_group(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=GRACE_S)
    except subprocess.TimeoutExpired:
        _signal_group(proc.pid, signal.SIGKILL)
        proc.wait()


def terminate(proc: subprocess.Popen) -> None:
    """Ask ``proc`` (started by ``run_step_process``) and its process group to end (SIGTERM), without
    waiting: whoever waits for it (``run_step_process``, in another thread) then ends the rest."""
    if proc.returncode is None:
        _signal_group(proc.pid, signal.SIGTERM)


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


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
