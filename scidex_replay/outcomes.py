"""What a replay says: a step's ``Outcome``, a run's ``Status``, and when either counts as ok.

The engine sets these values; the registry stores them in their own columns; the
manifest, the CLI, the widget and the JupyterLab renderer read them. A new outcome
is a member here plus its entry in the manifest schema
(``replay/schemas/manifest.schema.json``, which the TypeScript types are generated from).
Nothing parses an outcome back out of words.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from enum import StrEnum


class Outcome(StrEnum):
    """One step's outcome in one run (``replay_results.outcome``, the manifest's ``outcome``)."""

    #: executed; every output byte-identical to the record
    REPRODUCED = "reproduced"
    #: executed; an output's bytes differ and a format-aware comparator found its content
    #: equal (only metadata, volatile ids or order differ, or numbers within the tolerance)
    EQUIVALENT = "equivalent"
    #: executed; an output's bytes differ
    OUTPUT_DIFFERS = "output-differs"
    #: the bytes the step was about to use differ from the record (it may not have run)
    INPUT_DIFFERS = "input-differs"
    #: the step could not run: its command failed, an input was missing, its handler raised
    FAILED = "failed"
    #: no handler for its step_type; downstream steps use its recorded output
    UNREPLAYABLE = "unreplayable"
    #: not run because an upstream step failed, or because ``--strict`` aborted the run
    SKIPPED = "skipped"
    #: not run on purpose (before ``--from``, or unchanged by a fork); its recorded output is used
    FROZEN = "frozen"
    #: not run: an earlier run's result with the same reuse key was taken
    REUSED = "reused"
    #: executed by a fork; its output is a new artifact, expected to differ
    FORKED = "forked"

    def __repr__(self) -> str:  # reads as the value it is compared with, in a notebook or a report
        return repr(self.value)


class Status(StrEnum):
    """A run's status (``replay_runs.status``, the manifest's ``status``)."""

    RUNNING = "running"
    #: every step that was checked reproduced (or was reused, or forked)
    REPRODUCED = "reproduced"
    #: every step ran, and some output or input differs from the record
    DIFFERS = "differs"
    #: some step could not run (failed, unreplayable, or skipped after a failure)
    FAILED = "failed"
    #: the process stopped before the run finished (Ctrl-C, a cancelled job)
    INTERRUPTED = "interrupted"
    #: ``--strict`` stopped the run at an input that differs
    ABORTED = "aborted"

    def __repr__(self) -> str:
        return repr(self.value)


#: Outcomes of steps that ran in this run (or tried to).
EXECUTED = frozenset({Outcome.REPRODUCED, Outcome.EQUIVALENT, Outcome.OUTPUT_DIFFERS, Outcome.INPUT_DIFFERS, Outcome.FAILED, Outcome.FORKED})
#: Outcomes that are ok whatever the run accepts; a later run may reuse their outputs.
REUSABLE = frozenset({Outcome.REPRODUCED, Outcome.REUSED, Outcome.FORKED})
#: Outcomes of steps that could not run: a run holding one is ``failed``.
_NOT_RUN = frozenset({Outcome.FAILED, Outcome.UNREPLAYABLE, Outcome.SKIPPED})


def is_ok(outcome: Outcome, accept: Collection[Outcome] = ()) -> bool | None:
    """Whether a step with ``outcome`` counts as reproduced in a run that accepts ``accept``.

    ``None`` for a step that was not checked (``frozen``); ``accept`` names the extra
    outcomes the step's acceptance policy takes as ok: ``equivalent`` under ``--accept
    equivalent`` or a declared tolerance (``--rtol/--atol``, ``run --rtol``).
    """
    if outcome is Outcome.FROZEN:
        return None
    return outcome in REUSABLE or outcome in accept


def status_of(results: Iterable[tuple[Outcome, bool | None]], *, aborted: bool = False) -> Status:
    """The status of a finished run whose steps ended with ``results``, (outcome, ok) pairs.

    ``aborted`` when ``--strict`` stopped it; ``failed`` when a step could not run;
    ``differs`` when every step ran and some is not ok; else ``reproduced`` (an accepted
    ``equivalent`` step is ok).
    """
    results = list(results)
    if aborted:
        return Status.ABORTED
    if any(o in _NOT_RUN for o, _ in results):
        return Status.FAILED
    if any(ok is False for _, ok in results):
        return Status.DIFFERS
    return Status.REPRODUCED
