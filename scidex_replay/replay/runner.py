"""One step's replay: prepare (reuse, or freeze and check its inputs) → run → compare → result.

``StepRunner.prepare`` answers a ``StepResult`` when the step will not run (reused, or its
inputs are not the recorded bytes) and a ``Job`` otherwise; the engine hands jobs to an
executor and gives each one back to ``StepRunner.finish``, which stores the output, compares
it with the record and says the outcome. The runner never writes to the registry.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scidex_replay.code_identity import code_differs, live_hash
from scidex_replay.compare import Comparison, Tolerance, compare_files
from scidex_replay.compare.base import recorded_tolerance
from scidex_replay.errors import BadInput, NotFound, ReplayError, StoreUnavailable, one_line
from scidex_replay.executors import Executor
from scidex_replay.handlers import HandlerRegistry
from scidex_replay.handlers.allow import refusal
from scidex_replay.handlers.spec import (
    Handler,
    ReplayedArtifact,
    output_paths,
    safe_name,
    scratch_input,
    stable_workdir,
    staged_inputs,
    workdir_lock,
)
from scidex_replay.outcomes import Outcome, is_ok
from scidex_replay.registry import Artifact, Registry, Step, input_hash_of
from scidex_replay.registry.records import StepResult, validate_id
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
    outputs: list[Path]  # where each output is read after the step ran, in the step's order
    key: str
    env_note: str  # why it runs in the live environment although it was recorded in another
    inputs_differ: str  # why its inputs differ from the record (it runs all the same), or ""
    prep_s: float  # time spent freezing and checking its inputs
    code_differs: str = ""  # why the module it imports differs from the record (it runs all the same), or ""
    upstream_equivalent: str = ""  # the inputs that differ because this run found them equivalent, or ""
    planned: PlannedStep | None = field(default=None, compare=False)
    lock: workdir_lock | None = field(default=None, compare=False)  # on its stable working directory


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
        live: bool = False,
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
        self.live = live  # a --live fork: what it runs is compared with the record, not expected to differ
        self.warn = warn
        self.pins: dict[str, Any] = {}  # env_hash -> Pin: one build attempt per run
        self.replayed: dict[str, str] = {}  # artifact id -> digest of the bytes this run produced for it
        self.executed: list[tuple[Step, tuple[str, ...]]] = []  # a fork's (step as run, output digests), in order
        self.extras: dict[str, dict[str, Any]] = {}  # step id -> manifest fields beyond the result
        self._held: dict[Path, workdir_lock] = {}  # the stable working directories this run holds now
        self._live_code: dict[str, str | None] = {}  # code input path -> its hash now, read once per run
        self.equivalent_ids: set[str] = set()  # artifacts whose replayed bytes differ but were found equivalent
        #: step id -> one entry per output: the manifest's outputs[].outcome, ok and comparison
        self.verdicts: dict[str, list[dict[str, Any]]] = {}

    # -- results that need no run -------------------------------------------
    def result(self, step: Step, position: int, outcome: Outcome, detail: str = "", **kw: Any) -> StepResult:
        return StepResult(step.step_id, position, outcome, is_ok(outcome), detail, **kw)

    def frozen(self, step: Step, position: int, detail: str) -> StepResult:
        """A fork's unchanged step is reused when an earlier run reproduced it; otherwise it stays frozen."""
        if self.fork and self.cache and step.step_type in self.handlers and not self._code_differs(step):
            key = self._key(self.handlers.get(step.step_type), step, self._digests(step), self.env_hash)
            try:
                return self._reused(step, position, key)
            except CacheMiss:
                pass
        return self.result(step, position, Outcome.FROZEN, detail)

    def _reused(self, step: Step, position: int, key: str) -> StepResult:
        hit = self.cache.lookup(key)
        if len(hit.digests) != len(step.all_outputs):
            raise CacheMiss(key)
        self.replayed.update(zip(step.output_ids, hit.digests))
        return self.result(
            step, position, Outcome.REUSED, f"run {hit.run_id}",
            output_hash_replayed=hit.digests[0], reused_from_run=hit.run_id, replayed_blob=hit.digests[0], reuse_key=key,
            outputs_replayed=hit.digests if len(hit.digests) > 1 else (),
        )

    # -- prepare → run → finish ---------------------------------------------
    def prepare(self, step: Step, position: int) -> StepResult | Job:
        """Reuse, or freeze and check the inputs: a result when the step will not run, else a job."""
        handler = self.handlers.get(step.step_type)
        expected = self._digests(step)
        executor, env_hash, env_note = self._environment_for(step)
        key = self._key(handler, step, expected, env_hash)
        try:
            if self._code_differs(step):  # never reused: the step is checked, and says so
                raise CacheMiss(key)
            reused = self._reused(step, position, key)
        except CacheMiss:
            pass
        else:
            if self.fork:
                self.executed.append((step, reused.digests))
            return reused
        refused = refusal(step.step_type, step.method)  # here, not only in a subprocess that may not see the variable
        if refused:
            return self._failed(step, position, refused, 0.0, key)
        stable = stable_workdir(step)
        if stable is None or stable in self._held:  # the same step twice in one wave: a scratch dir
            return self._stage(step, position, handler, executor, expected, key, env_note, self.workdir / validate_id(step.step_id, "step id"))
        lock = self._held[stable] = workdir_lock(stable)
        prepared = self._stage(step, position, handler, executor, expected, key, env_note, lock.acquire())
        if isinstance(prepared, Job):
            prepared.lock = lock  # held until its outputs are stored
        else:
            self._release(lock)
        return prepared

    def _release(self, lock: workdir_lock | None) -> None:
        if lock is not None:
            lock.release()
            self._held.pop(lock.workdir, None)

    def close(self) -> None:
        """Release every working directory still held: a run interrupted (Ctrl-C) or failing
        mid-step must not leave a lock that the next replay of the step waits on forever."""
        for lock in list(self._held.values()):
            self._release(lock)

    def _stage(
        self, step: Step, position: int, handler: Handler, executor: Executor, expected: list[str], key: str,
        env_note: str, step_dir: Path,
    ) -> StepResult | Job:
        """Freeze and check the inputs in ``step_dir``: a result when the step will not run, else a job."""
        t0 = time.perf_counter()
        try:
            inputs, actual = self._freeze_inputs(step, expected, step_dir)
            outputs = output_paths(step, step_dir, [_file_name(self.chain.artifacts[a]) for a in step.output_ids])
        except StoreUnavailable:
            raise  # the shared store, not the step: the run stops (interrupted, restartable), exit 2
        except BadInput as exc:  # a missing blob, or a recorded path that would leave the working directory
            return self._failed(step, position, str(exc), time.perf_counter() - t0, key)
        replay_input_hash = input_hash_of(actual)
        self.extras.setdefault(step.step_id, {})["input_hash_replayed"] = replay_input_hash
        strict_note = " (aborted by --strict)" if self.options.strict else ""
        corrupt = [i for i, (e, a) in enumerate(zip(expected, actual)) if e != a]
        if corrupt:
            i = corrupt[0]
            detail = (
                f"stored bytes of input {i} ({step.source_artifact_ids[i]}) do not match "
                f"sha256:{expected[i][:12]}; the step was not run on them"
            )
            return self.result(step, position, Outcome.INPUT_DIFFERS, detail + strict_note, duration_s=time.perf_counter() - t0)
        code_note = self._code_differs(step)
        if code_note and self.options.strict:
            return self.result(step, position, Outcome.INPUT_DIFFERS, code_note + strict_note, duration_s=time.perf_counter() - t0)
        inputs_differ = upstream = ""
        if not self.fork and replay_input_hash != step.input_hash:
            changed = [a for a, got in zip(step.source_artifact_ids, actual) if got != self.chain.artifacts[a].content_hash]
            if changed and all(a in self.equivalent_ids for a in changed):  # what this run found equivalent
                upstream = ", ".join(self.chain.artifacts[a].name or a for a in changed)
            else:
                inputs_differ = f"inputs hash to {replay_input_hash[:12]}, recorded {step.input_hash[:12]}"
            if inputs_differ and self.options.strict:
                return self.result(
                    step, position, Outcome.INPUT_DIFFERS, inputs_differ + strict_note, duration_s=time.perf_counter() - t0
                )
        return Job(
            step, position, handler, executor, inputs, outputs, key, env_note, inputs_differ, time.perf_counter() - t0,
            code_differs=code_note, upstream_equivalent=upstream,
        )

    def finish(self, job: Job, produced: ReplayedArtifact | BaseException, run_s: float) -> StepResult:
        """Store and compare what a job produced (or say how it failed).

        Its duration is the time spent preparing it, running it (``run_s``, as the executor
        timed it: without the time it waited in a queue) and storing its output.
        """
        try:
            return self._compare(job, produced, run_s)
        finally:
            self._release(job.lock)

    def _compare(self, job: Job, produced: ReplayedArtifact | BaseException, run_s: float) -> StepResult:
        step, position, key = job.step, job.position, job.key
        t0 = time.perf_counter() - job.prep_s - run_s
        recorded = step.all_outputs
        try:
            if isinstance(produced, BaseException):
                raise produced
            paths = produced.all_paths
            if len(paths) != len(recorded):
                raise ReplayError(f"the handler returned {len(paths)} output(s); the step recorded {len(recorded)}")
            digests = tuple(self.store.put_file(p, expected=o.content_hash)[0] for p, o in zip(paths, recorded))
        except StoreUnavailable:
            raise  # as in _stage
        except ReplayError as exc:
            return self._failed(step, position, _with(str(exc), job.env_note), time.perf_counter() - t0, key)
        except Exception as exc:  # a handler bug is this step's failure, not the run's
            logger.debug("handler %s raised", step.step_type, exc_info=exc)
            message = _with(f"{type(exc).__name__}: {exc}", job.env_note)
            return self._failed(step, position, message, time.perf_counter() - t0, key)
        duration = time.perf_counter() - t0
        self.replayed.update(zip(step.output_ids, digests))
        differing = [i for i, (d, o) in enumerate(zip(digests, recorded)) if d != o.content_hash]
        if self.fork:
            self.executed.append((step, digests))
        if self.fork and not self.live:
            outcome, detail = Outcome.FORKED, "differs from live (expected)" if differing else "identical to live"
            detail = f"{detail}; {job.code_differs}" if job.code_differs else detail
        elif job.code_differs:  # the code it ran is not the code recorded: never ``reproduced``
            outcome = Outcome.INPUT_DIFFERS
            detail = f"{job.code_differs}; " + (self._judge(job, differing, digests)[1] if differing else "outputs identical")
        elif not differing:
            outcome = Outcome.REPRODUCED
            detail = "output identical although inputs differ" if job.inputs_differ else ""
            if job.upstream_equivalent:
                detail = f"output identical although its input {job.upstream_equivalent} was equivalent, not identical"
        elif job.inputs_differ:
            outcome, detail = Outcome.INPUT_DIFFERS, job.inputs_differ
        else:
            outcome, detail = self._judge(job, differing, digests)
            if job.upstream_equivalent:
                detail = f"{detail} (its input {job.upstream_equivalent} was equivalent, not identical)"
        accept = {Outcome(a) for a in self.options.accept}
        if outcome is Outcome.EQUIVALENT and self._tolerance(step).declared:
            accept.add(Outcome.EQUIVALENT)
        if outcome is Outcome.EQUIVALENT:
            self.equivalent_ids.update(step.output_ids[i] for i in differing)
        for verdict in self.verdicts.get(step.step_id, ()):
            if verdict["outcome"] == Outcome.EQUIVALENT:
                verdict["ok"] = is_ok(Outcome.EQUIVALENT, accept)
        return StepResult(
            step.step_id, position, outcome, is_ok(outcome, accept), _with(detail, job.env_note),
            output_hash_replayed=digests[0], duration_s=duration,
            replayed_blob=digests[0], reuse_key=key, outputs_replayed=digests if len(digests) > 1 else (),
        )

    def subject(self, step: Step) -> Any:
        """``step`` as ``--explain`` re-runs it (``replay/explain.py``): its handler, the executor this
        run ran it with, the bytes this run gave it, its names and tolerance."""
        from scidex_replay.replay.perturb import Subject

        return Subject(
            step, self.handlers.get(step.step_type), self._environment_for(step)[0], tuple(self._digests(step)),
            tuple(_file_name(self.chain.artifacts[a]) for a in step.source_artifact_ids),
            tuple(_file_name(self.chain.artifacts[a]) for a in step.output_ids), self._tolerance(step),
        )

    def _tolerance(self, step: Step) -> Tolerance:
        """The tolerance ``step``'s numbers are compared with: ``--rtol/--atol``, else the one
        recorded on the step, else float noise (not declared)."""
        return self.options.tolerance or recorded_tolerance(step.parameters) or Tolerance()

    def _judge(self, job: Job, differing: Sequence[int], digests: Sequence[str]) -> tuple[Outcome, str]:
        """Compare each differing output with its record: ``equivalent`` when every one is, else
        ``output-differs``; the detail names the outputs and says what differs in the first one
        that is not equivalent. Keeps each output's verdict for the manifest."""
        step = job.step
        recorded = step.all_outputs
        tolerance = self._tolerance(step)
        names = [recorded[i].path or job.outputs[i].name for i in range(len(recorded))]
        comparisons: dict[int, Comparison | None] = {}
        for i in differing:
            live = recorded[i].content_hash
            comparisons[i] = self._comparison(step, live, digests[i], names[i], tolerance) if self.store.has(live) else None
        verdicts = []
        for i in range(len(recorded)):
            c = comparisons.get(i)
            outcome = Outcome.REPRODUCED if i not in comparisons else Outcome.EQUIVALENT if c and c.equivalent else Outcome.OUTPUT_DIFFERS
            verdicts.append({"outcome": outcome.value, "ok": is_ok(outcome), "comparison": c.to_json() if c else None})
        self.verdicts[step.step_id] = verdicts
        equivalent = all(c is not None and c.equivalent for c in comparisons.values())
        shown = next((i for i in differing if not (comparisons[i] and comparisons[i].equivalent)), differing[0])
        c = comparisons[shown]
        what = c.summary.removeprefix("equivalent: ") if c else f"replayed {digests[shown][:12]}, recorded {recorded[shown].content_hash[:12]}"
        detail = f"{names[shown]}: {what}" if len(recorded) > 1 else what
        if len(recorded) > 1:
            detail = f"{len(differing)} of {len(recorded)} outputs differ ({', '.join(names[i] for i in differing)}); {detail}"
        if self.options.diff and self.store.has(recorded[shown].content_hash):
            self.extras.setdefault(step.step_id, {})["diff"] = diffs.describe(
                self.store, recorded[shown].content_hash, digests[shown], c,
            )
        return (Outcome.EQUIVALENT if equivalent else Outcome.OUTPUT_DIFFERS), detail

    def _comparison(self, step: Step, live: str, replayed: str, name: str, tolerance: Tolerance) -> Comparison:
        """The comparator's answer for one output, its attachments (a diff image) and full diff
        stored as blobs, their digests in its metrics (``{name}_blob``, ``diff_blob``)."""
        comparison = compare_files(self.store.path(live), self.store.path(replayed), name=name, tolerance=tolerance)
        for label, path in comparison.attachments.items():
            try:
                comparison.metrics[f"{label}_blob"] = self.store.put_file(path)[0]
            finally:
                Path(path).unlink(missing_ok=True)
        if comparison.full_diff:
            comparison.metrics["diff_blob"] = self.store.put_bytes(comparison.full_diff.encode("utf-8"))[0]
        return comparison

    def _failed(self, step: Step, position: int, message: str, duration: float, key: str) -> StepResult:
        return self.result(step, position, Outcome.FAILED, one_line(message), duration_s=duration, reuse_key=key)

    # -- inputs and environment ---------------------------------------------
    def _key(self, handler: Handler, step: Step, digests: Sequence[str], env_hash: str) -> str:
        """The reuse key of ``step`` run on ``digests`` in ``env_hash``, its inputs staged where it
        stages them and its code as it is now (``cache.reuse_key``)."""
        paths = list(step.input_paths) + [None] * (len(digests) - len(step.input_paths))
        names = [_file_name(self.chain.artifacts[a]) for a in step.source_artifact_ids]
        staged = [p or scratch_input(Path(), i, name).as_posix() for i, (p, name) in enumerate(zip(paths, names))]
        return reuse_key(handler, step, digests, env_hash, staged=staged, code=self._code_now(step))

    def _code_now(self, step: Step) -> list[str | None]:
        """The hash of each of ``step``'s code inputs as it is now (None: gone), read once per run."""
        for code in step.code_inputs:
            if code.path not in self._live_code:
                self._live_code[code.path] = live_hash(code)
        return [self._live_code[c.path] for c in step.code_inputs]

    def _code_differs(self, step: Step) -> str:
        """Why the module ``step`` imports differs from the record, or ""."""
        return code_differs(step.code_inputs, self._code_now(step))

    def _digests(self, step: Step) -> list[str]:
        return [self.replayed.get(a, self.chain.artifacts[a].content_hash) for a in step.source_artifact_ids]

    def _freeze_inputs(self, step: Step, digests: Sequence[str], step_dir: Path) -> tuple[list[Path], list[str]]:
        """Copy each input into the step's working directory, where it was staged when the step was
        recorded; return the paths and the hashes of the bytes copied."""
        step_dir.mkdir()
        names = [_file_name(self.chain.artifacts[a]) for a in step.source_artifact_ids]
        paths, actual = [], []
        for i, (artifact_id, digest, dest) in enumerate(zip(step.source_artifact_ids, digests, staged_inputs(step, step_dir, names))):
            dest.parent.mkdir(parents=True, exist_ok=True)
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
        if not step.env_hash or step.env_hash == self.env_hash:
            return self.executor, self.env_hash, ""
        command = self._command_environment(step)
        if command is not None:
            program, env = command
            if env.env_hash == step.env_hash:
                return self.executor, step.env_hash, ""  # the program it runs is as it was when recorded
            if Path(program).parent != Path(sys.executable).parent:  # the analysis's own environment changed
                return self._pinned_program(step, program, env)
        if not self.options.pin:
            return self.executor, self.env_hash, self._env_changes(step, "env-differs: ran in the live environment (--no-pin)")
        pin = self._pin(step)
        if pin.python is None:
            return self.executor, self.env_hash, self._env_changes(step, pin.note)
        from scidex_replay.executors import SubprocessExecutor

        return SubprocessExecutor(python=pin.python), step.env_hash, pin.note

    def _env_changes(self, step: Step, note: str, live: Any = None) -> str:
        """``note`` followed by the packages that differ between the lock ``step`` was recorded
        with and the environment it runs in now (``live``, default this interpreter's)."""
        from scidex_replay.env.capture import current_environment, lock_changes

        recorded = self.registry.get_environment(step.env_hash) if step.env_hash else None
        changes = lock_changes(recorded, live or current_environment()) if recorded is not None else ""
        return f"{note}: {changes}" if changes else note

    def _pin(self, step: Step) -> Any:
        """The venv pinned to the lock recorded for ``step.env_hash``: built once per run, and a
        failure (or a registry with no lock for it) warned about once."""
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
        return self.pins[step.env_hash]

    def _pinned_program(self, step: Step, program: str, now: Any) -> tuple[Executor, str, str]:
        """A step whose own interpreter (``program``, e.g. an analysis venv's Python) changed since it was
        recorded runs in a venv pinned to the lock recorded for it, the command's Python mapped to the
        pinned one; a program that is not Python, or a pin that cannot be built, runs as it is now."""
        changed = f"{program} changed since the step was recorded (env {step.env_hash[:12]} -> {now.env_hash[:12]})"
        from scidex_replay.env.command import is_python

        if not is_python(program) or not self.options.pin:
            return self.executor, now.env_hash, self._env_changes(step, f"env-differs: {changed}", now)
        pin = self._pin(step)
        if pin.python is None:
            note = f"env-differs: {changed}; {pin.note.removeprefix('env-differs: ')}"
            return self.executor, now.env_hash, self._env_changes(step, note, now)
        from scidex_replay.executors import SubprocessExecutor

        runner = SubprocessExecutor(python=pin.python, python_from=str(Path(program).parent))
        return runner, step.env_hash, f"{pin.note}: {changed}"

    def _command_environment(self, step: Step) -> tuple[str, Any] | None:
        """(the program a shell step runs, or a handler's ``command_argv(step)`` names, its environment
        as it is now); None for another step type or a program that cannot be found or probed."""
        argv = step.parameters.get("argv") if step.step_type == "shell" else None
        if step.step_type in self.handlers and hasattr(self.handlers.get(step.step_type), "command_argv"):
            argv = self.handlers.get(step.step_type).command_argv(step)  # a notebook step: its kernel's interpreter
        if not argv or not isinstance(argv, list) or "{" in str(argv[0]):
            return None
        from scidex_replay.env.command import command_environment, resolve_program

        program = resolve_program(argv[0])
        try:
            env = command_environment(argv) if program else None
        except BadInput:
            return None
        return (program, env) if program and env else None


def _with(detail: str, note: str) -> str:
    if not note:
        return detail
    return f"{detail} ({note})" if detail else note


def _file_name(artifact: Artifact) -> str:
    return safe_name(artifact.name, artifact.id)
