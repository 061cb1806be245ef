"""Replay: collect → plan → execute.

*collect* reads the chain of a target artifact from the registry (one recursive
query) and the artifacts it touches; *plan* (``plan.py``) is pure; *execute*
walks the plan wave by wave, hands each step to the ``StepRunner``
(``runner.py``: reuse, freeze and check inputs, compare) and its jobs to an
injected executor. Replayed bytes go to the store under their own hash; a live
artifact is never touched. Each step's result is written to the registry when
the step is done, and a heartbeat says the run's process is alive, so a run
killed at any point keeps what it did and shows ``interrupted``; the run's
status and manifest are written when it ends, fails or is interrupted.

A run can be cancelled from another thread (``rerun_artifact(cancel=event)``): the event is
looked at before each step, and a step process that runs when it is set is ended with its
session (``handlers.process.cancelling``); the run then ends ``interrupted`` and returns its
report like any other, restartable with ``restart=run_id``.

Restart and fork reuse earlier results (``cache.py``); a fork registers its
outputs as new artifacts whose metadata says which live artifact they were
``forked_from`` (``fork.py``).
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from scidex_replay.env import current_environment
from scidex_replay.errors import ChainNotFound, RegistryUnavailable, one_line
from scidex_replay.executors.base import Executor
from scidex_replay.handlers import HandlerRegistry, load_handlers
from scidex_replay.handlers.spec import relative_path, safe_name
from scidex_replay.outcomes import Outcome, Status, status_of
from scidex_replay.registry import Registry, Step
from scidex_replay.registry.liveness import HEARTBEAT_S
from scidex_replay.registry.records import StepResult, validate_env_hash, validate_id
from scidex_replay.replay import manifest as manifests
from scidex_replay.replay.cache import ReuseCache
from scidex_replay.replay.drift import SourceDrift, find_drift, live_overrides, step_drift
from scidex_replay.replay.explain import check_request as check_explain
from scidex_replay.replay.fork import Chain, Request, fork_steps, register_fork_outputs, resolve
from scidex_replay.replay.options import ReplayOptions
from scidex_replay.replay.plan import EXECUTE, FROZEN, Plan, PlannedStep, plan
from scidex_replay.replay.report import Report
from scidex_replay.replay.runner import Job, StepRunner

logger = logging.getLogger(__name__)

#: on_event(kind, payload): "start" {run_id, plan}, "running" {position, step_id} (a step is handed
#: to the executor), "step" {position, total, step_id, result},
#: "warning" {step_id, message}, "explaining" {step_id}, "explain" {step_id, explanation}, "end" {report}
EventCallback = Callable[[str, dict[str, Any]], None]


def collect(registry: Registry, artifact_id: str) -> Chain:
    """The chain that produced ``artifact_id``; ``ChainNotFound`` for a source artifact."""
    target = registry.get_artifact(artifact_id)
    steps = registry.chain(target.id)
    if not steps:
        raise ChainNotFound(f"{target.id} ({target.name}) is a source artifact: no recorded step produced it")
    for s in steps:  # ids become paths (scratch dirs, venvs, --out DIR/STEP): refuse a crafted one before anything runs
        validate_id(s.step_id, "step id")
        if s.env_hash is not None:
            validate_env_hash(s.env_hash, f"env_hash of step {s.step_id}")
    ids = {a for s in steps for a in (*s.source_artifact_ids, *(c.artifact_id for c in s.code_inputs), *s.output_ids)}
    return Chain(target, steps, registry.artifacts(ids))


@dataclass(frozen=True)
class _Prepared:
    chain: Chain
    request: Request
    forked: dict[str, Step]
    resolved_inputs: dict[str, str]
    plan: Plan
    drift: dict[str, SourceDrift]  # source artifact id -> how its file changed since it was recorded
    live: dict[str, str]  # with --live: "STEP:N" -> the working copy used for that input


def _prepare(
    registry: Registry, artifact_id: str, options: ReplayOptions, handlers: HandlerRegistry, *, register: bool
) -> _Prepared:
    """What ``rerun_artifact`` and ``plan_replay`` share: collect, find source drift, resolve the
    request (``--live`` adds an ``--input`` per drifted input, making it a fork), fork, plan."""
    chain = collect(registry, artifact_id)
    drift = find_drift(chain.steps, chain.artifacts)
    live = live_overrides(chain.steps, drift) if options.live else {}
    if live:
        options = dataclasses.replace(options, fork=True, input_overrides={**live, **options.input_overrides})
    request = resolve(registry, chain, options)
    check_explain(chain.steps, options.explain)
    forked, resolved = fork_steps(registry, chain, request, register=register)
    the_plan = plan(chain.steps, chain.target.id, from_step=request.from_step, changed=set(forked), handlers=handlers.names())
    return _Prepared(chain, request, forked, resolved, the_plan, drift, live)


def plan_replay(
    registry: Registry,
    artifact_id: str,
    options: ReplayOptions | None = None,
    *,
    handlers: HandlerRegistry | None = None,
    **changes: Any,
) -> Plan:
    """The plan ``rerun_artifact`` would execute with the same options (what ``--dry-run`` prints).

    ``changes`` are ``ReplayOptions`` fields. Nothing is written: an ``--input`` file is
    checked but not added to the registry.
    """
    options = ReplayOptions.of(options, **changes)
    return _prepare(registry, artifact_id, options, handlers or load_handlers(), register=False).plan


def rerun_artifact(
    artifact_id: str,
    options: ReplayOptions | None = None,
    *,
    registry: Registry | None = None,
    db: str | None = None,
    handlers: HandlerRegistry | None = None,
    on_event: EventCallback | None = None,
    cancel: threading.Event | None = None,
    **changes: Any,
) -> Report:
    """Replay the chain that produced ``artifact_id`` and byte-compare every output.

    ``options`` (a ``ReplayOptions``, see its fields), or its fields as keywords
    (``from_step=``, ``strict=``, ``fork=True, set_params={step: {key: value}}``…).
    ``registry`` (or ``db``, a database URL) is the registry to read and write; one
    opened here is closed here. ``on_event(kind, payload)`` sees the run's progress.
    ``cancel``: an event another thread may set to stop the run: it is looked at before each
    step, a running step's process is ended with its session, and the run ends ``interrupted``
    (its report is returned as usual; ``restart=run_id`` goes on from there).

    Writes ``manifest.json`` (schema ``scidex-replay/manifest/v2``) to ``options.out``
    (default ``<home>/runs/<run_id>``; an ``out`` that already holds one, or that cannot be
    written, is refused with ``BadInput`` before anything runs) and returns a ``Report`` whose ``status`` is a
    ``Status``. Raises ``BadInput``/``NotFound`` for bad arguments (unknown id, step,
    parameter); a step that fails does not raise, it is reported.
    """
    from scidex_replay.executors import get_executor
    from scidex_replay.handlers.process import applied

    options = ReplayOptions.of(options, **changes)
    options.check_out()
    own_registry = registry is None
    registry = registry or Registry.open(db)
    try:
        handlers = handlers or load_handlers()
        prepared = _prepare(registry, artifact_id, options, handlers, register=True)
        with applied(options.limits):  # every step process of the run, whichever executor starts it
            executor = get_executor(options.executor, address=options.dask_address)
            try:
                return _execute(registry, prepared, options, handlers, executor, on_event or _quiet, cancel)
            finally:
                executor.close()
    finally:
        if own_registry:
            registry.close()


def _execute(
    registry: Registry,
    prepared: _Prepared,
    options: ReplayOptions,
    handlers: HandlerRegistry,
    executor: Executor,
    emit: EventCallback,
    cancel: threading.Event | None = None,
) -> Report:
    """Create the run, execute its plan, and write its results and manifest however it ends."""
    from scidex_replay.handlers.process import Cancelled, cancelling

    chain, request = prepared.chain, prepared.request
    run_options = {
        "from_step": request.from_step,
        "strict": options.strict,
        "diff": options.diff,
        "executor": options.executor,
        "pin": options.pin,
        "reuse": request.reuse,
        "set": request.set_params,
        "inputs": prepared.resolved_inputs,
        "live": options.live,
        "live_inputs": prepared.live,
        "accept": list(options.accept),
        "tolerance": options.tolerance.to_json() if options.tolerance else None,
        "explain": options.explain,
        "limits": options.limits.to_json(),  # what every step process of the run was allowed
    }
    env_hash = current_environment().env_hash
    run = registry.create_run(
        target_artifact_id=chain.target.id, kind=request.kind, options=run_options,
        parent_run_id=options.restart, from_step=request.from_step, env_hash=env_hash,
    )
    workdir = Path(tempfile.mkdtemp(prefix=f"scidex-{run.run_id}-"))
    runner = StepRunner(
        registry, chain, handlers, executor, options,
        cache=ReuseCache(registry, [s.step_id for s in chain.steps], request.reuse, request.ancestry),
        env_hash=env_hash, workdir=workdir, fork=bool(prepared.forked), live=bool(prepared.live),
        warn=lambda step_id, message: emit("warning", {"step_id": step_id, "message": message}),
    )
    execution = _Execution(runner, prepared.forked, emit, prepared.drift, _ResultWriter(registry, run.run_id, emit))
    emit("start", {"run_id": run.run_id, "plan": prepared.plan})
    _note_drift(prepared, options, runner, emit)
    status = Status.INTERRUPTED
    heartbeat = _Heartbeat(registry, run.run_id)
    try:
        try:
            with cancelling(cancel):
                status = execution.run(prepared.plan)
        except Cancelled:
            status = Status.INTERRUPTED
            emit("warning", {"step_id": None, "message": f"cancelled: run {run.run_id} is interrupted; restart it to go on"})
        if prepared.forked and status is not Status.INTERRUPTED:
            forked_ids = register_fork_outputs(registry, chain, runner.executed, run_id=run.run_id, env=current_environment())
            for step_id, artifact_id in forked_ids.items():
                runner.extras.setdefault(step_id, {})["forked_artifact_id"] = artifact_id
        if options.explain is not None and status is not Status.INTERRUPTED:  # --explain: re-run steps under perturbations
            from scidex_replay.replay.explain import explain_run

            steps = [prepared.forked.get(s.step_id, s) for s in chain.steps]
            explain_run(runner, options.explain, steps, execution.results, emit)
    finally:
        heartbeat.stop()
        runner.close()
        execution.results.sort(key=lambda r: r.position)  # a run stopped in the middle of a wave
        run = dataclasses.replace(run, status=status)
        manifest = manifests.build(
            run, chain.steps, execution.results, artifacts=chain.artifacts, replay_env=env_hash,
            completed_at=datetime.now(timezone.utc).isoformat(), extras=runner.extras, verdicts=runner.verdicts,
        )
        finished = registry.finish_run(run.run_id, status=status, results=execution.results, manifest=manifest)
        shutil.rmtree(workdir, ignore_errors=True)
        path = manifests.write(manifest, options.out if options.out is not None else registry.home / "runs" / validate_id(run.run_id, "run id"))
        if options.out is not None:
            _export_outputs(registry, chain, execution.results, options.out, runner.verdicts)
    report = Report(run=finished, manifest=manifest, manifest_path=path)
    emit("end", {"report": report})
    return report


def run_manifest(registry: Registry, run_id: str) -> dict[str, Any]:
    """The manifest of run ``run_id``: the one it wrote when it ended, or, for a run that is
    still running or was killed (``interrupted`` with no manifest), one built from the
    results it has written so far (``completed_at`` null). Raises ``NotFound``."""
    run = registry.get_run(run_id)
    if run.manifest is not None:
        return run.manifest
    chain = collect(registry, run.target_artifact_id)
    return manifests.build(
        run, chain.steps, registry.results(run_id), artifacts=chain.artifacts,
        replay_env=run.env_hash or "", completed_at=None,
    )


def _quiet(kind: str, payload: dict[str, Any]) -> None:
    pass


def _note_drift(prepared: _Prepared, options: ReplayOptions, runner: StepRunner, emit: EventCallback) -> None:
    """Put each step's ``source_drift`` in its manifest entry, and warn once per drifted file
    (what this replay uses instead: the recorded bytes, or with ``--live`` the working copy)."""
    warned: set[str] = set()
    for step in prepared.chain.steps:
        drifted = step_drift(step, prepared.drift)
        if not drifted:
            continue
        runner.extras.setdefault(step.step_id, {})["source_drift"] = [
            d.to_json(live=f"{step.step_id}:{i}" in prepared.live) for i, d in drifted
        ]
        for _, d in drifted:
            if d.artifact_id not in warned:
                warned.add(d.artifact_id)
                used = "the working copy (--live)" if prepared.live else "the recorded bytes"
                emit("warning", {"step_id": step.step_id, "message": f"source drift: {d.describe()}; this replay uses {used}"})
    if options.live and not prepared.live:
        emit("warning", {"step_id": None, "message": "--live: no recorded source file has changed, so this is a plain replay"})


def _export_outputs(
    registry: Registry, chain: Chain, results: list[StepResult], out: Path, verdicts: dict[str, list[dict[str, Any]]],
) -> None:
    """Put each replayed output in ``out/STEP/PATH`` beside the manifest (STEP: the step's name or
    id; PATH: where the command wrote it, or the artifact's name), verified against its digest.
    An output whose bytes differ also gets its comparator's whole readable diff as
    ``PATH.diff`` (the ``diff_blob`` of its comparison) and, for an image, the diff picture as
    ``PATH.diff.png`` (``diff_image_blob``), when the comparator made them (``verdicts``: the
    runner's per-output verdicts by step id, each with its ``comparison``)."""
    by_id = {s.step_id: s for s in chain.steps}
    for result in results:
        step = by_id[result.step_id]
        judged = verdicts.get(step.step_id, [])
        for i, (output, digest) in enumerate(zip(step.all_outputs, result.digests)):
            name = output.path or safe_name(chain.artifacts[output.artifact_id].name, output.artifact_id)
            dest = export_path(out, step.label, step.step_id, name)
            dest.parent.mkdir(parents=True, exist_ok=True)
            registry.store.materialize(digest, dest)
            metrics = ((judged[i] if i < len(judged) else {}).get("comparison") or {}).get("metrics") or {}
            for metric, suffix in (("diff_blob", ".diff"), ("diff_image_blob", ".diff.png")):
                blob = metrics.get(metric)
                if isinstance(blob, str) and registry.store.has(blob):
                    registry.store.materialize(blob, dest.with_name(dest.name + suffix))


def export_path(out: Path, step_label: str, step_id: str, name: str) -> Path:
    """Where ``--out`` ``out`` receives a replayed output ``name`` (its recorded path, else its
    artifact's name) of the step ``step_label`` (its name, else its id): ``out/STEP/PATH``.
    Its diff, when it differs, is beside it as ``PATH.diff``. Raises ``BadInput`` for a path
    that leaves ``out``."""
    return out / safe_name(step_label, step_id) / relative_path(name, "output")


class _ResultWriter:
    """Writes each step's result to the registry when the step is done, so that a run killed
    later (kill -9, an OOM kill, a full disk) keeps it and ``--restart`` reuses it. A result
    that cannot be written now (a database locked past its busy timeout) is said once and left
    to ``finish_run``, which writes whatever is missing."""

    def __init__(self, registry: Registry, run_id: str, emit: EventCallback):
        self.registry = registry
        self.run_id = run_id
        self.emit = emit
        self.failing = False

    def __call__(self, result: StepResult) -> None:
        try:
            self.registry.add_result(self.run_id, result)
        except RegistryUnavailable as exc:
            if not self.failing:
                self.failing = True
                message = f"cannot write the result of step {result.step_id} to the registry now ({one_line(exc)}); it is written when the run ends"
                self.emit("warning", {"step_id": result.step_id, "message": message})


class _Heartbeat:
    """Says every ``HEARTBEAT_S`` seconds, from a daemon thread, that this process still runs
    the replay (``registry.liveness``: how a dead run is told from a long step)."""

    def __init__(self, registry: Registry, run_id: str):
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._beat, args=(registry, run_id), name=f"heartbeat-{run_id}", daemon=True)
        self._thread.start()

    def _beat(self, registry: Registry, run_id: str) -> None:
        while not self._stopped.wait(HEARTBEAT_S):
            try:
                registry.heartbeat(run_id)
            except RegistryUnavailable as exc:  # a busy database: the next beat tries again
                logger.debug("heartbeat of run %s: %s", run_id, exc)

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join()


class _Execution:
    """Walks a plan wave by wave and keeps the results: what the steps of one run did."""

    def __init__(
        self, runner: StepRunner, forked: dict[str, Step], emit: EventCallback, drift: dict[str, SourceDrift],
        write: Callable[[StepResult], None],
    ):
        self.runner = runner
        self.write = write
        self.forked = forked
        self.emit = emit
        self.drift = drift
        self.results: list[StepResult] = []
        self.broken: set[str] = set()  # artifact ids whose producing step failed or was skipped
        self.aborted = False
        self.total = 0

    def run(self, the_plan: Plan) -> Status:
        """Execute the plan wave by wave: a wave holds steps whose producers all ran in earlier
        waves, so an executor that can (Dask) runs a wave's steps in parallel."""
        self.total = len(the_plan.steps)
        runner = self.runner
        from scidex_replay.handlers.process import check_cancelled

        for wave in _waves(the_plan):
            jobs: list[Job] = []
            for position in wave:
                check_cancelled()
                planned = the_plan.steps[position]
                step = self.forked.get(planned.step.step_id, planned.step)
                if self.aborted:
                    self._record(planned, runner.result(step, position, Outcome.SKIPPED, "aborted by --strict"))
                elif planned.action == FROZEN:
                    self._record(planned, runner.frozen(step, position, planned.detail))
                elif planned.action != EXECUTE:
                    self._record(planned, runner.result(step, position, Outcome.UNREPLAYABLE, planned.detail))
                elif any(a in self.broken for a in step.source_artifact_ids):
                    self._record(planned, runner.result(step, position, Outcome.SKIPPED, "upstream failed"))
                elif runner.options.strict and (drifted := step_drift(step, self.drift)):
                    paths = ", ".join(d.path for _, d in drifted)
                    self.aborted = True
                    self._record(planned, runner.result(step, position, Outcome.SKIPPED, f"aborted by --strict: source drift in {paths}"))
                else:
                    prepared = runner.prepare(step, position)
                    if isinstance(prepared, Job):
                        prepared.planned = planned
                        jobs.append(prepared)
                    else:
                        self._record(planned, prepared)
            if self.aborted:
                for job in jobs:
                    self._record(job.planned, runner.result(job.step, job.position, Outcome.SKIPPED, "aborted by --strict"))
                continue
            self._run_jobs(jobs)
        self.results.sort(key=lambda r: r.position)
        return status_of(((r.outcome, r.ok) for r in self.results), aborted=self.aborted)

    def _record(self, planned: PlannedStep, result: StepResult) -> None:
        if result.ok is False and result.output_hash_replayed is None and planned.action == EXECUTE:
            self.broken.update(planned.step.output_ids)  # its dependents have no bytes to run on
        if self.runner.options.strict and result.outcome is Outcome.INPUT_DIFFERS:
            self.aborted = True
        self.results.append(result)
        self.write(result)
        self.emit("step", {"position": result.position, "total": self.total, "step_id": result.step_id, "result": result})

    def _run_jobs(self, jobs: list[Job]) -> None:
        """Run a wave, grouped by executor; each job is finished (stored, compared, recorded) as soon as it ends."""
        groups: dict[int, list[Job]] = {}
        for job in jobs:
            groups.setdefault(id(job.executor), []).append(job)
        from scidex_replay.executors.base import SerialExecutor
        from scidex_replay.handlers.process import check_cancelled

        for group in groups.values():
            calls = [(job.handler, job.step, job.inputs, job.outputs[0]) for job in group]
            serial = isinstance(group[0].executor, SerialExecutor)  # one job after the other: say each as it starts
            for job in group[:1] if serial else group:
                self._running(job)

            def done(index: int, produced: Any, seconds: float, group: list[Job] = group, serial: bool = serial) -> None:
                job = group[index]
                self._record(job.planned, self.runner.finish(job, produced, seconds))
                check_cancelled()
                if serial and index + 1 < len(group):
                    self._running(group[index + 1])

            check_cancelled()
            group[0].executor.run_many(calls, done)

    def _running(self, job: Job) -> None:
        self.emit("running", {"position": job.position, "step_id": job.step.step_id})


def _waves(the_plan: Plan) -> list[list[int]]:
    """Plan positions grouped by generation: a step's wave is one past its latest producer's."""
    produced_at: dict[str, int] = {}
    waves: list[list[int]] = []
    for position, planned in enumerate(the_plan.steps):
        wave = 1 + max((produced_at.get(a, -1) for a in planned.step.source_artifact_ids), default=-1)
        produced_at.update(dict.fromkeys(planned.step.output_ids, wave))
        while len(waves) <= wave:
            waves.append([])
        waves[wave].append(position)
    return waves
