"""Numbers inside text: two lines that are equal but for their numbers, and how far those are apart.

Printed results (``print(f"mean = {m}")``, a log, a report) are text whose numbers may move
in the last digits from one run to the next (a bootstrap, a BLAS with another summation
order). ``numeric_change`` tells such a line pair from a change of the words around them.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from scidex_replay.compare.base import Tolerance, relative_difference

#: a decimal number as programs print it: 3, -0.25, 1e-9, 6.02E+23, .5, nan, inf; not the digits
#: of a name (gene2, x_1)
NUMBER = re.compile(r"(?<![A-Za-z_])[-+]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|(?<![A-Za-z])(?:nan|inf)(?![A-Za-z]))", re.IGNORECASE)

#: a number written as an integer: compared exactly (a declared atol aside)
INTEGER = re.compile(r"[-+]?\d+")
#: a code written with leading zeros (a sample id 007, a ZIP code 02139): text, not a number
LEADING_ZERO = re.compile(r"[-+]?0\d")


@dataclass(frozen=True)
class NumericChange:
    """Numbers that differ between two otherwise equal lines: how many differ in value (0: only
    written differently, 1.50 and 1.5), the largest absolute and relative difference (relative
    to the recorded value), and whether all are within tolerance."""

    count: int
    max_abs: float
    max_rel: float
    within: bool
    first: tuple[str, str]  # the first pair that differs, as written


def numeric_change(live: str, replayed: str, tolerance: Tolerance) -> NumericChange | None:
    """How the numbers of ``replayed`` differ from those of ``live`` when the two lines are equal
    but for their numbers; None when something else differs too (or nothing does)."""
    if live == replayed or NUMBER.sub("#", live) != NUMBER.sub("#", replayed):
        return None
    pairs = [(a, b) for a, b in zip(NUMBER.findall(live), NUMBER.findall(replayed)) if a != b]
    max_abs = max_rel = 0.0
    within, count = True, 0
    if any(LEADING_ZERO.match(a) or LEADING_ZERO.match(b) for a, b in pairs):
        return None  # 007 → 7 is a code that lost its zeros, not a number that moved
    for a, b in pairs:
        x, y = float(a), float(b)
        close = tolerance.for_integers.close if INTEGER.fullmatch(a) and INTEGER.fullmatch(b) else tolerance.close
        if x == y or (math.isnan(x) and math.isnan(y)):  # 1.50 and 1.5: one number written two ways
            continue
        count += 1
        diff = abs(x - y) if math.isfinite(x) and math.isfinite(y) else math.inf
        max_abs, max_rel = max(max_abs, diff), max(max_rel, relative_difference(x, y))
        within = within and close(x, y)
    return NumericChange(count, max_abs, max_rel, within, pairs[0])
