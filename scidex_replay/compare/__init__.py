"""Comparators: what differs between a recorded and a replayed output, in the format's own terms.

``compare_files`` chooses a comparator (``registry.Comparators.choose``: sniffing, then
extension) and answers a ``Comparison``; the replay runs it only on outputs whose bytes
differ, and an output is ``equivalent`` when every difference found leaves its content equal.
"""

from scidex_replay.compare.base import (
    Comparator,
    Comparison,
    Difference,
    Kind,
    MissingExtra,
    Tolerance,
    require,
)
from scidex_replay.compare.registry import Comparators, compare_files, load_comparators

__all__ = [
    "Comparator", "Comparators", "Comparison", "Difference", "Kind", "MissingExtra", "Tolerance",
    "compare_files", "load_comparators", "require",
]
