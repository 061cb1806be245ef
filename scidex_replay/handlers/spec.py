"""The handler contract: one handler per ``step_type``.

A handler is a class (or any callable factory returning an object) registered
under the entry-point group ``scidex_replay.handlers``, the entry-point name
being the ``step_type`` it replays::

    [project.entry-points."scidex_replay.handlers"]
    "mylab.align" = "mylab.replay:AlignHandler"

The object must have:

``step_type: str``
    The step type it replays (must equal the entry-point name).
``version: str``
    Bumped whenever the handler would produce different bytes for the same step;
    it is part of the reuse key, so a new version never reuses old results.
``__call__(step, inputs, output) -> ReplayedArtifact``
    Re-execute ``step`` (a ``scidex_replay.registry.Step``) on ``inputs`` (paths
    to verified, writable copies of the source artifacts, in recorded order),
    writing the result to ``output`` (a path in a fresh scratch directory, named
    like the recorded artifact). It raises ``scidex_replay.errors.StepFailed``
    (chained ``from`` the cause) when the step fails. It must never write
    anywhere but ``output`` and the scratch directory, and it must not run
    recorded text through a shell.

The same handler records a step (``scidex-replay run``, ``record_call``) and
replays it, so what was recorded is what replay re-executes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

from scidex_replay.registry.records import Step


@dataclass(frozen=True)
class ReplayedArtifact:
    """What a handler produced: the path of the output bytes."""

    path: Path


@runtime_checkable
class Handler(Protocol):
    step_type: str
    version: str

    def __call__(self, step: Step, inputs: Sequence[Path], output: Path) -> ReplayedArtifact: ...


def safe_name(name: str | None, fallback: str) -> str:
    """The last component of ``name``, or ``fallback`` when that is empty, ``.`` or ``..``."""
    base = Path(name or "").name
    return base if base not in ("", ".", "..") else fallback


def scratch_input(step_dir: Path, index: int, name: str) -> Path:
    """Where input ``index`` of a step is copied, at record time and at replay alike.

    The name a step sees for its inputs and output is part of what it does (a
    script may write it into its output), so recording and replay share this.
    """
    return step_dir / f"in{index}-{name}"


def scratch_output(step_dir: Path, name: str) -> Path:
    """Where a step writes its output (the step's working directory is ``step_dir``)."""
    return step_dir / name
