"""The chain as a graph (``surfaces/graph.py``): the nodes and edges every surface draws,
coloured by a run, in the same bytes for the same chain."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import _steps

from scidex_replay.recording import record_call
from scidex_replay.replay import rerun_artifact
from scidex_replay.replay.engine import collect
from scidex_replay.surfaces.graph import SCHEMA, chain_graph


def test_graph_has_a_node_per_step_and_artifact_and_edges_in_execution_order(registry, tmp_path: Path):
    raw = tmp_path / "raw.txt"
    raw.write_text("a\nb\n")
    upper = record_call(registry, _steps.shout, inputs=[raw], output="upper.txt", step_name="shout")
    again = record_call(registry, _steps.reverse, inputs=[upper.id], output="rev.txt", step_name="reverse")
    chain = collect(registry, again.id)
    graph = chain_graph(again.id, chain.steps, chain.artifacts)

    assert graph["schema"] == SCHEMA and graph["run"] is None
    steps = [n for n in graph["nodes"] if n["type"] == "step"]
    assert [(n["label"], n["position"], n["outcome"]) for n in steps] == [("shout", 1, None), ("reverse", 2, None)]
    roles = {n["label"]: n["role"] for n in graph["nodes"] if n["type"] == "artifact"}
    assert roles == {"raw.txt": "source", "upper.txt": "intermediate", "rev.txt": "target"}
    by_label = {n["label"]: n["id"] for n in graph["nodes"]}
    edges = [(e["source"], e["target"]) for e in graph["edges"]]
    assert edges == [
        (by_label["raw.txt"], by_label["shout"]), (by_label["shout"], by_label["upper.txt"]),
        (by_label["upper.txt"], by_label["reverse"]), (by_label["reverse"], by_label["rev.txt"]),
    ]
    # the same chain gives the same bytes, whatever order the registry returned the steps in
    reordered = chain_graph(again.id, list(reversed(chain.steps)), chain.artifacts)
    digest = lambda g: hashlib.sha256(json.dumps(g, sort_keys=True).encode()).hexdigest()  # noqa: E731
    assert digest(reordered) == digest(graph)


def test_graph_of_a_run_takes_each_steps_outcome_and_reuse_from_its_manifest(registry, tmp_path: Path):
    raw = tmp_path / "raw.txt"
    raw.write_text("a\nb\n")
    upper = record_call(registry, _steps.shout, inputs=[raw], output="upper.txt", step_name="shout")
    again = record_call(registry, _steps.reverse, inputs=[upper.id], output="rev.txt", step_name="reverse")
    first = rerun_artifact(again.id, registry=registry, out=tmp_path / "r1")
    second = rerun_artifact(again.id, registry=registry, out=tmp_path / "r2", restart=first.run.run_id, reuse="all")
    chain = collect(registry, again.id)

    graph = chain_graph(again.id, chain.steps, chain.artifacts, run=second.run, manifest=second.manifest)
    steps = {n["label"]: n for n in graph["nodes"] if n["type"] == "step"}
    assert {k: (n["outcome"], n["reused_from_run"]) for k, n in steps.items()} == {
        "shout": ("reused", first.run.run_id), "reverse": ("reused", first.run.run_id),
    }
    assert graph["run"]["run_id"] == second.run.run_id and graph["run"]["parent_run_id"] == first.run.run_id
    # the manifest lists each step's inputs by artifact id, so a static renderer can draw the same graph
    raw_id = next(n["artifact_id"] for n in graph["nodes"] if n["label"] == "raw.txt")
    assert [s["inputs"] for s in first.manifest["steps"]] == [
        [{"artifact_id": raw_id, "name": "raw.txt"}], [{"artifact_id": upper.id, "name": "upper.txt"}],
    ]
