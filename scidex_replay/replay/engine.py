"""Replay: collect → plan → execute.

*collect* reads the chain of a target artifact from the registry (one recursive
query) and the artifacts it touches; *plan* (``plan.py``) is pure; *execute*
walks the plan with an injected executor. For each executed step the content
hash of every input it is about to use is computed (while the input is copied
into the step's scratch directory) and compared with the recorded input_hash
before the step runs. Replayed bytes go to the store under their own hash; a
live artifact is never touched. Results are written to the registry in one
batch when the run ends, fails or is interrupted.

Restart and fork reuse earlier results (see ``reuse_key`` and
``Registry.reusable_results``); a fork registers its outputs as new artifacts
whose metadata says which live artifact they were ``forked_from``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from scidex_replay.env import current_environment
from scidex_replay.errors import BadInput, ChainNotFound, NotFound, ReplayError
from scidex_replay.handlers import HandlerRegistry, load_handlers
from scidex_replay.handlers.spec import Handler, safe_name, scratch_input, scratch_output
from scidex_replay.registry import Artifact, Registry, Step, input_hash_of
from scidex_replay.registry.records import StepResult
from scidex_replay.replay import diff as diffs
from scidex_replay.replay import manifest as manifests
from scidex_replay.replay.plan import EXECUTE, FROZEN, Plan, plan
from scidex_replay.replay.report import Report

logger = logging.getLogger(__name__)

#: on_event(kind, payload): "start" {run_id, plan}, "step" {position, total, step_id, result}, "end" {report}
EventCallback = Callable[[str, dict[str, Any]], None]

#: Where reused results may come from: the restarted run and its ancestors, any run, or nowhere.
REUSE_MODES = ("succeeded-before", "all", "none")


def reuse_key(handler: Handler, step: Step, input_digests: Sequence[str], env_hash: str) -> str:
    """The identity of a step execution: two executions with the same key produce the same bytes.

    sha256 over the canonical JSON of: handler identity (step_type) and version,
    method, parameters, the ordered input content hashes and the env_hash of the
    environment it runs in. Display-only data (names, timestamps, ids) stays out.
    """
    doc = {
        "handler": step.step_type,
        "version": handler.version,
        "method": step.method,
        "parameters": step.parameters,
        "inputs": list(input_digests),
        "env": env_hash,
    }
    return hashlib.sha256(json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


@dataclass
class _Chain:
    target: Artifact
    steps: list[Step]
    artifacts: dict[str, Artifact] = field(default_factory=dict)


def collect(registry: Registry, artifact_id: str) -> _Chain:
    target = registry.get_artifact(artifact_id)
    steps = registry.chain(target.id)
    if not steps:
        raise ChainNotFound(f"{target.id} ({target.name}) is a source artifact: no recorded step produced it")
    ids = {a for s in steps for a in s.source_artifact_ids} | {s.target_artifact_id for s in steps}
    return _Chain(target, steps, registry.artifacts(ids))


@dataclass
class _Request:
    """What a replay will do, once ``--restart`` is resolved and the fork arguments are checked."""

    kind: str  # replay, restart or fork
    ancestry: list[str]
    from_step: str | None
    set_params: dict[str, Any]
    input_overrides: dict[str, str]
    reuse: str


def _request(
    registry: Registry,
    chain: _Chain,
    *,
    restart: str | None,
    from_step: str | None,
    set_params: Mapping[str, Mapping[str, Any]] | None,
    input_overrides: Mapping[str, str] | None,
    fork: bool,
    reuse: str | None,
) -> _Request:
    """Check the options; a restart inherits its run's --from and fork arguments unless given new ones."""
    set_params, input_overrides = dict(set_params or {}), dict(input_overrides or {})
    kind, ancestry = "replay", []
    if restart is not None:
        parent = registry.get_run(restart)
        if parent.target_artifact_id != chain.target.id:
            raise BadInput(f"run {restart} replayed {parent.target_artifact_id}, not {chain.target.id}")
        kind, ancestry = "restart", registry.ancestry(restart)
        from_step = from_step or parent.options.get("from_step")
        set_params = set_params or parent.options.get("set", {})
        input_overrides = input_overrides or parent.options.get("inputs", {})
        fork = fork or bool(set_params or input_overrides)
    if (set_params or input_overrides) and not fork:
        raise BadInput("--set and --input change a replay into a fork: add --fork")
    if fork and not (set_params or input_overrides):
        raise BadInput("--fork needs at least one --set STEP.KEY=VALUE or --input STEP=FILE")
    reuse = reuse or ("succeeded-before" if restart else "all" if fork else "none")
    if reuse not in REUSE_MODES:
        raise BadInput(f"--reuse {reuse}: choose one of {', '.join(REUSE_MODES)}")
    if fork and kind == "replay":
        kind = "fork"
    return _Request(kind, ancestry, from_step, set_params, input_overrides, reuse)


def plan_replay(
    registry: Registry,
    artifact_id: str,
    *,
    from_step: str | None = None,
    restart: str | None = None,
    fork: bool = False,
    set_params: Mapping[str, Mapping[str, Any]] | None = None,
    input_overrides: Mapping[str, str] | None = None,
    handlers: HandlerRegistry | None = None,
) -> Plan:
    """The plan ``rerun_artifact`` would execute with the same options (what ``--dry-run`` prints).

    Nothing is written: an ``--input`` file is checked but not added to the registry.
    """
    chain = collect(registry, artifact_id)
    request = _request(
        registry, chain, restart=restart, from_step=from_step, set_params=set_params,
        input_overrides=input_overrides, fork=fork, reuse=None,
    )
    forked, _ = _fork_steps(registry, chain, request.set_params, request.input_overrides, register=False)
    handler_names = (handlers or load_handlers()).names()
    return plan(chain.steps, chain.target.id, from_step=request.from_step, changed=set(forked), handlers=handler_names)


def _fork_steps(
    registry: Registry,
    chain: _Chain,
    set_params: Mapping[str, Mapping[str, Any]],
    input_overrides: Mapping[str, str],
    *,
    register: bool = True,
) -> tuple[dict[str, Step], dict[str, str]]:
    """The forked version of every changed step, and the input overrides as ``STEP:N -> artifact id``.

    An override that is a file becomes a source artifact; with ``register=False`` (a dry run)
    the file is only checked, and the forked step keeps its recorded inputs.
    """
    by_id = {s.step_id: s for s in chain.steps}
    changed: dict[str, Step] = {}

    def step_of(step_id: str, what: str) -> Step:
        if step_id not in by_id:
            raise BadInput(f"{what} {step_id}: no such step in the chain of {chain.target.id}")
        return changed.get(step_id, by_id[step_id])

    for step_id, values in set_params.items():
        step = step_of(step_id, "--set")
        unknown = sorted(set(values) - set(step.parameters))
        if unknown:
            known = ", ".join(sorted(step.parameters)) or "none"
            raise BadInput(f"--set {step_id}.{unknown[0]}: the step has no parameter {unknown[0]!r} (it has: {known})")
        changed[step_id] = dataclasses.replace(step, parameters={**step.parameters, **values})
    resolved: dict[str, str] = {}
    for spec, source in input_overrides.items():
        step_id, _, index_text = spec.partition(":")
        step = step_of(step_id, "--input")
        if not index_text and len(step.source_artifact_ids) != 1:
            raise BadInput(f"--input {step_id}: the step has {len(step.source_artifact_ids)} inputs; say which with {step_id}:N=FILE")
        if not (index_text or "0").isdigit() or int(index_text or 0) >= len(step.source_artifact_ids):
            raise BadInput(f"--input {spec}: no such input (the step has {len(step.source_artifact_ids)})")
        index = int(index_text or 0)
        if not register:
            if not (registry.has_artifact(source) or Path(source).is_file()):
                raise BadInput(f"no such file: {source}")
            changed[step_id] = step
            continue
        art = registry.get_artifact(source) if registry.has_artifact(source) else registry.add_artifact(source)
        chain.artifacts[art.id] = art
        sources = list(step.source_artifact_ids)
        sources[index] = art.id
        changed[step_id] = dataclasses.replace(step, source_artifact_ids=tuple(sources))
        resolved[f"{step_id}:{index}"] = art.id
    return changed, resolved


def rerun_artifact(
    artifact_id: str,
    *,
    registry: Registry | None = None,
    db: str | None = None,
    from_step: str | None = None,
    strict: bool = False,
    diff: bool = False,
    executor: str = "kernel",
    dask_address: str | None = None,
    pin: bool = True,
    out: str | Path | None = None,
    restart: str | None = None,
    reuse: str | None = None,
    fork: bool = False,
    set_params: Mapping[str, Mapping[str, Any]] | None = None,
    input_overrides: Mapping[str, str] | None = None,
    handlers: HandlerRegistry | None = None,
    on_event: EventCallback | None = None,
) -> Report:
    """Replay the chain that produced ``artifact_id`` and byte-compare every output.

    - ``from_step``: replay that step and its descendants; freeze the rest.
    - ``strict``: stop at the first input whose hash differs from the record
      (``report.status == "aborted"``, exit code 3).
    - ``diff``: for a differing output, say where it differs.
    - ``executor``: ``kernel``, ``subprocess`` or ``dask`` (independent steps in
      parallel on a LocalCluster, or on the scheduler at ``dask_address``).
    - ``restart=RUN``: a new run of kind ``restart`` whose steps reuse what
      succeeded in RUN and its ancestors (``reuse``: ``succeeded-before``
      [default], ``all`` runs, or ``none``); it inherits RUN's --from and fork.
    - ``fork=True`` with ``set_params={step: {key: value}}`` and/or
      ``input_overrides={"STEP" or "STEP:N": file or artifact id}``: run the
      changed steps and their descendants only, register their outputs as new
      artifacts ``forked_from`` the live ones, never replacing those.

    Writes ``manifest.json`` to ``out`` (default ``<home>/runs/<run_id>``) and
    returns a ``Report``. Raises ``BadInput``/``NotFound`` for bad arguments; a
    step that fails does not raise, it is reported.
    """
    from scidex_replay.executors import get_executor

    registry = registry or Registry.open(db)
    handlers = handlers or load_handlers()
    runner = get_executor(executor, address=dask_address)
    chain = collect(registry, artifact_id)
    request = _request(
        registry, chain, restart=restart, from_step=from_step, set_params=set_params,
        input_overrides=input_overrides, fork=fork, reuse=reuse,
    )
    forked, resolved_inputs = _fork_steps(registry, chain, request.set_params, request.input_overrides)
    the_plan = plan(chain.steps, chain.target.id, from_step=request.from_step, changed=set(forked), handlers=handlers.names())
    step_ids = [s.step_id for s in chain.steps]
    reuse = request.reuse
    reuse_map = {} if reuse == "none" else registry.reusable_results(step_ids, None if reuse == "all" else request.ancestry)
    options = {
        "from_step": request.from_step,
        "strict": strict,
        "diff": diff,
        "executor": executor,
        "pin": pin,
        "reuse": reuse,
        "set": request.set_params,
        "inputs": resolved_inputs,
    }
    run = registry.create_run(
        target_artifact_id=chain.target.id, kind=request.kind, options=options, parent_run_id=restart, from_step=request.from_step
    )
    emit = on_event or _quiet
    execution = _Execution(registry, chain, handlers, runner, run.run_id, emit, strict=strict, diff=diff, pin=pin)
    execution.forked = forked
    execution.reuse_map = reuse_map
    emit("start", {"run_id": run.run_id, "plan": the_plan})
    status = "interrupted"
    try:
        status = execution.run(the_plan)
        if forked and status != "interrupted":
            execution.register_fork_outputs()
    finally:
        run = dataclasses.replace(run, status=status)
        manifest = manifests.build(
            run,
            chain.steps,
            execution.results,
            replay_env=execution.env_hash,
            completed_at=datetime.now(timezone.utc).isoformat(),
            extras=execution.extras,
        )
        finished = registry.finish_run(run.run_id, status=status, results=execution.results, manifest=manifest)
        shutil.rmtree(execution.workdir, ignore_errors=True)
        if hasattr(runner, "close"):  # e.g. the dask executor's LocalCluster
            runner.close()
        path = manifests.write(manifest, Path(out) if out is not None else registry.home / "runs" / run.run_id)
    report = Report(run=finished, manifest=manifest, manifest_path=path)
    emit("end", {"report": report})
    return report


def _quiet(kind: str, payload: dict[str, Any]) -> None:
    pass


class _Execution:
    """The mutable state of one run's execute phase."""

    def __init__(self, registry, chain, handlers, runner, run_id, emit, *, strict, diff, pin):
        self.registry = registry
        self.store = registry.store
        self.chain = chain
        self.handlers = handlers
        self.runner = runner
        self.run_id = run_id
        self.emit = emit
        self.strict = strict
        self.diff = diff
        self.pin = pin
        self.pins: dict[str, Any] = {}  # env_hash -> Pin, one build attempt per run
        self.env_hash = current_environment().env_hash
        self.forked: dict[str, Step] = {}
        self.reuse_map: dict[str, tuple[str, str]] = {}
        self.results: list[StepResult] = []
        self.extras: dict[str, dict[str, Any]] = {}
        self.replayed: dict[str, str] = {}  # artifact id -> digest of the bytes this run produced for it
        self.broken: set[str] = set()  # artifact ids whose producing step failed or was skipped
        self.executed: list[tuple[Step, str]] = []  # (step as run, output digest), in order
        self.workdir = Path(tempfile.mkdtemp(prefix=f"scidex-{run_id}-"))

    def run(self, the_plan: Plan) -> str:
        """Execute the plan wave by wave: a wave holds steps whose producers all ran in earlier
        waves, so an executor that can (Dask) runs a wave's steps in parallel."""
        self.total = len(the_plan.steps)
        self.aborted = False
        for wave in _waves(the_plan):
            jobs: list[_Job] = []
            for position in wave:
                planned = the_plan.steps[position]
                step = self.forked.get(planned.step.step_id, planned.step)
                if self.aborted:
                    self._record(planned, self._result(step, position, False, "skipped: aborted by --strict"))
                elif planned.action == FROZEN:
                    self._record(planned, self._frozen(step, position, planned.reason))
                elif planned.action != EXECUTE:
                    self._record(planned, self._result(step, position, False, planned.reason))
                elif any(a in self.broken for a in step.source_artifact_ids):
                    self._record(planned, self._result(step, position, False, "skipped: upstream failed"))
                else:
                    prepared = self._prepare(step, position, fork=bool(self.forked))
                    if isinstance(prepared, _Job):
                        prepared.planned = planned
                        jobs.append(prepared)
                    else:
                        self._record(planned, prepared)
            if self.aborted:
                for job in jobs:
                    self._record(job.planned, self._result(job.step, job.position, False, "skipped: aborted by --strict"))
                continue
            self._run_jobs(jobs)
        self.results.sort(key=lambda r: r.position)
        if self.aborted:
            return "aborted"
        return "succeeded" if all(r.ok is not False for r in self.results) else "failed"

    def _record(self, planned: Any, result: StepResult) -> None:
        if result.ok is False and result.output_hash_replayed is None and planned.action == EXECUTE:
            self.broken.add(planned.step.target_artifact_id)  # its dependents have no bytes to run on
        if result.reason.endswith("(aborted by --strict)"):
            self.aborted = True
        self.results.append(result)
        self.emit("step", {"position": result.position, "total": self.total, "step_id": result.step_id, "result": result})

    def _run_jobs(self, jobs: list["_Job"]) -> None:
        """Run a wave; each job is finished (hashed, compared, recorded) as soon as it is done."""
        by_runner: dict[int, list[_Job]] = {}
        for job in jobs:
            by_runner.setdefault(id(job.runner), []).append(job)
        for group in by_runner.values():
            runner = group[0].runner
            if len(group) > 1 and hasattr(runner, "run_many"):
                calls = [(job.handler, job.step, job.inputs, job.output) for job in group]
                runner.run_many(calls, lambda i, outcome, seconds, group=group: self._finish(group[i], outcome, seconds))
                continue
            for job in group:
                t0 = time.perf_counter()
                try:
                    outcome: Any = runner.run(job.handler, job.step, job.inputs, job.output)
                except Exception as exc:
                    outcome = exc
                self._finish(job, outcome, time.perf_counter() - t0)

    def _result(self, step: Step, position: int, ok: bool | None, reason: str, **kw: Any) -> StepResult:
        return StepResult(step_id=step.step_id, position=position, ok=ok, reason=reason, **kw)

    def _digests(self, step: Step) -> list[str]:
        return [self.replayed.get(a, self.chain.artifacts[a].content_hash) for a in step.source_artifact_ids]

    def _reused(self, step: Step, position: int, key: str) -> StepResult | None:
        hit = self.reuse_map.get(key)
        if hit is None or not self.store.has(hit[1]):
            return None
        origin, digest = hit
        self.replayed[step.target_artifact_id] = digest
        return self._result(
            step, position, True, f"reused: run {origin}",
            output_hash_replayed=digest, reused_from_run=origin, replayed_blob=digest, reuse_key=key,
        )

    def _frozen(self, step: Step, position: int, reason: str) -> StepResult:
        """A fork's unchanged step is reused when an earlier run reproduced it; otherwise it stays frozen."""
        if self.forked and self.reuse_map and step.step_type in self.handlers:
            key = reuse_key(self.handlers.get(step.step_type), step, self._digests(step), self.env_hash)
            reused = self._reused(step, position, key)
            if reused is not None:
                return reused
        return self._result(step, position, None, reason)

    def _environment_for(self, step: Step) -> tuple[Any, str, str]:
        """(executor, env_hash it runs in, note for the reason) for a step recorded in ``step.env_hash``.

        A step recorded in another environment runs in a venv pinned to its
        requirements.lock; when that cannot be built it runs in the live env and
        the note says so.
        """
        if not self.pin or not step.env_hash or step.env_hash == self.env_hash:
            return self.runner, self.env_hash, ""
        if step.env_hash not in self.pins:
            from scidex_replay.env.pinned import Pin, ensure_pinned

            env = self.registry.get_environment(step.env_hash)
            if env is None:
                pin = Pin(None, "env-differs: ran in live env (the registry has no lock for its env_hash)")
            else:
                pin = ensure_pinned(env, self.registry.home)
            if pin.python is None:
                logger.warning("step %s: %s", step.step_id, pin.note)
                self.emit("warning", {"step_id": step.step_id, "message": pin.note})
            self.pins[step.env_hash] = pin
        pin = self.pins[step.env_hash]
        if pin.python is None:
            return self.runner, self.env_hash, pin.note
        from scidex_replay.executors import SubprocessExecutor

        return SubprocessExecutor(python=pin.python), step.env_hash, pin.note

    def _prepare(self, step: Step, position: int, *, fork: bool) -> "StepResult | _Job":
        """Reuse, or freeze and check the inputs; a result when the step will not run, else a job."""
        handler = self.handlers.get(step.step_type)
        expected = self._digests(step)
        runner, env_hash, env_note = self._environment_for(step)
        key = reuse_key(handler, step, expected, env_hash)
        reused = self._reused(step, position, key)
        if reused is not None:
            if fork:
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
        strict_note = " (aborted by --strict)" if self.strict else ""
        corrupt = [i for i, (e, a) in enumerate(zip(expected, actual)) if e != a]
        if corrupt:
            i = corrupt[0]
            reason = (
                f"input-differs: stored bytes of input {i} ({step.source_artifact_ids[i]}) do not match "
                f"sha256:{expected[i][:12]}; the step was not run on them"
            )
            return self._result(step, position, False, reason + strict_note, duration_s=time.perf_counter() - t0)
        input_note = ""
        if not fork and replay_input_hash != step.input_hash:
            input_note = f"input-differs: inputs hash to {replay_input_hash[:12]}, recorded {step.input_hash[:12]}"
            if self.strict:
                return self._result(step, position, False, input_note + strict_note, duration_s=time.perf_counter() - t0)
        output = scratch_output(step_dir, _file_name(self.chain.artifacts[step.target_artifact_id]))
        return _Job(step, position, handler, runner, inputs, output, key, env_note, input_note, fork, time.perf_counter() - t0)

    def _finish(self, job: "_Job", outcome: Any, run_s: float) -> None:
        """Store and compare what a job produced (or report how it failed).

        Its duration is the time spent preparing it, running it (``run_s``, as the executor
        timed it: without the time it waited in a queue) and storing its output.
        """
        step, position, key = job.step, job.position, job.key
        t0 = time.perf_counter() - job.prep_s - run_s
        try:
            if isinstance(outcome, BaseException):
                raise outcome
            digest, _ = self.store.put_file(outcome.path, expected=step.output_hash)
        except ReplayError as exc:
            return self._record(job.planned, self._failed(step, position, _with(str(exc), job.env_note), time.perf_counter() - t0, key))
        except Exception as exc:  # a handler bug is this step's failure, not the run's
            logger.debug("handler %s raised", step.step_type, exc_info=exc)
            message = _with(f"{type(exc).__name__}: {exc}", job.env_note)
            return self._record(job.planned, self._failed(step, position, message, time.perf_counter() - t0, key))
        duration = time.perf_counter() - t0
        self.replayed[step.target_artifact_id] = digest
        same = digest == step.output_hash
        if job.fork:
            self.executed.append((step, digest))
            ok, reason = True, "forked: identical to live" if same else "forked: differs from live (expected)"
        elif same:
            ok, reason = True, "reproduced" if not job.input_note else "reproduced: output identical although inputs differ"
        else:
            ok, reason = False, job.input_note or f"output-differs: replayed {digest[:12]}, recorded {step.output_hash[:12]}"
            if self.diff and self.store.has(step.output_hash):
                detail = diffs.describe(self.store, step.output_hash, digest, job.output.name)
                self.extras[step.step_id]["diff"] = detail
                if detail["first_difference_offset"] is not None:
                    reason += f" (first difference at byte {detail['first_difference_offset']})"
        result = self._result(
            step, position, ok, _with(reason, job.env_note), output_hash_replayed=digest, duration_s=duration,
            replayed_blob=digest, reuse_key=key,
        )
        self._record(job.planned, result)

    def _failed(self, step: Step, position: int, message: str, duration: float, key: str) -> StepResult:
        return self._result(step, position, False, f"failed: {' '.join(message.split())}", duration_s=duration, reuse_key=key)

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

    def register_fork_outputs(self) -> None:
        """Record each step a fork ran as a new step with a new target artifact ``forked_from`` the live one."""
        new_ids: dict[str, str] = {}
        env = current_environment()
        now = datetime.now(timezone.utc)
        for step, digest in self.executed:
            live = self.chain.artifacts[step.target_artifact_id]
            sources = [new_ids.get(a, a) for a in step.source_artifact_ids]
            _, art = self.registry.record_step(
                step_type=step.step_type,
                method=step.method,
                parameters=step.parameters,
                sources=sources,
                output_hash=digest,
                input_hash=input_hash_of(self._source_digests(sources)),
                env=env,
                started_at=step.started_at,
                completed_at=now,
                trace_id=self.run_id,
                kind=live.kind,
                name=live.name,
                metadata={"forked_from": live.id, "fork_run": self.run_id},
            )
            new_ids[live.id] = art.id
            self.chain.artifacts[art.id] = art
            self.extras.setdefault(step.step_id, {})["forked_artifact_id"] = art.id

    def _source_digests(self, ids: Sequence[str]) -> list[str]:
        return [self.chain.artifacts[a].content_hash for a in ids]


@dataclass
class _Job:
    """A step ready to run: inputs frozen and checked, output path chosen."""

    step: Step
    position: int
    handler: Handler
    runner: Any
    inputs: list[Path]
    output: Path
    key: str
    env_note: str
    input_note: str
    fork: bool
    prep_s: float  # freezing and checking its inputs
    planned: Any = None


def _waves(the_plan: Plan) -> list[list[int]]:
    """Plan positions grouped by generation: a step's wave is one past its latest producer's."""
    produced_at: dict[str, int] = {}
    waves: list[list[int]] = []
    for position, planned in enumerate(the_plan.steps):
        wave = 1 + max((produced_at.get(a, -1) for a in planned.step.source_artifact_ids), default=-1)
        produced_at[planned.step.target_artifact_id] = wave
        while len(waves) <= wave:
            waves.append([])
        waves[wave].append(position)
    return waves


def _with(reason: str, note: str) -> str:
    return f"{reason} ({note})" if note else reason


def _file_name(artifact: Artifact) -> str:
    return safe_name(artifact.name, artifact.id)
