"""Containers: zip (and the formats built on it: xlsx, docx, pptx, ODF, jar, wheel), gzip and tar.

A container is compared as diffoscope unpacks one: its own header fields and member
headers (times, owners, modes, compression) are ``metadata``; a member added or removed is
``content``; the same members in another order is ``order``; a member whose bytes differ
is compared by the comparator the registry chooses for its name (``compare_files`` on the
two members streamed to temporary files), and its differences are named by the member
(``xl/worksheets/sheet1.xml (sheet 'summary') cell B3``). Office formats add what only they
know (``office.py``): the times in ``docProps/core.xml`` / ``meta.xml`` / ``MANIFEST.MF``
are ``metadata``, and worksheet cells are compared by value, numbers within the tolerance.

Memory is bounded by a chunk (members are streamed, never read whole, except metadata
members and shared-string tables under a few MiB); disk holds at most two members at a time
(``members.py`` holds what the three comparators share). Containers nested deeper than
``members.MAX_DEPTH`` compare their members byte by byte. A file that sniffs as a container
but is not one raises, and the registry falls back to bytes.
"""

from __future__ import annotations

import gzip
import struct
import tarfile
import tempfile
import zipfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from scidex_replay.compare import office
from scidex_replay.compare.base import Comparison, Difference, Kind, Tolerance
from scidex_replay.compare.members import (
    CHUNK, MemberContext, Report, Tally, compare_extracted, compare_membership, compare_payloads,
    header_change, keyed, layout_only, member_label, same_stream,
)


class ZipComparator:
    """Zip archives, member by member: xlsx, docx, pptx, ODF (odt/ods/odp), jar, wheel.

    Members added or removed are ``content``; the same members in another order ``order``;
    member times, extra fields, comments, compression, permissions and the archive comment
    ``metadata``; a member whose bytes differ is compared by its own format's comparator
    (an xlsx worksheet by cell, a metadata member such as ``docProps/core.xml`` by field).
    Metrics: ``members_live``, ``members_replayed``, ``members_added``, ``members_removed``,
    ``members_changed`` (in content, added and removed ones included), ``members_equivalent``
    (differing with their content equal), ``members`` (each compared member's own metrics).
    Raises ``zipfile.BadZipFile`` for a damaged archive.
    """

    name = "zip"
    extensions = (".zip", ".xlsx", ".docx", ".pptx", ".odt", ".ods", ".odp", ".jar", ".whl")
    priority = 10

    def sniff(self, head: bytes, name: str) -> bool:
        return head.startswith((b"PK\x03\x04", b"PK\x05\x06"))

    def compare(self, live: Path, replayed: Path, *, name: str, tolerance: Tolerance) -> Comparison:
        report = Report()
        with zipfile.ZipFile(live) as za, zipfile.ZipFile(replayed) as zb:
            a_infos, b_infos = za.infolist(), zb.infolist()
            a_by = dict(zip(keyed(i.filename for i in a_infos), a_infos))
            b_by = dict(zip(keyed(i.filename for i in b_infos), b_infos))
            common = compare_membership(report, list(a_by), list(b_by))
            context = self._context(za, zb, a_by, b_by)
            tally = Tally(report)
            for key in common:
                ia, ib = a_by[key], b_by[key]
                member = member_label(key)
                with tally:
                    self._headers(report, member, ia, ib)
                    if not (ia.CRC == ib.CRC and ia.file_size == ib.file_size and self._same(za, zb, ia, ib)):
                        compare_payloads(report, member, lambda ia=ia: za.open(ia), lambda ib=ib: zb.open(ib), tolerance, context=context)
            header_change(report, "archive comment", "comment", za.comment, zb.comment, "archive comment")
        tally.done()
        layout_only(report, name)
        return report.comparison(self.name, f"the archive {name}")

    @staticmethod
    def _same(za: zipfile.ZipFile, zb: zipfile.ZipFile, ia: zipfile.ZipInfo, ib: zipfile.ZipInfo) -> bool:
        with za.open(ia) as a, zb.open(ib) as b:
            return same_stream(a, b)

    @staticmethod
    def _headers(report: Report, member: str, ia: zipfile.ZipInfo, ib: zipfile.ZipInfo) -> None:
        def when(t: tuple) -> str:
            return "%04d-%02d-%02d %02d:%02d:%02d" % t
        header_change(report, member, "time", ia.date_time, ib.date_time, "zip member times", when)
        header_change(report, member, "compression", ia.compress_type, ib.compress_type, "member compression")
        header_change(report, member, "extra field", ia.extra, ib.extra, "member extra fields")
        header_change(report, member, "comment", ia.comment, ib.comment, "member comments")
        header_change(report, member, "permissions", ia.external_attr >> 16, ib.external_attr >> 16, "member permissions", oct)
        header_change(report, member, "creator OS", ia.create_system, ib.create_system, "member creator OS")

    @staticmethod
    def _context(za: zipfile.ZipFile, zb: zipfile.ZipFile, a_by: dict, b_by: dict) -> MemberContext:
        sizes = {k[0]: max(i.file_size, b_by[k].file_size if k in b_by else 0) for k, i in a_by.items()}
        names = {k[0] for k in a_by}
        if "xl/workbook.xml" not in names or "xl/_rels/workbook.xml.rels" not in names:
            return MemberContext(sizes)
        try:
            sheets = office.sheet_names(za.read("xl/workbook.xml"), za.read("xl/_rels/workbook.xml.rels"))
        except Exception:  # an unusual workbook: its sheets are named by member only
            sheets = {}
        strings: tuple[list[str] | None, list[str] | None] = (None, None)
        member = "xl/sharedStrings.xml"
        if member in names and sizes.get(member, 0) <= office.MAX_METADATA_MEMBER and member in {k[0] for k in b_by}:
            try:
                strings = (office.shared_strings(za.read(member)), office.shared_strings(zb.read(member)))
            except Exception:
                strings = (None, None)
        return MemberContext(sizes, sheets, strings)


class GzipComparator:
    """Gzip files: the header (modification time, original file name, OS byte, extra field,
    comment) is ``metadata``; the payload is decompressed, streaming, to temporary files and
    compared by the comparator chosen for its name (``data.csv.gz`` -> ``data.csv``,
    ``x.tgz`` -> ``x.tar``, else the name in the header). Metrics: ``payload_size_live``,
    ``payload_size_replayed`` (bytes). Raises ``gzip.BadGzipFile``/``EOFError`` for a damaged file.
    """

    name = "gzip"
    extensions = (".gz", ".tgz")
    priority = 10

    def sniff(self, head: bytes, name: str) -> bool:
        return head.startswith(b"\x1f\x8b")

    def compare(self, live: Path, replayed: Path, *, name: str, tolerance: Tolerance) -> Comparison:
        report = Report()
        ha, hb = gzip_header(live), gzip_header(replayed)

        def when(t: int) -> str:
            return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC") if t else "0 (unset)"
        header_change(report, "gzip header", "mtime", ha["mtime"], hb["mtime"], "gzip header mtime", when)
        for field in ("filename", "os", "xfl", "extra", "comment"):
            header_change(report, "gzip header", field, ha[field], hb[field], f"gzip header {field}")
        inner = payload_name(name, ha["filename"] or hb["filename"])
        with tempfile.TemporaryDirectory(prefix="scidex-gzip-") as tmp:
            a_path, b_path = Path(tmp) / "live", Path(tmp) / "replayed"
            equal = _gunzip_pair(live, replayed, a_path, b_path)
            report.metrics.update(payload_size_live=a_path.stat().st_size, payload_size_replayed=b_path.stat().st_size,
                                  payload_name=inner)
            if not equal:
                compare_extracted(report, inner, a_path, b_path, tolerance)
        layout_only(report, "gzip stream", "the header and payload read equal; the compressed stream differs (level or encoder)", "compressed stream")
        return report.comparison(self.name, f"the payload {inner}")


def gzip_header(path: Path) -> dict[str, Any]:
    """The first gzip member's header fields (RFC 1952): ``mtime`` (seconds since the epoch,
    0 = unset), ``filename``, ``comment``, ``extra`` (bytes, or None), ``xfl``, ``os``.
    Raises ``gzip.BadGzipFile`` when the file does not start with a gzip header."""
    with open(path, "rb") as fh:
        fixed = fh.read(10)
        if len(fixed) < 10 or fixed[:2] != b"\x1f\x8b":
            raise gzip.BadGzipFile(f"not a gzip file: {path.name}")
        _, _, flags, mtime, xfl, os_byte = struct.unpack("<2sBBIBB", fixed)
        extra = fh.read(struct.unpack("<H", fh.read(2))[0]) if flags & 4 else None

        def zstring() -> str | None:
            out = bytearray()
            while (c := fh.read(1)) not in (b"\x00", b""):
                out += c
            return out.decode("latin-1")
        filename = zstring() if flags & 8 else None
        comment = zstring() if flags & 16 else None
    return {"mtime": mtime, "filename": filename, "comment": comment, "extra": extra, "xfl": xfl, "os": os_byte}


def payload_name(name: str, header_name: str | None) -> str:
    """The name a gzip payload is compared under: ``data.csv.gz`` -> ``data.csv``,
    ``x.tgz`` -> ``x.tar``, else the original name from the header, else ``name`` without ``.gz``."""
    lower = name.lower()
    if lower.endswith(".tgz"):
        return name[:-4] + ".tar"
    if lower.endswith(".gz") and "." in name[:-3].rsplit("/", 1)[-1]:
        return name[:-3]
    if header_name:
        return header_name
    return name[:-3] if lower.endswith(".gz") else f"{name}.payload"


def _gunzip_pair(live: Path, replayed: Path, a_path: Path, b_path: Path) -> bool:
    """Decompress both files to ``a_path``/``b_path`` a chunk at a time; whether the payloads are equal."""
    equal = True
    with gzip.open(live, "rb") as a, gzip.open(replayed, "rb") as b, open(a_path, "wb") as ao, open(b_path, "wb") as bo:
        while True:
            x, y = a.read(CHUNK), b.read(CHUNK)
            if not x and not y:
                return equal
            equal = equal and x == y
            ao.write(x)
            bo.write(y)


class TarComparator:
    """Tar archives (ustar, GNU, pax; a compressed one is first unpacked by ``gzip``).

    Members are matched by name: added or removed ``content``, reordered ``order``; header
    fields (mtime, uid/gid, uname/gname, mode, pax records) ``metadata``; a change of type
    or link target ``content``; regular files' payloads compared as zip members are.
    Metrics as the zip comparator's. Raises ``tarfile.TarError`` for a damaged archive.
    """

    name = "tar"
    extensions = (".tar",)
    priority = 10

    def sniff(self, head: bytes, name: str) -> bool:
        return head[257:262] == b"ustar"

    def compare(self, live: Path, replayed: Path, *, name: str, tolerance: Tolerance) -> Comparison:
        report = Report()
        with tarfile.open(live, "r:") as ta, tarfile.open(replayed, "r:") as tb:
            a_members, b_members = ta.getmembers(), tb.getmembers()
            a_by = dict(zip(keyed(m.name for m in a_members), a_members))
            b_by = dict(zip(keyed(m.name for m in b_members), b_members))
            common = compare_membership(report, list(a_by), list(b_by))
            tally = Tally(report)
            for key in common:
                ma, mb = a_by[key], b_by[key]
                member = member_label(key)
                with tally:
                    self._headers(report, member, ma, mb)
                    if ma.type != mb.type or ma.linkname != mb.linkname:
                        report.add(Difference(member, Kind.CONTENT, f"type {ma.type!r} → {mb.type!r}, link {ma.linkname!r} → {mb.linkname!r}"), member)
                    elif ma.isfile():
                        compare_payloads(report, member, lambda ma=ma: ta.extractfile(ma), lambda mb=mb: tb.extractfile(mb), tolerance,
                                         context=MemberContext({member: max(ma.size, mb.size)}))
        tally.done()
        layout_only(report, name)
        return report.comparison(self.name, f"the archive {name}")

    @staticmethod
    def _headers(report: Report, member: str, ma: tarfile.TarInfo, mb: tarfile.TarInfo) -> None:
        def when(t: float) -> str:
            return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
        header_change(report, member, "mtime", ma.mtime, mb.mtime, "tar member times", when)
        header_change(report, member, "uid/gid", (ma.uid, ma.gid), (mb.uid, mb.gid), "member owners")
        header_change(report, member, "uname/gname", (ma.uname, ma.gname), (mb.uname, mb.gname), "member owner names")
        header_change(report, member, "mode", ma.mode, mb.mode, "member modes", oct)
        pa = {k: v for k, v in ma.pax_headers.items() if k not in ("mtime", "uid", "gid", "uname", "gname", "path", "size", "linkpath")}
        pb = {k: v for k, v in mb.pax_headers.items() if k not in ("mtime", "uid", "gid", "uname", "gname", "path", "size", "linkpath")}
        header_change(report, member, "pax records", pa, pb, "member pax records")
