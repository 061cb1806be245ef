"""Frozen records that cross layers. Surfaces and the engine see these, never ORM rows."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from scidex_replay.outcomes import Outcome, Status


@dataclass(frozen=True)
class Artifact:
    id: str
    content_hash: str
    size: int
    kind: str
    name: str | None
    created_at: datetime
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Environment:
    env_hash: str
    python: str
    platform: str
    requirements_lock: str


@dataclass(frozen=True)
class Step:
    step_id: str
    step_type: str
    method: str
    parameters: dict[str, Any]
    target_artifact_id: str
    source_artifact_ids: tuple[str, ...]
    input_hash: str
    output_hash: str
    env_hash: str | None
    trace_id: str | None
    started_at: datetime
    completed_at: datetime


def step_to_json(step: Step) -> dict[str, Any]:
    """``step`` as JSON: its fields by name, the times in ISO 8601 (``chain --json``, the subprocess executor's job)."""
    data = asdict(step)
    data["source_artifact_ids"] = list(step.source_artifact_ids)
    data["started_at"] = step.started_at.isoformat()
    data["completed_at"] = step.completed_at.isoformat()
    return data


@dataclass(frozen=True)
class Run:
    run_id: str
    target_artifact_id: str
    kind: str
    parent_run_id: str | None
    from_step: str | None
    options: dict[str, Any]
    status: Status
    started_at: datetime
    completed_at: datetime | None
    manifest: dict[str, Any] | None = None


@dataclass(frozen=True)
class StepResult:
    """One step's outcome in one replay run (a row of ``replay_results``).

    ``outcome`` is what happened; ``detail`` the words that say more (``""`` when the
    outcome says it all); ``ok`` derives from the outcome and the run's acceptance
    policy (``scidex_replay.outcomes.is_ok``), ``None`` for a step that was not checked.
    """

    step_id: str
    position: int
    outcome: Outcome
    ok: bool | None
    detail: str = ""
    output_hash_replayed: str | None = None
    reused_from_run: str | None = None
    duration_s: float = 0.0
    replayed_blob: str | None = None
    reuse_key: str | None = None

    @property
    def reason(self) -> str:
        """The outcome code, then ``: `` and the words when there are any (the manifest's ``reason``)."""
        return f"{self.outcome}: {self.detail}" if self.detail else str(self.outcome)
