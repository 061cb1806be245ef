"""W3C PROV-JSON of a chain, and of a replay run, with the ``prov`` package.

Artifacts are entities (with their sha256, size, kind and name), steps are
activities that ``used`` their ordered sources (and, role ``code``, the source file of the
module a ``python.call`` imports) and whose targets
``wasGeneratedBy`` them and ``wasDerivedFrom`` the sources. A replay run is a
bundle named after the run: one activity per replayed step, one entity per
replayed output, ``alternateOf`` the live entity when it reproduced, and the
run's lineage as ``wasInformedBy`` its parent run.
"""

from __future__ import annotations

import json
from typing import Any

from prov.model import ProvDocument

from scidex_replay.registry import Registry
from scidex_replay.replay.engine import collect
from scidex_replay.replay.order import topological

NS = "urn:scidex-replay:"


def _entity(doc: Any, art: Any) -> Any:
    return doc.entity(
        f"scidex:{art.id}",
        {"scidex:sha256": art.content_hash, "scidex:size": art.size, "scidex:kind": art.kind, "prov:label": art.name or art.id},
    )


def export_prov(registry: Registry, artifact_id: str, run_id: str | None = None) -> dict[str, Any]:
    """The PROV-JSON document (as a dict) of ``artifact_id``'s chain, plus ``run_id`` as a bundle."""
    chain = collect(registry, artifact_id)
    doc = ProvDocument()
    doc.add_namespace("scidex", NS)
    for art in sorted(chain.artifacts.values(), key=lambda a: a.id):
        _entity(doc, art)
    for step in topological(chain.steps):
        act = doc.activity(
            f"scidex:{step.step_id}",
            step.started_at,
            step.completed_at,
            {
                "scidex:step_type": step.step_type,
                "scidex:method": step.method,
                "scidex:parameters": json.dumps(step.parameters, sort_keys=True),
                "scidex:input_hash": step.input_hash,
                "scidex:env_hash": step.env_hash or "",
            },
        )
        if step.name:
            act.add_attributes({"scidex:step_name": step.name})
        for position, source in enumerate(step.source_artifact_ids):
            doc.used(act, f"scidex:{source}", None, None, {"prov:role": f"in{position}"})
        for code in step.code_inputs:
            attributes = {"prov:role": "code", "scidex:module": code.module, "scidex:path": code.path}
            doc.used(act, f"scidex:{code.artifact_id}", None, None, attributes)
        for output in step.output_ids:  # every output of the step, each derived from every source
            target = f"scidex:{output}"
            for source in step.source_artifact_ids:
                doc.wasDerivedFrom(target, f"scidex:{source}", act)
            doc.wasGeneratedBy(target, act, step.completed_at)
    if run_id is not None:
        _run_bundle(registry, doc, chain, run_id)
    return json.loads(doc.serialize(format="json"))


def _run_bundle(registry: Registry, doc: Any, chain: Any, run_id: str) -> None:
    run = registry.get_run(run_id)
    if run.target_artifact_id != chain.target.id:
        from scidex_replay.errors import BadInput

        raise BadInput(f"run {run_id} replayed {run.target_artifact_id}, not {chain.target.id}")
    bundle = doc.bundle(f"scidex:{run.run_id}")
    run_act = bundle.activity(
        f"scidex:{run.run_id}",
        run.started_at,
        run.completed_at,
        {"scidex:kind": run.kind, "scidex:status": run.status, "scidex:options": json.dumps(run.options, sort_keys=True)},
    )
    if run.parent_run_id:
        bundle.wasInformedBy(run_act, f"scidex:{run.parent_run_id}")
    for row in (run.manifest or {}).get("steps", []):
        act = bundle.activity(
            f"scidex:{run.run_id}/{row['step_id']}",
            other_attributes={
                "scidex:replays": f"scidex:{row['step_id']}",
                "scidex:outcome": row["outcome"],
                "scidex:reason": row["reason"],
                "scidex:reused_from_run": row["reused_from_run"] or "",
            },
        )
        bundle.wasInformedBy(act, run_act)
        # v2 manifests list every output; a v1 one describes its single output in the step itself.
        outputs = row.get("outputs") or [
            {"artifact_id": row["target_artifact_id"], "hash_live": row["output_hash_live"], "hash_replayed": row["output_hash_replayed"]}
        ]
        for output in outputs:
            if not output["hash_replayed"]:
                continue
            live = f"scidex:{output['artifact_id']}"
            attributes = {"scidex:sha256": output["hash_replayed"]}
            if output.get("outcome"):
                attributes["scidex:outcome"] = output["outcome"]
            if comparison := output.get("comparison"):  # the verdict and its metrics, in the provenance record
                attributes.update({
                    "scidex:comparator": comparison["comparator"],
                    "scidex:equivalent": comparison["equivalent"],
                    "scidex:summary": comparison["summary"],
                    "scidex:differences": json.dumps(comparison["differences"], sort_keys=True),
                    "scidex:metrics": json.dumps(comparison["metrics"], sort_keys=True),
                })
            replayed = bundle.entity(f"scidex:{run.run_id}/{output['artifact_id']}", attributes)
            bundle.wasGeneratedBy(replayed, act)
            if output["hash_replayed"] == output["hash_live"]:
                bundle.alternateOf(replayed, live)
            else:
                bundle.wasDerivedFrom(replayed, live)
