"""Where a replayed output differs from the recorded one: first differing byte, and for text a unified diff."""

from __future__ import annotations

import difflib
from itertools import zip_longest
from typing import Any

from scidex_replay.store import BlobStore

TEXT_LIMIT = 1 << 20  # unified diffs only for outputs up to 1 MiB
DIFF_LINES = 200


def first_difference(store: BlobStore, live: str, replayed: str) -> int | None:
    """Byte offset of the first difference, streaming both blobs; None if identical."""
    offset = 0
    for a, b in zip_longest(store.iter_chunks(live), store.iter_chunks(replayed), fillvalue=b""):
        if a != b:
            n = min(len(a), len(b))
            i = next((k for k in range(n) if a[k] != b[k]), n)
            return offset + i
        offset += len(a)
    return None


def _text(store: BlobStore, digest: str) -> list[str] | None:
    if store.path(digest).stat().st_size > TEXT_LIMIT:
        return None
    data = b"".join(store.iter_chunks(digest))
    try:
        return data.decode("utf-8").splitlines(keepends=True)
    except UnicodeDecodeError:
        return None


def describe(store: BlobStore, live: str, replayed: str, name: str) -> dict[str, Any]:
    """The manifest's ``diff`` entry for one step."""
    out: dict[str, Any] = {
        "first_difference_offset": first_difference(store, live, replayed),
        "size_live": store.path(live).stat().st_size,
        "size_replayed": store.path(replayed).stat().st_size,
        "replayed_blob": replayed,
    }
    a, b = _text(store, live), _text(store, replayed)
    if a is not None and b is not None:
        lines = list(difflib.unified_diff(a, b, f"live/{name}", f"replayed/{name}"))
        out["unified"] = "".join(lines[:DIFF_LINES]) + ("…\n" if len(lines) > DIFF_LINES else "")
    return out
