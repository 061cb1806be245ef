"""``shell``: the steps ``scidex-replay run`` records.

``parameters["argv"]`` is the command as an argv list with placeholders
``{in0}``, ``{in1}``… (the inputs, in order) and ``{out}`` (the output). It runs
with no shell, in a scratch working directory, in deterministic mode, with
``SOURCE_DATE_EPOCH`` set to the second the step was first recorded.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Sequence
from pathlib import Path

from scidex_replay.env.deterministic import deterministic_env
from scidex_replay.errors import BadInput, OutputMissing, StepFailed
from scidex_replay.handlers.spec import ReplayedArtifact
from scidex_replay.registry.records import Step

PYTHON_MAP_ENV = "SCIDEX_REPLAY_PYTHON_MAP"
PLACEHOLDER = re.compile(r"\{(in(\d+)|out)\}")
STDERR_TAIL = 400
DEFAULT_TIMEOUT_S = 3600


def substitute(argv: Sequence[str], inputs: Sequence[Path], output: Path) -> list[str]:
    """Replace ``{inN}``/``{out}`` in each argument; other braces are left alone."""

    def one(match: re.Match[str]) -> str:
        if match.group(1) == "out":
            return str(output)
        index = int(match.group(2))
        if index >= len(inputs):
            raise BadInput(f"{match.group(0)} refers to input {index}, but the step has {len(inputs)} input(s)")
        return str(inputs[index])

    return [PLACEHOLDER.sub(one, arg) for arg in argv]


def check_argv(argv: Sequence[str], n_inputs: int) -> None:
    """Reject a command that replay could not redirect: it must write to ``{out}``."""
    if not argv:
        raise BadInput("no command given after --")
    used = {m.group(1) for arg in argv for m in PLACEHOLDER.finditer(arg)}
    if "out" not in used:
        raise BadInput("the command must write its output to {out} (replay redirects it; a literal path would be overwritten)")
    substitute(argv, [Path()] * n_inputs, Path())


def tail(text: bytes, limit: int = STDERR_TAIL) -> str:
    lines = text.decode("utf-8", "replace").strip().splitlines()
    out = " | ".join(lines[-5:])
    return out[-limit:]


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


class ShellHandler:
    step_type = "shell"
    version = "1"

    def __init__(self, timeout_s: float = DEFAULT_TIMEOUT_S):
        self.timeout_s = timeout_s

    def __call__(self, step: Step, inputs: Sequence[Path], output: Path) -> ReplayedArtifact:
        argv = step.parameters.get("argv")
        if not isinstance(argv, list) or not all(isinstance(a, str) for a in argv):
            raise StepFailed("shell step has no argv list in its parameters")
        cmd = _map_python(substitute(argv, inputs, output))
        env = deterministic_env(int(step.started_at.timestamp()))
        try:
            proc = subprocess.run(
                cmd,
                cwd=output.parent,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                timeout=self.timeout_s,
            )
        except FileNotFoundError as exc:
            raise StepFailed(f"command not found: {cmd[0]}") from exc
        except PermissionError as exc:
            raise StepFailed(f"command not executable: {cmd[0]}") from exc
        except subprocess.TimeoutExpired as exc:
            raise StepFailed(f"timed out after {self.timeout_s:g} s") from exc
        if proc.returncode != 0:
            raise StepFailed(f"exit {proc.returncode}: {tail(proc.stderr)}")
        if not output.is_file():
            raise OutputMissing("the command exited 0 but did not write {out}")
        return ReplayedArtifact(output)
