"""NumPy arrays: ``.npy`` files and ``.npz`` archives (a zip of ``.npy`` members), with numpy.

A ``.npy`` file is opened with ``np.load(mmap_mode="r")`` and compared a block of
``_numeric.BLOCK`` elements at a time, in storage order (C or Fortran, when both files agree;
otherwise in C order, a slab of the first axis at a time), so memory is bounded by a block.
An ``.npz`` is compared member by member: the member list (removed, added -> ``content``;
another order -> ``order``), each member's zip header (modification time, compression ->
``metadata``; numpy's ``savez`` stamps every member with the clock), and the arrays of the
members whose CRC differs, read from the zip stream block by block (compressed members
cannot be memory-mapped).

For each array: the shape and dtype (-> ``content``); the maximum absolute and relative
difference and the index where each is largest, and how many elements differ
(``_numeric.ValueDiff``: within the tolerance -> ``numeric``, beyond it -> ``content``);
the header's format version and memory order (-> ``metadata`` when the values are equal).
Arrays of Python objects (pickled) are not unpickled: a difference in them is ``content``.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from scidex_replay.compare._numeric import BLOCK, ValueDiff
from scidex_replay.compare.base import MAX_DIFFERENCES, Comparison, Difference, Kind, Tolerance, require

NPY_MAGIC = b"\x93NUMPY"
ZIP_MAGIC = b"PK\x03\x04"


def _first_member(head: bytes) -> str:
    """The name of the first member of a zip whose local header starts ``head`` ('' if unreadable)."""
    if len(head) < 30:
        return ""
    n = int.from_bytes(head[26:28], "little")
    return head[30:30 + n].decode("utf-8", errors="replace")


class _Header:
    """The header of one ``.npy`` stream: format version, dtype, shape, memory order."""

    def __init__(self, fh: IO[bytes]):
        np = require("numpy")
        fmt = np.lib.format
        self.version = fmt.read_magic(fh)
        if self.version == (1, 0):
            self.shape, self.fortran, self.dtype = fmt.read_array_header_1_0(fh)
        elif self.version == (2, 0):
            self.shape, self.fortran, self.dtype = fmt.read_array_header_2_0(fh)
        else:
            self.shape, self.fortran, self.dtype = fmt._read_array_header(fh, self.version)
        self.size = 1
        for n in self.shape:
            self.size *= n

    def fields(self) -> dict[str, Any]:
        return {"format version": "%d.%d" % self.version, "memory order": "Fortran" if self.fortran else "C"}


def _locate(shape: tuple[int, ...], fortran: bool):
    np = require("numpy")

    def at(pos: int | None) -> str:
        if pos is None or not shape:
            return "index ()"
        idx = tuple(int(i) for i in np.unravel_index(pos, shape, order="F" if fortran else "C"))
        return f"index {idx[0]}" if len(idx) == 1 else f"index {idx}"
    return at


def _stream_blocks(fh: IO[bytes], header: _Header) -> Iterator[Any]:
    """The values of a ``.npy`` stream after its header, ``BLOCK`` elements at a time."""
    np = require("numpy")
    left = header.size
    item = header.dtype.itemsize
    while left > 0:
        n = min(BLOCK, left)
        buf = fh.read(n * item)
        if len(buf) < n * item:
            raise ValueError(f"array data ends early ({left * item - len(buf)} bytes missing)")
        yield np.frombuffer(buf, dtype=header.dtype)
        left -= n


def _mmap_blocks(a: Any, fortran: bool) -> Iterator[Any]:
    """Flat blocks of a memory-mapped array in storage order (``fortran`` says which)."""
    flat = a.reshape(-1, order="F" if fortran else "C")  # a view: the order is the file's
    for start in range(0, flat.size, BLOCK):
        yield flat[start:start + BLOCK]


def _slab_blocks(a: Any) -> Iterator[Any]:
    """Flat blocks in C order of an array of either order: a slab of the first axis at a time."""
    np = require("numpy")
    if a.ndim == 0:
        yield a.reshape(-1)
        return
    per_row = max(1, a.size // max(1, a.shape[0]))
    rows = max(1, BLOCK // per_row)
    for start in range(0, a.shape[0], rows):
        yield np.ascontiguousarray(a[start:start + rows]).reshape(-1)


class _ArrayReport:
    """What differs between two arrays of one file or member; ``where`` names it."""

    def __init__(self, where: str, tolerance: Tolerance):
        self.where, self.tolerance = where, tolerance
        self.differences: list[Difference] = []
        self.values: ValueDiff | None = None
        self.size = 0
        self.locate = str

    def header(self, ha: _Header, hb: _Header) -> bool:
        """Compare shapes and dtypes (-> content); whether values can be compared element by element."""
        np = require("numpy")
        self.size = ha.size
        if ha.shape != hb.shape:
            self.differences.append(Difference(self.where, Kind.CONTENT, f"shape {ha.shape} → {hb.shape}"))
            return False
        if ha.dtype != hb.dtype:
            self.differences.append(Difference(self.where, Kind.CONTENT, f"dtype {ha.dtype} → {hb.dtype}"))
            both = all(d.kind in "iufc" for d in (ha.dtype, hb.dtype))
            if not both:
                return False
        if ha.dtype.hasobject or hb.dtype.hasobject:
            return False
        self.values = ValueDiff(self.tolerance, numeric=np.dtype(ha.dtype).kind in "iufc")
        return True

    def feed(self, blocks_a: Iterator[Any], blocks_b: Iterator[Any], locate) -> None:
        self.locate = locate
        offset = 0
        for xa, xb in zip(blocks_a, blocks_b):
            self.values.update(xa, xb, offset)
            offset += len(xa)

    def finish(self, ha: _Header, hb: _Header) -> None:
        if self.values is not None:
            d = self.values.difference(self.where, self.size, self.locate)
            if d is not None:
                self.differences.append(d)
        fa, fb = ha.fields(), hb.fields()
        for key in fa:
            if fa[key] != fb[key]:
                self.differences.append(Difference(self.where, Kind.METADATA, f".npy {key} {fa[key]} → {fb[key]}"))

    def metrics(self, ha: _Header, hb: _Header) -> dict[str, Any]:
        out: dict[str, Any] = {"shape_live": list(ha.shape), "shape_replayed": list(hb.shape),
                               "dtype_live": str(ha.dtype), "dtype_replayed": str(hb.dtype), "elements": ha.size}
        if self.values is not None:
            out.update(self.values.metrics(self.locate))
        return out


class NumpyComparator:
    """``.npy`` (``\\x93NUMPY``) and ``.npz`` (a zip named ``*.npz`` or whose first member is a
    ``.npy``); priority 20, above the zip comparator (10). Raises ``MissingExtra`` without
    numpy; a truncated or corrupt file raises (the replay then falls back to bytes)."""

    name = "numpy"
    extensions = (".npy", ".npz")
    priority = 20

    def sniff(self, head: bytes, name: str) -> bool:
        if head.startswith(NPY_MAGIC):
            return True
        return head.startswith(ZIP_MAGIC) and (name.lower().endswith(".npz") or _first_member(head).endswith(".npy"))

    def compare(self, live: Path, replayed: Path, *, name: str, tolerance: Tolerance) -> Comparison:
        with open(live, "rb") as fh:
            npy = fh.read(len(NPY_MAGIC)) == NPY_MAGIC
        return self._npy(live, replayed, name, tolerance) if npy else self._npz(live, replayed, tolerance)

    def _npy(self, live: Path, replayed: Path, name: str, tolerance: Tolerance) -> Comparison:
        np = require("numpy")
        with open(live, "rb") as fa, open(replayed, "rb") as fb:
            ha, hb = _Header(fa), _Header(fb)
        report = _ArrayReport("array", tolerance)
        if report.header(ha, hb):
            a = np.load(live, mmap_mode="r", allow_pickle=False)
            b = np.load(replayed, mmap_mode="r", allow_pickle=False)
            if ha.fortran == hb.fortran:
                report.feed(_mmap_blocks(a, ha.fortran), _mmap_blocks(b, hb.fortran), _locate(ha.shape, ha.fortran))
            else:
                report.feed(_slab_blocks(a), _slab_blocks(b), _locate(ha.shape, False))
            del a, b
        elif ha.dtype.hasobject and ha.shape == hb.shape:
            report.differences.append(Difference("array", Kind.CONTENT, "an array of Python objects (pickled) differs; not unpickled"))
        report.finish(ha, hb)
        differences = report.differences or [Difference("array", Kind.METADATA, "values and header fields equal; the header's padding differs")]
        metrics = report.metrics(ha, hb)
        return Comparison(self.name, _summary([("", report)], differences, []), differences, metrics)

    def _npz(self, live: Path, replayed: Path, tolerance: Tolerance) -> Comparison:
        differences: list[Difference] = []
        reports: list[tuple[str, _ArrayReport]] = []
        member_metrics: dict[str, Any] = {}
        times: list[str] = []
        with zipfile.ZipFile(live) as za, zipfile.ZipFile(replayed) as zb:
            ia, ib = za.infolist(), zb.infolist()
            names_a, names_b = [i.filename for i in ia], [i.filename for i in ib]
            for n in names_a:
                if n not in names_b:
                    differences.append(Difference(f"member {n}", Kind.CONTENT, "not in the replayed archive"))
            for n in names_b:
                if n not in names_a:
                    differences.append(Difference(f"member {n}", Kind.CONTENT, "added by the replay"))
            common = [n for n in names_a if n in names_b]
            if common != [n for n in names_b if n in names_a]:
                differences.append(Difference("members", Kind.ORDER, "the same members in another order"))
            for n in common:
                ma, mb = za.getinfo(n), zb.getinfo(n)
                if ma.date_time != mb.date_time:
                    times.append(n)
                if ma.compress_type != mb.compress_type:
                    differences.append(Difference(f"member {n}", Kind.METADATA, f"compression {ma.compress_type} → {mb.compress_type}"))
                if ma.CRC == mb.CRC and ma.file_size == mb.file_size:
                    continue
                report = _ArrayReport(f"member {n}", tolerance)
                with za.open(n) as fa, zb.open(n) as fb:
                    ha, hb = _Header(fa), _Header(fb)
                    if report.header(ha, hb):
                        if ha.fortran == hb.fortran:
                            report.feed(_stream_blocks(fa, ha), _stream_blocks(fb, hb), _locate(ha.shape, ha.fortran))
                        else:  # rare: the two orders cannot be streamed in step; read both whole
                            np = require("numpy")
                            with za.open(n) as fa2, zb.open(n) as fb2:
                                a, b = np.lib.format.read_array(fa2), np.lib.format.read_array(fb2)
                            report.feed(_slab_blocks(a), _slab_blocks(b), _locate(ha.shape, False))
                    elif ha.dtype.hasobject and ha.shape == hb.shape:
                        report.differences.append(Difference(f"member {n}", Kind.CONTENT, "an array of Python objects (pickled) differs; not unpickled"))
                report.finish(ha, hb)
                differences.extend(report.differences)
                reports.append((n, report))
                if len(member_metrics) < MAX_DIFFERENCES:
                    member_metrics[n] = report.metrics(ha, hb)
        if times:
            shown = ", ".join(times[:5]) + (", …" if len(times) > 5 else "")
            differences.append(Difference("zip member times", Kind.METADATA, f"{len(times)} member(s) with another modification time: {shown}"))
        if not differences:
            differences.append(Difference("archive", Kind.METADATA, "members and their headers equal; the zip layout differs"))
        metrics = {"members_live": len(names_a), "members_replayed": len(names_b), "members_times_differ": len(times)}
        if member_metrics:
            metrics["members"] = member_metrics
        return Comparison(self.name, _summary(reports, differences, times), differences, metrics)


def _summary(reports: list[tuple[str, _ArrayReport]], differences: list[Difference], times: list[str]) -> str:
    """``content differs: member 'x.npy' max abs diff 0.25 (index 17), 1 of 100 elements`` and the like."""
    def of(member: str) -> str:
        return f"member {member!r} " if member else ""

    valued = [(m, r) for m, r in reports if r.values is not None and r.values.changed]
    content = [d for d in differences if d.kind is Kind.CONTENT]
    if content:
        beyond = [(m, r) for m, r in valued if r.values.kind is Kind.CONTENT]
        if beyond:
            m, r = beyond[0]
            head = r.values.headline(of(m).strip() or "values", r.locate)
            more = f" (and {len(content) - 1} more differences)" if len(content) > 1 else ""
            return f"content differs: {head}, {r.values.changed} of {r.size} elements{more}"
        first = content[0]
        return f"content differs: {first.where}: {first.detail}" + (f" (and {len(content) - 1} more)" if len(content) > 1 else "")
    parts = []
    for m, r in valued:
        parts.append(f"{r.values.headline(of(m).strip() or 'values', r.locate)} within tolerance, {r.values.changed} of {r.size} elements")
    if times:
        parts.append(f"zip member times differ ({len(times)} member{'s' if len(times) > 1 else ''})")
    others = [d for d in differences if d.kind in (Kind.METADATA, Kind.ORDER) and d.where != "zip member times"]
    parts.extend(f"{d.where}: {d.detail}" for d in others[:2])
    only = "" if valued else "values equal; only "
    return f"equivalent: {only}" + "; ".join(parts)
