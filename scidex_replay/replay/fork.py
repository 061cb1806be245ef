"""What a replay will do once its options are resolved: the request, and the forked steps.

``resolve`` turns ``ReplayOptions`` into a ``Request`` (a restart inherits its run's
``--from`` and fork arguments); ``fork_steps`` applies ``--set`` and ``--input`` to the
chain; ``register_fork_outputs`` records what a fork produced as new artifacts
``forked_from`` the live ones, which are never replaced.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from scidex_replay.code_identity import as_run
from scidex_replay.env.deterministic import ENV_KEY
from scidex_replay.errors import BadInput, Conflict
from scidex_replay.outcomes import Status
from scidex_replay.registry import Artifact, Registry, Step, input_hash_of
from scidex_replay.registry.records import NewOutput, find_step
from scidex_replay.replay.options import ReplayOptions


@dataclass
class Chain:
    """The steps that produced ``target`` (unordered) and every artifact they touch, by id."""

    target: Artifact
    steps: list[Step]
    artifacts: dict[str, Artifact] = field(default_factory=dict)


@dataclass(frozen=True)
class Request:
    """A replay's options once ``--restart`` is resolved and the fork arguments are checked."""

    kind: str  # replay, restart or fork
    ancestry: tuple[str, ...]  # the restarted run and the runs it descends from, nearest first
    from_step: str | None
    set_params: Mapping[str, Mapping[str, Any]]
    input_overrides: Mapping[str, str]
    reuse: str


def resolve(registry: Registry, chain: Chain, options: ReplayOptions) -> Request:
    """Check the options; a restart inherits its run's ``--from`` and fork arguments unless given new ones."""
    from_step, fork = options.from_step, options.fork
    set_params, input_overrides = dict(options.set_params), dict(options.input_overrides)
    kind, ancestry = "replay", ()
    if options.restart is not None:
        parent = registry.get_run(options.restart)
        if parent.status is Status.RUNNING:
            raise Conflict(
                f"run {parent.run_id} is still running (pid {parent.pid} on {parent.host}): "
                "restart it once it has ended, or stop it first"
            )
        if parent.target_artifact_id != chain.target.id:
            raise BadInput(f"run {options.restart} replayed {parent.target_artifact_id}, not {chain.target.id}")
        kind, ancestry = "restart", tuple(registry.ancestry(options.restart))
        from_step = from_step or parent.options.get("from_step")
        set_params = set_params or parent.options.get("set", {})
        input_overrides = input_overrides or parent.options.get("inputs", {})
        fork = fork or bool(set_params or input_overrides)
    if (set_params or input_overrides) and not fork:
        raise BadInput("--set and --input change a replay into a fork: add --fork")
    if fork and not (set_params or input_overrides):
        raise BadInput("--fork needs at least one --set STEP.KEY=VALUE or --input STEP=FILE")
    reuse = options.reuse or ("succeeded-before" if options.restart else "all" if fork else "none")
    if fork and kind == "replay":
        kind = "fork"

    def ref(name_or_id: str) -> str:  # an unknown step comes back as given, for the "no such step" message
        step = find_step(chain.steps, name_or_id)
        return step.step_id if step else name_or_id

    from_step = ref(from_step) if from_step else from_step
    set_params = {ref(step): values for step, values in set_params.items()}
    input_overrides = {_with_step(spec, ref): source for spec, source in input_overrides.items()}
    return Request(kind, ancestry, from_step, set_params, input_overrides, reuse)


def _with_step(spec: str, ref: Callable[[str], str]) -> str:
    """``fit:1`` -> ``s_k3f9x2qa:1``: an ``--input`` key with its step given by id."""
    step, sep, index = spec.partition(":")
    return f"{ref(step)}{sep}{index}"


def _set(step_id: str, parameters: dict[str, Any], values: Mapping[str, Any]) -> dict[str, Any]:
    """``parameters`` with ``values`` set; ``KEY.NAME`` sets one entry of a dict parameter
    (``--set clean.env.NORMALIZE=minmax``). ``BadInput`` for a parameter the step does not have."""
    out = dict(parameters)
    for key, value in values.items():
        head, dot, entry = key.partition(".")
        if dot and isinstance(out.get(head), dict) and entry:
            as_text = head == ENV_KEY and not isinstance(value, str)  # a variable's value is text, as typed
            out[head] = {**out[head], entry: json.dumps(value) if as_text else value}
        elif key in out:
            out[key] = value
        else:
            known = ", ".join(sorted(parameters)) or "none"
            raise BadInput(f"--set {step_id}.{key}: the step has no parameter {key!r} (it has: {known})")
    return out


def fork_steps(
    registry: Registry, chain: Chain, request: Request, *, register: bool = True
) -> tuple[dict[str, Step], dict[str, str]]:
    """The forked version of every changed step, and the input overrides as ``STEP:N -> artifact id``.

    An override that is a file becomes a source artifact (added to ``chain.artifacts``); with
    ``register=False`` (a dry run) the file is only checked, and the forked step keeps its
    recorded inputs. Raises ``BadInput`` naming the step, parameter or input that does not exist.
    """
    by_id = {s.step_id: s for s in chain.steps}
    changed: dict[str, Step] = {}

    def step_of(step_id: str, what: str) -> Step:
        if step_id not in by_id:
            raise BadInput(f"{what} {step_id}: no such step in the chain of {chain.target.id}")
        return changed.get(step_id, by_id[step_id])

    for step_id, values in request.set_params.items():
        step = step_of(step_id, "--set")
        changed[step_id] = dataclasses.replace(step, parameters=_set(step_id, step.parameters, values))
    resolved: dict[str, str] = {}
    for spec, source in request.input_overrides.items():
        step_id, _, index_text = spec.partition(":")
        step = step_of(step_id, "--input")
        n = len(step.source_artifact_ids)
        if not index_text and n != 1:
            raise BadInput(f"--input {step_id}: the step has {n} inputs; say which with {step_id}:N=FILE")
        if not (index_text or "0").isdigit() or int(index_text or 0) >= n:
            raise BadInput(f"--input {spec}: no such input (the step has {n})")
        index = int(index_text or 0)
        if not register:
            if not (registry.has_artifact(source) or Path(source).is_file()):
                raise BadInput(f"no such file: {source}")
            changed[step_id] = step
            continue
        art = registry.get_artifact(source) if registry.has_artifact(source) else registry.add_artifact(source, source_path=source)
        chain.artifacts[art.id] = art
        sources = list(step.source_artifact_ids)
        sources[index] = art.id
        changed[step_id] = dataclasses.replace(step, source_artifact_ids=tuple(sources))
        resolved[f"{step_id}:{index}"] = art.id
    return changed, resolved


def register_fork_outputs(
    registry: Registry, chain: Chain, executed: Sequence[tuple[Step, tuple[str, ...]]], *, run_id: str, env: Any
) -> dict[str, str]:
    """Record each step a fork ran (``(step as run, its outputs' digests)``, in order) as a new step
    whose outputs are new artifacts, each ``forked_from`` its live one; returns step id -> the new
    artifact of its first output."""
    new_ids: dict[str, str] = {}
    forked: dict[str, str] = {}
    now = datetime.now(timezone.utc)
    for step, digests in executed:
        sources = [new_ids.get(a, a) for a in step.source_artifact_ids]
        outputs = []
        for out, digest in zip(step.all_outputs, digests):
            live = chain.artifacts[out.artifact_id]
            meta = {"forked_from": live.id, "fork_run": run_id}
            outputs.append(NewOutput(digest=digest, name=live.name, path=out.path, kind=live.kind, metadata=meta))
        new_step, _ = registry.record_step(
            step_type=step.step_type,
            method=step.method,
            parameters=step.parameters,
            sources=sources,
            outputs=outputs,
            input_hash=input_hash_of([chain.artifacts[a].content_hash for a in sources]),
            env=env,
            started_at=step.started_at,
            completed_at=now,
            trace_id=run_id,
            step_name=step.name,
            input_paths=step.input_paths,
            code=as_run(registry.store, step.code_inputs),
        )
        for live_id, new_id in zip(step.output_ids, new_step.output_ids):
            new_ids[live_id] = new_id
        chain.artifacts.update(registry.artifacts(new_step.output_ids))
        forked[step.step_id] = new_step.output_ids[0]
    return forked
