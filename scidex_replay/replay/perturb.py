"""Re-running one step under a perturbation, for ``--explain`` (``replay/explain.py``).

A re-run goes through a fresh deterministic child (``SubprocessExecutor``, the path of
``--executor subprocess``; the replay's interpreter when the step runs pinned), with the same
timeout and memory limit as replay, in scratch space: the step's stable working directory
under its lock, or a scratch directory; never a live artifact, never the store (outputs are
copied aside, compared, then deleted with the scratch space). ``Conditions`` say how a run
differs from the replay; ``perturbations`` gives those of each factor this machine can vary:

=========  ================================================================================
repeat     the same conditions again (entropy, races, durations)
clock      the wall clock: libfaketime (``LD_PRELOAD``, ``FAKETIME``), 400 days on
hash-seed  ``PYTHONHASHSEED`` 0 → 4242
threads    ``OMP/OPENBLAS/MKL/NUMEXPR_NUM_THREADS`` 1 → N, and one CPU visible instead of all
tz         ``TZ`` UTC → ``<+0930>-09:30`` (a POSIX rule: no tzdata needed)
locale     ``LC_ALL``/``LANG`` C.UTF-8 → another installed UTF-8 locale
rng-seed   ``SCIDEX_REPLAY_SEED`` (what deterministic mode seeds ``random``/``numpy`` with) 0 → 4242
workdir    another absolute path for the working directory
env        an extra, unrelated variable
=========  ================================================================================
"""

from __future__ import annotations

import copy
import hashlib
import os
import shutil
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scidex_replay.compare import Comparison, Tolerance, compare_files
from scidex_replay.errors import BadInput, one_line
from scidex_replay.executors.subprocess import SubprocessExecutor
from scidex_replay.handlers.spec import Handler, output_paths, stable_workdir, staged_inputs, workdir_lock
from scidex_replay.registry.records import Step

if TYPE_CHECKING:
    from scidex_replay.store import BlobStore

FACTORS = ("repeat", "clock", "hash-seed", "threads", "tz", "locale", "rng-seed", "workdir", "env")

FAKETIME_LIBS = (
    "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1",
    "/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1",
    "/usr/lib/faketime/libfaketime.so.1",
    "/usr/local/lib/faketime/libfaketime.so.1",
)
#: How far the clock factor moves the (fake) clock: a day, an hour, a minute and a second of
#: every field a date or a time shows changes.
CLOCK_SHIFT = timedelta(days=400, hours=1, minutes=1, seconds=1)
OTHER_TZ = "<+0930>-09:30"
OTHER_SEED = "4242"
EXTRA_VARIABLE = ("SCIDEX_EXPLAIN_UNRELATED", "1")
#: A run under a fake clock gets at most this many times the reference run's time (at least
#: ``CLOCK_GUARD_MIN_S``): libfaketime cannot fake timed waits, and a step that uses them hangs.
CLOCK_GUARD_FACTOR, CLOCK_GUARD_MIN_S = 10.0, 30.0


@dataclass(frozen=True)
class Subject:
    """One step as an explanation re-runs it: its handler, the executor replay runs it with, the
    digests of the input bytes (in the store) and the names its inputs and outputs are staged
    under, and the tolerance its numbers are compared with."""

    step: Step
    handler: Handler
    executor: Any
    inputs: tuple[str, ...]
    input_names: tuple[str, ...]
    output_names: tuple[str, ...]
    tolerance: Tolerance


# -- what this machine can vary ----------------------------------------------------------
@cache
def faketime_library() -> str | None:
    """libfaketime's preload library (Debian's ``libfaketime``), or None."""
    found = os.environ.get("SCIDEX_REPLAY_FAKETIME_LIB")
    candidates = (found,) if found else FAKETIME_LIBS
    return next((c for c in candidates if c and os.path.isfile(c)), None)


@cache
def other_locale() -> str | None:
    """An installed UTF-8 locale other than C.UTF-8 (en_US.UTF-8 first), or None."""
    try:
        names = subprocess.run(["locale", "-a"], capture_output=True, text=True, timeout=10).stdout.split()
    except (OSError, subprocess.SubprocessError):
        return None
    utf8 = [n for n in names if n.lower().replace("-", "").endswith(".utf8") and not n.lower().startswith(("c.", "posix"))]
    utf8.sort(key=lambda n: (not n.lower().startswith("en_us"), n))
    return utf8[0] if utf8 else None


def _cpus() -> set[int]:
    try:
        return set(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return set(range(os.cpu_count() or 1))


@dataclass(frozen=True)
class Conditions:
    """How one re-run differs from the replay: variables over the fixed settings, the CPUs it may
    use, whether its working directory is moved, and a tighter timeout (under a fake clock)."""

    overlay: Mapping[str, str] = field(default_factory=dict)
    cpus: frozenset[int] | None = None
    moved: bool = False
    guarded: bool = False

    def plus(self, other: "Conditions") -> "Conditions":
        return Conditions(
            {**self.overlay, **other.overlay}, other.cpus or self.cpus, self.moved or other.moved, self.guarded or other.guarded,
        )


def perturbations(step: Step) -> tuple[dict[str, Conditions], dict[str, str]]:
    """Each factor this machine can vary (but ``repeat``) and the conditions that vary it; the
    reason each other factor cannot be varied."""
    varied: dict[str, Conditions] = {}
    missing: dict[str, str] = {}
    shifted = fake_clock(step, running=True, shift=CLOCK_SHIFT)
    if shifted is not None:
        varied["clock"] = shifted
    else:
        missing["clock"] = "libfaketime is not installed (apt-get install faketime)"
    varied["hash-seed"] = Conditions({"PYTHONHASHSEED": OTHER_SEED})
    cpus = _cpus()
    n = str(max(2, len(cpus)))
    threads = {k: n for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS")}
    varied["threads"] = Conditions(threads, cpus=frozenset({min(cpus)}) if len(cpus) > 1 else None)
    varied["tz"] = Conditions({"TZ": OTHER_TZ})
    other = other_locale()
    if other:
        varied["locale"] = Conditions({"LC_ALL": other, "LANG": other})
    else:
        missing["locale"] = "only the C.UTF-8 locale is installed"
    varied["rng-seed"] = Conditions({"SCIDEX_REPLAY_SEED": OTHER_SEED})
    varied["workdir"] = Conditions(moved=True)
    varied["env"] = Conditions(dict([EXTRA_VARIABLE]))
    return varied, missing


def fake_clock(step: Step, *, running: bool, shift: timedelta = timedelta()) -> Conditions | None:
    """A fake clock at the second the step was recorded (plus ``shift``), running from there or
    frozen; None without libfaketime. Guarded: a step that hangs under it is stopped early."""
    lib = faketime_library()
    if lib is None:
        return None
    at = int((step.started_at + shift).timestamp())  # seconds since the epoch: the same instant in every TZ
    return Conditions({"LD_PRELOAD": lib, "FAKETIME_FMT": "%s", "FAKETIME": f"@{at}" if running else str(at)}, guarded=True)


# -- one re-run --------------------------------------------------------------------------
@dataclass
class RunResult:
    outputs: list[Path] | None  # copies of the outputs, or None when the step failed
    error: str = ""
    timed_out: bool = False


class Rerunner:
    """Re-runs one subject in scratch space and compares outputs with the reference run's."""

    def __init__(self, store: "BlobStore", subject: Subject, scratch: Path):
        self.store = store
        self.subject = subject
        self.scratch = scratch
        self.runs = 0
        self.seconds = 0.0
        self.reference_s = 0.0
        self.stable = stable_workdir(subject.step)
        self._lock: workdir_lock | None = None
        self._home: Path | None = None

    def __enter__(self) -> "Rerunner":
        if self.stable is not None:
            self._lock = workdir_lock(self.stable)
            self._home = self._lock.acquire()
        else:
            self._home = self.scratch / "work" / "step"
        return self

    def __exit__(self, *exc: object) -> None:
        if self._lock is not None:
            self._lock.release()

    def run(self, conditions: Conditions, keep: str) -> RunResult:
        """Run the step once under ``conditions``; its outputs are copied to ``scratch/keep``."""
        assert self._home is not None
        step = self.subject.step
        home = self.scratch / "moved" / "elsewhere" / "step" if conditions.moved else self._home
        shutil.rmtree(home, ignore_errors=True)
        home.mkdir(parents=True)
        t0 = time.perf_counter()
        try:
            inputs = staged_inputs(step, home, list(self.subject.input_names))
            for digest, dest in zip(self.subject.inputs, inputs):
                dest.parent.mkdir(parents=True, exist_ok=True)
                self.store.copy_out(digest, dest)
            outputs = output_paths(step, home, list(self.subject.output_names))
            executor = self._executor(conditions)
            produced = executor.run(self.subject.handler, step, inputs, outputs[0])
            paths = list(produced.all_paths)
            if len(paths) != len(outputs):
                raise BadInput(f"the handler returned {len(paths)} output(s); the step recorded {len(outputs)}")
            kept = self.scratch / keep
            shutil.rmtree(kept, ignore_errors=True)
            kept.mkdir(parents=True)
            copies = []
            for i, p in enumerate(paths):
                dest = kept / f"{i}-{Path(self.subject.output_names[i]).name}"
                shutil.copyfile(p, dest)
                copies.append(dest)
            return RunResult(copies)
        except Exception as exc:  # the step's failure under these conditions is an answer
            timed_out = "timed out" in str(exc)
            return RunResult(None, one_line(f"{exc}")[:300], timed_out=timed_out)
        finally:
            elapsed = time.perf_counter() - t0
            self.runs += 1
            self.seconds += elapsed
            if not conditions.overlay and not conditions.moved and not self.reference_s:
                self.reference_s = elapsed
            if home != self._home or self.stable is None:
                shutil.rmtree(home, ignore_errors=True)

    def _executor(self, conditions: Conditions) -> SubprocessExecutor:
        """A fresh-process executor like the one replay runs the step with, under ``conditions``."""
        base = self.subject.executor
        if isinstance(base, SubprocessExecutor):
            executor = copy.copy(base)
        else:
            executor = SubprocessExecutor()
            options = getattr(base, "step_options", None)  # the dask executor's per-step limits
            if isinstance(options, dict):
                executor.timeout_s = options.get("timeout_s") or executor.timeout_s
                executor.memory_limit_mb = options.get("memory_limit_mb") or executor.memory_limit_mb
        executor.echo = None
        # Every re-run starts a fresh interpreter, never a fork of the replay's zygote: a repeat must
        # see what a fresh process varies (its address-space layout, say), as the step's record did.
        executor.zygote, executor.zygotes = False, {}
        executor.overlay = {**executor.overlay, **conditions.overlay}
        executor.cpus = set(conditions.cpus) if conditions.cpus else executor.cpus
        if conditions.guarded:
            guard = max(CLOCK_GUARD_MIN_S, CLOCK_GUARD_FACTOR * self.reference_s)
            executor.timeout_s = min(executor.timeout_s, guard)
        return executor

    def difference(self, reference: RunResult, other: RunResult) -> str | None:
        """None when ``other`` gave the reference's bytes; else how it differs, in a few words
        (prefixed ``metadata:`` or ``numeric:`` when the comparator found only such differences)."""
        if other.outputs is None:
            return f"the step fails: {other.error}"
        assert reference.outputs is not None
        for i, (a, b) in enumerate(zip(reference.outputs, other.outputs)):
            if _digest(a) == _digest(b):
                continue
            name = self.subject.output_names[i]
            comparison = compare_files(a, b, name=name, tolerance=self.subject.tolerance)
            return _words(comparison, name if len(reference.outputs) > 1 else "")
        return None


def _digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _words(comparison: Comparison, name: str) -> str:
    kinds = set(comparison.kinds)
    prefix = ""
    if kinds and kinds <= {"metadata", "volatile-id"}:
        prefix = "metadata: "
    elif kinds and comparison.equivalent:
        prefix = "numeric: "
    where = f"{name}: " if name else ""
    return f"{prefix}{where}{comparison.summary}"
