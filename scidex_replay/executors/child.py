"""Child side of the subprocess executor: one JSON job on stdin, one JSON answer on stdout."""

from __future__ import annotations

import json
import os
import sys
from datetime import datetime
from pathlib import Path


def _handler(ref: str):
    """Import the handler class by reference: a pinned venv has no scidex_replay entry points."""
    import importlib

    module, _, name = ref.partition(":")
    return getattr(importlib.import_module(module), name)()


def main() -> int:
    from scidex_replay.errors import ReplayError
    from scidex_replay.registry.records import Step

    job = json.loads(sys.stdin.read())
    data = dict(job["step"])
    data["started_at"] = datetime.fromisoformat(data["started_at"])
    data["completed_at"] = datetime.fromisoformat(data["completed_at"])
    data["source_artifact_ids"] = tuple(data["source_artifact_ids"])
    step = Step(**data)
    # The step's output on fd 1 (print, C code, child processes) must not corrupt the answer.
    sys.stdout.flush()
    answer_to = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    with answer_to:
        try:
            handler = _handler(job["handler"])
            result = handler(step, [Path(p) for p in job["inputs"]], Path(job["output"]))
        except ReplayError as exc:
            json.dump({"error": str(exc), "kind": type(exc).__name__}, answer_to)
            return 1
        json.dump({"path": str(result.path), "note": result.note}, answer_to)
    return 0


if __name__ == "__main__":
    sys.exit(main())
