"""A warm deterministic zygote: one interpreter that has imported what every step's child
imports, and forks a child per step instead of starting an interpreter for it.

Measured (``benchmarks/RESULTS.md``, issue 17): of the ~80 ms a no-op ``python.call`` step cost
to replay, ~74 ms were its fresh child: ~15-30 ms starting the interpreter and ~45-60 ms
importing scidex-replay's executor, handler and registry modules. A fork costs ~1-2 ms.

The subprocess executor (and so the kernel executor) starts a zygote at its second step that
needs a fresh child, as ``python -m scidex_replay.executors.child`` with that step's environment
(and ``$SCIDEX_REPLAY_ZYGOTE_FD``, the fd of its socket; so its argv is a fresh child's), in this process's session but a process group of its own (so a terminal's Ctrl-C
does not reach it and it is never taken for a step's daemon). It runs ``child.main``'s imports
and nothing else (no user code, no numpy), stays single-threaded, and for each step forks a
child that, before any of the step's code runs:

- starts a session of its own (as ``start_new_session``), and only then is reported to this
  process, so a timeout or cancel always finds its process group;
- takes the step's stdin/stdout/stderr pipes (sent over a Unix socket) as fds 0-2 and closes
  every other fd; its working directory, whole environment (``os.environ`` cleared and
  refilled), umask and memory limit (``RLIMIT_AS``) are the step's;
- forgets what only the zygote imported (``sys.modules`` as it was after ``child.main``'s
  imports, in the same order), drops the importers' caches, and puts back what a fresh
  interpreter of this step would hold: ``sys.path[0]`` (its working directory),
  ``site.USER_BASE``/``USER_SITE`` (they follow ``HOME``), and the state of
  ``random`` if it was imported (``random`` re-seeds itself from the OS at fork).

What an interpreter fixes at its start (the hash seed, locale, ``PYTHON*`` variables, what
``.pth`` files and ``sitecustomize`` read) is the zygote's own, so a zygote serves only steps
whose environment equals the one it started with in every variable but ``SOURCE_DATE_EPOCH``
and ``HOME`` (``key``), and ``HOME`` too when a user site folder is in play (``Zygote.serves``).
An executor keeps up to ``MAX_ZYGOTES`` of them. Everything else runs a fresh interpreter as
before (``usable`` says which): another interpreter than this one, the re-runs of ``--explain``
and ``run --check`` (a repeat must vary what fresh processes vary, e.g. the address-space
layout, which forks of one zygote share; ``replay/perturb.py``), a relative ``PYTHONPATH``
entry or working directory (it would resolve against the zygote's directory), a platform
without ``fork`` or ``/proc`` (only Linux is used), the dask executor, an executor's first such
step (a one-step executor, as recording uses, starts no zygote), and a step sent while the
zygote is busy, dead or failed to start. A zygote that dies is not restarted: the step it was
running (whose code may have run) runs again in a fresh interpreter, and so do the executor's
later steps.

What still tells a forked step from a fresh one, none of it deterministic in a fresh process
either: ``os.getppid()`` (the zygote), ``/proc/self/environ`` (the environment the zygote
started with; ``os.environ`` is the step's), resource-usage counters, the garbage collector's
generation counts at the step's start, and the address-space layout (random per fresh process,
shared by the forks of one zygote).
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import threading
import time
import weakref
from collections.abc import Mapping, Sequence
from typing import Any

#: Variables a step's environment may hold another value for than the zygote's: none is read
#: while an interpreter starts (``HOME`` is, for the user site: see ``serves``).
PER_STEP = ("SOURCE_DATE_EPOCH", "HOME")
READY_TIMEOUT_S = 60.0
#: What a forked child writes once it is set up (anything else: why it could not be).
_SET_UP = b"\0"
#: Set in the zygote's environment (the fd of its socket); not in its children's (``child.py``).
ZYGOTE_FD_ENV = "SCIDEX_REPLAY_ZYGOTE_FD"
#: Where the zygote runs; each child changes to its step's working directory.
ZYGOTE_CWD = "/"


class ZygoteLost(Exception):
    """The zygote could not run the step to its end (it died, or failed to set the child up);
    the step runs again in a fresh interpreter."""


def supported() -> bool:
    return sys.platform.startswith("linux") and hasattr(os, "fork") and os.path.isdir("/proc/self")


def umask() -> int | None:
    """This process's umask (from ``/proc``, without changing it); None when unknown."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    return None


# ---------------------------------------------------------------- zygote side (its own process)


def _send(sock: socket.socket, message: dict[str, Any]) -> None:
    sock.sendall(json.dumps(message).encode() + b"\n")


def serve(control_fd: int, preloaded: Sequence[str]) -> None:
    """Run as the zygote on the socket ``control_fd``: answer ``ready``, then for each job fork a
    step child. Returns only in a child, set up for its step; the zygote exits at EOF."""
    sock = socket.socket(fileno=control_fd)
    problem = _unfit(preloaded)
    import site

    user_site = [bool(site.ENABLE_USER_SITE), site.ENABLE_USER_SITE and os.path.isdir(site.getusersitepackages())]
    _send(sock, {"ready": not problem, "problem": problem, "user_site": user_site})
    if problem:
        os._exit(0)
    buffer = b""
    while True:
        fds: list[int] = []
        while b"\n" not in buffer:
            data, got, _, _ = socket.recv_fds(sock, 1 << 16, 3)
            fds.extend(got)
            if not data:
                os._exit(0)  # the executor closed its end (or died)
            buffer += data
        line, buffer = buffer.split(b"\n", 1)
        if _fork_step(sock, json.loads(line), fds, preloaded):
            return


def _unfit(preloaded: Sequence[str]) -> str:
    """Why this process may not serve as a zygote ('' when it may)."""
    if threading.active_count() != 1 or len(os.listdir("/proc/self/task")) != 1:
        return "more than one thread"
    for name in ("numpy", "random"):
        if name in sys.modules and name not in preloaded:
            return f"{name} was imported by the zygote itself"
    return ""


def _fork_step(sock: socket.socket, job: dict[str, Any], fds: list[int], preloaded: Sequence[str]) -> bool:
    """Fork the child of one job; True in the child (set up), False in the zygote once it ended."""
    random_state = sys.modules["random"].getstate() if "random" in preloaded else None
    ready_r, ready_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(ready_r)
            _become_step(sock, job, fds, preloaded, random_state, ready_w)
            os.write(ready_w, _SET_UP)
        except BaseException as exc:  # nothing of the step ran yet: say why, the executor runs it fresh
            with contextlib.suppress(OSError):
                os.write(ready_w, f"{type(exc).__name__}: {exc}".encode()[:2000])
            os._exit(70)
        os.close(ready_w)  # the session exists: the zygote may report the pid
        return True
    for fd in (*fds, ready_w):
        os.close(fd)
    failed = b""
    while chunk := os.read(ready_r, 4096):
        failed += chunk
    os.close(ready_r)
    if failed != _SET_UP:
        os.waitpid(pid, 0)
        _send(sock, {"setup_failed": failed.decode(errors="replace") or "the child died while it was set up"})
        return False
    _send(sock, {"pid": pid})
    _, status = os.waitpid(pid, 0)
    _send(sock, {"returncode": os.waitstatus_to_exitcode(status)})
    return False


def _become_step(
    sock: socket.socket, job: dict[str, Any], fds: list[int], preloaded: Sequence[str], random_state: Any, ready_w: int,
) -> None:
    """In a forked child: set the process up as a fresh ``python -m scidex_replay.executors.child``
    of this job would be, before any of the step's code runs."""
    import importlib
    import site

    os.setsid()
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
    sock.detach()  # the socket object must not close a number the step reuses later (closed below)
    os.chdir(job["cwd"])
    os.environ.clear()
    os.environ.update(job["env"])
    if job.get("umask") is not None:
        os.umask(job["umask"])
    if job.get("memory_limit_mb"):
        import resource

        size = int(job["memory_limit_mb"]) * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (size, size))
    if job.get("path0") and not sys.flags.safe_path and sys.path and sys.path[0] == job["path0"]:
        sys.path[0] = os.getcwd()  # ``-m`` puts the working directory first
    site.USER_BASE = None
    site.USER_SITE = None
    site.getusersitepackages()  # from this step's HOME, as at a fresh start
    _forget_modules(preloaded)
    importlib.invalidate_caches()
    if random_state is not None:
        sys.modules["random"].setstate(random_state)
    for fd in _open_fds():
        if fd > 2 and fd != ready_w:
            with contextlib.suppress(OSError):
                os.close(fd)


def _open_fds() -> list[int]:
    return sorted(int(n) for n in os.listdir("/proc/self/fd") if n.isdigit())


def _forget_modules(preloaded: Sequence[str]) -> None:
    """Remove what only the zygote imported from ``sys.modules`` (and from its package's names)."""
    keep = set(preloaded)
    for name in [n for n in sys.modules if n not in keep]:
        module = sys.modules.pop(name)
        parent, _, attr = name.rpartition(".")
        if parent in sys.modules and getattr(sys.modules[parent], attr, None) is module:
            delattr(sys.modules[parent], attr)


# ---------------------------------------------------------------- executor side


class Zygote:
    """A zygote process for ``python`` started with ``env``; ``start`` runs a step's child from it."""

    def __init__(self, python: str, env: Mapping[str, str]):
        self.python = python
        self.env = dict(env)
        self.lock = threading.Lock()
        self.dead = False
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock = ours
        self.buffer = b""
        try:
            self.proc = subprocess.Popen(
                [python, "-m", "scidex_replay.executors.child"],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ZYGOTE_CWD,
                env={**self.env, ZYGOTE_FD_ENV: str(theirs.fileno())}, pass_fds=[theirs.fileno()], process_group=0,
            )
        finally:
            theirs.close()
        self.proc.stdin.close()  # as a fresh child's stdin, a pipe; the zygote never reads it
        self._finalizer = weakref.finalize(self, _close, self.sock, self.proc)
        try:
            ready = self.receive(READY_TIMEOUT_S)
        except (ZygoteLost, TimeoutError):
            ready = {}
        self.user_site = tuple(ready.get("user_site") or (True, True))  # (enabled, its folder on sys.path)
        self.key = key(self.env)
        if not ready.get("ready"):
            self.close()
            self.dead = True

    def serves(self, env: Mapping[str, str]) -> bool:
        """Whether a step with ``env`` would start as this zygote did: ``env`` is the zygote's in
        every variable but ``PER_STEP``, and where ``HOME`` differs, no user site is in play (the
        interpreter enables none, or neither ``HOME`` has one: a step's ``HOME`` is its working
        directory)."""
        if key(env) != self.key:
            return False
        if env.get("HOME") == self.env.get("HOME"):
            return True
        enabled, added = self.user_site
        return not enabled or (not added and not has_user_site(env))

    def receive(self, timeout: float | None) -> dict[str, Any]:
        """The zygote's next message; ``TimeoutError`` after ``timeout`` s, ``ZygoteLost`` at EOF."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while b"\n" not in self.buffer:
            left = None if deadline is None else max(0.001, deadline - time.monotonic())  # 0 would not block
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(1 << 16)
            except (socket.timeout, BlockingIOError):
                raise TimeoutError from None
            except OSError as exc:
                raise ZygoteLost(f"the zygote's socket failed: {exc}") from exc
            if not data:
                self.dead = True
                raise ZygoteLost("the zygote ended")
            self.buffer += data
        line, self.buffer = self.buffer.split(b"\n", 1)
        return json.loads(line)

    def start(self, argv: Sequence[str], cwd: str, env: Mapping[str, str], memory_limit_mb: int | None) -> ForkedProcess:
        """Fork the child of one step; ``ZygoteLost`` when the zygote cannot (then nothing ran)."""
        pipes = [os.pipe() for _ in range(3)]
        theirs = [pipes[0][0], pipes[1][1], pipes[2][1]]
        job = {
            "cwd": str(cwd), "env": dict(env), "umask": umask(), "memory_limit_mb": memory_limit_mb,
            "path0": ZYGOTE_CWD,
        }
        data = json.dumps(job).encode() + b"\n"
        try:
            try:
                sent = socket.send_fds(self.sock, [data], theirs)
                self.sock.sendall(data[sent:])
            except OSError as exc:
                self.dead = True
                raise ZygoteLost(f"cannot reach the zygote: {exc}") from exc
            finally:
                for fd in theirs:
                    os.close(fd)
            answer = self.receive(READY_TIMEOUT_S)
        except BaseException as exc:
            for fd in (pipes[0][1], pipes[1][0], pipes[2][0]):
                os.close(fd)
            if not isinstance(exc, ZygoteLost):  # interrupted before the pid came: end the child, if any
                self.dead = True
                with contextlib.suppress(Exception):
                    os.killpg(int(self.receive(1.0)["pid"]), signal.SIGKILL)
            raise
        if "pid" not in answer:
            for fd in (pipes[0][1], pipes[1][0], pipes[2][0]):
                os.close(fd)
            raise ZygoteLost(f"the zygote could not set the step up: {answer.get('setup_failed', answer)}")
        return ForkedProcess(self, list(argv), answer["pid"], pipes[0][1], pipes[1][0], pipes[2][0])

    def close(self) -> None:
        self._finalizer()


def _close(sock: socket.socket, proc: subprocess.Popen) -> None:
    sock.close()  # the zygote exits at EOF
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    for pipe in (proc.stdout, proc.stderr):
        if pipe is not None:
            pipe.close()


def key(env: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    """What of ``env`` a zygote must have started with to serve a step with ``env``."""
    return tuple(sorted((k, v) for k, v in env.items() if k not in PER_STEP))


def has_user_site(env: Mapping[str, str]) -> bool:
    """Whether this interpreter started with ``env`` would find a user site folder (as ``site``
    computes it: ``$PYTHONUSERBASE``, else ``$HOME/.local``); True when that cannot be told."""
    import site

    base = env.get("PYTHONUSERBASE") or (os.path.join(env["HOME"], ".local") if env.get("HOME") else None)
    get_path = getattr(site, "_get_path", None)
    if base is None or get_path is None or sys.platform != "linux":
        return True
    return os.path.isdir(get_path(base))


def usable(env: Mapping[str, str], cwd: str) -> bool:
    """Whether a step with ``env`` and working directory ``cwd`` may run from a zygote at all."""
    entries = env.get("PYTHONPATH", "").split(os.pathsep) if env.get("PYTHONPATH") else []
    return supported() and all(os.path.isabs(e) for e in entries) and os.path.isabs(cwd) and os.path.isdir(cwd)


class ForkedProcess:
    """A step's child forked by a zygote, with what of ``subprocess.Popen`` ``run_step_process``,
    ``stop`` and ``terminate`` use: ``pid`` (its session's id), ``returncode`` (negative: the
    signal that ended it), ``communicate``, ``wait``, ``poll``, ``stdout``/``stderr``, ``with``."""

    def __init__(self, zygote: Zygote, args: list[str], pid: int, stdin: int, stdout: int, stderr: int):
        self.zygote = zygote
        self.args = args
        self.pid = pid
        self.returncode: int | None = None
        self.stdin: Any = open(stdin, "wb", buffering=0)
        self.stdout: Any = open(stdout, "rb", buffering=0)
        self.stderr: Any = open(stderr, "rb", buffering=0)
        self._input: memoryview | None = None
        self._chunks: dict[Any, list[bytes]] = {self.stdout: [], self.stderr: []}

    def poll(self) -> int | None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.wait(0)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is not None:
            return self.returncode
        try:
            answer = self.zygote.receive(timeout)
        except TimeoutError:
            raise subprocess.TimeoutExpired(self.args, timeout) from None
        except ZygoteLost:
            self._lost()
            raise
        self.returncode = int(answer["returncode"])
        return self.returncode

    def _lost(self) -> None:
        """The zygote died while the child ran: end the child's session; the step runs again fresh."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)
        self.returncode = -signal.SIGKILL

    def communicate(self, input: bytes | None = None, timeout: float | None = None) -> tuple[bytes, bytes]:
        deadline = None if timeout is None else time.monotonic() + timeout
        if input is not None and self._input is None:
            self._input = memoryview(input)
        with selectors.DefaultSelector() as sel:
            if not self.stdin.closed:
                if self._input:
                    sel.register(self.stdin, selectors.EVENT_WRITE)
                else:
                    self.stdin.close()
            for pipe in (self.stdout, self.stderr):
                if not pipe.closed:
                    sel.register(pipe, selectors.EVENT_READ)
            while sel.get_map():
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    raise subprocess.TimeoutExpired(self.args, timeout)
                for item, _ in sel.select(left):
                    pipe = item.fileobj
                    if pipe is self.stdin:
                        try:
                            n = os.write(pipe.fileno(), self._input[:1 << 16])
                        except BrokenPipeError:
                            n = len(self._input)
                        self._input = self._input[n:]
                        if not self._input:
                            sel.unregister(pipe)
                            pipe.close()
                    else:
                        data = os.read(pipe.fileno(), 1 << 16)
                        if data:
                            self._chunks[pipe].append(data)
                        else:
                            sel.unregister(pipe)
                            pipe.close()
        left = None if deadline is None else max(0.0, deadline - time.monotonic())
        try:
            self.wait(left)
        except subprocess.TimeoutExpired:
            raise subprocess.TimeoutExpired(self.args, timeout) from None
        return b"".join(self._chunks[self.stdout]), b"".join(self._chunks[self.stderr])

    def __enter__(self) -> ForkedProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        for pipe in (self.stdin, self.stdout, self.stderr):
            with contextlib.suppress(OSError):
                pipe.close()
        if self.returncode is None:
            with contextlib.suppress(ZygoteLost):
                self.wait()
