"""``manifest.json``: schema ``scidex-replay/manifest/v2`` (DESIGN.md), as JSON Schema in
``schemas/manifest.schema.json``, the one file the Python package and the JupyterLab
extension's tests both check against. Every manifest written or read here is validated
with ``jsonschema``; a ``scidex-replay/manifest/v1`` one (notebooks saved by the first
wave) is still read.

Top level: ``schema, run_id, kind, parent_run_id, target_artifact_id, from_step,
options, env, started_at, completed_at, status, ok, summary, steps``. ``env`` holds the
distinct env_hashes the steps were recorded in (``live``) and the env_hash of the
replaying interpreter (``replay``). Each step: the v1 fields ``step_id, step_type,
input_hash, output_hash_live, output_hash_replayed, ok, reason, reused_from_run,
duration_s``, plus ``outcome``, ``step_name``, ``method``, ``target_artifact_id``,
``input_hash_replayed`` (of the bytes the step was given), ``outputs`` (one entry per
output) and ``comparison``; with ``--diff`` a ``diff``, and in a fork the
``forked_artifact_id`` of the new artifact; ``source_drift`` (``replay/drift.py``) when a source
file the step reads changed since it was recorded. ``ok`` is null for a step that was not checked.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections import Counter
from collections.abc import Mapping, Sequence
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from scidex_replay.errors import BadInput, ReplayError, one_line
from scidex_replay.outcomes import EXECUTED, Outcome, is_ok
from scidex_replay.registry.records import Artifact, Run, Step, StepResult

SCHEMA = "scidex-replay/manifest/v2"
SCHEMA_V1 = "scidex-replay/manifest/v1"
MIMETYPE = "application/vnd.scidex.replay-manifest+json"


@cache
def schema() -> dict[str, Any]:
    """The manifest JSON Schema (draft 2020-12) shipped in the package."""
    return json.loads(resources.files("scidex_replay.replay").joinpath("schemas/manifest.schema.json").read_text())


@cache
def _validator() -> Any:
    from jsonschema import Draft202012Validator

    return Draft202012Validator(schema())


def problem(manifest: Any) -> str | None:
    """The first way ``manifest`` breaks the schema, in one line (``None`` when it is valid)."""
    error = next(iter(_validator().iter_errors(manifest)), None)
    if error is None:
        return None
    where = "/".join(str(p) for p in error.absolute_path) or "top level"
    return one_line(f"{where}: {error.message}")[:300]


def build(
    run: Run,
    steps: Sequence[Step],
    results: Sequence[StepResult],
    *,
    artifacts: Mapping[str, Artifact],
    replay_env: str,
    completed_at: str | None,
    extras: Mapping[str, Mapping[str, Any]] | None = None,
    verdicts: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
) -> dict[str, Any]:
    """The manifest of ``run`` from its ``results`` (a subset of ``steps``, in execution order).

    ``verdicts`` holds, for a step whose outputs were compared, each output's ``outcome``,
    ``ok`` and ``comparison`` (``StepRunner.verdicts``); the step's ``comparison`` is that of
    its first output that is not byte-identical.

    Raises ``ReplayError`` if what it built does not validate (a bug, never the user's input).
    """
    by_id = {s.step_id: s for s in steps}
    rows = []
    for r in results:
        s = by_id[r.step_id]
        outputs = _outputs(s, r, artifacts, (verdicts or {}).get(s.step_id))
        row = {
            "step_id": s.step_id,
            "step_name": s.name,
            "step_type": s.step_type,
            "method": s.method,
            "target_artifact_id": s.target_artifact_id,
            "inputs": [
                {"artifact_id": a, "name": artifacts[a].name if a in artifacts else None} for a in s.source_artifact_ids
            ],
            "input_hash": s.input_hash,
            "input_hash_replayed": None,
            "output_hash_live": s.output_hash,
            "output_hash_replayed": r.output_hash_replayed,
            "ok": r.ok,
            "outcome": r.outcome.value,
            "reason": r.reason,
            "reused_from_run": r.reused_from_run,
            "duration_s": round(r.duration_s, 6),
            "outputs": outputs,
            "comparison": next((o["comparison"] for o in outputs if o["comparison"] is not None), None),
        }
        row.update((extras or {}).get(s.step_id, {}))
        rows.append(row)
    checked = [r for r in results if r.ok is not None]
    manifest = {
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
        "status": str(run.status),
        "ok": bool(checked) and all(r.ok for r in checked) and len(results) == len(steps),
        "summary": dict(sorted(Counter(r.outcome.value for r in results).items())),
        "steps": rows,
    }
    if (error := problem(manifest)) is not None:
        raise ReplayError(f"scidex-replay built a manifest that breaks its own schema: {error}")
    return manifest


def _outputs(
    step: Step, result: StepResult, artifacts: Mapping[str, Artifact], verdicts: Sequence[Mapping[str, Any]] | None,
) -> list[dict[str, Any]]:
    """One entry per output of ``step``: where a step's outputs differ, each says whether it does
    and, when it was compared, how (``verdicts``)."""
    replayed = result.digests
    rows = []
    for i, out in enumerate(step.all_outputs):
        digest = replayed[i] if i < len(replayed) else None
        verdict = verdicts[i] if verdicts and i < len(verdicts) else None
        outcome = result.outcome
        if verdict is not None:
            outcome = Outcome(verdict["outcome"])
        elif outcome is Outcome.OUTPUT_DIFFERS and digest == out.content_hash:
            outcome = Outcome.REPRODUCED  # this output is byte-identical; another one differs
        artifact = artifacts.get(out.artifact_id)
        rows.append({
            "artifact_id": out.artifact_id,
            "name": out.path or (artifact.name if artifact else None),
            "hash_live": out.content_hash,
            "hash_replayed": digest,
            "ok": verdict["ok"] if verdict is not None else is_ok(outcome),
            "outcome": outcome.value,
            "comparison": verdict["comparison"] if verdict is not None else None,
        })
    return rows


def write(manifest: dict[str, Any], out_dir: Path) -> Path:
    """Write ``out_dir/manifest.json`` atomically (temp file + link), never replacing one that is
    there: ``BadInput`` then (``ReplayOptions.check_out`` refuses such a directory before a replay;
    this catches one that appeared meanwhile)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out_dir, prefix=".manifest.")
    path = out_dir / "manifest.json"
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(manifest, fh, indent=2)
            fh.write("\n")
        try:
            os.link(tmp, path)
        except FileExistsError:
            raise BadInput(
                f"{path} appeared during the replay and was left as it is; this run's manifest is in "
                f"the registry (runs show {manifest.get('run_id')})"
            ) from None
        except OSError:  # a filesystem without hard links
            if os.path.lexists(path):
                raise BadInput(f"{path} appeared during the replay and was left as it is") from None
            os.replace(tmp, path)
        return path
    finally:
        Path(tmp).unlink(missing_ok=True)


def counts(manifest: Mapping[str, Any]) -> dict[str, int]:
    """Reproduced / reused / executed / failed / differs / equivalent step counts of a run, from its manifest."""
    outcomes = Counter(step.get("outcome") for step in manifest.get("steps", []))
    return {
        "reproduced": outcomes[Outcome.REPRODUCED],
        "reused": outcomes[Outcome.REUSED],
        "executed": sum(outcomes[o] for o in EXECUTED),
        "failed": outcomes[Outcome.FAILED] + outcomes[Outcome.SKIPPED],
        "differs": outcomes[Outcome.OUTPUT_DIFFERS] + outcomes[Outcome.INPUT_DIFFERS],
        "equivalent": outcomes[Outcome.EQUIVALENT],
    }


def load(source: str | os.PathLike[str] | dict[str, Any]) -> dict[str, Any]:
    """A manifest read from a file (or taken as a dict) and validated against the schema (v2 or v1).

    A manifest from elsewhere is data: it is parsed as JSON, never executed, and
    anything that is not a valid manifest raises ``BadInput`` with a one-line reason.
    """
    if isinstance(source, dict):
        data: Any = source
    else:
        try:
            data = json.loads(Path(source).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise BadInput(f"cannot read manifest {source}: {one_line(exc)}") from exc
    if not isinstance(data, dict) or data.get("schema") not in (SCHEMA, SCHEMA_V1):
        raise BadInput(f"not a {SCHEMA} or v1 manifest")
    if (error := problem(data)) is not None:
        raise BadInput(f"not a valid {data['schema']} manifest: {error}")
    return data
