"""The replay plan: a pure function of the recorded graph and the options.

Nothing here touches the database, the store or a process, so a plan can be
tested alone and printed by ``--dry-run``. Given the chain::

      raw ──► clean ──► summary ──► report
                └────► qc ────────────┘

``plan(steps, target)`` orders the steps producers-first (each once, even in a
diamond) and gives each an action:

- ``execute``: re-run it with its handler;
- ``frozen``: not re-run; its recorded (live) output is the downstream input
  (steps outside ``--from STEP`` and its descendants, or, in a fork, outside
  the changed steps and their descendants);
- ``unreplayable``: no handler for its step_type; downstream steps use its live
  output.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from scidex_replay.errors import BadInput
from scidex_replay.registry.records import Step
from scidex_replay.replay.order import topological

EXECUTE, FROZEN, UNREPLAYABLE = "execute", "frozen", "unreplayable"


@dataclass(frozen=True)
class PlannedStep:
    step: Step
    action: str  # EXECUTE, FROZEN or UNREPLAYABLE
    detail: str = ""  # why it will not be executed

    @property
    def reason(self) -> str:
        """The action, then ``: `` and why (``"frozen: before --from"``); ``""`` for a step that runs."""
        return f"{self.action}: {self.detail}" if self.detail else ""


@dataclass(frozen=True)
class Plan:
    target_artifact_id: str
    from_step: str | None
    steps: tuple[PlannedStep, ...]

    def __len__(self) -> int:
        return len(self.steps)


def descendants(steps: Sequence[Step], root: str) -> set[str]:
    """``root`` and every step that (transitively) consumes its output."""
    consumers: dict[str, list[Step]] = {}
    for s in steps:
        for a in s.source_artifact_ids:
            consumers.setdefault(a, []).append(s)
    by_id = {s.step_id: s for s in steps}
    seen, todo = {root}, [by_id[root]]
    while todo:
        for output in todo.pop().output_ids:
            for c in consumers.get(output, ()):
                if c.step_id not in seen:
                    seen.add(c.step_id)
                    todo.append(c)
    return seen


def plan(
    steps: Sequence[Step],
    target_artifact_id: str,
    *,
    from_step: str | None = None,
    changed: Collection[str] = (),
    handlers: Collection[str] = (),
) -> Plan:
    """Order ``steps`` and decide what happens to each (see the module docstring).

    ``changed`` are the steps a fork alters; only they and their descendants run.
    """
    ordered = topological(steps)
    in_chain = {s.step_id for s in ordered}
    replayed: set[str] | None = None
    frozen_because = "before --from"
    if from_step is not None and changed:
        raise BadInput("--from and --fork cannot be combined: a fork replays from the steps it changes")
    if from_step is not None:
        if from_step not in in_chain:
            raise BadInput(f"--from {from_step}: no such step in the chain of {target_artifact_id}")
        replayed = descendants(ordered, from_step)
    elif changed:
        unknown = sorted(set(changed) - in_chain)
        if unknown:
            raise BadInput(f"{unknown[0]}: no such step in the chain of {target_artifact_id}")
        replayed = set().union(*(descendants(ordered, c) for c in changed))
        frozen_because = "unchanged by fork"
    planned = []
    for s in ordered:
        if replayed is not None and s.step_id not in replayed:
            planned.append(PlannedStep(s, FROZEN, frozen_because))
        elif s.step_type not in handlers:
            planned.append(PlannedStep(s, UNREPLAYABLE, f"no handler for step_type {s.step_type}"))
        else:
            planned.append(PlannedStep(s, EXECUTE))
    return Plan(target_artifact_id, from_step, tuple(planned))
