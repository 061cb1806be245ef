"""``notebook``: the steps ``scidex-replay run-notebook`` records (DESIGN.md, "Notebooks as steps").

A notebook step is a command step whose command is papermill, run by the kernel's own
interpreter (``scidex_papermill_step.py`` beside this file) in the step's working directory, in
deterministic mode, seeing only the variables the step declared (as a ``shell`` step).
Its parameters (``step.parameters``):

- ``notebook``: where the notebook (the step's first input) sits in the working directory;
- ``executed``: where the executed notebook is written (the step's last output);
- ``kernel``: the Jupyter kernel's name (from the notebook's ``kernelspec``, or given);
- ``env``: the declared environment variables;
- every other key is a papermill parameter, injected after the cell tagged ``parameters``
  (in sorted order, so a record and its replays inject the same cell), so that
  ``--fork --set STEP.NAME=VALUE`` changes one.

The kernel runs in the notebook's folder, as Jupyter runs it. The executed notebook is made
byte-stable (papermill's timings, nbclient's timestamps and random cell ids taken out), so a
replay whose cells print the same outputs is ``reproduced``; the ``ipynb`` comparator
(``compare/notebooks.py``) names the cell that differs otherwise.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from scidex_replay.env.deterministic import ENV_KEY, declared_env, declared_of, deterministic_env
from scidex_replay.errors import BadInput, OutputMissing, StepFailed, one_line
from scidex_replay.handlers.process import limits as step_limits
from scidex_replay.handlers.process import memory_failure
from scidex_replay.handlers.shell import _map_python, run_process, tail
from scidex_replay.handlers.spec import ReplayedArtifact, relative_path, workdir_of
from scidex_replay.registry.records import Step

#: The script papermill is run by (alone in its folder: running it by path shadows no module).
DRIVER = Path(__file__).parent / "_papermill" / "scidex_papermill_step.py"
MARKER = "SCIDEX-PAPERMILL-FAILURE "
#: The step's own settings among its parameters; a notebook parameter may not take these names.
RESERVED = ("notebook", "executed", "kernel", ENV_KEY, "tolerance")
DEFAULT_KERNEL = "python3"


def notebook_parameters(parameters: Mapping[str, Any]) -> dict[str, Any]:
    """The papermill parameters among a notebook step's ``parameters``, sorted by name."""
    return {k: parameters[k] for k in sorted(parameters) if k not in RESERVED}


def read_notebook(path: Path, shown: str) -> dict[str, Any]:
    """The notebook at ``path`` as JSON; ``BadInput`` naming ``shown`` when it is not a Jupyter
    notebook (not JSON, or no ``cells`` list and ``nbformat`` 4)."""
    try:
        doc = json.loads(path.read_bytes())
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise BadInput(f"{shown} is not a Jupyter notebook: {one_line(exc)[:120]}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("cells"), list) or doc.get("nbformat") != 4:
        raise BadInput(f"{shown} is not a Jupyter notebook (nbformat 4): no cells list or no nbformat 4 in it")
    return doc


def has_parameters_cell(doc: Mapping[str, Any]) -> bool:
    """Whether a cell of the notebook ``doc`` is tagged ``parameters`` (papermill's convention)."""
    return any("parameters" in (c.get("metadata") or {}).get("tags", []) for c in doc["cells"] if isinstance(c, dict))


def kernel_of(doc: Mapping[str, Any]) -> str:
    """The kernel name the notebook ``doc`` asks for (``metadata.kernelspec.name``), else ``python3``."""
    spec = (doc.get("metadata") or {}).get("kernelspec") or {}
    name = spec.get("name") if isinstance(spec, dict) else None
    return name if isinstance(name, str) and name else DEFAULT_KERNEL


def kernel_python(kernel: str) -> str:
    """The interpreter that runs the Jupyter kernel ``kernel``: the first word of its kernelspec's
    ``argv`` when that is an absolute path, else this interpreter (jupyter_client runs a kernelspec
    that says ``python`` with the interpreter that starts it). Raises ``BadInput`` when the
    kernel is not installed, or jupyter_client (``scidex-replay[notebooks]``) is not."""
    try:
        from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel
    except ImportError:
        raise BadInput("notebook steps need papermill: pip install 'scidex-replay[notebooks]'") from None
    try:
        spec = KernelSpecManager().get_kernel_spec(kernel)
    except NoSuchKernel:
        raise BadInput(
            f"kernel {kernel!r} is not installed here (`jupyter kernelspec list` shows those that are); "
            "install it, or give another with --kernel"
        ) from None
    first = spec.argv[0] if spec.argv else ""
    return first if os.path.isabs(first) else sys.executable


def failure(stderr: bytes, notebook: str, workdir: Path, python: str = "") -> str:
    """The one-line reason of a failed papermill run, from the driver's marker line if it wrote one."""
    text = stderr.decode(errors="replace")
    for module in ("papermill", "nbformat"):
        if f"No module named '{module}'" in text and MARKER not in text:
            return f"{module} is not installed in the kernel's environment ({python}): pip install papermill there"
    for line in reversed(text.splitlines()):
        if line.startswith(MARKER):
            try:
                doc = json.loads(line[len(MARKER):])
            except ValueError:
                break
            if doc.get("kind") == "cell":
                where = f"cell {doc.get('cell')} of {notebook}"
                if doc.get("line"):
                    code = f": {doc['code']}" if doc.get("code") else ""
                    where += f", line {doc['line']}{code}"
                return one_line(f"{where}: {doc.get('error')}")
            if doc.get("kind") == "kernel":
                return f"kernel {doc.get('kernel')!r} is not installed (`jupyter kernelspec list` shows those that are)"
            return one_line(f"papermill failed on {notebook}: {doc.get('error')}")[:600]
    return tail(stderr, workdir)


class NotebookHandler:
    step_type = "notebook"
    version = "1"

    def __init__(self, timeout_s: float | None = None, memory_limit_mb: int | None = None):
        """``timeout_s``, ``memory_limit_mb``: the kernel's limits; None takes the ones in force
        where it runs (``handlers.process.limits``)."""
        self.timeout_s = timeout_s
        self.memory_limit_mb = memory_limit_mb

    def command_argv(self, step: Step) -> list[str] | None:
        """The interpreter the step's kernel runs in, as a one-word command (for the environment
        a replay compares with the recorded one); None when its kernel is not installed."""
        kernel = step.parameters.get("kernel")
        try:
            return [kernel_python(kernel)] if isinstance(kernel, str) else None
        except BadInput:
            return None

    def __call__(self, step: Step, inputs: Sequence[Path], output: Path) -> ReplayedArtifact:
        params = step.parameters
        notebook, executed, kernel = params.get("notebook"), params.get("executed"), params.get("kernel")
        if not all(isinstance(v, str) for v in (notebook, executed, kernel)):
            raise StepFailed("notebook step has no notebook, executed and kernel in its parameters")
        workdir = workdir_of(step, output)
        outputs = [workdir / relative_path(o.path, "output") for o in step.outputs] if step.outputs else [output]
        for path in outputs:
            path.parent.mkdir(parents=True, exist_ok=True)
        nb_path = relative_path(notebook, "notebook")
        values = notebook_parameters(params)
        doc = read_notebook(workdir / nb_path, notebook)  # a --live or forked notebook is checked again
        if values and not has_parameters_cell(doc):
            raise StepFailed(f"{notebook} has no cell tagged 'parameters' to inject {', '.join(values)} after")
        try:
            python = kernel_python(kernel)
        except BadInput as exc:
            raise StepFailed(str(exc)) from exc
        cwd = Path(nb_path).parent.as_posix()
        cmd = _map_python([python, str(DRIVER), nb_path, relative_path(executed, "executed"), json.dumps(values), kernel,
                           "" if cwd == "." else cwd])
        declared = declared_of(params)
        base = None if declared is None else declared_env(workdir, declared)
        env = deterministic_env(int(step.started_at.timestamp()), base)
        env.setdefault("JUPYTER_PLATFORM_DIRS", "1")  # jupyter_core's own default soon; silences its warning
        limits = step_limits(self.timeout_s, self.memory_limit_mb)
        proc = run_process(cmd, workdir, env, limits)
        if proc.returncode != 0:
            note = limits.note() if memory_failure(limits, proc.returncode, proc.stderr) else ""
            raise StepFailed(failure(proc.stderr, notebook, workdir, python) + note)
        for path, out in zip(outputs, step.outputs or [None]):
            if not path.is_file():
                raise OutputMissing(f"the notebook ran but did not write {out.path if out else output.name}")
        return ReplayedArtifact(outputs[0], tuple(outputs) if len(outputs) > 1 else ())
