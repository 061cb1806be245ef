"""Record a notebook run by papermill as a ``notebook`` step (``scidex-replay run-notebook``,
``%run_notebook``, ``scidex_replay.run_notebook``; DESIGN.md, "Notebooks as steps").

The notebook is the step's first input, staged at the path it was given (so an edit after
recording is source drift, and ``rerun-artifact --live`` runs the edited notebook); the other
inputs and the outputs are staged and read as ``run`` stages them (``command.py``); the
executed notebook is one more output, the last. The handler (``handlers/notebook.py``) runs it,
at record time and at every replay.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scidex_replay.command import RecordedCommand, _inputs, _inside, _no_twice, _outputs, _step_name, declared_variables
from scidex_replay.errors import BadInput, utf8_text
from scidex_replay.handlers.notebook import (
    RESERVED, NotebookHandler, has_parameters_cell, kernel_of, kernel_python, read_notebook,
)
from scidex_replay.registry.jsonvalue import plain_json

if TYPE_CHECKING:
    from scidex_replay.registry import Registry

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def check_notebook(
    notebook: str, parameters: Mapping[str, Any], outputs: Sequence[str], executed: str | None, cwd: Path,
) -> tuple[str, list[str], dict[str, Any]]:
    """What can be checked before the registry opens: (where the notebook is staged, where each
    output is read, its JSON). ``BadInput`` for a file that is missing or not a notebook, one
    outside ``cwd``, a parameter name that is not an identifier or is reserved, ``parameters``
    for a notebook with no cell tagged ``parameters``, or two outputs at one path."""
    utf8_text(notebook, "notebook")
    path = cwd / notebook
    if not path.is_file():
        raise BadInput(f"notebook not found: {notebook}")
    staged = _inside(cwd, notebook, "notebook", "(no placeholder)", set())
    doc = read_notebook(path, notebook)
    for name in parameters:
        if not isinstance(name, str) or not _IDENT.fullmatch(name):
            raise BadInput(f"-p {name!r}: a notebook parameter is a Python identifier")
        if name in RESERVED:
            raise BadInput(f"-p {name}: that name holds the step's own settings ({', '.join(RESERVED)}); rename the parameter")
    if parameters and not has_parameters_cell(doc):
        raise BadInput(
            f"{notebook} has no cell tagged 'parameters', so -p {next(iter(parameters))} would be injected at the top "
            "(papermill only warns): tag the cell that sets the defaults 'parameters'"
        )
    executed = executed or (Path(staged).with_suffix("").as_posix() + ".executed.ipynb")
    written = _outputs([*outputs, executed], None, cwd, set())
    _no_twice([staged, *written], [notebook, *outputs, executed], "files (the notebook, its outputs)")
    return staged, written, doc


def record_notebook(
    registry: Registry,
    notebook: str,
    parameters: Mapping[str, Any] | None = None,
    *,
    inputs: Sequence[str] = (),
    outputs: Sequence[str] = (),
    executed: str | None = None,
    kernel: str | None = None,
    step_name: str | None = None,
    env: Sequence[str] = (),
    kind: str | None = None,
    cwd: Path | None = None,
    timeout_s: float | None = None,
    memory_limit_mb: int | None = None,
) -> RecordedCommand:
    """Execute ``notebook`` with papermill (``parameters`` injected after its ``parameters`` cell)
    in deterministic mode, in a working directory laid out as ``cwd``, and record it as a
    ``notebook`` step; nothing is recorded unless every cell runs and every output is written.

    ``inputs``: files, artifact ids or ``ID:PATH``, staged as ``run -i`` stages them.
    ``outputs``: paths (relative to ``cwd``) the notebook writes. ``executed``: where the executed
    notebook goes (default ``STEM.executed.ipynb`` beside the notebook); it is the last output.
    ``kernel``: a Jupyter kernel name (default: the notebook's ``kernelspec``, else ``python3``);
    the step's environment is that of the kernel's interpreter. ``env``: ``NAME=VALUE`` or
    ``NAME`` for each variable the notebook may see. ``timeout_s`` (seconds) and ``memory_limit_mb``
    (MiB of address space) limit the kernel as ``run --timeout/--memory-limit`` limit a command
    (default: the limits in force, ``handlers.process.limits``). Returns the step, its output artifacts
    (``-o`` order, then the executed notebook) and where each is saved under ``cwd`` (the caller
    saves them; ``run_notebook`` does).

    Raises ``BadInput`` (see ``check_notebook``; also a kernel that is not installed, a missing
    input, a step name taken in the chain) before anything runs, and ``StepFailed`` when a cell
    raises (the reason names the cell, from 1, its line and the error).
    """
    from scidex_replay.env import interpreter_environment
    from scidex_replay.recording import record_step

    from scidex_replay.handlers.process import limits

    cwd = (cwd or Path.cwd()).resolve()
    step_limits = limits(timeout_s, memory_limit_mb)  # BadInput before anything runs
    parameters = plain_json(dict(parameters or {}))
    staged, written, doc = check_notebook(notebook, parameters, outputs, executed, cwd)
    kernel = kernel or kernel_of(doc)
    python = kernel_python(kernel)
    sources, at = _inputs(registry, [notebook, *inputs], cwd, set())
    at[0] = staged
    name = _step_name(registry, ["papermill", notebook], step_name, [s for s in sources if registry.has_artifact(s)])
    settings = {"notebook": staged, "executed": written[-1], "kernel": kernel, "env": declared_variables(env)}
    environment = interpreter_environment(python)
    with record_step(
        registry, "notebook", method=f"papermill {staged}", inputs=sources, input_paths=at, outputs=written,
        parameters={**parameters, **settings}, kind=kind, name=name, env=environment,
    ) as rec:
        NotebookHandler(step_limits.timeout_s, step_limits.memory_limit_mb)(rec.provisional_step(), rec.inputs, rec.output)
    assert rec.step is not None
    saved = [cwd / path for path in [*outputs, written[-1]]]
    return RecordedCommand(rec.step, rec.artifacts, saved, [])


def run_notebook(
    notebook: str | os.PathLike[str],
    parameters: Mapping[str, Any] | None = None,
    *,
    inputs: Sequence[str | os.PathLike[str]] = (),
    outputs: Sequence[str | os.PathLike[str]] = (),
    executed: str | os.PathLike[str] | None = None,
    kernel: str | None = None,
    step: str | None = None,
    env: Sequence[str] = (),
    registry: Registry | None = None,
    cwd: str | os.PathLike[str] | None = None,
    timeout_s: float | None = None,
    memory_limit_mb: int | None = None,
) -> RecordedCommand:
    """Record ``notebook`` run by papermill as a ``notebook`` step, then save each output (and the
    executed notebook) in ``cwd`` (default: the current folder), as ``scidex-replay run-notebook``.

    ``registry`` defaults to ``Registry.open()`` (``SCIDEX_REPLAY_DB`` or the default). Returns a
    ``RecordedCommand``: ``.step`` (its ``.name`` usable in ``--fork --set NAME.PARAM=VALUE``),
    ``.artifacts`` (``-o`` order, then the executed notebook) and ``.saved``. Raises as
    ``record_notebook``.
    """
    from scidex_replay.registry import Registry

    reg = registry or Registry.open()
    try:
        recorded = record_notebook(
            reg, os.fspath(notebook), parameters, inputs=[os.fspath(i) for i in inputs],
            outputs=[os.fspath(o) for o in outputs], executed=os.fspath(executed) if executed else None, kernel=kernel,
            step_name=step, env=env, cwd=Path(cwd) if cwd else None, timeout_s=timeout_s, memory_limit_mb=memory_limit_mb,
        )
        for art, dest in zip(recorded.artifacts, recorded.saved):
            reg.store.save(art.content_hash, dest)
    finally:
        if registry is None:
            reg.close()
    return recorded
