"""Child side of the subprocess executor: one JSON job on stdin, one JSON answer on stdout."""

from __future__ import annotations

import base64
import json
import os
import pickle
import sys
from datetime import datetime
from pathlib import Path


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
            handler = pickle.loads(base64.b64decode(job["handler"]))  # sent by our parent process
            result = handler(step, [Path(p) for p in job["inputs"]], Path(job["output"]))
        except ReplayError as exc:
            json.dump({"error": str(exc), "kind": type(exc).__name__}, answer_to)
            return 1
        except Exception as exc:  # a handler bug reads the same as under the kernel executor
            json.dump({"error": f"{type(exc).__name__}: {exc}", "kind": "StepFailed"}, answer_to)
            return 1
        json.dump({"path": str(result.path)}, answer_to)
    return 0


if __name__ == "__main__":
    sys.exit(main())
