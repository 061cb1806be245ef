"""The manifest's ``diff`` entry (``--diff``): where a replayed output first differs from the
recorded one, both sizes, and the readable diff its comparator made (``compare``)."""

from __future__ import annotations

from typing import Any

from scidex_replay.compare import Comparison
from scidex_replay.compare.binary import first_difference
from scidex_replay.store import BlobStore

#: lines of the comparator's diff kept in the manifest (the whole one is a blob: ``diff_blob``)
DIFF_LINES = 200


def describe(store: BlobStore, live: str, replayed: str, comparison: Comparison | None) -> dict[str, Any]:
    """The ``diff`` entry of a step whose output ``live`` was replayed as ``replayed``."""
    out: dict[str, Any] = {
        "first_difference_offset": first_difference(store.path(live), store.path(replayed)),
        "size_live": store.path(live).stat().st_size,
        "size_replayed": store.path(replayed).stat().st_size,
        "replayed_blob": replayed,
    }
    if comparison is not None and comparison.full_diff:
        lines = comparison.full_diff.splitlines(keepends=True)
        out["unified"] = "".join(lines[:DIFF_LINES]) + ("…\n" if len(lines) > DIFF_LINES else "")
    return out
