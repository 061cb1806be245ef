"""Run the handler in a fresh interpreter in deterministic mode.

The child (``python -m scidex_replay.executors.child``) reads one JSON job on
stdin: the step record, the handler instance (pickled: this process's own
object, never recorded data, so a handler configured by a factory or with
constructor arguments is the one that runs), the input and output paths, and
writes a JSON answer on stdout. It runs through ``handlers.process.run_step_process``: in a
session of its own, under the step's limits (timeout, memory), everything it starts ended
when it ends; a timeout stops it and all it started. Its stderr tail goes into the failure
reason.

With ``python`` set to another environment's interpreter (a pinned venv), the
child imports scidex_replay from this source tree via ``PYTHONPATH``, that
venv's ``bin`` comes first on ``PATH``, and a shell step whose command starts
with this environment's Python runs the venv's Python instead.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import pickle
import subprocess
import sys
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

from scidex_replay.env.deterministic import OVERLAY_ENV, code_path, declared_env, declared_of, deterministic_env
from scidex_replay.errors import OutputMissing, StepFailed
from scidex_replay.executors.base import SerialExecutor
from scidex_replay.handlers.process import MEMORY_ENV, Limits, memory_failure, run_step_process
from scidex_replay.handlers.process import limits as resolve_limits
from scidex_replay.handlers.shell import PYTHON_MAP_ENV, tail
from scidex_replay.handlers.spec import Handler, ReplayedArtifact, needs_fresh_process, workdir_of
from scidex_replay.registry.records import Step, step_to_json

__all__ = ["MEMORY_ENV", "SubprocessExecutor"]
logger = logging.getLogger(__name__)
#: Zygotes one executor keeps at most (one per startup environment its steps had; ``executors/zygote.py``).
MAX_ZYGOTES = 4
#: ``0``: every step runs in a fresh interpreter, none forked from a warm zygote (``executors/zygote.py``).
ZYGOTE_ENV = "SCIDEX_REPLAY_ZYGOTE"


class SubprocessExecutor(SerialExecutor):
    name = "subprocess"

    def __init__(
        self,
        python: str | None = None,
        timeout_s: float | None = None,
        memory_limit_mb: int | None = None,
        env: Mapping[str, str] | None = None,
        python_from: str | None = None,
        echo: TextIO | None = None,
        overlay: Mapping[str, str] | None = None,
        cpus: Collection[int] | None = None,
        zygote: bool = True,
    ):
        """``env``: the environment the process of a step that declares none starts from (default:
        this process's, read at each run). With ``python`` another environment's interpreter, a
        command that starts with a Python of the directory ``python_from`` (default: this
        interpreter's) runs that environment's Python instead. ``echo``: where what the step
        printed (stdout and stderr, in order) is written after it ran; default nowhere.
        ``overlay`` and ``cpus`` re-run a step under a perturbation (``replay/explain.py``):
        variables that replace the fixed settings of deterministic mode, in the child and in the
        command a shell step runs from it, and the CPUs the child (and all it starts) may use.
        ``timeout_s`` (seconds) and ``memory_limit_mb`` (MiB of address space): None takes the
        limits in force (``handlers.process.limits``; the memory default is ``MEMORY_ENV`` of
        ``env``, else of this process). ``BadInput`` for a bad value. ``zygote=False``: every step in a
        fresh interpreter, none forked from a warm zygote (``executors/zygote.py``)."""
        self.python = python or sys.executable
        self.echo = echo
        self.python_from = python_from or str(Path(sys.executable).parent)
        self.env = dict(env) if env is not None else None
        resolved = resolve_limits(timeout_s, memory_limit_mb, env)
        self.timeout_s = resolved.timeout_s
        self.memory_limit_mb = resolved.memory_limit_mb
        self.overlay = dict(overlay or {})
        self.cpus = set(cpus) if cpus else None
        self.zygote = zygote
        self.zygotes: dict[int, Any] = {}  # in the order they started, one per startup environment
        self._fresh_steps = 0

    @property
    def limits(self) -> Limits:
        return Limits(self.timeout_s, self.memory_limit_mb)

    def _spawn(self, argv: list[str], data: bytes, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
        """Run the child to the end (``TimeoutExpired`` after ``timeout_s``): forked from this executor's
        zygote for the step's environment when one may serve it (``executors/zygote.py``), else a
        fresh interpreter. The dask executor overrides this to track each child and kill it."""
        from scidex_replay.executors.zygote import ZygoteLost

        zygote = self._zygote_for(env, cwd)
        if zygote is not None:
            with zygote.lock:
                limits = self.limits

                def start() -> Any:
                    return zygote.start(argv, str(cwd), env, limits.memory_limit_mb)

                try:
                    return run_step_process(argv, input=data, cwd=cwd, env=env, limits=limits, start=start)
                except ZygoteLost as exc:  # the zygote died or could not set the child up: run it fresh
                    logger.warning("zygote for %s: %s; the step runs in a fresh interpreter", self.python, exc)
                    zygote.dead = True
        return run_step_process(argv, input=data, cwd=cwd, env=env, limits=self.limits, cpus=sorted(self.cpus) if self.cpus else None)

    def _zygote_for(self, env: Mapping[str, str], cwd: Path) -> Any:
        """The zygote that may serve a step with ``env`` in ``cwd``, started at this executor's second
        step that needs a fresh child (a one-step executor, as recording uses, starts none); None
        when the step must run in a fresh interpreter (see ``executors/zygote.py``)."""
        from scidex_replay.executors import zygote as zygotes

        self._fresh_steps += 1
        if not self.zygote or self.overlay or self.cpus or Path(self.python) != Path(sys.executable):
            return None
        if self._fresh_steps < 2 or os.environ.get(ZYGOTE_ENV) == "0" or not zygotes.usable(env, str(cwd)):
            return None
        for found in self.zygotes.values():
            if found.serves(env):
                return None if found.dead or found.lock.locked() else found
        if len(self.zygotes) >= MAX_ZYGOTES:  # steps whose startup environments all differ
            return None
        started = zygotes.Zygote(self.python, env)
        self.zygotes[len(self.zygotes)] = started
        return None if started.dead else started

    def close(self) -> None:
        """End this executor's zygotes (they also end with this process)."""
        zygotes, self.zygotes = self.zygotes, {}
        for zygote in zygotes.values():
            zygote.close()

    def run(self, handler: Handler, step: Step, inputs: Sequence[Path], output: Path) -> ReplayedArtifact:
        try:
            pickled = base64.b64encode(pickle.dumps(handler)).decode()
        except (pickle.PicklingError, TypeError, AttributeError) as exc:
            raise StepFailed(f"handler {step.step_type} cannot be sent to a subprocess: {exc}") from exc
        job = {
            "step": step_to_json(step),
            "handler": pickled,
            "inputs": [str(p) for p in inputs],
            "output": str(output),
            "limits": self.limits.to_json(),  # for the command a shell step starts from the child
        }
        cwd = workdir_of(step, output)  # the step's working directory; its output may go in a subfolder
        declared = declared_of(step.parameters)
        if declared is None or not needs_fresh_process(handler):  # a shell step: the handler builds the command's env
            base = self.env
        else:
            base = {**declared_env(cwd, declared), "PYTHONPATH": os.pathsep.join(code_path())}
        env = deterministic_env(int(step.started_at.timestamp()), base)
        if self.overlay:
            env.update(self.overlay)
            env[OVERLAY_ENV] = json.dumps(self.overlay)
        if Path(self.python) != Path(sys.executable):
            source_root = str(Path(__file__).resolve().parents[2])
            pinned_bin = str(Path(self.python).parent)
            env["PYTHONPATH"] = os.pathsep.join([env["PYTHONPATH"], source_root])
            env["PATH"] = os.pathsep.join([pinned_bin, env.get("PATH", "")])
            env["VIRTUAL_ENV"] = str(Path(self.python).parent.parent)
            env[PYTHON_MAP_ENV] = f"{self.python_from}={pinned_bin}"
        try:
            proc = self._spawn([self.python, "-m", "scidex_replay.executors.child"], json.dumps(job).encode(), cwd, env)
        except subprocess.TimeoutExpired as exc:
            raise StepFailed(f"timed out after {self.timeout_s:g} s") from exc
        if self.echo is not None and proc.stderr:
            self.echo.write(proc.stderr.decode(errors="replace"))
        try:
            answer = json.loads(proc.stdout.decode() or "{}")
        except ValueError:
            answer = {}
        if proc.returncode != 0 or "error" in answer or "path" not in answer:
            how = f"exit {proc.returncode}" if proc.returncode >= 0 else f"killed by signal {-proc.returncode}"
            message = answer.get("error") or f"subprocess {how}: {tail(proc.stderr)}"
            if answer.get("kind") != "OutputMissing" and memory_failure(self.limits, proc.returncode, f"{message}\n{proc.stderr.decode(errors='replace')}"):
                message += self.limits.note()
            cls = OutputMissing if answer.get("kind") == "OutputMissing" else StepFailed
            raise cls(message)
        return ReplayedArtifact(Path(answer["path"]), tuple(Path(p) for p in answer.get("paths", ())))
