"""One step's replay: prepare (reuse, or freeze and check its inputs) → run → compare → result.

``StepRunner.prepare`` answers a ``StepResult`` when the step will not run (reused, or its
inputs are not the recorded bytes) and a ``Job`` otherwise; the engine hands jobs to an
executor and gives each one back to ``StepRunner.finish``, which stores the output, compares
it with the record and says the outcome. The runner never writes to the registry.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scidex_replay.errors import NotFound, ReplayError, one_line
from scidex_replay.executors import Executor
from scidex_replay.handlers import HandlerRegistry
from scidex_replay.handlers.spec import Handler, ReplayedArtifact, safe_name, scratch_input, scratch_output
from scidex_replay.outcomes import Outcome, is_ok
from scidex_replay.registry import Artifact, Registry, Step, input_hash_of
from scidex_replay.registry.records import StepResult
from scidex_replay.replay import diff as diffs
from scidex_replay.replay.cache import CacheMiss, ReuseCache, reuse_key
from scidex_replay.replay.fork import Chain
from scidex_replay.replay.options import ReplayOptions
from scidex_replay.replay.plan import PlannedStep

logger = logging.getLogger(__name__)

#: warn(step_id, message): something the user should see while the run goes on.
Warn = Callable[[str, str], None]


@dataclass
class Job:
    """A step ready to run: inputs frozen and checked, output path chosen."""

    step: Step
    position: int
    handler: Handler
    executor: Executor
    inputs: list[Path]
    output: Path
    key: str
    env_note: str  # why it runs in the live environment although it was recorded in another
    inputs_differ: str  # why its inputs differ from the record (it runs all the same), or ""
    prep_s: float  # time spent freezing and checking its inputs
    planned: PlannedStep | None = field(default=None, compare=False)


class StepRunner:
    """Replays the steps of one run, one at a time, sharing its scratch space, store and reuse cache."""

    def __init__(
        self,
        registry: Registry,
        chain: Chain,
        handlers: HandlerRegistry,
        executor: Executor,
        options: ReplayOptions,
        *,
        cache: ReuseCache,
        env_hash: str,
        workdir: Path,
        fork: bool,
        warn: Warn,
    ):
        self.registry = registry
        self.store = registry.store
        self.chain = chain
        self.handlers = handlers
        self.executor = executor
        self.options = options
        self.cache = cache
        self.env_hash = env_hash
        self.workdir = workdir
        self.fork = fork
        self.warn = warn
        self.pins: dict[str, Any] = {}  # env_hash -> Pin: one build attempt per run
        self.replayed: dict[str, str] = {}  # artifact id -> digest of the bytes this run produced for it
        self.executed: list[tuple[Step, str]] = []  # a fork's (step as run, output digest), in order
        self.extras: dict[str, dict[str, Any]] = {}  # step id -> manifest fields beyond the result

    # -- results that need no run -------------------------------------------
    def result(self, step: Step, position: int, outcome: Outcome, detail: str = "", **kw: Any) -> StepResult:
        return StepResult(step.step_id, position, outcome, is_ok(outcome), detail, **kw)

    def frozen(self, step: Step, position: int, detail: str) -> StepResult:
        """A fork's unchanged step is reused when an earlier run reproduced it; otherwise it stays frozen."""
        if self.fork and self.cache and step.step_type in self.handlers:
            key = reuse_key(self.handlers.get(step.step_type), step, self._digests(step), self.env_hash)
            try:
                return self._reused(step, position, key)
            except CacheMiss:
                pass
        return self.result(step, position, Outcome.FROZEN, detail)

    def _reused(self, step: Step, position: int, key: str) -> StepResult:
        hit = self.cache.lookup(key)
        self.replayed[step.target_artifact_id] = hit.digest
        return self.result(
            step, position, Outcome.REUSED, f"run {hit.run_id}",
            output_hash_replayed=hit.digest, reused_from_run=hit.run_id, replayed_blob=hit.digest, reuse_key=key,
        )

    # -- prepare → run → finish ---------------------------------------------
    def prepare(self, step: Step, position: int) -> StepResult | Job:
        """Reuse, or freeze and check the inputs: a result when the step will not run, else a job."""
        handler = self.handlers.get(step.step_type)
        expected = self._digests(step)
        executor, env_hash, env_note = self._environment_for(step)
        key = reuse_key(handler, step, expected, env_hash)
        try:
            reused = self._reused(step, position, key)
        except CacheMiss:
            pass
        else:
            if self.fork:
                self.executed.append((step, reused.output_hash_replayed))
            return reused
        t0 = time.perf_counter()
        step_dir = self.workdir / step.step_id
        try:
            inputs, actual = self._freeze_inputs(step, expected, step_dir)
        except NotFound as exc:
            return self._failed(step, position, str(exc), time.perf_counter() - t0, key)
        replay_input_hash = input_hash_of(actual)
        self.extras[step.step_id] = {"input_hash_replayed": replay_input_hash}
        strict_note = " (aborted by --strict)" if self.options.strict else ""
        corrupt = [i for i, (e, a) in enumerate(zip(expected, actual)) if e != a]
        if corrupt:
            i = corrupt[0]
            detail = (
                f"stored bytes of input {i} ({step.source_artifact_ids[i]}) do not match "
                f"sha256:{expected[i][:12]}; the step was not run on them"
            )
            return self.result(step, position, Outcome.INPUT_DIFFERS, detail + strict_note, duration_s=time.perf_counter() - t0)
        inputs_differ = ""
        if not self.fork and replay_input_hash != step.input_hash:
            inputs_differ = f"inputs hash to {replay_input_hash[:12]}, recorded {step.input_hash[:12]}"
            if self.options.strict:
                return self.result(
                    step, position, Outcome.INPUT_DIFFERS, inputs_differ + strict_note, duration_s=time.perf_counter() - t0
                )
        output = scratch_output(step_dir, _file_name(self.chain.artifacts[step.target_artifact_id]))
        return Job(step, position, handler, executor, inputs, output, key, env_note, inputs_differ, time.perf_counter() - t0)

    def finish(self, job: Job, produced: ReplayedArtifact | BaseException, run_s: float) -> StepResult:
        """Store and compare what a job produced (or say how it failed).

        Its duration is the time spent preparing it, running it (``run_s``, as the executor
        timed it: without the time it waited in a queue) and storing its output.
        """
        step, position, key = job.step, job.position, job.key
        t0 = time.perf_counter() - job.prep_s - run_s
        try:
            if isinstance(produced, BaseException):
                raise produced
            digest, _ = self.store.put_file(produced.path, expected=step.output_hash)
        except ReplayError as exc:
            return self._failed(step, position, _with(str(exc), job.env_note), time.perf_counter() - t0, key)
        except Exception as exc:  # a handler bug is this step's failure, not the run's
            logger.debug("handler %s raised", step.step_type, exc_info=exc)
            message = _with(f"{type(exc).__name__}: {exc}", job.env_note)
            return self._failed(step, position, message, time.perf_counter() - t0, key)
        duration = time.perf_counter() - t0
        self.replayed[step.target_artifact_id] = digest
        same = digest == step.output_hash
        if self.fork:
            self.executed.append((step, digest))
            outcome, detail = Outcome.FORKED, "identical to live" if same else "differs from live (expected)"
        elif same:
            outcome = Outcome.REPRODUCED
            detail = "output identical although inputs differ" if job.inputs_differ else ""
        elif job.inputs_differ:
            outcome, detail = Outcome.INPUT_DIFFERS, job.inputs_differ
        else:
            outcome, detail = Outcome.OUTPUT_DIFFERS, f"replayed {digest[:12]}, recorded {step.output_hash[:12]}"
            if self.options.diff and self.store.has(step.output_hash):
                described = diffs.describe(self.store, step.output_hash, digest, job.output.name)
                self.extras[step.step_id]["diff"] = described
                if described["first_difference_offset"] is not None:
                    detail += f" (first difference at byte {described['first_difference_offset']})"
        return self.result(
            step, position, outcome, _with(detail, job.env_note), output_hash_replayed=digest, duration_s=duration,
            replayed_blob=digest, reuse_key=key,
        )

    def _failed(self, step: Step, position: int, message: str, duration: float, key: str) -> StepResult:
        return self.result(step, position, Outcome.FAILED, one_line(message), duration_s=duration, reuse_key=key)

    # -- inputs and environment ---------------------------------------------
    def _digests(self, step: Step) -> list[str]:
        return [self.replayed.get(a, self.chain.artifacts[a].content_hash) for a in step.source_artifact_ids]

    def _freeze_inputs(self, step: Step, digests: Sequence[str], step_dir: Path) -> tuple[list[Path], list[str]]:
        """Copy each input into the scratch dir; return the paths and the hashes of the bytes copied."""
        step_dir.mkdir()
        paths, actual = [], []
        for i, (artifact_id, digest) in enumerate(zip(step.source_artifact_ids, digests)):
            dest = scratch_input(step_dir, i, _file_name(self.chain.artifacts[artifact_id]))
            try:
                actual.append(self.store.copy_out(digest, dest))
            except NotFound as exc:
                raise NotFound(f"input {i} ({artifact_id}): {exc}") from exc
            paths.append(dest)
        return paths, actual

    def _environment_for(self, step: Step) -> tuple[Executor, str, str]:
        """(executor, env_hash it runs in, note for the result) for a step recorded in ``step.env_hash``.

        A step recorded in another environment runs in a venv pinned to its
        requirements.lock; when that cannot be built it runs in the live env and
        the note says so.
        """
        if not self.options.pin or not step.env_hash or step.env_hash == self.env_hash:
            return self.executor, self.env_hash, ""
        if step.env_hash not in self.pins:
            from scidex_replay.env.pinned import Pin, ensure_pinned

            env = self.registry.get_environment(step.env_hash)
            if env is None:
                pin = Pin(None, "env-differs: ran in live env (the registry has no lock for its env_hash)")
            else:
                pin = ensure_pinned(env, self.registry.home)
            if pin.python is None:
                logger.warning("step %s: %s", step.step_id, pin.note)
                self.warn(step.step_id, pin.note)
            self.pins[step.env_hash] = pin
        pin = self.pins[step.env_hash]
        if pin.python is None:
            return self.executor, self.env_hash, pin.note
        from scidex_replay.executors import SubprocessExecutor

        return SubprocessExecutor(python=pin.python), step.env_hash, pin.note


def _with(detail: str, note: str) -> str:
    if not note:
        return detail
    return f"{detail} ({note})" if detail else note


def _file_name(artifact: Artifact) -> str:
    return safe_name(artifact.name, artifact.id)
