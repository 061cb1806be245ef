"""``copy``: identity (a cite or fork of an artifact): the output is the first input's bytes."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

from scidex_replay.errors import StepFailed
from scidex_replay.handlers.spec import ReplayedArtifact
from scidex_replay.registry.records import Step


class CopyHandler:
    step_type = "copy"
    version = "1"

    def __call__(self, step: Step, inputs: Sequence[Path], output: Path) -> ReplayedArtifact:
        if len(inputs) != 1:
            raise StepFailed(f"copy takes exactly one input, the step has {len(inputs)}")
        shutil.copyfile(inputs[0], output)
        return ReplayedArtifact(output)
