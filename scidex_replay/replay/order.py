"""Topological order of recorded steps (a pure function of the recorded DAG)."""

from __future__ import annotations

import graphlib
from collections.abc import Iterable

from scidex_replay.errors import CycleError
from scidex_replay.registry.records import Step


def topological(steps: Iterable[Step]) -> list[Step]:
    """Producers before consumers; ties broken by recording order, then id, so the order is stable.

    ``started_at`` is kept to the second (it is the step's SOURCE_DATE_EPOCH), so
    ``completed_at`` orders steps recorded within the same second.

    Raises ``CycleError`` naming the steps on a cycle.
    """
    steps = sorted(steps, key=lambda s: (s.started_at, s.completed_at, s.step_id))
    producer = {a: s.step_id for s in steps for a in s.output_ids}
    by_id = {s.step_id: s for s in steps}
    sorter: graphlib.TopologicalSorter[str] = graphlib.TopologicalSorter()
    for s in steps:
        sorter.add(s.step_id, *(producer[a] for a in s.source_artifact_ids if a in producer))
    try:
        sorter.prepare()
    except graphlib.CycleError as exc:
        cycle = exc.args[1]
        raise CycleError(f"the recorded steps form a cycle: {' -> '.join(cycle)}") from exc
    rank = {s.step_id: i for i, s in enumerate(steps)}
    ordered: list[Step] = []
    while sorter.is_active():
        ready = sorted(sorter.get_ready(), key=rank.__getitem__)
        ordered.extend(by_id[r] for r in ready)
        sorter.done(*ready)
    return ordered
