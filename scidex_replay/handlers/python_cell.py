"""``python.cell``: a notebook cell's source, recorded by ``%%scidex_step``.

The step's ``method`` is the cell source (plain Python). It runs with ``exec``
in a fresh namespace, the same when it is recorded and when it is replayed, in
the kernel or in a subprocess, with these names bound:

``inputs``
    list of ``pathlib.Path``, the input files in recorded order;
``output``
    ``pathlib.Path``, the file the cell must write;
``params``
    dict, the step's parameters but its declared environment (each also bound by name
    when it is a valid identifier), so that ``--fork --set STEP.KEY=VALUE`` changes what
    the cell sees; the declared environment (``--env``) is ``os.environ``.

The cell runs in a fresh deterministic interpreter at record time and at replay
(``fresh_process``): neither notebook variables nor what earlier cells did to the
kernel (its RNG state, rcParams, thread settings, hash seed) reach it. It imports what it uses
(``SCIDEX_REPLAY_ALLOW`` refuses every cell unless it lists ``python.cell``: ``handlers/allow.py``). IPython syntax
(``%magic``, ``!cmd``) is not accepted, since replay has no IPython.
"""

from __future__ import annotations

import builtins
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from scidex_replay.env.deterministic import call_parameters
from scidex_replay.errors import BadInput, OutputMissing, StepFailed
from scidex_replay.handlers.allow import refusal
from scidex_replay.handlers.spec import ReplayedArtifact
from scidex_replay.registry.records import Step

FILENAME = "<scidex-step>"
RESERVED = ("inputs", "output", "params")


def namespace(inputs: Sequence[Path], output: Path, parameters: dict[str, Any]) -> dict[str, Any]:
    """The globals a cell runs in: ``inputs``, ``output``, ``params`` and each parameter by name."""
    ns: dict[str, Any] = {"__name__": "__scidex_step__", "__builtins__": builtins}
    ns.update((k, v) for k, v in parameters.items() if k.isidentifier() and k not in RESERVED)
    ns.update(inputs=[Path(p) for p in inputs], output=Path(output), params=dict(parameters))
    return ns


def _cell_line(exc: BaseException) -> int | None:
    """The line of the cell where ``exc`` was raised (innermost frame in the cell)."""
    line = getattr(exc, "lineno", None) if isinstance(exc, SyntaxError) and exc.filename == FILENAME else None
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename == FILENAME:
            line = frame.lineno
    return line


def run_cell(source: str, inputs: Sequence[Path], output: Path, parameters: dict[str, Any]) -> None:
    """Execute ``source`` as a step; raise ``StepFailed`` naming the exception and the cell line."""
    try:
        code = compile(source, FILENAME, "exec")
    except SyntaxError as exc:
        raise BadInput(f"the cell is not plain Python (line {exc.lineno}: {exc.msg}); %magics and !commands cannot be replayed") from exc
    try:
        exec(code, namespace(inputs, output, parameters))  # noqa: S102 - the recorded cell is the method
    except (Exception, SystemExit) as exc:  # a cell calling exit() fails its step, not the kernel
        line = _cell_line(exc)
        where = f" (cell line {line})" if line else ""
        raise StepFailed(f"{type(exc).__name__}{where}: {exc}") from exc


class PythonCellHandler:
    step_type = "python.cell"
    version = "1"
    fresh_process = True

    def __call__(self, step: Step, inputs: Sequence[Path], output: Path) -> ReplayedArtifact:
        refused = refusal(self.step_type, step.method)
        if refused:
            raise BadInput(refused)
        run_cell(step.method, inputs, output, call_parameters(step.parameters))
        if not output.is_file():
            raise OutputMissing(f"the cell finished without writing its output {output.name}")
        return ReplayedArtifact(output)
