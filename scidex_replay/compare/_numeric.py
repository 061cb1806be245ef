"""Block-by-block comparison of two arrays of values, shared by the array and table comparators.

``ValueDiff`` is fed aligned blocks of the recorded (``live``) and replayed values of one
column, dataset or array, with the flat position of each block's first element, and keeps
running figures only (memory bounded by a block): how many elements differ at all, how many
beyond the tolerance, the largest absolute and relative difference and where. The
tolerance rule is ``Tolerance``'s (NumPy ``isclose`` with the recorded value as reference,
NaN equal to NaN); values that are not numbers (strings, booleans, dates, records) differ
or not, with no magnitude.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from scidex_replay.compare.base import Difference, Kind, Tolerance

#: elements per block a comparator reads of each array (8 MiB of float64 per side)
BLOCK = 1 << 20


def is_numeric(dtype: np.dtype) -> bool:
    """Integers, unsigned integers, floats and complex numbers (not booleans, not records)."""
    return dtype.kind in "iufc"


def fmt(x: float) -> str:
    """A number as a person reads it: ``0.25``, ``1.7e-12``, ``inf``."""
    return f"{x:.6g}" if isinstance(x, float) else str(x)


@dataclass
class ValueDiff:
    """Running figures of the differences between two arrays compared block by block.

    ``changed`` counts elements that differ at all, ``beyond`` those outside the tolerance
    (all of ``changed`` for values that are not numbers). ``max_abs``/``max_rel`` are the
    largest ``|live - replayed|`` and ``|live - replayed| / |live|`` (inf when ``live`` is 0),
    at flat positions ``max_abs_at``/``max_rel_at``; ``first_at`` is the first differing position.
    """

    tolerance: Tolerance
    numeric: bool = True
    changed: int = 0
    beyond: int = 0
    max_abs: float = 0.0
    max_abs_at: int | None = None
    max_rel: float = 0.0
    max_rel_at: int | None = None
    first_at: int | None = None
    examples: list[tuple[int, Any, Any]] = field(default_factory=list)

    def update(self, live: np.ndarray, replayed: np.ndarray, offset: int = 0) -> np.ndarray | None:
        """Take one aligned block (same length, 1-d); returns the boolean mask of its differing
        elements, or None when the block is equal (the common, fast case)."""
        if live.shape != replayed.shape:
            raise ValueError(f"blocks of different shapes {live.shape} and {replayed.shape}")
        if _same_bytes(live, replayed):
            return None
        numeric = self.numeric and is_numeric(live.dtype) and is_numeric(replayed.dtype)
        if numeric:
            if live.dtype.kind in "fc" or replayed.dtype.kind in "fc":
                differ = ~((live == replayed) | (np.isnan(live) & np.isnan(replayed)))
            else:
                differ = live != replayed
        else:
            try:
                differ = np.asarray(live != replayed)
            except (ValueError, TypeError):  # elements that are arrays (variable-length data)
                differ = None
            if differ is None or differ.shape != live.shape:  # a comparison numpy cannot do elementwise
                differ = np.array([not _same(a, b) for a, b in zip(live.tolist(), replayed.tolist())], dtype=bool)
        if not differ.any():
            return None
        idx = np.flatnonzero(differ)
        n = int(idx.size)
        self.changed += n
        if self.first_at is None:
            self.first_at = offset + int(idx[0])
        if len(self.examples) < 3:
            for i in idx[: 3 - len(self.examples)]:
                self.examples.append((offset + int(i), _scalar(live[i]), _scalar(replayed[i])))
        if not numeric:
            self.numeric = False
            self.beyond += n
            return differ
        a = live[idx].astype(np.complex128 if live.dtype.kind == "c" or replayed.dtype.kind == "c" else np.float64)
        b = replayed[idx].astype(a.dtype)
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            absd = np.abs(a - b)
            absd = np.where(np.isnan(absd), np.inf, absd)  # NaN against a number: as far apart as can be
            rel = np.where(a != 0, absd / np.abs(a), np.inf)
            integers = live.dtype.kind in "iu" and replayed.dtype.kind in "iu"
            tolerance = self.tolerance.for_integers if integers else self.tolerance
            close = absd <= tolerance.atol + tolerance.rtol * np.abs(a)
            close &= np.isfinite(a) & np.isfinite(b)
        self.beyond += n - int(close.sum())
        k = int(np.argmax(absd))
        if self.max_abs_at is None or absd[k] > self.max_abs:
            self.max_abs, self.max_abs_at = float(absd[k]), offset + int(idx[k])
        k = int(np.argmax(rel))
        if self.max_rel_at is None or rel[k] > self.max_rel:
            self.max_rel, self.max_rel_at = float(rel[k]), offset + int(idx[k])
        return differ

    def mismatch(self, positions: np.ndarray, live: list[Any], replayed: list[Any]) -> None:
        """Count elements found different by other means (a null against a value, a string, a
        nested value) at flat ``positions``, with their values for the examples: ``content``."""
        n = int(len(positions))
        if not n:
            return
        self.changed += n
        self.beyond += n
        first = int(positions.min())
        self.first_at = first if self.first_at is None else min(self.first_at, first)
        for p, a, b in list(zip(positions.tolist(), live, replayed))[: max(0, 3 - len(self.examples))]:
            self.examples.append((int(p), _scalar(a), _scalar(b)))

    @property
    def kind(self) -> Kind | None:
        """None when nothing differs, ``numeric`` when every difference is within the tolerance, else ``content``."""
        if not self.changed:
            return None
        return Kind.NUMERIC if self.numeric and not self.beyond else Kind.CONTENT

    def metrics(self, locate=str) -> dict[str, Any]:
        """JSON figures; ``locate`` turns a flat position into a place (a row, an index tuple)."""
        out: dict[str, Any] = {"changed": self.changed}
        if self.numeric and self.max_abs_at is not None:
            out.update(
                beyond_tolerance=self.beyond,
                max_abs_diff=self.max_abs, max_abs_at=locate(self.max_abs_at),
                max_rel_diff=self.max_rel, max_rel_at=locate(self.max_rel_at),
            )
        elif self.changed:
            out["first_at"] = locate(self.first_at)
        return out

    def difference(self, where: str, of: int, locate=str, unit: str = "elements") -> Difference | None:
        """One ``Difference`` for this array (None when equal): the largest difference, where, and
        how many of ``of`` elements changed, e.g. ``max abs diff 0.25 (row 17), rel 0.01; 3 of 120 rows``."""
        kind = self.kind
        if kind is None:
            return None
        count = f"{self.changed} of {of} {unit} differ"
        if self.numeric and self.max_abs_at is not None:
            within = " (all within tolerance)" if kind is Kind.NUMERIC else f", {self.beyond} beyond tolerance"
            detail = (
                f"max abs diff {fmt(self.max_abs)} ({locate(self.max_abs_at)}), "
                f"max rel diff {fmt(self.max_rel)} ({locate(self.max_rel_at)}); {count}{within}"
            )
        else:
            at, a, b = min(self.examples, key=lambda e: e[0])
            detail = f"{count}; first at {locate(at)}: {a!r} → {b!r}"
        return Difference(where, kind, detail)

    def headline(self, what: str, locate=str) -> str:
        """A summary fragment: ``column 'mean' max abs diff 0.25 (row 17)``."""
        if self.numeric and self.max_abs_at is not None:
            return f"{what} max abs diff {fmt(self.max_abs)} ({locate(self.max_abs_at)})"
        return f"{what}: first difference at {locate(self.first_at)}"


def _same_bytes(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two blocks of one plain dtype hold the same bytes (a memcmp-like fast path,
    eight times quicker than comparing floats with NaN handling)."""
    if a.dtype != b.dtype or a.dtype.hasobject or not (a.flags.c_contiguous and b.flags.c_contiguous):
        return False
    size = a.dtype.itemsize
    word = np.uint64 if size % 8 == 0 else np.uint32 if size % 4 == 0 else np.uint16 if size % 2 == 0 else np.uint8
    return bool(np.array_equal(a.view(word), b.view(word)))


def _same(a: Any, b: Any) -> bool:
    try:
        eq = a == b
        return bool(np.all(eq)) if isinstance(eq, np.ndarray) else bool(eq)
    except Exception:
        return repr(a) == repr(b)


def _scalar(x: Any) -> Any:
    """A value small enough to show (an element of a block)."""
    if isinstance(x, np.generic):
        x = x.item()
    if isinstance(x, bytes) and len(x) > 60:
        x = x[:60] + b"..."
    if isinstance(x, str) and len(x) > 60:
        x = x[:60] + "…"
    if isinstance(x, float) and not math.isfinite(x):
        return str(x)
    return x


def blocks(n: int, step: int = BLOCK):
    """``(start, stop)`` pairs covering ``range(n)`` in steps of ``step``."""
    for start in range(0, n, step):
        yield start, min(n, start + step)
