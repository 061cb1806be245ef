"""The handler contract: one handler per ``step_type``.

A handler is a class (or any callable factory returning an object) registered
under the entry-point group ``scidex_replay.handlers``, the entry-point name
being the ``step_type`` it replays::

    [project.entry-points."scidex_replay.handlers"]
    "mylab.align" = "mylab.replay:AlignHandler"

The object must have:

``step_type: str``
    The step type it replays (must equal the entry-point name).
``version: str``
    Bumped whenever the handler would produce different bytes for the same step;
    it is part of the reuse key, so a new version never reuses old results.
``__call__(step, inputs, output) -> ReplayedArtifact``
    Re-execute ``step`` (a ``scidex_replay.registry.Step``) on ``inputs`` (paths
    to verified, writable copies of the source artifacts, in recorded order),
    writing the result to ``output`` (a path in a fresh scratch directory, named
    like the recorded artifact). It raises ``scidex_replay.errors.StepFailed``
    (chained ``from`` the cause) when the step fails. It must never write
    anywhere but ``output`` and the scratch directory, and it must not run
    recorded text through a shell.

It may also have ``fresh_process = True``: it runs the step's own Python code in the
interpreter that calls it, so it is always called in a fresh interpreter in deterministic
mode (the subprocess executor's child), at record time and at replay, never in a kernel
whose hash seed, threads, RNG state or earlier cells would change the bytes it writes.

The same handler records a step (``scidex-replay run``, ``record_call``) and
replays it, so what was recorded is what replay re-executes.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Protocol, runtime_checkable

from scidex_replay.errors import BadInput
from scidex_replay.registry.records import Step


@dataclass(frozen=True)
class ReplayedArtifact:
    """What a handler produced: the path of its (first) output's bytes, and for a step with
    several outputs the path of each, in the step's order."""

    path: Path
    paths: tuple[Path, ...] = ()

    @property
    def all_paths(self) -> tuple[Path, ...]:
        return self.paths or (self.path,)


def needs_fresh_process(handler: object) -> bool:
    """Whether ``handler`` runs the step's own Python code in its caller (``fresh_process``)."""
    return bool(getattr(handler, "fresh_process", False))


@runtime_checkable
class Handler(Protocol):
    step_type: str
    version: str

    def __call__(self, step: Step, inputs: Sequence[Path], output: Path) -> ReplayedArtifact: ...


def safe_name(name: str | None, fallback: str) -> str:
    """The last component of ``name``, or ``fallback`` when that is empty, ``.`` or ``..``."""
    base = Path(name or "").name
    return base if base not in ("", ".", "..") else fallback


def scratch_input(step_dir: Path, index: int, name: str) -> Path:
    """Where input ``index`` of a step is copied, at record time and at replay alike.

    The name a step sees for its inputs and output is part of what it does (a
    script may write it into its output), so recording and replay share this.
    """
    return step_dir / f"in{index}-{name}"


def scratch_output(step_dir: Path, name: str) -> Path:
    """Where a step writes its output (the step's working directory is ``step_dir``)."""
    return step_dir / name


def relative_path(path: str, what: str = "path") -> str:
    """``path`` as a normalized relative POSIX path inside a step's working directory.

    Raises ``BadInput`` for an empty, absolute or escaping path (``../x``, ``a/../../x``), or one
    with a NUL: recorded paths become paths on replay, so they are checked both times.
    """
    if not path or "\0" in path:
        raise BadInput(f"{what} {path!r}: not a usable file name")
    pure = PurePosixPath(path)
    if pure.is_absolute():
        raise BadInput(f"{what} {path}: must be relative to the step's working directory")
    parts: list[str] = []
    for part in pure.parts:
        if part == "..":
            if not parts:
                raise BadInput(f"{what} {path}: leaves the step's working directory")
            parts.pop()
        elif part != ".":
            parts.append(part)
    if not parts:
        raise BadInput(f"{what} {path!r}: names the working directory itself, not a file")
    return "/".join(parts)


def staged_inputs(step: Step, step_dir: Path, names: Sequence[str]) -> list[Path]:
    """Where each input of ``step`` is staged: at its recorded path in the working directory
    ``step_dir``, or (a step recorded with placeholders only) at ``in{N}-{name}``."""
    paths = list(step.input_paths) + [None] * (len(names) - len(step.input_paths))
    return [
        step_dir / relative_path(p, "input") if p else scratch_input(step_dir, i, name)
        for i, (p, name) in enumerate(zip(paths, names))
    ]


def output_paths(step: Step, step_dir: Path, names: Sequence[str]) -> list[Path]:
    """Where each output of ``step`` is read after it ran: at its recorded path in ``step_dir``,
    or (a first-wave step) at ``{out}``, ``step_dir/name``."""
    return [
        step_dir / relative_path(o.path, "output") if o.path else scratch_output(step_dir, name)
        for o, name in zip(step.all_outputs, names)
    ]


def workdir_of(step: Step, output: Path) -> Path:
    """The working directory of ``step`` when its first output is read from ``output``."""
    first = step.all_outputs[0].path
    return output.parents[len(PurePosixPath(first).parts) - 1] if first else output.parent


#: Where steps recorded as written run: the same absolute path at record time and at every replay.
STABLE_ROOT = Path("/tmp") / "scidex-replay-steps"


def stable_workdir(step: Step) -> Path | None:
    """The working directory of ``step`` when it was recorded with a declared environment
    (``scidex-replay run``): ``/tmp/scidex-replay-steps/KEY``, KEY a hash of what defines the step
    (its command, environment, input and output paths, and the second it was recorded), so a
    step that writes its working directory into an output reproduces. None for other steps.
    Hold ``workdir_lock`` while using it: two replays of one step take turns.
    """
    if "env" not in step.parameters:
        return None
    doc = {
        "parameters": step.parameters,
        "inputs": list(step.input_paths),
        "outputs": [o.path for o in step.outputs],
        "recorded": int(step.started_at.timestamp()),
    }
    key = hashlib.sha256(json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:20]
    return STABLE_ROOT / key


class workdir_lock:  # noqa: N801 - a context manager, reads like a function
    """An exclusive lock on a stable working directory, held while a step stages, runs and is
    stored; the directory is emptied when the lock is taken and removed when it is released."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self._fd: int | None = None

    def acquire(self) -> Path:
        import fcntl
        import shutil

        self.workdir.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(str(self.workdir) + ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        shutil.rmtree(self.workdir, ignore_errors=True)
        return self.workdir

    def release(self) -> None:
        import shutil

        if self._fd is None:
            return
        shutil.rmtree(self.workdir, ignore_errors=True)
        os.close(self._fd)  # closing drops the flock
        self._fd = None

    def __enter__(self) -> Path:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()
