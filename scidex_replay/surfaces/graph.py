"""A chain as a graph: the one picture every surface draws (the workbench's chain view,
the widget, the manifest renderer).

``chain_graph`` gives plain JSON (schema ``scidex-replay/graph/v1``), displayed in Jupyter as
``application/vnd.scidex.replay-graph+json``, which the JupyterLab extension lays out left
to right (steps and artifacts as nodes, an edge from each input to its step and from each
step to its outputs). Nodes are in execution order, so the same chain gives the same bytes::

    {"schema": "scidex-replay/graph/v1", "target": "a1b2c3",
     "run": {"run_id", "kind", "status", "parent_run_id", "from_step"} | null,
     "nodes": [{"id": "artifact:a1b2c3", "type": "artifact", "artifact_id", "label", "kind",
                "role": "source" | "intermediate" | "target", "outcome": str | null},
               {"id": "step:s9", "type": "step", "step_id", "label", "step_type", "method",
                "parameters", "position" (1-based execution order), "outcome": str | null,
                "reused_from_run": str | null}],
     "edges": [{"source": node id, "target": node id}]}

``outcome`` is that of the run given (``scidex_replay.outcomes.Outcome`` values; an output
artifact takes its own verdict when the step compared several), ``null`` when no run is
given or the run did not reach the step. A source artifact (no steps) is one artifact node. Holds no replay logic: it copies what the engine
recorded.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from scidex_replay.registry.records import Artifact, Run, Step
from scidex_replay.replay.order import topological
from scidex_replay.surfaces.labels import step_method

SCHEMA = "scidex-replay/graph/v1"
MIME = "application/vnd.scidex.replay-graph+json"


def step_node_id(step_id: str) -> str:
    return f"step:{step_id}"


def artifact_node_id(artifact_id: str) -> str:
    return f"artifact:{artifact_id}"


def _short(text: str, width: int = 40) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def chain_graph(
    target_id: str,
    steps: Sequence[Step],
    artifacts: Mapping[str, Artifact],
    run: Run | None = None,
    manifest: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The graph of the chain ``steps`` (unordered; ordered here) that produced ``target_id``.

    ``artifacts`` maps artifact id to ``Artifact`` for every input and output (a missing one is
    labelled by its id). ``run`` and its ``manifest`` (the dict it wrote, or the partial one of an
    unfinished run) colour the nodes; steps the manifest does not list keep ``outcome: null``.
    """
    rows = {row["step_id"]: row for row in (manifest or {}).get("steps", [])}
    produced = {out: s.step_id for s in steps for out in s.output_ids}
    nodes: list[dict[str, Any]] = []
    edges: list[dict[str, str]] = []
    seen: set[str] = set()

    def artifact(artifact_id: str, outcome: str | None = None) -> str:
        node_id = artifact_node_id(artifact_id)
        if node_id not in seen:
            seen.add(node_id)
            a = artifacts.get(artifact_id)
            role = "target" if artifact_id == target_id else "intermediate" if artifact_id in produced else "source"
            nodes.append({
                "id": node_id, "type": "artifact", "artifact_id": artifact_id,
                "label": (a.name if a and a.name else artifact_id), "kind": a.kind if a else None,
                "role": role, "outcome": outcome,
            })
        return node_id

    for position, step in enumerate(topological(steps), 1):
        row = rows.get(step.step_id)
        for source in step.source_artifact_ids:
            edges.append({"source": artifact(source), "target": step_node_id(step.step_id)})
        nodes.append({
            "id": step_node_id(step.step_id), "type": "step", "step_id": step.step_id,
            "label": step.name or _short(step_method(step)) or step.step_id,
            "step_type": step.step_type, "method": step_method(step), "parameters": step.parameters,
            "position": position, "outcome": row["outcome"] if row else None,
            "reused_from_run": row["reused_from_run"] if row else None,
        })
        verdicts = {o["artifact_id"]: o["outcome"] for o in row.get("outputs", [])} if row else {}
        for out in step.output_ids:
            edges.append({"source": step_node_id(step.step_id), "target": artifact(out, verdicts.get(out))})
    artifact(target_id)  # a source artifact (no steps) is a graph of one node
    return {
        "schema": SCHEMA,
        "target": target_id,
        "run": None if run is None else {
            "run_id": run.run_id, "kind": run.kind, "status": str(run.status),
            "parent_run_id": run.parent_run_id, "from_step": run.from_step,
        },
        "nodes": nodes,
        "edges": edges,
    }
