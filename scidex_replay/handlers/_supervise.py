"""The supervisor of one step's process (Linux): ``python -I -S _supervise.py STATUS_FD MEMORY_BYTES CPUS -- ARGV...``.

Started by ``handlers/process.py`` as the leader of a new session, it makes itself a
*child subreaper* (``prctl(PR_SET_CHILD_SUBREAPER)``), so that every process the step
starts and orphans (a daemon that double-forks and calls ``setsid`` included) is
re-parented to it instead of to init. It runs ARGV (with ``RLIMIT_AS`` of MEMORY_BYTES
when not 0, on the CPUs listed in CPUS when not ``-``), waits for it, then ends every
descendant still alive (SIGTERM, a short grace, SIGKILL) and exits as ARGV did (its exit
code, or the signal that ended it). On SIGTERM (a timeout, an interrupt) it ends ARGV and
every descendant the same way.

When ARGV cannot be executed, the errno is written to STATUS_FD and it exits 127, so that
the caller raises the ``OSError`` that ``subprocess`` would have.

Run with ``-I -S`` (no site, no ``PYTHON*`` variables, nothing of the step's environment),
it imports only the standard library, and only what is cheap. It runs with any Python 3.
"""

import os
import signal
import sys
import time

PR_SET_CHILD_SUBREAPER = 36
GRACE_S = 0.5


class _Stop(Exception):
    pass


def _on_term(signum, frame):
    raise _Stop()


def _descendants(me):
    """The pids of every live descendant of ``me`` (zombies included), from ``/proc``."""
    children = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name, "rb") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(b")") + 2:].split()[1])
        children.setdefault(ppid, []).append(int(name))
    found, todo = [], [me]
    while todo:
        for pid in children.get(todo.pop(), ()):
            found.append(pid)
            todo.append(pid)
    return found


def _reap():
    """Reap every child that has ended; True while some child is left."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return False
        if pid == 0:
            return True


def _end_all(me):
    """SIGTERM every descendant, SIGKILL what is left after the grace, reap them all."""
    deadline = time.monotonic() + GRACE_S
    sig = signal.SIGTERM
    while True:
        pids = _descendants(me)
        if not pids:
            _reap()
            return
        for pid in pids:
            try:
                os.kill(pid, sig)
            except OSError:
                pass
        _reap()
        time.sleep(0.01)
        if sig == signal.SIGTERM and time.monotonic() > deadline:
            sig = signal.SIGKILL


def _exit_as(status):
    _reap()
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        import resource

        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # die of the same signal, without a core file
        if sig not in (signal.SIGKILL, signal.SIGSTOP):
            signal.signal(sig, signal.SIG_DFL)
        os.kill(os.getpid(), sig)
        os._exit(128 + sig)  # a signal that does not end a process (SIGCHLD...): as a shell says it
    os._exit(os.WEXITSTATUS(status) if os.WIFEXITED(status) else 1)


def main():
    status_fd, memory, cpus = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    argv = sys.argv[5:]
    me = os.getpid()
    os.set_inheritable(status_fd, False)  # closed by a successful exec
    signal.signal(signal.SIGTERM, _on_term)
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    if cpus != "-":
        os.sched_setaffinity(0, {int(c) for c in cpus.split(",")})
    child = os.fork()
    if child == 0:
        try:
            for name in ("SIGTERM", "SIGPIPE", "SIGXFSZ", "SIGXFZ"):  # as subprocess's restore_signals
                if hasattr(signal, name):
                    signal.signal(getattr(signal, name), signal.SIG_DFL)
            if memory:
                import resource

                resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
            os.execvp(argv[0], argv)
        except OSError as exc:
            os.write(status_fd, str(exc.errno or 0).encode())
        finally:
            os._exit(127)
    os.close(status_fd)
    status = None
    try:
        while status is None:
            pid, st = os.waitpid(-1, 0)
            if pid == child:
                status = st
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a timeout now: the cleanup below is what it asks for
    except _Stop:
        pass
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    _end_all(me)
    if status is None:  # stopped: end as the SIGTERM asked
        status = signal.SIGTERM  # a wait status "killed by SIGTERM"
    _exit_as(status)


if __name__ == "__main__":
    main()
