"""Child side of the subprocess executor: one JSON job on stdin, one JSON answer on stdout."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path


def main() -> int:
    from scidex_replay.errors import ReplayError
    from scidex_replay.handlers.registry import load_handlers
    from scidex_replay.registry.records import Step

    job = json.loads(sys.stdin.read())
    data = dict(job["step"])
    data["started_at"] = datetime.fromisoformat(data["started_at"])
    data["completed_at"] = datetime.fromisoformat(data["completed_at"])
    data["source_artifact_ids"] = tuple(data["source_artifact_ids"])
    step = Step(**data)
    answer_to, sys.stdout = sys.stdout, sys.stderr  # the step's prints must not corrupt the answer
    try:
        handler = load_handlers().get(step.step_type)
        result = handler(step, [Path(p) for p in job["inputs"]], Path(job["output"]))
    except ReplayError as exc:
        json.dump({"error": str(exc), "kind": type(exc).__name__}, answer_to)
        return 1
    json.dump({"path": str(result.path), "note": result.note}, answer_to)
    return 0


if __name__ == "__main__":
    sys.exit(main())
