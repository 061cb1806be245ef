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


_STEP_FIELDS: dict[str, tuple[type, ...]] = {
    "step_id": (str,),
    "step_type": (str,),
    "input_hash": (str,),
    "output_hash_live": (str,),
    "output_hash_replayed": (str, type(None)),
    "ok": (bool, type(None)),
    "reason": (str,),
    "reused_from_run": (str, type(None)),
    "duration_s": (int, float),
}
_TOP_FIELDS: dict[str, tuple[type, ...]] = {
    "run_id": (str,),
    "kind": (str,),
    "target_artifact_id": (str,),
    "ok": (bool,),
    "summary": (dict,),
    "steps": (list,),
}


def load(source: str | os.PathLike[str] | dict[str, Any]) -> dict[str, Any]:
    """A manifest read from a file (or taken as a dict) and checked against the v1 schema.

    A manifest from elsewhere is data: it is parsed as JSON, never executed, and
    anything that is not a v1 manifest raises ``BadInput`` with a one-line reason.
    """
    from scidex_replay.errors import BadInput

    if isinstance(source, dict):
        data: Any = source
    else:
        try:
            data = json.loads(Path(source).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise BadInput(f"cannot read manifest {source}: {' '.join(str(exc).split())}") from exc
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        raise BadInput(f"not a {SCHEMA} manifest")
    for key, types in _TOP_FIELDS.items():
        if not isinstance(data.get(key), types):
            raise BadInput(f"manifest field {key!r} is missing or of the wrong type")
    for i, step in enumerate(data["steps"]):
        if not isinstance(step, dict):
            raise BadInput(f"manifest step {i} is not an object")
        for key, types in _STEP_FIELDS.items():
            value = step.get(key, ...)
            if value is ... or not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
                raise BadInput(f"manifest step {i}: field {key!r} is missing or of the wrong type")
    return data
