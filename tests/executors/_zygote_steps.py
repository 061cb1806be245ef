"""python.call steps that show what state a step's process starts in (tests/executors/test_zygote.py)."""

import json
import os
import signal
import sys
from pathlib import Path


def facts(inputs, output, **_):
    """Everything of its process a step could let into its output, but its pid and parent's."""
    import locale
    import random
    import resource
    import site
    import threading
    import time

    seen = {
        "hash": [hash("x"), hash(("a", 1)), list({f"s{i}" for i in range(30)})],
        "random": [random.random(), random.getrandbits(64)],
        "modules": list(sys.modules),
        "path": sys.path,
        "argv": sys.argv,
        "orig_argv": sys.orig_argv,
        "cmdline": Path("/proc/self/cmdline").read_bytes().decode(),
        "main": getattr(sys.modules["__main__"], "__file__", None),
        "cwd": os.getcwd(),
        "environ": list(os.environ.items()),
        "umask": os.umask(0o022),
        "user_site": [site.USER_BASE, site.USER_SITE, site.ENABLE_USER_SITE],
        "flags": list(sys.flags),
        "fds": sorted(os.listdir("/proc/self/fd")),
        "session_leader": os.getsid(0) == os.getpid() == os.getpgid(0),
        "signals": [str(signal.getsignal(s)) for s in (signal.SIGINT, signal.SIGPIPE, signal.SIGTERM, signal.SIGCHLD, signal.SIGXFSZ)],
        "tz": [time.tzname, time.timezone],
        "locale": [locale.setlocale(locale.LC_ALL), sys.getfilesystemencoding(), locale.getpreferredencoding()],
        "stdio": [(f.encoding, f.errors, f.line_buffering) for f in (sys.stdin, sys.__stdout__, sys.stderr)],
        "threads": threading.active_count(),
        "rlimit_as": resource.getrlimit(resource.RLIMIT_AS),
        "executors_attrs": sorted(n for n in dir(sys.modules["scidex_replay.executors"]) if not n.startswith("_")),
        "recursion": sys.getrecursionlimit(),
        "dont_write_bytecode": sys.dont_write_bytecode,
    }
    Path(output).write_text(json.dumps(seen, indent=1, default=str))


def parent(inputs, output, **_):
    """The pid of the process that started this step's process."""
    Path(output).write_text(str(os.getppid()))


def leaves_state(inputs, output, **_):
    """Import a module and change a module's globals, as a step may."""
    import _zygote_marker
    import colorsys  # noqa: F401 - not imported by a step's process otherwise

    _zygote_marker.VALUE = "changed"
    json.LEAKED = True
    Path(output).write_text("done")


def sees_state(inputs, output, **_):
    import _zygote_marker

    seen = {"colorsys": "colorsys" in sys.modules, "leaked": hasattr(json, "LEAKED"), "marker": _zygote_marker.VALUE}
    Path(output).write_text(json.dumps(seen))


def exits(inputs, output, code=3, **_):
    Path(output).write_text("partial")
    os._exit(code)


def raises_system_exit(inputs, output, code=4, **_):
    raise SystemExit(code)


def segfaults(inputs, output, **_):
    import ctypes

    ctypes.string_at(0)


def fails(inputs, output, **_):
    raise ValueError("the data is bad")


def prints_and_forgets(inputs, output, **_):
    print("to stdout")
    print("to stderr", file=sys.stderr)


def sleeps(inputs, output, pid_file="", seconds=30, **_):
    import time

    Path(pid_file).write_text(str(os.getpid()))
    time.sleep(seconds)
    Path(output).write_text("woke up")


def allocates(inputs, output, mb=400, **_):
    block = bytearray(mb * 1024 * 1024)
    Path(output).write_text(str(len(block)))


def starts_a_daemon(inputs, output, pid_file="", **_):
    """Leave a process behind in a session of its own (fork, setsid, fork), then end."""
    import time

    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            null = os.open(os.devnull, os.O_RDWR)
            for fd in (0, 1, 2):  # a daemon lets go of the step's pipes
                os.dup2(null, fd)
            os.closerange(3, 4096)
            Path(pid_file).write_text(str(os.getpid()))
            time.sleep(60)
        os._exit(0)
    os.wait()
    for _ in range(200):
        if Path(pid_file).is_file() and Path(pid_file).read_text():
            break
        time.sleep(0.01)
    Path(output).write_text("daemon started")


def umask(inputs, output, **_):
    Path(output).write_text(oct(os.umask(0o022)))


def seeded(inputs, output, log="", **_):
    """Bytes that follow the hash seed and the RNG seed, from the input; its parent's pid goes to ``log``."""
    import random

    with open(log, "a") as f:
        f.write(f"{os.getppid()}\n")
    text = Path(inputs[0]).read_text()
    Path(output).write_text(text + repr([hash(text), sorted({text, "a", "b"}, key=hash), random.random()]) + "\n")
