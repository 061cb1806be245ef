"""Frozen records that cross layers. Surfaces and the engine see these, never ORM rows."""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from scidex_replay.errors import BadInput
from scidex_replay.outcomes import Outcome, Status

_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
_HEX_RE = re.compile(r"[0-9a-f]{64}")


def validate_id(value: str, what: str) -> str:
    """``value`` if it is an id that can name a directory (a letter or digit, then letters, digits,
    ``_`` or ``-``, 64 at most), else ``BadInput`` naming ``what``. Ids read from a registry become
    paths (a step's scratch directory, ``--out DIR/STEP``, a run's manifest): one edited into the
    registry (``../../x``) must be refused before it is joined to one, as blob hashes are."""
    if not isinstance(value, str) or not _ID_RE.fullmatch(value):
        raise BadInput(f"{what} {value!r:.80} is not a valid id: the registry was edited or is corrupt")
    return value


def validate_env_hash(value: str, what: str = "env_hash") -> str:
    """``value`` if it is a sha256 hex digest (an ``env_hash`` names a pinned venv's directory), else ``BadInput``."""
    if not isinstance(value, str) or not _HEX_RE.fullmatch(value):
        raise BadInput(f"{what} {value!r:.80} is not a sha256 hex digest: the registry was edited or is corrupt")
    return value


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
class StepOutput:
    """One output of a step: its artifact, that artifact's content hash, and where the command
    wrote it relative to its working directory (``None``: the single ``{out}`` of a first-wave step)."""

    artifact_id: str
    content_hash: str
    path: str | None = None


@dataclass(frozen=True)
class NewOutput:
    """An output to record: a file (or bytes), or ``digest`` of bytes already in the store; its
    artifact ``name``; where the command wrote it in its working directory (``path``)."""

    file: str | os.PathLike[str] | bytes | None = None
    digest: str | None = None
    name: str | None = None
    path: str | None = None
    kind: str | None = None  # default: the step's kind, else guessed from the name
    metadata: dict[str, Any] | None = None  # default: the step's metadata


@dataclass(frozen=True)
class CodeInput:
    """The source file of the module a ``python.call`` step imports: a *code* input in the step's
    lineage, never handed to the function. ``module`` was imported from ``path`` (absolute), found
    under the ``sys.path`` entry ``root`` (``pkg.sub.mod`` at ``/x/pkg/sub/mod.py``: root ``/x``);
    ``content_hash`` is the sha256 of the file when the step was recorded, stored as ``artifact_id``."""

    artifact_id: str
    content_hash: str
    module: str
    path: str
    root: str


@dataclass(frozen=True)
class NewCode:
    """A code input to record: the bytes of ``module``'s source file ``path`` as the step saw them,
    and the ``sys.path`` entry ``root`` it was imported from."""

    module: str
    path: str
    root: str
    data: bytes

    @property
    def content_hash(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    def recorded_as(self, artifact_id: str) -> CodeInput:
        return CodeInput(artifact_id, self.content_hash, self.module, self.path, self.root)


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
    name: str | None = None
    #: where each input is staged, relative to the working directory (``None``: ``in{N}-{name}``)
    input_paths: tuple[str | None, ...] = ()
    #: every output in order, the first being ``target_artifact_id`` (empty: that one alone)
    outputs: tuple[StepOutput, ...] = ()
    #: the source files of the code the step imports (``python.call``), in the lineage but not passed to it
    code_inputs: tuple[CodeInput, ...] = ()

    @property
    def all_outputs(self) -> tuple[StepOutput, ...]:
        """Every output; a step recorded with one output has it here too."""
        return self.outputs or (StepOutput(self.target_artifact_id, self.output_hash),)

    @property
    def output_ids(self) -> tuple[str, ...]:
        return tuple(o.artifact_id for o in self.all_outputs)

    @property
    def label(self) -> str:
        """The step's name, else its id."""
        return self.name or self.step_id


def find_step(steps: Iterable[Step], ref: str) -> Step | None:
    """The step of ``steps`` whose id is ``ref``, else the one named ``ref`` (``--from fit``; a name is
    unique within a chain), else None."""
    steps = list(steps)
    return next((s for s in steps if s.step_id == ref), None) or next((s for s in steps if s.name == ref), None)


def step_to_json(step: Step) -> dict[str, Any]:
    """``step`` as JSON: its fields by name, the times in ISO 8601 (``chain --json``, the subprocess executor's job)."""
    data = asdict(step)
    data["source_artifact_ids"] = list(step.source_artifact_ids)
    data["started_at"] = step.started_at.isoformat()
    data["completed_at"] = step.completed_at.isoformat()
    return data


def step_from_json(data: dict[str, Any]) -> Step:
    """The ``Step`` that ``step_to_json`` wrote."""
    data = dict(data)
    data["started_at"] = datetime.fromisoformat(data["started_at"])
    data["completed_at"] = datetime.fromisoformat(data["completed_at"])
    data["source_artifact_ids"] = tuple(data["source_artifact_ids"])
    data["input_paths"] = tuple(data.get("input_paths", ()))
    data["outputs"] = tuple(StepOutput(**o) for o in data.get("outputs", ()))
    data["code_inputs"] = tuple(CodeInput(**c) for c in data.get("code_inputs", ()))
    return Step(**data)


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
    pid: int | None = None  # the process that runs (or ran) it, on ``host``
    host: str | None = None
    env_hash: str | None = None  # of the replaying interpreter


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
    #: every output's replayed digest, for a step with several outputs (else empty)
    outputs_replayed: tuple[str, ...] = ()

    @property
    def digests(self) -> tuple[str, ...]:
        """The replayed digest of each output (empty when the step produced nothing)."""
        if self.outputs_replayed:
            return self.outputs_replayed
        return (self.output_hash_replayed,) if self.output_hash_replayed else ()

    @property
    def reason(self) -> str:
        """The outcome code, then ``: `` and the words when there are any (the manifest's ``reason``)."""
        return f"{self.outcome}: {self.detail}" if self.detail else str(self.outcome)
