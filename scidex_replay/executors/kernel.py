"""Run handlers from this process: no start-up cost for steps that run no Python code of their own.

A handler that runs the step's own Python code (``python.call``, ``python.cell``:
``needs_fresh_process``) is sent to a fresh interpreter in deterministic mode (the subprocess
executor's child) instead. In this process it would see the kernel's random hash seed, its
thread settings, the RNG state and ``rcParams`` earlier cells left, so a replay in the kernel
could say ``reproduced`` where a fresh process differs, or the reverse. Recording sends it to
the same child, so the verdict is the same from the kernel, ``--executor subprocess`` and the CLI.

The limits (``timeout_s``, ``memory_limit_mb``) apply to every process a step starts: the fresh
interpreter, and the command of a ``shell`` step (``handlers.process``). A handler that runs
in this process and starts none cannot be limited without limiting the kernel: with a memory
limit, the executor says so once, in a ``Notice`` warning, rather than ignore it silently.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from scidex_replay.executors.base import SerialExecutor
from scidex_replay.errors import Notice
from scidex_replay.executors.subprocess import SubprocessExecutor
from scidex_replay.handlers.process import applied, watching
from scidex_replay.handlers.spec import Handler, ReplayedArtifact, needs_fresh_process
from scidex_replay.registry.records import Step


class KernelExecutor(SerialExecutor):
    name = "kernel"

    def __init__(self, echo: TextIO | None = None, timeout_s: float | None = None, memory_limit_mb: int | None = None):
        """``echo``: where what a step's code prints goes (e.g. the notebook's ``sys.stdout``); default nowhere.
        ``timeout_s`` (seconds), ``memory_limit_mb`` (MiB): each step process's limits; None takes the
        limits in force (``handlers.process.limits``). ``BadInput`` for a bad value."""
        self._fresh = SubprocessExecutor(echo=echo, timeout_s=timeout_s, memory_limit_mb=memory_limit_mb)
        self._warned = False

    @property
    def timeout_s(self) -> float:
        return self._fresh.timeout_s

    @property
    def memory_limit_mb(self) -> int | None:
        return self._fresh.memory_limit_mb

    def close(self) -> None:
        self._fresh.close()

    def run(self, handler: Handler, step: Step, inputs: Sequence[Path], output: Path) -> ReplayedArtifact:
        if needs_fresh_process(handler):
            return self._fresh.run(handler, step, inputs, output)
        limits = self._fresh.limits
        with applied(limits), watching() as started:
            result = handler(step, inputs, output)
        if limits.memory_limit_mb and not started and not self._warned:
            self._warned = True
            warnings.warn(
                f"the memory limit {limits.memory_limit_mb} MB does not apply to step {step.name or step.step_id} "
                f"({step.step_type}) and steps like it: it runs in this process, which cannot be limited "
                "(use --executor subprocess to limit it)",
                Notice, stacklevel=2,
            )
        return result
