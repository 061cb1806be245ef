"""Replay: collect → plan → execute.

*collect* reads the chain of a target artifact from the registry (one recursive
query) and the artifacts it touches; *plan* (``plan.py``) is pure; *execute*
walks the plan with an injected executor. For each executed step the content
hash of every input it is about to use is computed (while the input is copied
into the step's scratch directory) and compared with the recorded input_hash
before the step runs. Replayed bytes go to the store under their own hash; a
live artifact is never touched. Results are written to the registry in one
batch when the run ends (or is interrupted).
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from scidex_replay.env import current_environment
from scidex_replay.errors import ChainNotFound, IntegrityError, ReplayError
from scidex_replay.handlers import HandlerRegistry, load_handlers
from scidex_replay.handlers.spec import Handler
from scidex_replay.registry import Artifact, Registry, Step, input_hash_of
from scidex_replay.registry.records import StepResult
from scidex_replay.replay import diff as diffs
from scidex_replay.replay import manifest as manifests
from scidex_replay.replay.plan import EXECUTE, FROZEN, Plan, plan
from scidex_replay.replay.report import Report

logger = logging.getLogger(__name__)

#: on_event(kind, payload): "start" {run_id, plan}, "step" {position, total, step_id, result}, "end" {report}
EventCallback = Callable[[str, dict[str, Any]], None]


@dataclass(frozen=True)
class ReplayOptions:
    """What ``rerun-artifact`` was asked to do; stored with the run."""

    from_step: str | None = None
    strict: bool = False
    diff: bool = False
    executor: str = "kernel"
    pin: bool = True

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def reuse_key(handler: Handler, step: Step, input_digests: Sequence[str], env_hash: str) -> str:
    """Handler identity and version + canonical JSON of method and parameters + ordered input hashes + env_hash."""
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


def plan_replay(
    registry: Registry, artifact_id: str, *, from_step: str | None = None, handlers: HandlerRegistry | None = None
) -> Plan:
    """The plan ``rerun_artifact`` would execute (what ``--dry-run`` prints)."""
    chain = collect(registry, artifact_id)
    return plan(chain.steps, chain.target.id, from_step=from_step, handlers=(handlers or load_handlers()).names())


def rerun_artifact(
    artifact_id: str,
    *,
    registry: Registry | None = None,
    db: str | None = None,
    from_step: str | None = None,
    strict: bool = False,
    diff: bool = False,
    executor: str = "kernel",
    pin: bool = True,
    out: str | Path | None = None,
    handlers: HandlerRegistry | None = None,
    on_event: EventCallback | None = None,
) -> Report:
    """Replay the chain that produced ``artifact_id`` and byte-compare every output.

    Writes ``manifest.json`` to ``out`` (default ``<home>/runs/<run_id>``) and
    returns a ``Report`` (``.ok``, ``.manifest``, ``.to_dataframe()``,
    ``.exit_code``). Raises ``BadInput``/``NotFound`` for an unknown id or a
    ``from_step`` outside the chain; a step that fails does not raise, it is
    reported. With ``strict`` the run stops at the first input that differs
    (``report.status == "aborted"``, exit code 3).
    """
    from scidex_replay.executors import get_executor

    registry = registry or Registry.open(db)
    handlers = handlers or load_handlers()
    runner = get_executor(executor)
    options = ReplayOptions(from_step=from_step, strict=strict, diff=diff, executor=executor, pin=pin)
    chain = collect(registry, artifact_id)
    the_plan = plan(chain.steps, chain.target.id, from_step=from_step, handlers=handlers.names())
    run = registry.create_run(
        target_artifact_id=chain.target.id, kind="replay", options=options.to_json(), from_step=from_step
    )
    emit = on_event or _quiet
    execution = _Execution(registry, chain, the_plan, handlers, runner, options, run.run_id, emit)
    emit("start", {"run_id": run.run_id, "plan": the_plan})
    status = "interrupted"
    try:
        status = execution.run()
    finally:
        completed = datetime.now(timezone.utc).isoformat()
        provisional = manifests.build(
            run,
            chain.steps,
            execution.results,
            replay_env=execution.env_hash,
            completed_at=completed,
            extras=execution.extras,
            input_hashes=execution.input_hashes,
        )
        provisional["status"] = status
        finished = registry.finish_run(run.run_id, status=status, results=execution.results, manifest=provisional)
        shutil.rmtree(execution.workdir, ignore_errors=True)
        out_dir = Path(out) if out is not None else registry.home / "runs" / run.run_id
        path = manifests.write(provisional, out_dir)
    report = Report(run=finished, manifest=provisional, manifest_path=path)
    emit("end", {"report": report})
    return report


def _quiet(kind: str, payload: dict[str, Any]) -> None:
    pass


class _Execution:
    """The mutable state of one run's execute phase."""

    def __init__(self, registry, chain, the_plan, handlers, runner, options, run_id, emit):
        self.registry = registry
        self.store = registry.store
        self.chain = chain
        self.plan = the_plan
        self.handlers = handlers
        self.runner = runner
        self.options = options
        self.run_id = run_id
        self.emit = emit
        self.env_hash = current_environment().env_hash
        self.results: list[StepResult] = []
        self.extras: dict[str, dict[str, Any]] = {}
        self.input_hashes: dict[str, str] = {}
        self.replayed: dict[str, str] = {}  # artifact id -> digest of its replayed bytes
        self.broken: set[str] = set()  # artifact ids whose producing step failed or was skipped
        self.workdir = Path(tempfile.mkdtemp(prefix=f"scidex-{run_id}-"))

    def run(self) -> str:
        total = len(self.plan.steps)
        aborted = False
        for position, planned in enumerate(self.plan.steps):
            step = planned.step
            if aborted:
                result = self._result(step, position, False, "skipped: aborted by --strict")
            elif planned.action == FROZEN:
                result = self._result(step, position, None, planned.reason)
            elif planned.action != EXECUTE:
                result = self._result(step, position, False, planned.reason)
            elif any(a in self.broken for a in step.source_artifact_ids):
                result = self._result(step, position, False, "skipped: upstream failed")
            else:
                result, aborted = self._execute(step, position)
            if manifests.outcome(result.reason) in ("failed", "skipped"):
                self.broken.add(step.target_artifact_id)
            self.results.append(result)
            self.emit("step", {"position": position, "total": total, "step_id": step.step_id, "result": result})
        if aborted:
            return "aborted"
        return "succeeded" if all(r.ok is not False for r in self.results) else "failed"

    def _result(self, step: Step, position: int, ok: bool | None, reason: str, **kw: Any) -> StepResult:
        return StepResult(step_id=step.step_id, position=position, ok=ok, reason=reason, **kw)

    def _execute(self, step: Step, position: int) -> tuple[StepResult, bool]:
        handler = self.handlers.get(step.step_type)
        digests = [self.replayed.get(a, self.chain.artifacts[a].content_hash) for a in step.source_artifact_ids]
        step_dir = self.workdir / step.step_id
        t0 = time.perf_counter()
        try:
            inputs = self._freeze_inputs(step, digests, step_dir)
        except IntegrityError as exc:
            return self._result(step, position, False, f"failed: {exc}", duration_s=time.perf_counter() - t0), False
        replay_input_hash = input_hash_of(digests)
        self.input_hashes[step.step_id] = replay_input_hash
        input_differs = replay_input_hash != step.input_hash
        if input_differs and self.options.strict:
            reason = f"input-differs: inputs hash to {replay_input_hash[:12]}, recorded {step.input_hash[:12]} (aborted by --strict)"
            return self._result(step, position, False, reason, duration_s=time.perf_counter() - t0), True
        key = reuse_key(handler, step, digests, self.env_hash)
        out_dir = step_dir / "out"
        out_dir.mkdir(parents=True)
        output = out_dir / _output_name(self.chain.artifacts[step.target_artifact_id])
        try:
            produced = self.runner.run(handler, step, inputs, output)
            digest, _ = self.store.put_file(produced.path)
        except ReplayError as exc:
            return self._failed(step, position, str(exc), t0, key), False
        except Exception as exc:  # a handler bug is this step's failure, not the run's
            logger.debug("handler %s raised", step.step_type, exc_info=True)
            return self._failed(step, position, f"{type(exc).__name__}: {exc}", t0, key), False
        duration = time.perf_counter() - t0
        self.replayed[step.target_artifact_id] = digest
        ok = digest == step.output_hash
        if ok:
            reason = "reproduced" if not input_differs else "reproduced: output identical although inputs differ"
        elif input_differs:
            reason = f"input-differs: inputs hash to {replay_input_hash[:12]}, recorded {step.input_hash[:12]}"
        else:
            reason = f"output-differs: replayed {digest[:12]}, recorded {step.output_hash[:12]}"
        if not ok and self.options.diff:
            detail = diffs.describe(self.store, step.output_hash, digest, output.name) if self.store.has(step.output_hash) else {}
            self.extras[step.step_id] = {"diff": detail}
            if detail.get("first_difference_offset") is not None:
                reason += f" (first difference at byte {detail['first_difference_offset']})"
        result = self._result(
            step, position, ok, reason, output_hash_replayed=digest, duration_s=duration, replayed_blob=digest, reuse_key=key
        )
        return result, False

    def _failed(self, step: Step, position: int, message: str, t0: float, key: str) -> StepResult:
        return self._result(
            step, position, False, f"failed: {' '.join(message.split())}", duration_s=time.perf_counter() - t0, reuse_key=key
        )

    def _freeze_inputs(self, step: Step, digests: Sequence[str], step_dir: Path) -> list[Path]:
        """Copy each input into the scratch dir, hashing the bytes as they are copied."""
        paths = []
        for i, (artifact_id, digest) in enumerate(zip(step.source_artifact_ids, digests)):
            dest_dir = step_dir / f"in{i}"
            dest_dir.mkdir(parents=True)
            try:
                paths.append(self.store.materialize(digest, dest_dir / _output_name(self.chain.artifacts[artifact_id])))
            except (IntegrityError, ReplayError) as exc:
                raise IntegrityError(f"input {i} ({artifact_id}): {exc}") from exc
        return paths


def _output_name(artifact: Artifact) -> str:
    name = Path(artifact.name or "").name
    return name if name not in ("", ".", "..") else artifact.id
