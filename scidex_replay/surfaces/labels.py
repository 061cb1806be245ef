"""What the surfaces call a run and how they colour a step: one table each, keyed by the enums.

A run's label comes from its ``Status`` (``differs`` is "did not reproduce", ``failed``
only a run where some step could not run); a first-wave (v1) manifest, whose status
was ``succeeded``/``failed`` or absent, is labelled from its ``ok``. A step's colour
comes from its ``Outcome`` (``equivalent``, bytes differ but the content is equal, sits
between reproduced green and output-differs red: a lighter, yellower green): ``OUTCOME_STYLE`` (Rich, the CLI) and ``OUTCOME_COLORS``
(HTML, the widget and the static view) have an entry for every member, which
``tests/surfaces/test_labels.py`` checks, so a new outcome cannot go uncoloured.
A factor's chip in an explanation (``--explain``) is styled by its verdict (``FACTOR_STYLES``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from scidex_replay.outcomes import Outcome, Status

V1_SCHEMA = "scidex-replay/manifest/v1"
#: Control characters but the newline: a terminal obeys them (``ESC [`` recolours, ``ESC ]`` retitles).
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f]")


def shown(text: object) -> str:
    """``text`` (data: a name, a command, a step's stderr) as it may reach a terminal: each control
    character but the newline written as its escape (``\\x1b``), so it is seen, not obeyed."""
    return _CONTROL.sub(lambda m: repr(m.group())[1:-1], str(text))


@dataclass(frozen=True)
class Verdict:
    """A run as people read it: ``label`` ("did not reproduce") and ``tone`` (``good``, ``bad``, ``warn``, ``neutral``)."""

    label: str
    tone: str

    @property
    def rich_style(self) -> str:
        return TONE_RICH[self.tone]

    @property
    def color(self) -> str:
        """Text colour for HTML."""
        return TONE_HTML[self.tone]


TONE_RICH = {"good": "green", "bad": "red", "warn": "yellow", "neutral": "cyan"}
TONE_HTML = {"good": "#155724", "bad": "#721c24", "warn": "#856404", "neutral": "#0c5460"}

STATUS_VERDICTS: Mapping[Status, Verdict] = {
    Status.RUNNING: Verdict("running", "neutral"),
    Status.REPRODUCED: Verdict("reproduced", "good"),
    Status.DIFFERS: Verdict("did not reproduce", "bad"),
    Status.FAILED: Verdict("failed", "bad"),
    Status.INTERRUPTED: Verdict("interrupted", "warn"),
    Status.ABORTED: Verdict("aborted", "warn"),
}
#: A fork's outputs are new artifacts: it completes rather than reproduces.
FORK_VERDICTS: Mapping[Status, Verdict] = {
    Status.REPRODUCED: Verdict("fork completed", "good"),
    Status.FAILED: Verdict("fork failed", "bad"),
}
#: Statuses whose meaning did not change from v1; v1's ``succeeded``/``failed`` are read from ``ok``.
_SAME_IN_V1 = frozenset({Status.RUNNING, Status.INTERRUPTED, Status.ABORTED})


def run_verdict(status: str | None, *, ok: bool | None = None, kind: str | None = None, v1: bool = False) -> Verdict:
    """The label of a run with ``status`` (a ``Status`` value).

    ``ok`` decides when the status is not a ``Status`` (``succeeded``), is absent, or
    comes from a v1 manifest (``v1``), where ``failed`` also covered outputs that differ.
    """
    try:
        known: Status | None = Status(status) if status is not None else None
    except ValueError:
        known = None
    if known is None or (v1 and known not in _SAME_IN_V1):
        if ok is None:
            return Verdict(status or "unknown", "neutral")
        if not ok:  # v1 did not say whether a step failed or an output differed
            return Verdict("fork failed" if kind == "fork" else "did not reproduce", "bad")
        known = Status.REPRODUCED
    if kind == "fork":
        return FORK_VERDICTS.get(known, STATUS_VERDICTS[known])
    return STATUS_VERDICTS[known]


def manifest_verdict(manifest: Mapping[str, Any]) -> Verdict:
    """The label of the run a manifest (v2, or v1) describes."""
    return run_verdict(
        manifest.get("status"), ok=manifest.get("ok"), kind=manifest.get("kind"),
        v1=manifest.get("schema", V1_SCHEMA) == V1_SCHEMA,
    )


#: Rich style of each step outcome (the CLI's tables).
OUTCOME_STYLE: Mapping[Outcome, str] = {
    Outcome.REPRODUCED: "green",
    Outcome.EQUIVALENT: "bright_green",
    Outcome.OUTPUT_DIFFERS: "red",
    Outcome.INPUT_DIFFERS: "yellow",
    Outcome.FAILED: "red",
    Outcome.UNREPLAYABLE: "magenta",
    Outcome.SKIPPED: "dim",
    Outcome.FROZEN: "cyan",
    Outcome.REUSED: "blue",
    Outcome.FORKED: "bright_magenta",
}
#: Background colour of each step outcome's row (the widget and the static view).
OUTCOME_COLORS: Mapping[Outcome, str] = {
    Outcome.REPRODUCED: "#d4edda",
    Outcome.EQUIVALENT: "#e6f4d7",
    Outcome.OUTPUT_DIFFERS: "#f8d7da",
    Outcome.INPUT_DIFFERS: "#fff3cd",
    Outcome.FAILED: "#f5c6cb",
    Outcome.UNREPLAYABLE: "#ffeeba",
    Outcome.SKIPPED: "#e2e3e5",
    Outcome.FROZEN: "#f1f3f5",
    Outcome.REUSED: "#d1ecf1",
    Outcome.FORKED: "#e2d9f3",
}

#: Inline CSS of a factor's chip by its verdict in an explanation (the widget and the static view);
#: ``metadata`` is a factor that changes only metadata (its detail starts with ``metadata:``).
FACTOR_STYLES: Mapping[str, str] = {
    "changes-output": "background-color: #f8d7da; color: #721c24; font-weight: bold",
    "metadata": "background-color: #fff3cd; color: #856404",
    "no-effect": "background-color: #f1f3f5; color: #6c757d",
    "not-tested": "background-color: #e2e3e5; color: #495057; font-style: italic",
}


def step_method(step: Any) -> str:
    """What ``step`` (a ``Step``) runs, as the surfaces show it: a ``notebook`` step's ``papermill NB``
    followed by its parameters as typed (``-p n 4 -p name cells.csv``; strings plain unless they
    would read as JSON); any other step's ``method``."""
    if step.step_type != "notebook":
        return step.method
    import json
    import shlex

    from scidex_replay.handlers.notebook import notebook_parameters

    def typed(value: Any) -> str:
        if isinstance(value, str):
            try:
                json.loads(value)
            except ValueError:
                return value
        return json.dumps(value, ensure_ascii=False)

    words = [w for k, v in notebook_parameters(step.parameters).items() for w in ("-p", k, typed(v))]
    return shlex.join([*step.method.split(" ", 1), *words])
