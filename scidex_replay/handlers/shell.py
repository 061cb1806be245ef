"""``shell``: the steps ``scidex-replay run`` records.

``parameters["argv"]`` is the command as an argv list, as the user wrote it; it may hold
placeholders ``{in0}``, ``{in1}``… (the inputs, in order), ``{out}`` (the first output) and
``{out0}``, ``{out1}``… It runs with no shell, in the step's working directory, where each
input is staged at the path it was given and from which each output is read afterwards, in
deterministic mode, with ``SOURCE_DATE_EPOCH`` set to the second the step was first recorded.
``parameters["stdout"]``, when set, is the output (a path in the working directory) that
receives the command's standard output.
"""

from __future__ import annotations

import os
import re
import subprocess
from contextlib import nullcontext
from collections.abc import Sequence
from pathlib import Path

from scidex_replay.env.deterministic import declared_env, declared_of, deterministic_env
from scidex_replay.errors import BadInput, OutputMissing, StepFailed
from scidex_replay.handlers.process import limits as step_limits
from scidex_replay.handlers.process import Limits, memory_failure, run_step_process
from scidex_replay.handlers.spec import ReplayedArtifact, relative_path, workdir_of
from scidex_replay.registry.records import Step

PYTHON_MAP_ENV = "SCIDEX_REPLAY_PYTHON_MAP"
PLACEHOLDER = re.compile(r"\{(in(\d+)|out(\d*))\}")
STDERR_LIMIT = 600


def substitute(argv: Sequence[str], inputs: Sequence[Path], outputs: Sequence[Path] | Path) -> list[str]:
    """Replace ``{inN}``, ``{out}`` and ``{outN}`` in each argument; other braces are left alone.

    ``outputs`` is the output paths in order (or the one output). Raises ``BadInput`` for a
    placeholder past the last input or output.
    """
    outputs = [outputs] if isinstance(outputs, Path) else outputs

    def pick(paths: Sequence[Path], index: int, what: str, text: str) -> str:
        if index >= len(paths):
            raise BadInput(f"{text} refers to {what} {index}, but the step has {len(paths)} {what}(s)")
        return str(paths[index])

    def one(match: re.Match[str]) -> str:
        if match.group(1).startswith("out"):
            return pick(outputs, int(match.group(3) or 0), "output", match.group(0))
        return pick(inputs, int(match.group(2)), "input", match.group(0))

    return [PLACEHOLDER.sub(one, arg) for arg in argv]


def check_argv(argv: Sequence[str], n_inputs: int, n_outputs: int = 1) -> None:
    """Reject an empty command, or one whose placeholders name inputs or outputs it does not have."""
    if not argv:
        raise BadInput("no command given after --")
    substitute(argv, [Path()] * n_inputs, [Path()] * n_outputs)


def tail(text: bytes, cwd: Path | None = None) -> str:
    """A failed command's stderr in one line: for Python, the exception and the user's own line."""
    from scidex_replay.handlers.stderr import failure_summary

    return failure_summary(text, limit=STDERR_LIMIT, cwd=cwd)


def _map_python(cmd: list[str]) -> list[str]:
    """In a pinned env, a command that starts with the live env's Python runs the pinned Python."""
    mapping = os.environ.get(PYTHON_MAP_ENV)
    if not mapping or not cmd:
        return cmd
    live_bin, _, pinned_bin = mapping.partition("=")
    exe = Path(cmd[0])
    if str(exe.parent) == live_bin and exe.name.startswith("python"):
        return [str(Path(pinned_bin) / exe.name), *cmd[1:]]
    return cmd


def run_process(
    cmd: Sequence[str], workdir: Path, env: dict[str, str], limits: Limits, stdout_to: Path | None = None
) -> subprocess.CompletedProcess:
    """Run ``cmd`` (no shell) in ``workdir`` with exactly ``env``, stdin closed, stderr captured,
    stdout to the file ``stdout_to`` or discarded, under ``limits`` in a session of its own
    (``handlers.process.run_step_process``). Raises ``StepFailed`` when it cannot be started
    or runs past ``limits.timeout_s`` seconds; the caller judges its exit status."""
    try:
        with open(stdout_to, "wb") if stdout_to else nullcontext(subprocess.DEVNULL) as sink:
            return run_step_process(
                list(cmd), cwd=workdir, env=env, limits=limits, stdin=subprocess.DEVNULL, stdout=sink, stderr=subprocess.PIPE,
            )
    except FileNotFoundError as exc:
        raise StepFailed(f"command not found: {cmd[0]}") from exc
    except PermissionError as exc:
        raise StepFailed(f"command not executable: {cmd[0]}") from exc
    except subprocess.TimeoutExpired as exc:
        raise StepFailed(f"timed out after {limits.timeout_s:g} s") from exc


class ShellHandler:
    step_type = "shell"
    version = "1"

    def __init__(self, timeout_s: float | None = None, memory_limit_mb: int | None = None):
        """``timeout_s``, ``memory_limit_mb``: the command's limits; None takes the ones in force
        where it runs (``handlers.process.limits``)."""
        self.timeout_s = timeout_s
        self.memory_limit_mb = memory_limit_mb

    def __call__(self, step: Step, inputs: Sequence[Path], output: Path) -> ReplayedArtifact:
        argv = step.parameters.get("argv")
        if not isinstance(argv, list) or not all(isinstance(a, str) for a in argv):
            raise StepFailed("shell step has no argv list in its parameters")
        workdir = workdir_of(step, output)
        outputs = [workdir / relative_path(o.path, "output") for o in step.outputs] if step.outputs else [output]
        for path in outputs:
            path.parent.mkdir(parents=True, exist_ok=True)
        cmd = _map_python(substitute(argv, inputs, outputs))
        declared = declared_of(step.parameters)  # a step recorded by `run`: only what it declared, else the caller's
        base = None if declared is None else declared_env(workdir, declared)
        env = deterministic_env(int(step.started_at.timestamp()), base)
        stdout_to = step.parameters.get("stdout")
        limits = step_limits(self.timeout_s, self.memory_limit_mb)
        sink = workdir / relative_path(stdout_to, "--stdout") if stdout_to else None
        proc = run_process(cmd, workdir, env, limits, sink)
        if proc.returncode != 0:
            what = f"exit {proc.returncode}" if proc.returncode > 0 else f"killed by signal {-proc.returncode}"
            note = limits.note() if memory_failure(limits, proc.returncode, proc.stderr) else ""
            raise StepFailed(f"{what}: {tail(proc.stderr, workdir)}{note}")
        for path, declared in zip(outputs, step.outputs or [None]):
            if not path.is_file():
                raise OutputMissing(f"the command exited 0 but did not write {declared.path if declared else '{out}'}")
        return ReplayedArtifact(outputs[0], tuple(outputs) if len(outputs) > 1 else ())

