"""Child side of the subprocess executor: one JSON job on stdin, one JSON answer on stdout.

Started as ``python -m scidex_replay.executors.child`` for one step (a fresh interpreter), or
with ``$SCIDEX_REPLAY_ZYGOTE_FD`` set as the warm zygote of ``executors/zygote.py``: that process imports what
``main`` imports and nothing else, then forks one child per step, which leaves
``zygote.serve`` set up as a fresh interpreter would be and goes on through ``main`` below.
"""

from __future__ import annotations

import base64
import json
import os
import pickle
import sys
from pathlib import Path

#: Set (to the fd of its socket) in the environment a zygote starts with; its children's is the step's.
ZYGOTE_FD_ENV = "SCIDEX_REPLAY_ZYGOTE_FD"


def _preload():
    """What every step's child imports before it reads its job (the zygote imports just this)."""
    from scidex_replay.env.deterministic import take_overlay
    from scidex_replay.errors import ReplayError
    from scidex_replay.handlers.process import Limits, applied
    from scidex_replay.registry.records import step_from_json

    return take_overlay, ReplayError, Limits, applied, step_from_json


def _zygote_imports():
    """Import what only the zygote needs from the standard library alone, never from a folder on
    ``PYTHONPATH`` (a step's ``socket.py`` there must not run in the zygote); its ``serve``."""
    stdlib = os.path.dirname(os.__file__)
    saved = sys.path[:]
    sys.path[:] = [stdlib, os.path.join(stdlib, "lib-dynload")]
    try:
        import array  # noqa: F401 - used by socket.recv_fds
        import resource  # noqa: F401 - used by a child under a memory limit
        import socket  # noqa: F401

        from scidex_replay.executors.zygote import serve
    finally:
        sys.path[:] = saved
    return serve


def main() -> int:
    take_overlay, ReplayError, Limits, applied, step_from_json = _preload()
    if os.environ.get(ZYGOTE_FD_ENV):
        preloaded = list(sys.modules)
        serve = _zygote_imports()
        serve(int(os.environ[ZYGOTE_FD_ENV]), preloaded)  # returns only in a forked step child, set up as a fresh one
    take_overlay()
    job = json.loads(sys.stdin.read())
    step = step_from_json(job["step"])
    # The step's output on fd 1 (print, C code, child processes) must not corrupt the answer.
    sys.stdout.flush()
    answer_to = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    with answer_to:
        try:
            handler = pickle.loads(base64.b64decode(job["handler"]))  # sent by our parent process
            with applied(Limits(**job.get("limits", {}))):
                result = handler(step, [Path(p) for p in job["inputs"]], Path(job["output"]))
        except ReplayError as exc:
            json.dump({"error": str(exc), "kind": type(exc).__name__}, answer_to)
            return 1
        except Exception as exc:  # a handler bug reads the same as under the kernel executor
            json.dump({"error": f"{type(exc).__name__}: {exc}", "kind": "StepFailed"}, answer_to)
            return 1
        json.dump({"path": str(result.path), "paths": [str(p) for p in result.paths]}, answer_to)
    return 0


if __name__ == "__main__":
    sys.exit(main())
