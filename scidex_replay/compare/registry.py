"""Which comparator reads an output: content sniffing first, then the name's extension, then
text for UTF-8 and bytes for the rest. Built-ins and third parties alike come from the
entry-point group ``scidex_replay.comparators`` (as handlers do from ``scidex_replay.handlers``)."""

from __future__ import annotations

import functools
import logging
from importlib.metadata import entry_points
from pathlib import Path

from scidex_replay.compare.base import Comparator, Comparison, Difference, Kind, MissingExtra, Tolerance

GROUP = "scidex_replay.comparators"
#: how many leading bytes ``sniff`` is shown (a tar header's magic sits at 257)
HEAD_BYTES = 4096
logger = logging.getLogger(__name__)


class Comparators:
    """The comparators a replay chooses from, by ``name``; ``choose`` picks one for a file."""

    def __init__(self, comparators: list[Comparator] = ()):  # type: ignore[assignment]
        self._by_name: dict[str, Comparator] = {}
        for comparator in comparators:
            self.register(comparator)

    def register(self, comparator: Comparator) -> Comparator:
        """Add ``comparator``; a second one with the same name replaces nothing and raises ``ValueError``."""
        for attr in ("name", "extensions", "priority", "sniff", "compare"):
            if not hasattr(comparator, attr):
                raise ValueError(f"comparator {comparator!r}: missing {attr!r}")
        if comparator.name in self._by_name:
            raise ValueError(f"two comparators are called {comparator.name!r}")
        self._by_name[comparator.name] = comparator
        return comparator

    def get(self, name: str) -> Comparator:
        return self._by_name[name]

    def names(self) -> list[str]:
        return sorted(self._by_name)

    def choose(self, head: bytes, name: str) -> Comparator:
        """The comparator for a file starting with ``head`` and called ``name``: the first (highest
        ``priority``) whose ``sniff`` answers yes, else the first whose extensions hold the name's
        suffix, else ``text`` when ``head`` decodes as UTF-8, else ``bytes``."""
        ordered = sorted(self._by_name.values(), key=lambda c: (-c.priority, c.name))
        for comparator in ordered:
            try:
                if comparator.sniff(head, name):
                    return comparator
            except Exception:  # a plugin's sniff must not break the replay
                logger.debug("comparator %s: sniff raised", comparator.name, exc_info=True)
        suffixes = [s.lower() for s in Path(name).suffixes]
        for suffix in reversed(suffixes):  # data.csv.gz: gzip first, its payload then
            for comparator in ordered:
                if suffix in comparator.extensions:
                    return comparator
        if "text" in self._by_name and _is_text(head):
            return self._by_name["text"]
        return self._by_name["bytes"]


def _is_text(head: bytes) -> bool:
    if b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start >= len(head) - 3  # a character cut at the end of the head
    return True


@functools.cache
def load_comparators() -> Comparators:
    """Every comparator in the ``scidex_replay.comparators`` entry-point group; one that fails to
    load is logged and left out (its files fall back to the next choice)."""
    found = Comparators()
    for ep in sorted(entry_points(group=GROUP), key=lambda e: e.name):
        try:
            found.register(ep.load()())
        except Exception as exc:
            logger.warning("comparator %s could not be loaded: %s", ep.name, exc)
    return found


def compare_files(
    live: Path, replayed: Path, *, name: str, tolerance: Tolerance, comparators: Comparators | None = None,
) -> Comparison:
    """Compare the recorded (``live``) and replayed versions of the output ``name``, whose bytes differ.

    The chosen comparator's answer; when its library is missing, or it fails on files it
    sniffed as its own, the byte comparison's answer with a first difference saying why.
    Never raises for the files' content.
    """
    comparators = comparators or load_comparators()
    with open(live, "rb") as fh:
        head = fh.read(HEAD_BYTES)
    comparator = comparators.choose(head, name)
    try:
        return comparator.compare(live, replayed, name=name, tolerance=tolerance)
    except MissingExtra as exc:
        why = f"the {comparator.name} comparator needs {exc}"
    except Exception as exc:  # a file that looks like the format but is not, or a comparator bug
        logger.debug("comparator %s failed on %s", comparator.name, name, exc_info=True)
        why = f"the {comparator.name} comparator could not read it ({type(exc).__name__}: {exc})"
    fallback = comparators.get("bytes").compare(live, replayed, name=name, tolerance=tolerance)
    fallback.differences.insert(0, Difference(name, Kind.CONTENT, why))
    fallback.summary = f"{fallback.summary}; {why}"
    fallback.metrics["comparator_unavailable"] = comparator.name
    return fallback
