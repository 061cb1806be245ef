"""Module-level ``python.call`` steps for the Dask executor tests.

The tests put this directory on ``sys.path`` and on the workers' ``PYTHONPATH``,
so the child that runs a step on a worker imports them as ``_dask_steps``.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path


def tagged(inputs, output, tag=""):
    """Output = the inputs' bytes in order, then ``tag``."""
    Path(output).write_bytes(b"".join(Path(p).read_bytes() for p in inputs) + tag.encode())


def fails_when_flagged(inputs, output, flag=""):
    """Like ``tagged`` with tag 'F' while ``flag`` is absent; raises once it exists."""
    if Path(flag).exists():
        raise RuntimeError("the flag is up")
    tagged(inputs, output, "F")


def timed_sleep(inputs, output, seconds=0.5, log=""):
    """Sleep, append ``start end`` (wall clock, as seen by the step itself) to ``log``; output = input + 'z'."""
    start = time.time()
    time.sleep(seconds)
    end = time.time()
    with open(log, "a") as fh:
        fh.write(f"{start} {end}\n")
    tagged(inputs, output, "z")


def write_env(inputs, output, name=""):
    """Write the value of environment variable ``name``, this process's pid and PYTHONHASHSEED."""
    Path(output).write_text(
        json.dumps({"value": os.environ.get(name), "pid": os.getpid(), "seed": os.environ.get("PYTHONHASHSEED")})
    )


def forgets_output(inputs, output):
    return None


def pid_then_sleep(inputs, output, pidfile="", seconds=30):
    """Write this process's pid to ``pidfile``, then sleep (a step a test stops half-way)."""
    Path(pidfile).write_text(str(os.getpid()))
    time.sleep(seconds)
    tagged(inputs, output, "slept")
