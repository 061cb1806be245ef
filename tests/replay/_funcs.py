"""Module-level functions for ``python.call`` steps in the replay tests.

Each is called as ``func(inputs, output, **parameters)``. The tests put this
directory on ``sys.path`` and on ``PYTHONPATH`` so that the subprocess
executor's child imports the same module by the same name (``_funcs``).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path


def concat(inputs, output, tag="", log=None):
    """Output = the inputs' bytes in order, then ``tag``; append ``tag`` to ``log`` (counts executions)."""
    data = b"".join(Path(p).read_bytes() for p in inputs) + tag.encode()
    Path(output).write_bytes(data)
    if log:
        with open(log, "a") as fh:
            fh.write(tag + "\n")


def copy_then_tamper(inputs, output):
    """Copy the input, then overwrite the input file it was given (after reading it)."""
    data = Path(inputs[0]).read_bytes()
    Path(output).write_bytes(data)
    Path(inputs[0]).write_bytes(b"tampered by the step itself")


def write_env(inputs, output):
    """Write what the interpreter it runs in looks like."""
    Path(output).write_text(
        json.dumps({"seed": os.environ.get("PYTHONHASHSEED"), "pid": os.getpid(), "tz": os.environ.get("TZ")})
    )


def noisy_print(inputs, output):
    """Print to stdout (as a chatty analysis would) and still write the output."""
    print("progress: 50%")
    print('{"path": "/not/the/answer"}')
    Path(output).write_text("quiet result")


def noisy_fd1(inputs, output):
    """Write to file descriptor 1 directly, as a C library or a child process would."""
    os.write(1, b"chatter from C or a child process\n")
    Path(output).write_text("result")


def boom(inputs, output, message="boom"):
    raise ValueError(message)


def sleepy(inputs, output, seconds=30):
    time.sleep(seconds)
    Path(output).write_text("woke")


def forgets_output(inputs, output):
    return None


def from_external(inputs, output, path):
    """Output = the bytes of a file that is not an input (so it can drift between record and replay)."""
    Path(output).write_bytes(Path(path).read_bytes())


def modules_loaded(inputs, output):
    Path(output).write_text(json.dumps(sorted(m for m in ("sqlalchemy", "pandas") if m in sys.modules)))


not_callable = 42


class Stamp:
    """A third-party handler in an importable module: output = the first input's bytes + b' stamped'."""

    step_type = "lab.stamp"
    version = "1"

    def __call__(self, step, inputs, output):
        from scidex_replay.handlers.spec import ReplayedArtifact

        Path(output).write_bytes(Path(inputs[0]).read_bytes() + b" stamped")
        return ReplayedArtifact(Path(output))


class Interrupting:
    """A handler that behaves as if the user pressed Ctrl-C while it ran."""

    step_type = "lab.interrupt"
    version = "1"

    def __call__(self, step, inputs, output):
        raise KeyboardInterrupt


class Repeat:
    """A configured handler (what an entry-point factory may return): output = first input * times."""

    step_type = "lab.repeat"
    version = "1"

    def __init__(self, times):
        self.times = times

    def __call__(self, step, inputs, output):
        from scidex_replay.handlers.spec import ReplayedArtifact

        Path(output).write_bytes(Path(inputs[0]).read_bytes() * self.times)
        return ReplayedArtifact(Path(output))


def repeat_three_times():
    """An entry-point style factory: ``"lab.repeat" = "_funcs:repeat_three_times"``."""
    return Repeat(3)


class Broken:
    """A handler with a bug: it raises a plain exception, not StepFailed."""

    step_type = "lab.broken"
    version = "1"

    def __call__(self, step, inputs, output):
        raise RuntimeError("sensor offline")
