"""What a comparator says about two versions of one output, and the tolerance it judges numbers by.

A comparator is told the recorded (``live``) and the replayed file of one output whose bytes
differ, and answers a ``Comparison`` (the manifest's ``comparison``, DESIGN.md manifest v2):
which comparator, whether the content is equal (``equivalent``), a one-line summary, each
difference with its kind, and metrics. A difference's kind says whether it matters:
``metadata`` (times, producer fields, header bytes), ``volatile-id`` (random ids such as
uuid4 tokens), ``order`` (the same rows or members in another order), ``numeric`` (numbers
within the tolerance) — all of which leave the content equal — and ``content``, which
does not. The kinds follow Galaxy's test verifier (lib/galaxy/tool_util/verify), which
compares outputs by format, sorts before diffing, and ignores PDF dates and ids.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, ClassVar, Protocol, runtime_checkable

from scidex_replay.errors import ReplayError

#: the most differences a comparison keeps (its metrics count them all)
MAX_DIFFERENCES = 50
#: the longest ``detail`` kept, in characters
MAX_DETAIL = 400


class Kind(StrEnum):
    """What a difference is (the manifest's ``differences[].kind``)."""

    METADATA = "metadata"
    VOLATILE_ID = "volatile-id"
    ORDER = "order"
    NUMERIC = "numeric"
    CONTENT = "content"

    def __repr__(self) -> str:
        return repr(self.value)


@dataclass(frozen=True)
class Tolerance:
    """How far two numbers may be apart and still count as equal: ``|a - b| <= atol + rtol * |b|``
    (NumPy's ``isclose`` rule, ``b`` the recorded value; NaN equals NaN).

    ``declared`` says the step or the replay set it (``run --rtol``, ``rerun-artifact --rtol``):
    a declared tolerance makes an ``equivalent`` output ok. The default, float noise only
    (relative 1e-9, absolute 0), labels an output ``equivalent`` but leaves it not ok.
    Raises ``ValueError`` for a negative or non-finite value.
    """

    rtol: float = 1e-9
    atol: float = 0.0
    declared: bool = False

    def __post_init__(self) -> None:
        for name in ("rtol", "atol"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value) or value < 0:
                raise ValueError(f"{name} must be a finite number >= 0, not {value!r}")

    def close(self, live: float, replayed: float) -> bool:
        """Whether ``replayed`` equals the recorded ``live`` within this tolerance."""
        if live == replayed:
            return True
        if math.isnan(live) and math.isnan(replayed):
            return True
        if math.isinf(live) or math.isinf(replayed) or math.isnan(live) or math.isnan(replayed):
            return False
        return abs(live - replayed) <= self.atol + self.rtol * abs(live)

    @property
    def for_integers(self) -> "Tolerance":
        """The tolerance for two integers (a count, an id, a date written 20261129, a timestamp
        in ns): no relative part, and a declared ``atol`` only. Float noise does not move
        integers: 1795986302472021823 and 1795986303460785501 are within a relative 1e-9, and
        are two readings of a clock."""
        return Tolerance(0.0, self.atol if self.declared else 0.0, self.declared)

    def to_json(self) -> dict[str, float]:
        return {"rtol": self.rtol, "atol": self.atol}


#: the step parameter a tolerance is recorded in (``run --rtol X --atol Y``): ``{"rtol": X, "atol": Y}``
TOLERANCE_KEY = "tolerance"


def recorded_tolerance(parameters: Mapping[str, Any]) -> Tolerance | None:
    """The tolerance recorded in a step's ``parameters``, declared; None when there is none, or
    when the parameter is not exactly ``{"rtol": number, "atol": number}`` (a function's own
    argument of that name, which is none of our business)."""
    value = parameters.get(TOLERANCE_KEY)
    if not isinstance(value, Mapping) or set(value) != {"rtol", "atol"}:
        return None
    try:
        return Tolerance(value["rtol"], value["atol"], declared=True)
    except ValueError:
        return None


def relative_difference(live: float, replayed: float) -> float:
    """``|live - replayed| / |live|`` (inf when ``live`` is 0 and they differ; 0 when equal)."""
    if live == replayed:
        return 0.0
    return abs(live - replayed) / abs(live) if live else math.inf


@dataclass(frozen=True)
class Difference:
    """One way the replayed output differs: ``where`` (a line, a column, a member, a JSON path),
    its ``kind`` and a ``detail`` a person reads."""

    where: str
    kind: Kind
    detail: str

    def to_json(self) -> dict[str, str]:
        detail = self.detail if len(self.detail) <= MAX_DETAIL else self.detail[: MAX_DETAIL - 1] + "…"
        return {"where": self.where, "kind": self.kind.value, "detail": detail}


@dataclass
class Comparison:
    """A comparator's answer for one output (the manifest's ``comparison``).

    ``equivalent`` holds when no difference is of kind ``content``. ``metrics`` are JSON
    values (counts, sizes in bytes, maximum differences); ``attachments`` are files the
    comparator made for a person to look at (a diff image), stored as blobs by the replay,
    whose digests then appear in ``metrics`` as ``{name}_blob``. ``full_diff`` is a longer
    readable diff than the manifest keeps (written under ``--out`` as ``STEP/NAME.diff``).
    """

    comparator: str
    summary: str
    differences: list[Difference] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)
    attachments: dict[str, Path] = field(default_factory=dict)
    full_diff: str | None = None

    @property
    def equivalent(self) -> bool:
        return not any(d.kind is Kind.CONTENT for d in self.differences)

    @property
    def kinds(self) -> list[str]:
        """The kinds of difference found, each once, in the order of ``Kind``."""
        found = {d.kind for d in self.differences}
        return [k.value for k in Kind if k in found]

    def to_json(self) -> dict[str, Any]:
        return {
            "comparator": self.comparator,
            "equivalent": self.equivalent,
            "summary": self.summary,
            "differences": [d.to_json() for d in self.differences[:MAX_DIFFERENCES]],
            "metrics": _json_safe(self.metrics),
        }


class MissingExtra(ReplayError):
    """A comparator's library is not installed: ``extra`` is the pip extra that brings it
    (``pip install 'scidex-replay[formats]'``)."""

    def __init__(self, library: str, extra: str = "formats"):
        self.library, self.extra = library, extra
        super().__init__(f"{library} is not installed (pip install 'scidex-replay[{extra}]')")


def require(module: str, extra: str = "formats") -> Any:
    """Import ``module`` for a comparator, or raise ``MissingExtra`` naming the extra that brings it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingExtra(module.split(".")[0], extra) from None


@runtime_checkable
class Comparator(Protocol):
    """Compares two versions of one output in its format's own terms.

    Class attributes: ``name`` (the manifest's ``comparator``), ``extensions`` (lower-case
    suffixes with the dot, chosen by when sniffing found none), ``priority`` (the higher,
    the earlier its ``sniff`` is asked; a specific format before its container: ``.npz``
    and ``.xlsx`` before zip). ``sniff(head, name)`` says from the first bytes (up to
    ``HEAD_BYTES``) and the output's name whether it reads this format. ``compare`` streams
    both files (memory bounded by a chunk, not the file) and raises ``MissingExtra`` when
    its library is absent; any other exception is the comparator's bug, and the replay
    falls back to the byte comparison.
    """

    name: ClassVar[str]
    extensions: ClassVar[tuple[str, ...]]
    priority: ClassVar[int]

    def sniff(self, head: bytes, name: str) -> bool: ...

    def compare(self, live: Path, replayed: Path, *, name: str, tolerance: Tolerance) -> Comparison: ...


def _json_safe(value: Any) -> Any:
    """``value`` with the floats JSON cannot hold (inf, nan) written as strings, at any depth."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value
