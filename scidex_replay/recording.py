"""Record processing steps from Python: a context manager, a call helper and a decorator.

Every form freezes the inputs first (each is copied into a scratch directory
while its bytes are hashed, so the hash is of what the step reads), gives the
code an output path to write, and records nothing unless the code finishes and
the output exists. Inputs are artifact ids or paths of files (a file is added
as a source artifact when the step is recorded)::

    with record_step(reg, "python.inline", method="clean v2", inputs=[raw_id], output="clean.csv") as st:
        pd.read_csv(st.inputs[0]).dropna().to_csv(st.output, index=False)
    st.artifact.id

    art = record_call(reg, mylib.clean, inputs=[raw_id], output="clean.csv", threshold=3)
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from scidex_replay.env import current_environment
from scidex_replay.env.deterministic import ENV_KEY
from scidex_replay import pending
from scidex_replay.errors import BadInput, RegistryUnavailable, StepNotRecorded, one_line, regular_file, storage_error
from scidex_replay.handlers.spec import (
    Handler,
    relative_path,
    safe_name,
    scratch_input,
    scratch_output,
    stable_workdir,
    workdir_lock,
)
from scidex_replay.registry import Artifact, Registry, Step, input_hash_of
from scidex_replay.registry.records import Environment, NewCode, NewOutput, StepOutput
from scidex_replay.registry.jsonvalue import plain_json
from scidex_replay.store import hash_file

TRACE_ENV = "SCIDEX_REPLAY_TRACE_ID"
#: What a step name may be: it is typed in ``--from NAME`` and ``--set NAME.KEY=V``.
STEP_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
_PROCESS_TRACE = uuid.uuid4().hex
#: how many times a step is offered to a registry that refuses the write, and the pause between (seconds)
RECORD_ATTEMPTS = 3
RECORD_RETRY_S = 2.0


def check_step_name(registry: Registry, name: str, sources: Sequence[str | os.PathLike[str]]) -> str:
    """``name`` if it can name a new step on ``sources``: well formed, and not the name of a step
    in their chains (a name is unique within a chain). Raises ``BadInput`` otherwise."""
    if not STEP_NAME.fullmatch(name):
        raise BadInput(f"step name {name!r}: a letter or digit, then letters, digits, - or _ (64 at most)")
    upstream = [s for s in sources if isinstance(s, str) and registry.has_artifact(s)]
    if upstream and name in registry.step_names(upstream):
        raise BadInput(f"step name {name}: a step of that name is already in this chain; choose another name")
    return name


def trace_id() -> str:
    """``$SCIDEX_REPLAY_TRACE_ID`` when set (to group steps of one pipeline), else one id per process."""
    return os.environ.get(TRACE_ENV) or _PROCESS_TRACE


class record_step:  # noqa: N801 - used as a context manager, reads like a function
    """Context manager that records the code in its block as one processing step.

    The block is code you run yourself, in this process: what it writes is what is recorded,
    as this process's hash seed, threads, RNG state and settings made it. A block cannot be
    moved to a fresh process; for a step whose bytes must not depend on the session that
    recorded it, use ``record_call`` or ``%%scidex_step`` (``run_handler``), which run the code
    in a fresh deterministic interpreter.
    """

    def __init__(
        self,
        registry: Registry,
        step_type: str,
        *,
        method: str,
        inputs: Sequence[str | os.PathLike[str]] = (),
        output: str = "output",
        parameters: dict[str, Any] | None = None,
        kind: str | None = None,
        input_paths: Sequence[str | None] = (),
        outputs: Sequence[str] = (),
        name: str | None = None,
        env: Environment | None = None,
        code: Sequence[NewCode] = (),
    ):
        """``input_paths`` (one per input, or empty) stages each input at that path relative to the
        working directory instead of ``in{N}-{name}``; ``outputs`` (relative paths) are the files
        the code writes there, each its own artifact, instead of the single ``output``; ``name``
        names the step; ``env`` is the environment the code runs in (default: this interpreter's);
        ``code`` the source files of the modules it imports (``code_identity.code_of``).
        Paths are checked (``BadInput`` for absolute or escaping ones)."""
        self.registry = registry
        self.step_type = step_type
        self.method = method
        self.parameters = plain_json(parameters)
        self.kind = kind
        self.name = name
        self.env = env
        self.code = tuple(code)
        self._sources = list(inputs)
        self._input_paths = [relative_path(p, "input") if p else None for p in input_paths]
        self._output_paths = [relative_path(p, "output") for p in outputs]
        self._output_name = safe_name(output, "output")
        self.inputs: list[Path] = []
        self.output: Path = Path()
        self.outputs: list[Path] = []
        self.step: Step | None = None
        self.artifact: Artifact | None = None
        self.artifacts: list[Artifact] = []

    def __enter__(self) -> "record_step":
        self.registry.check_writable()  # a step that could not be kept is not run
        if self.name is not None:
            check_step_name(self.registry, self.name, self._sources)
        self.started_at = datetime.now(timezone.utc).replace(microsecond=0)
        self._hashes: list[str] = []
        stable = stable_workdir(self.provisional_step())  # a step recorded as written: the path replay uses too
        self._lock = workdir_lock(stable) if stable else None
        if self._lock is not None:
            self.workdir = self._lock.acquire()
            self.workdir.mkdir()
        else:
            self.workdir = Path(tempfile.mkdtemp(prefix="scidex-step-"))
        try:
            self._new_files: dict[int, Path] = {}
            for i, source in enumerate(self._sources):
                self.inputs.append(self._freeze(i, source))
            if self._output_paths:
                self.outputs = [self.workdir / p for p in self._output_paths]
                for path in self.outputs:  # a script writes into folders that exist where it is run
                    path.parent.mkdir(parents=True, exist_ok=True)
            else:
                self.outputs = [scratch_output(self.workdir, self._output_name)]
            self.output = self.outputs[0]
        except BaseException:
            self._clean_up()
            raise
        return self

    def _clean_up(self) -> None:
        if self._lock is not None:
            self._lock.release()
        else:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def _staged(self, i: int, name: str) -> Path:
        """Where input ``i`` is staged: at its given path, else ``in{i}-{name}``."""
        at = self._input_paths[i] if i < len(self._input_paths) else None
        if at is None:
            return scratch_input(self.workdir, i, name)
        dest = self.workdir / at
        dest.parent.mkdir(parents=True, exist_ok=True)
        return dest

    def _freeze(self, i: int, source: str | os.PathLike[str]) -> Path:
        text = os.fspath(source)
        if isinstance(source, str) and self.registry.has_artifact(text):
            art = self.registry.get_artifact(text)
            dest = self.registry.store.materialize(art.content_hash, self._staged(i, safe_name(art.name, art.id)))
            self._hashes.append(art.content_hash)
            return dest
        path = Path(text)
        if not os.path.lexists(path):
            raise BadInput(f"input not found: {text} is neither an artifact id nor a file")
        regular_file(path, "input")  # BadInput for a FIFO, a directory, a dangling link
        dest = self._staged(i, safe_name(path.name, "input"))
        try:
            shutil.copyfile(path, dest)
        except OSError as exc:  # unreadable (/proc/1/mem as root), or no room in the scratch area
            raise storage_error(exc, path, dest.parent) from exc
        self._hashes.append(hash_file(dest))
        self._new_files[i] = dest
        return dest

    def provisional_step(self) -> Step:
        """The step as it will be recorded, for a handler to execute before it is."""
        outputs = tuple(StepOutput("", "", p) for p in self._output_paths)
        return Step(
            step_id="(recording)",
            step_type=self.step_type,
            method=self.method,
            parameters=self.parameters,
            target_artifact_id="",
            source_artifact_ids=(),
            input_hash=input_hash_of(self._hashes),
            output_hash="",
            env_hash=None,
            trace_id=None,
            started_at=self.started_at,
            completed_at=self.started_at,
            name=self.name,
            input_paths=tuple(self._input_paths),
            outputs=outputs if len(outputs) > 1 or any(self._output_paths) else (),
            code_inputs=tuple(c.recorded_as("") for c in self.code),
        )

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        try:
            if exc_type is not None:
                return
            for path in self.outputs:
                if not path.is_file():
                    shown = path.relative_to(self.workdir) if self._output_paths else self._output_name
                    raise BadInput(f"the step finished without writing its declared output {shown}")
            self.completed_at = datetime.now(timezone.utc)
            self._record()
        finally:
            self._clean_up()

    def _record(self) -> None:
        """Record the step; a registry that refuses the write is offered it ``RECORD_ATTEMPTS``
        times, then the step is kept aside (``pending``) and ``StepNotRecorded`` says how to
        record it later: what the step did is never thrown away."""
        for attempt in range(RECORD_ATTEMPTS):
            if attempt:
                time.sleep(RECORD_RETRY_S)
            try:
                with self.registry.writing("record the step"):
                    self._write()
                return
            except RegistryUnavailable as exc:
                refused = exc
        record = self._pending()
        kept = pending.keep(self.registry, record)
        outputs = ", ".join(f"{o['path'] or o['name']} {o['blob'][:12]}" for o in record["outputs"])
        raise StepNotRecorded(
            f"the step ran, but {one_line(refused)}; its outputs ({outputs}) are kept in the store and the step in {kept}: "
            "`scidex-replay recover` records it once the registry takes writes"
        )

    def _source_name(self, i: int, source: str | os.PathLike[str]) -> str:
        at = self._input_paths[i] if i < len(self._input_paths) else None
        return Path(at).name if at else Path(source).name

    def _write(self) -> None:
        sources = [
            self.registry.add_artifact(self._new_files[i], name=self._source_name(i, source), source_path=source).id
            if i in self._new_files else os.fspath(source)
            for i, source in enumerate(self._sources)
        ]
        self.step, self.artifact = self.registry.record_step(
            step_type=self.step_type,
            method=self.method,
            parameters=self.parameters,
            sources=sources,
            outputs=[NewOutput(file=p, name=Path(rel).name, path=rel) for p, rel in zip(self.outputs, self._output_paths)],
            output=self.output,
            input_hash=input_hash_of(self._hashes),
            env=self.env or current_environment(),
            started_at=self.started_at,
            completed_at=self.completed_at,
            trace_id=trace_id(),
            kind=self.kind,
            name=self._output_name,
            step_name=self.name,
            input_paths=self._input_paths,
            code=self.code,
        )
        by_id = self.registry.artifacts(self.step.output_ids)
        self.artifacts = [by_id[a] for a in self.step.output_ids]

    def _pending(self) -> dict[str, Any]:
        """What ``_write`` records, as JSON for ``pending.keep``: files and code as blobs put in the store."""
        store = self.registry.store
        named = zip(self.outputs, self._output_paths) if self._output_paths else [(self.output, None)]
        return {
            "step_type": self.step_type,
            "method": self.method,
            "parameters": self.parameters,
            "sources": [
                {"blob": store.put_file(self._new_files[i])[0], "name": self._source_name(i, source), "source_path": os.path.abspath(source)}
                if i in self._new_files else {"artifact": os.fspath(source)}
                for i, source in enumerate(self._sources)
            ],
            "outputs": [
                {"blob": store.put_file(p)[0], "name": Path(rel).name if rel else self._output_name, "path": rel} for p, rel in named
            ],
            "input_hash": input_hash_of(self._hashes),
            "env": pending.environment_json(self.env or current_environment()),
            "started_at": self.started_at.isoformat(),
            "completed_at": self.completed_at.isoformat(),
            "trace_id": trace_id(),
            "kind": self.kind,
            "step_name": self.name,
            "input_paths": self._input_paths,
            "code": [{"blob": store.put_bytes(c.data)[0], "module": c.module, "path": c.path, "root": c.root} for c in self.code],
        }


def declared(env: Mapping[str, str] | Iterable[str] | None) -> dict[str, str]:
    """The environment a step declares: ``{"NAME": "VALUE"}`` as given, or ``["NAME=VALUE", "NAME"]``
    as ``run --env`` takes it (a bare NAME: its value here). ``BadInput`` for a malformed entry."""
    from scidex_replay.command import declared_variables

    if env is None:
        return {}
    if isinstance(env, Mapping):
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in env.items()):
            raise BadInput("env: names and values must be strings")
        return declared_variables([f"{k}={v}" for k, v in env.items()])
    if isinstance(env, str):
        raise BadInput(f"env={env!r}: give a dict or a list of NAME=VALUE")
    return declared_variables(list(env))


def run_handler(
    registry: Registry,
    handler: Handler,
    *,
    method: str,
    parameters: dict[str, Any],
    inputs: Sequence[str | os.PathLike[str]],
    output: str,
    kind: str | None = None,
    name: str | None = None,
    env: Mapping[str, str] | Iterable[str] | None = None,
    code: Sequence[NewCode] = (),
    timeout_s: float | None = None,
    memory_limit_mb: int | None = None,
) -> Artifact:
    """Execute ``handler`` on a new step (named ``name``, importing ``code``, seeing the environment
    variables ``env`` declares and no others) and record it. A handler that runs the step's own code
    runs in a fresh deterministic interpreter (``KernelExecutor``); what the code prints is shown
    on ``sys.stdout``. ``timeout_s`` (seconds) and ``memory_limit_mb`` (MiB) limit that process
    (defaults: ``handlers.process.limits``); ``BadInput`` for a bad value."""
    from scidex_replay.executors import KernelExecutor

    if ENV_KEY in parameters:
        raise BadInput(f"a parameter may not be called {ENV_KEY!r}: it holds the step's declared environment")
    parameters = {**parameters, ENV_KEY: declared(env)}
    executor = KernelExecutor(echo=sys.stdout, timeout_s=timeout_s, memory_limit_mb=memory_limit_mb)  # limits checked first
    with record_step(
        registry, handler.step_type, method=method, inputs=inputs, output=output, parameters=parameters, kind=kind,
        name=name, code=code,
    ) as rec:
        executor.run(handler, rec.provisional_step(), rec.inputs, rec.output)
    assert rec.artifact is not None
    return rec.artifact


def record_call(
    registry: Registry,
    func: Callable[..., Any],
    *,
    inputs: Sequence[str | os.PathLike[str]] = (),
    output: str = "output",
    step_name: str | None = None,
    env: Mapping[str, str] | Iterable[str] | None = None,
    check: bool = False,
    timeout_s: float | None = None,
    memory_limit_mb: int | None = None,
    **parameters: Any,
) -> Artifact:
    """Call ``func(input_paths, output_path, **parameters)`` and record it as a ``python.call`` step
    named ``step_name`` (unique within its chain; ``BadInput`` if taken), its module's source file
    a code input of the step (``code_identity.code_of``: read before the call).

    The call runs in a fresh interpreter in deterministic mode, which imports ``func`` by its
    module from the ``sys.path`` root it was found under here, seeing the environment variables
    ``env`` declares (``{"NAME": "VALUE"}`` or ``["NAME=VALUE", "NAME"]``) and no others.

    ``timeout_s`` (seconds, default 3600) and ``memory_limit_mb`` (MiB of address space, default
    ``$SCIDEX_REPLAY_MEMORY_LIMIT_MB``, else none) limit that interpreter; a call that runs out of
    either fails (``StepFailed``: ``timed out after N s``, ``... (memory limit N MB)``).

    ``check=True`` then re-runs the step under perturbations (``replay/explain.py``) and warns
    (``NotReproducible``) when it would not reproduce, naming why (the clock, the thread count…).
    """
    from scidex_replay.code_identity import code_of
    from scidex_replay.handlers.python_call import PythonCallHandler, reference

    artifact = run_handler(
        registry, PythonCallHandler(), method=reference(func), parameters=parameters, inputs=inputs, output=output,
        name=step_name, env=env, code=code_of(func), timeout_s=timeout_s, memory_limit_mb=memory_limit_mb,
    )
    if check:
        from scidex_replay.replay.explain import check_recorded

        check_recorded(registry, artifact.id, stacklevel=2)
    return artifact


def recorded(registry: Registry | None = None) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator: ``f.record(inputs=[...], output="x.csv", env=..., **params)`` records a call of ``f`` (``record_call``).

    ``f`` itself stays a plain function. With no ``registry``, ``Registry.open()``
    (``SCIDEX_REPLAY_DB`` or the default) is used at call time.
    """

    def wrap(func: Callable[..., Any]) -> Callable[..., Any]:
        def record(
            *,
            inputs: Sequence[str | os.PathLike[str]] = (),
            output: str = "output",
            env: Mapping[str, str] | Iterable[str] | None = None,
            **parameters: Any,
        ) -> Artifact:
            reg = registry or Registry.open()
            return record_call(reg, func, inputs=inputs, output=output, env=env, **parameters)

        functools.update_wrapper(record, func)
        func.record = record  # type: ignore[attr-defined]
        return func

    return wrap
