"""What the workbench's handlers answer: the registry's records and the engine's plans as
the JSON of the API contract, one serializer per record type (``artifact_json``, ``run_json``,
``step_json``). Plain functions of a ``Registry``, called in a worker thread; they raise the
package's errors (``NotFound`` for an unknown id, ``BadInput`` for bad options)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from scidex_replay.registry import Registry, Step
from scidex_replay.registry.records import Artifact, Run
from scidex_replay.replay import ReplayOptions
from scidex_replay.surfaces.graph import chain_graph
from scidex_replay.surfaces.labels import step_method


def _iso(value: Any) -> str | None:
    return None if value is None else value.isoformat()


def artifact_json(artifact: Artifact, producer: tuple[str, str | None, str] | None, last_run: Run | None) -> dict[str, Any]:
    """ArtifactJSON: ``{"id", "name", "kind", "size" (bytes), "content_hash", "created_at",
    "produced_by": {"step_id", "step_name", "step_type"} | null (``producer``: that triple), "last_run": {"run_id", "kind",
    "status", "started_at", "completed_at"} | null}``."""
    return {
        "id": artifact.id, "name": artifact.name, "kind": artifact.kind, "size": artifact.size,
        "content_hash": artifact.content_hash, "created_at": _iso(artifact.created_at),
        "produced_by": None if producer is None else dict(zip(("step_id", "step_name", "step_type"), producer)),
        "last_run": None if last_run is None else {
            "run_id": last_run.run_id, "kind": last_run.kind, "status": str(last_run.status),
            "started_at": _iso(last_run.started_at), "completed_at": _iso(last_run.completed_at),
        },
    }


def run_json(run: Run) -> dict[str, Any]:
    """RunJSON: ``{"run_id", "target_artifact_id", "kind", "parent_run_id", "from_step", "status",
    "started_at", "completed_at", "summary": {outcome: count} | null, "options"}``."""
    return {
        "run_id": run.run_id, "target_artifact_id": run.target_artifact_id, "kind": run.kind,
        "parent_run_id": run.parent_run_id, "from_step": run.from_step, "status": str(run.status),
        "started_at": _iso(run.started_at), "completed_at": _iso(run.completed_at),
        "summary": (run.manifest or {}).get("summary"), "options": run.options,
    }


def step_json(step: Step) -> dict[str, Any]:
    """A step of a chain: ``{"step_id", "step_name", "step_type", "method", "parameters", "inputs",
    "outputs" (artifact ids), "env_hash"}``."""
    return {
        "step_id": step.step_id, "step_name": step.name, "step_type": step.step_type, "method": step_method(step),
        "parameters": step.parameters, "inputs": list(step.source_artifact_ids), "outputs": list(step.output_ids),
        "env_hash": step.env_hash,
    }


def _artifacts_json(registry: Registry, artifacts: Iterable[Artifact]) -> list[dict[str, Any]]:
    artifacts = list(artifacts)
    ids = [a.id for a in artifacts]
    producers, last = registry.producers(ids), registry.latest_runs(ids)
    return [artifact_json(a, producers.get(a.id), last.get(a.id)) for a in artifacts]


def search(registry: Registry, q: str | None, kind: str | None, limit: int, offset: int) -> dict[str, Any]:
    """``GET artifacts``: ``{"artifacts": [ArtifactJSON], "total", "limit", "offset"}``, newest first."""
    page, total = registry.search_artifacts(q, kind, limit=limit, offset=offset)
    return {"artifacts": _artifacts_json(registry, page), "total": total, "limit": limit, "offset": offset}


def artifact_detail(registry: Registry, artifact_id: str) -> dict[str, Any]:
    """``GET artifacts/{id}``: ArtifactJSON and its ``metadata``."""
    artifact = registry.get_artifact(artifact_id)
    return {**_artifacts_json(registry, [artifact])[0], "metadata": artifact.metadata}


def _graph(registry: Registry, target: Artifact, steps: list[Step], run: Run | None) -> dict[str, Any]:
    from scidex_replay.replay.engine import run_manifest

    ids = {target.id, *(a for s in steps for a in (*s.source_artifact_ids, *s.output_ids))}
    manifest = run_manifest(registry, run.run_id) if run is not None and steps else None
    return chain_graph(target.id, steps, registry.artifacts(ids), run, manifest)


def chain(registry: Registry, artifact_id: str) -> dict[str, Any]:
    """``GET artifacts/{id}/chain``: ``{"artifact", "graph" (coloured by its last run), "steps" (execution order)}``."""
    from scidex_replay.replay.order import topological

    artifact = registry.get_artifact(artifact_id)
    steps = topological(registry.chain(artifact.id))
    last = registry.latest_runs([artifact.id]).get(artifact.id)
    producer = next(((s.step_id, s.name, s.step_type) for s in steps if artifact.id in s.output_ids), None)
    return {
        "artifact": artifact_json(artifact, producer, last),
        "graph": _graph(registry, artifact, steps, last),
        "steps": [step_json(s) for s in steps],
    }


def runs(registry: Registry, artifact_id: str | None) -> dict[str, Any]:
    """``GET runs?artifact=ID``: ``{"runs": [RunJSON]}``, oldest first."""
    return {"runs": [run_json(r) for r in registry.runs(artifact_id)]}


def run_detail(registry: Registry, run_id: str) -> dict[str, Any]:
    """``GET runs/{id}``: RunJSON, its ``manifest`` (the partial one of an unfinished run) and ``graph``."""
    from scidex_replay.replay.engine import run_manifest
    from scidex_replay.replay.order import topological

    run = registry.get_run(run_id)
    target = registry.get_artifact(run.target_artifact_id)
    steps = topological(registry.chain(target.id))
    manifest = run_manifest(registry, run.run_id)
    ids = {target.id, *(a for s in steps for a in (*s.source_artifact_ids, *s.output_ids))}
    graph = chain_graph(target.id, steps, registry.artifacts(ids), run, manifest)
    return {**run_json(run), "manifest": manifest, "graph": graph}


def options_of(body: Any) -> ReplayOptions:
    """The request body as ``ReplayOptions`` (``surfaces.args.json_options``: the flags' own checks)."""
    from scidex_replay.surfaces.args import json_options

    return json_options(body)


def plan(registry: Registry, artifact_id: str, options: ReplayOptions) -> dict[str, Any]:
    """``POST artifacts/{id}/plan``: ``{"steps": [{"step_id", "step_name", "action", "reason"}]}``; nothing is written."""
    from scidex_replay.replay import plan_replay

    the_plan = plan_replay(registry, artifact_id, options)
    return {
        "steps": [
            {"step_id": p.step.step_id, "step_name": p.step.name, "action": p.action, "reason": p.detail or None}
            for p in the_plan.steps
        ]
    }
