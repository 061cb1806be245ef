"""``manifest.json``, schema ``scidex-replay/manifest/v1`` (see DESIGN.md).

Top level: ``schema, run_id, kind, parent_run_id, target_artifact_id, from_step,
options, env, started_at, completed_at, ok, summary, steps``. ``env`` holds the
distinct env_hashes the steps were recorded in (``live``) and the env_hash of
the replaying interpreter (``replay``). Each step: ``step_id, step_type,
input_hash, output_hash_live, output_hash_replayed, ok, reason,
reused_from_run, duration_s`` plus ``outcome`` (the reason's code),
``method``, ``target_artifact_id``, ``input_hash_replayed`` (of the bytes the
step was given), with ``--diff`` a ``diff``, and in a fork the
``forked_artifact_id`` of the new artifact. ``ok`` is null for a step that was not checked (frozen).
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from scidex_replay.registry.records import Run, Step, StepResult

SCHEMA = "scidex-replay/manifest/v1"
_CODE = re.compile(r"[a-z][a-z-]*")
MIMETYPE = "application/vnd.scidex.replay-manifest+json"


def outcome(reason: str) -> str:
    """The short code at the start of a reason: ``reproduced``, ``output-differs``, ``failed`` …"""
    match = _CODE.match(reason)
    return match.group(0) if match else reason


def build(
    run: Run,
    steps: Sequence[Step],
    results: Sequence[StepResult],
    *,
    replay_env: str,
    completed_at: str | None,
    extras: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    by_id = {s.step_id: s for s in steps}
    rows = []
    for r in results:
        s = by_id[r.step_id]
        row = {
            "step_id": s.step_id,
            "step_type": s.step_type,
            "method": s.method,
            "target_artifact_id": s.target_artifact_id,
            "input_hash": s.input_hash,
            "input_hash_replayed": None,
            "output_hash_live": s.output_hash,
            "output_hash_replayed": r.output_hash_replayed,
            "ok": r.ok,
            "outcome": outcome(r.reason),
            "reason": r.reason,
            "reused_from_run": r.reused_from_run,
            "duration_s": round(r.duration_s, 6),
        }
        row.update((extras or {}).get(s.step_id, {}))
        rows.append(row)
    checked = [r for r in results if r.ok is not None]
    return {
        "schema": SCHEMA,
        "run_id": run.run_id,
        "kind": run.kind,
        "parent_run_id": run.parent_run_id,
        "target_artifact_id": run.target_artifact_id,
        "from_step": run.from_step,
        "options": run.options,
        "env": {"live": list(dict.fromkeys(s.env_hash for s in steps if s.env_hash)), "replay": replay_env},
        "started_at": run.started_at.isoformat(),
        "completed_at": completed_at,
        "status": run.status,
        "ok": bool(checked) and all(r.ok for r in checked) and len(results) == len(steps),
        "summary": dict(sorted(Counter(outcome(r.reason) for r in results).items())),
        "steps": rows,
    }


def write(manifest: dict[str, Any], out_dir: Path) -> Path:
    """Write ``out_dir/manifest.json`` atomically (temp file + rename)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out_dir, prefix=".manifest.")
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(manifest, fh, indent=2)
            fh.write("\n")
        path = out_dir / "manifest.json"
        os.replace(tmp, path)
        return path
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


EXECUTED = ("reproduced", "output-differs", "input-differs", "failed", "forked")


def counts(manifest: dict[str, Any]) -> dict[str, int]:
    """Reproduced / reused / executed / failed step counts of a run, from its manifest."""
    outcomes = Counter(step["outcome"] for step in manifest.get("steps", []))
    return {
        "reproduced": outcomes["reproduced"],
        "reused": outcomes["reused"],
        "executed": sum(outcomes[o] for o in EXECUTED),
        "failed": outcomes["failed"] + outcomes["skipped"],
        "differs": outcomes["output-differs"] + outcomes["input-differs"],
    }
