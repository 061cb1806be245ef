"""``--explain``: name the cause of a step that does not reproduce, by re-running it under perturbations.

One step is re-run, never its chain, on the bytes the replay gave it, in scratch space, with
the same timeout and memory limit as replay (how, and what each factor of the manifest's
``explanation.factors`` varies: ``replay/perturb.py``).

Group testing (``_reference``, ``_search``): one run under the real clock, then two under a
fake clock started at the second the step was recorded. Those two decide ``repeat``; when the
first differs from them, one run with the fake clock 400 days on decides ``clock``. When the two
differ, two more under a frozen clock tell a clock read below the second (``clock``) from
intrinsic nondeterminism (``repeat``; the other factors cannot be judged against an output that
changes by itself: ``not-tested``). Then every remaining factor is varied at once; only when that
changes the output is the set split in halves, recursively (a half with no effect clears its
factors; when the first half has none, the second is known to have one and is split without
being run, assuming that factors do not cancel each other out). A pure step costs 4 runs, a
step that reads the clock 5 (when recorded more than a second before), one other cause among
the 8 factors 8-9.

Each perturbed output is compared with the reference run's by the comparators: a factor whose
change the comparator finds to be metadata or volatile ids only is still ``changes-output``,
and the summary says "in metadata only" (numbers within tolerance: "numbers within
tolerance only"); a run that fails under a factor changes the output too. A factor that cannot
be varied here is ``not-tested``, with the reason in ``not_tested``.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scidex_replay.compare import Tolerance
from scidex_replay.errors import BadInput
from scidex_replay.executors.subprocess import SubprocessExecutor
from scidex_replay.registry.records import Step, find_step, validate_id
from scidex_replay.replay.options import EXPLAIN_NOT_REPRODUCED
from scidex_replay.replay.perturb import (
    CLOCK_SHIFT,
    FACTORS,
    Conditions,
    Rerunner,
    RunResult,
    Subject,
    fake_clock,
    faketime_library,
    perturbations,
)

if TYPE_CHECKING:
    from scidex_replay.registry import Registry, StepResult
    from scidex_replay.store import BlobStore

logger = logging.getLogger(__name__)

__all__ = [
    "ALL", "CHANGES", "FACTORS", "NOT_REPRODUCED", "NOT_TESTED", "NO_EFFECT", "Explanation", "NotReproducible", "Subject",
    "check_message", "check_recorded", "explain_recorded", "explain_run", "explain_subject", "faketime_library",
]

CHANGES, NO_EFFECT, NOT_TESTED = "changes-output", "no-effect", "not-tested"
#: ``--explain`` given alone: the steps that did not reproduce (not a possible step name or id)
NOT_REPRODUCED = EXPLAIN_NOT_REPRODUCED
#: ``--explain all``: every replayed step
ALL = "all"

#: What an output that a factor changes depends on, in a summary (``repeat``: it changes by itself).
PHRASES = {
    "repeat": "changes from run to run under identical conditions (repeat)",
    "clock": "the wall clock (clock)",
    "hash-seed": "Python's hash seed (hash-seed)",
    "threads": "the thread or CPU count (threads)",
    "tz": "the time zone (tz)",
    "locale": "the locale (locale)",
    "rng-seed": "the random seed (rng-seed)",
    "workdir": "the working directory's path (workdir)",
    "env": "unrelated environment variables (env)",
}
#: Factors that deterministic mode fixes: a dependence on one reproduces under scidex-replay.
FIXED_BY_DETERMINISTIC_MODE = ("hash-seed", "tz", "locale", "rng-seed")


@dataclass
class Explanation:
    """The manifest's ``explanation``: each factor's verdict, a one-line summary, the re-runs it took."""

    factors: dict[str, str]
    summary: str
    runs: int
    seconds: float
    not_tested: dict[str, str] = field(default_factory=dict)
    details: dict[str, str] = field(default_factory=dict)  # factor -> how the output changed
    stable: bool = False  # the step runs in a stable working directory (a `run` step)
    declared: bool = False  # the step sees only the variables it declared

    def changed(self) -> list[str]:
        return [f for f in FACTORS if self.factors.get(f) == CHANGES]

    def threats(self) -> list[str]:
        """The factors that change the output and that differ from one run of the step to the next
        under scidex-replay: the repeat, the clock, the CPU count of another machine, the working
        directory (unless stable) and the environment (unless declared). The others are fixed
        by deterministic mode."""
        skip = set(FIXED_BY_DETERMINISTIC_MODE)
        if self.stable:
            skip.add("workdir")
        if self.declared:
            skip.add("env")
        return [f for f in self.changed() if f not in skip]

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "factors": {f: self.factors[f] for f in FACTORS if f in self.factors},
            "summary": self.summary,
            "runs": self.runs,
            "seconds": round(self.seconds, 3),
        }
        if self.not_tested:
            out["not_tested"] = dict(self.not_tested)
        if self.details:
            out["details"] = dict(self.details)
        return out


# -- the search --------------------------------------------------------------------------
def explain_subject(store: "BlobStore", subject: Subject, scratch: Path | None = None) -> Explanation:
    """Re-run ``subject`` under perturbations (group testing) and say which factors change its output."""
    own = scratch is None
    scratch = Path(tempfile.mkdtemp(prefix="scidex-explain-")) if scratch is None else scratch
    varied, missing = perturbations(subject.step)
    factors: dict[str, str] = {}
    details: dict[str, str] = {}
    not_tested = dict(missing)
    try:
        with Rerunner(store, subject, scratch) as rr:
            base, reference = _reference(rr, factors, details, not_tested)
            if reference.outputs is None:
                for f in FACTORS:
                    not_tested[f] = "the step fails under the reference conditions"
                summary = f"could not explain: the step fails when re-run: {reference.error}"
                return _explanation(subject, {f: NOT_TESTED for f in FACTORS}, summary, rr, not_tested, details)
            candidates = [f for f in FACTORS[1:] if f in varied and f not in factors]
            if factors.get("repeat") == CHANGES:
                for f in candidates:
                    not_tested.setdefault(f, "the output changes even under identical conditions (repeat)")
                candidates = []
            _search(rr, base, reference, candidates, varied, factors, details, not_tested, known=False)
            for f in FACTORS:
                if f not in factors:
                    factors[f] = NOT_TESTED
                    not_tested.setdefault(f, "not varied")
                elif factors[f] != NOT_TESTED:
                    not_tested.pop(f, None)
            return _explanation(subject, factors, summarize(factors, details, not_tested), rr, not_tested, details)
    finally:
        if own:
            shutil.rmtree(scratch, ignore_errors=True)


def _reference(
    rr: Rerunner, factors: dict[str, str], details: dict[str, str], not_tested: dict[str, str],
) -> tuple[Conditions, RunResult]:
    """The conditions every later run starts from and the output they are compared with; decides
    ``repeat`` and, when it can, ``clock``.

    Under the real clock a step that reads the time changes between any two runs, so the
    reference runs under a fake clock started at the second the step was recorded (libfaketime,
    when installed): a first run under the real clock (``R``), then two under the fake one
    (``C1``, ``C2``). ``C1 == C2``: ``repeat`` has no effect; when ``R`` differs from ``C1``, one
    run under the fake clock 400 days on says whether the clock changes the output (rather than
    the variables libfaketime is loaded with); else the clock is tried with the other factors. ``C1 != C2``: two more runs under a clock frozen at that second tell a
    clock read below the second (``clock``) from intrinsic nondeterminism (``repeat``).
    Without libfaketime (or when the step does not run under it), two runs under the real clock.
    """
    step = rr.subject.step
    real = rr.run(Conditions(), "real")
    if real.outputs is None:
        return Conditions(), real
    started = fake_clock(step, running=True)
    if started is None:
        return _repeat(rr, Conditions(), real, factors, details)
    first = rr.run(started, "reference")
    if first.outputs is None:
        not_tested["clock"] = f"the step does not run under libfaketime ({first.error})"
        factors["clock"] = NOT_TESTED
        return _repeat(rr, Conditions(), real, factors, details)
    second = rr.run(started, "again")
    change = rr.difference(first, second)
    if change is None:
        factors["repeat"] = NO_EFFECT
        if rr.difference(first, real) is not None:  # the clock, or libfaketime's own variables: shift it to tell
            shifted = fake_clock(step, running=True, shift=CLOCK_SHIFT)
            assert shifted is not None
            clock = rr.difference(first, rr.run(shifted, "perturbed"))
            factors["clock"] = NO_EFFECT if clock is None else CHANGES
            if clock is not None:
                details["clock"] = clock
        return started, first  # else the clock is tried, 400 days on, with the other factors
    frozen = fake_clock(step, running=False)
    assert frozen is not None
    f1 = rr.run(frozen, "frozen")
    f2 = rr.run(frozen, "frozen-again") if f1.outputs is not None else f1
    if f1.outputs is not None and rr.difference(f1, f2) is None:
        factors["repeat"], factors["clock"] = NO_EFFECT, CHANGES
        details["clock"] = f"changes between two runs, not between two under a frozen fake clock: {change}"
        return frozen, f1
    factors["repeat"] = CHANGES
    details["repeat"] = change
    return started, first


def _repeat(rr: Rerunner, base: Conditions, reference: RunResult, factors: dict[str, str], details: dict[str, str]) -> tuple[Conditions, RunResult]:
    again = rr.run(base, "again")
    change = rr.difference(reference, again)
    factors["repeat"] = NO_EFFECT if change is None else CHANGES
    if change is not None:
        details["repeat"] = change
    return base, reference


def _search(
    rr: Rerunner, base: Conditions, reference: RunResult, group: list[str], varied: Mapping[str, Conditions],
    factors: dict[str, str], details: dict[str, str], not_tested: dict[str, str], *, known: bool, change: str | None = None,
) -> None:
    """Find which factors of ``group`` change the output; ``known``: the group is known to (its
    ``change`` then says how, when it was run)."""
    if not group:
        return
    if not known:
        conditions = base
        for f in group:
            conditions = conditions.plus(varied[f])
        result = rr.run(conditions, "perturbed")
        if result.timed_out and "clock" in group:  # libfaketime and a timed wait: leave the clock out
            not_tested["clock"] = f"the step does not finish under a fake clock ({result.error})"
            factors["clock"] = NOT_TESTED
            _search(rr, base, reference, [f for f in group if f != "clock"], varied, factors, details, not_tested, known=False)
            return
        change = rr.difference(reference, result)
        if change is None:
            for f in group:
                factors[f] = NO_EFFECT
            return
    if len(group) == 1:
        factors[group[0]] = CHANGES
        details[group[0]] = change or "the output changes"
        return
    half = (len(group) + 1) // 2
    first, second = group[:half], group[half:]
    before = {f: factors.get(f) for f in first}
    _search(rr, base, reference, first, varied, factors, details, not_tested, known=False)
    first_changes = any(factors.get(f) == CHANGES for f in first) or any(
        factors.get(f) == NOT_TESTED and before[f] != NOT_TESTED for f in first
    )
    # the group changes the output; when its first half does not, its second half does
    _search(rr, base, reference, second, varied, factors, details, not_tested, known=not first_changes, change=change)


def _explanation(
    subject: Subject, factors: dict[str, str], summary: str, rr: Rerunner, not_tested: dict[str, str], details: dict[str, str],
) -> Explanation:
    from scidex_replay.env.deterministic import declared_of

    return Explanation(
        factors=factors, summary=summary, runs=rr.runs, seconds=rr.seconds,
        not_tested={f: not_tested[f] for f in FACTORS if factors.get(f) == NOT_TESTED and f in not_tested},
        details={f: details[f] for f in FACTORS if f in details and factors.get(f) == CHANGES},
        stable=rr.stable is not None, declared=declared_of(subject.step.parameters) is not None,
    )


def summarize(factors: Mapping[str, str], details: Mapping[str, str], not_tested: Mapping[str, str]) -> str:
    """One line: ``output depends on the wall clock (clock); hash-seed, threads, ...: no effect;
    not tested: locale (why)``."""
    changed = [f for f in FACTORS if factors.get(f) == CHANGES]
    quiet = [f for f in FACTORS if factors.get(f) == NO_EFFECT]
    untested = [f for f in FACTORS if factors.get(f) == NOT_TESTED]
    parts = []
    if changed:
        phrases = []
        for f in changed:
            detail = details.get(f, "")
            note = ", in metadata only" if detail.startswith("metadata:") else ", numbers within tolerance only" if detail.startswith("numeric:") else ""
            note = ", which makes it fail" if detail.startswith("the step fails") else note
            phrases.append(PHRASES[f] + note)
        depends = [p for f, p in zip(changed, phrases) if f != "repeat"]
        said = [p for f, p in zip(changed, phrases) if f == "repeat"]
        if depends:
            said.append("depends on " + (", ".join(depends[:-1]) + " and " + depends[-1] if len(depends) > 1 else depends[0]))
        parts.append("output " + "; it ".join(said))
        if quiet:
            parts.append(f"{', '.join(quiet)}: no effect")
    elif quiet:
        parts.append(f"no factor changes the output ({', '.join(quiet)}: no effect)")
    if untested:
        by_reason: dict[str, list[str]] = {}
        for f in untested:
            by_reason.setdefault(not_tested.get(f, ""), []).append(f)
        said = [f"{', '.join(fs)} ({reason})" if reason else ", ".join(fs) for reason, fs in by_reason.items()]
        parts.append(f"not tested: {'; '.join(said)}")
    return "; ".join(parts)


# -- which steps, from a replay ----------------------------------------------------------
def check_request(steps: Sequence[Step], which: str | None) -> None:
    """``BadInput`` when ``--explain STEP`` names no step of the chain."""
    if which in (None, NOT_REPRODUCED, ALL):
        return
    if find_step(list(steps), which) is None:
        known = ", ".join(s.label for s in steps)
        raise BadInput(f"--explain {which}: no such step in this chain (its steps: {known})")


def chosen(which: str, steps: Sequence[Step], results: Sequence["StepResult"]) -> list[str]:
    """The step ids ``--explain WHICH`` explains, in execution order."""
    from scidex_replay.outcomes import Outcome

    ran = {Outcome.REPRODUCED, Outcome.EQUIVALENT, Outcome.OUTPUT_DIFFERS, Outcome.INPUT_DIFFERS, Outcome.FORKED}
    if which == NOT_REPRODUCED:
        return [r.step_id for r in results if r.outcome in (Outcome.OUTPUT_DIFFERS, Outcome.EQUIVALENT)]
    if which == ALL:
        return [r.step_id for r in results if r.outcome in ran]
    step = find_step(list(steps), which)
    if step is None:
        return []
    broken = {Outcome.FAILED, Outcome.UNREPLAYABLE, Outcome.SKIPPED}
    return [r.step_id for r in results if r.step_id == step.step_id and r.outcome not in broken]


def explain_run(
    runner: Any, which: str, steps: Sequence[Step], results: Sequence["StepResult"], emit: Callable[[str, dict[str, Any]], None],
) -> dict[str, Explanation]:
    """Explain the steps of a finished run that ``which`` chooses; each explanation goes into the
    step's manifest entry (``runner.extras``) and is emitted as an ``explain`` event."""
    out: dict[str, Explanation] = {}
    by_id = {s.step_id: s for s in steps}
    for step_id in chosen(which, steps, results):
        step = by_id[step_id]
        emit("explaining", {"step_id": step_id})
        scratch = runner.workdir / f"explain-{validate_id(step_id, 'step id')}"
        scratch.mkdir(parents=True, exist_ok=True)
        explanation = explain_subject(runner.store, runner.subject(step), scratch)
        runner.extras.setdefault(step_id, {})["explanation"] = explanation.to_json()
        out[step_id] = explanation
        emit("explain", {"step_id": step_id, "explanation": explanation})
    return out


# -- at record time ----------------------------------------------------------------------
def explain_recorded(registry: "Registry", artifact_id: str) -> Explanation:
    """Explain the step that produced ``artifact_id`` as it was recorded (``run --check``,
    ``record_call(check=True)``, ``%%scidex_step --check``)."""
    from scidex_replay.compare.base import recorded_tolerance
    from scidex_replay.handlers import load_handlers
    from scidex_replay.handlers.spec import safe_name

    step = registry.producing_step(artifact_id)
    if step is None:
        raise BadInput(f"{artifact_id} is a source artifact: no step to check")
    artifacts = registry.artifacts([*step.source_artifact_ids, *step.output_ids])
    subject = Subject(
        step=step,
        handler=load_handlers().get(step.step_type),
        executor=SubprocessExecutor(),
        inputs=tuple(artifacts[a].content_hash for a in step.source_artifact_ids),
        input_names=tuple(safe_name(artifacts[a].name, a) for a in step.source_artifact_ids),
        output_names=tuple(safe_name(artifacts[a].name, a) for a in step.output_ids),
        tolerance=recorded_tolerance(step.parameters) or Tolerance(),
    )
    return explain_subject(registry.store, subject)


class NotReproducible(UserWarning):
    """``record_call(check=True)``: the step just recorded would not reproduce (the message says why)."""


def check_recorded(registry: "Registry", artifact_id: str, *, stacklevel: int = 2) -> Explanation:
    """Explain the step that produced ``artifact_id`` and warn (``NotReproducible``) when it would
    not reproduce, or reproduces only because deterministic mode fixes what it depends on."""
    import warnings

    explanation = explain_recorded(registry, artifact_id)
    step = registry.producing_step(artifact_id)
    label = (f"{step.name} ({step.step_id})" if step.name else step.step_id) if step else artifact_id
    message = check_message(label, explanation)
    if message:
        warnings.warn(f"{message} ({explanation.runs} re-runs, {explanation.seconds:.1f} s)", NotReproducible, stacklevel=stacklevel + 1)
    return explanation


def check_message(label: str, explanation: Explanation) -> str | None:
    """What ``--check`` warns about the step ``label``: None when nothing it depends on varies
    between replays (a pure step, or one that depends only on what deterministic mode fixes)."""
    threats = explanation.threats()
    if threats:
        return f"step {label} would not reproduce: {explanation.summary}"
    if explanation.changed():
        fixed = ", ".join(explanation.changed())
        return f"step {label} reproduces under scidex-replay, which fixes {fixed}, but not outside it: {explanation.summary}"
    return None
