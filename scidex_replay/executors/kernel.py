"""Run the handler in this process: no start-up cost, for quick steps in a notebook."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from scidex_replay.executors.base import SerialExecutor
from scidex_replay.handlers.spec import Handler, ReplayedArtifact
from scidex_replay.registry.records import Step


class KernelExecutor(SerialExecutor):
    name = "kernel"

    def run(self, handler: Handler, step: Step, inputs: Sequence[Path], output: Path) -> ReplayedArtifact:
        return handler(step, inputs, output)
