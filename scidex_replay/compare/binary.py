"""The comparator of last resort: where two files first differ, and their sizes."""

from __future__ import annotations

from itertools import zip_longest
from pathlib import Path
from typing import BinaryIO, Iterator

from scidex_replay.compare.base import Comparison, Difference, Kind, Tolerance

CHUNK = 1 << 20


def chunks(fh: BinaryIO, size: int = CHUNK) -> Iterator[bytes]:
    while block := fh.read(size):
        yield block


def first_difference(live: Path, replayed: Path) -> int | None:
    """Byte offset of the first difference, streaming both files; None if identical."""
    offset = 0
    with open(live, "rb") as a_fh, open(replayed, "rb") as b_fh:
        for a, b in zip_longest(chunks(a_fh), chunks(b_fh), fillvalue=b""):
            if a != b:
                n = min(len(a), len(b))
                return offset + next((k for k in range(n) if a[k] != b[k]), n)
            offset += len(a)
    return None


class BytesComparator:
    """Any file: the first differing byte and the size delta; every difference is ``content``."""

    name = "bytes"
    extensions: tuple[str, ...] = ()
    priority = -100

    def sniff(self, head: bytes, name: str) -> bool:
        return False

    def compare(self, live: Path, replayed: Path, *, name: str, tolerance: Tolerance) -> Comparison:
        size_live, size_replayed = live.stat().st_size, replayed.stat().st_size
        offset = first_difference(live, replayed)
        metrics = {"size_live": size_live, "size_replayed": size_replayed, "first_difference_offset": offset}
        if offset is None:
            return Comparison(self.name, "bytes identical", [], metrics)
        delta = size_replayed - size_live
        sizes = f"{size_live} → {size_replayed} bytes ({delta:+d})" if delta else f"both {size_live} bytes"
        detail = f"first difference at byte {offset}; {sizes}"
        return Comparison(self.name, f"bytes differ from byte {offset}; {sizes}", [Difference(f"byte {offset}", Kind.CONTENT, detail)], metrics)
