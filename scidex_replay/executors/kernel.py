"""Run handlers from this process: no start-up cost for steps that run no Python code of their own.

A handler that runs the step's own Python code (``python.call``, ``python.cell``:
``needs_fresh_process``) is sent to a fresh interpreter in deterministic mode (the subprocess
executor's child) instead. In this process it would see the kernel's random hash seed, its
thread settings, the RNG state and ``rcParams`` earlier cells left, so a replay in the kernel
could say ``reproduced`` where a fresh process differs, or the reverse. Recording sends it to
the same child, so the verdict is the same from the kernel, ``--executor subprocess`` and the CLI.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from scidex_replay.executors.base import SerialExecutor
from scidex_replay.executors.subprocess import SubprocessExecutor
from scidex_replay.handlers.spec import Handler, ReplayedArtifact, needs_fresh_process
from scidex_replay.registry.records import Step


class KernelExecutor(SerialExecutor):
    name = "kernel"

    def __init__(self, echo: TextIO | None = None):
        """``echo``: where what a step's code prints goes (e.g. the notebook's ``sys.stdout``); default nowhere."""
        self._fresh = SubprocessExecutor(echo=echo)

    def run(self, handler: Handler, step: Step, inputs: Sequence[Path], output: Path) -> ReplayedArtifact:
        if needs_fresh_process(handler):
            return self._fresh.run(handler, step, inputs, output)
        return handler(step, inputs, output)
