"""The executor contract: where a handler runs is the executor's business, never the engine's."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol, Union, runtime_checkable

from scidex_replay.handlers.spec import Handler, ReplayedArtifact
from scidex_replay.registry.records import Step

#: One handler call: (handler, step, input paths, output path).
Call = tuple[Handler, Step, Sequence[Path], Path]
#: ``on_done(index into calls, the ReplayedArtifact or the exception the step raised, seconds it ran)``.
OnDone = Callable[[int, Union[ReplayedArtifact, BaseException], float], None]


@runtime_checkable
class Executor(Protocol):
    """Runs handler calls. ``run_many`` calls ``on_done`` in the caller's thread as each call ends
    (in any order; an executor that can runs them in parallel); ``close`` frees what the executor
    holds (a cluster) and may be called twice."""

    name: str

    def run(self, handler: Handler, step: Step, inputs: Sequence[Path], output: Path) -> ReplayedArtifact: ...

    def run_many(self, calls: Sequence[Call], on_done: OnDone) -> None: ...

    def close(self) -> None: ...


class SerialExecutor:
    """``run_many`` as one ``run`` after the other; nothing to close."""

    def run(self, handler: Handler, step: Step, inputs: Sequence[Path], output: Path) -> ReplayedArtifact:
        raise NotImplementedError

    def run_many(self, calls: Sequence[Call], on_done: OnDone) -> None:
        for index, (handler, step, inputs, output) in enumerate(calls):
            t0 = time.perf_counter()
            try:
                outcome: ReplayedArtifact | BaseException = self.run(handler, step, inputs, output)
            except Exception as exc:  # the step's failure, reported through on_done
                outcome = exc
            on_done(index, outcome, time.perf_counter() - t0)

    def close(self) -> None:
        pass
