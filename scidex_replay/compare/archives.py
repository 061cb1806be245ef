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
members and shared-string tables under a few MiB); disk holds at most two members at a time.
Containers nested deeper than ``MAX_DEPTH`` compare their members byte by byte. A file that
sniffs as a container but is not one raises, and the registry falls back to bytes.
"""

from __future__ import annotations

import contextvars
import gzip
import shutil
import struct
import tarfile
import tempfile
import zipfile
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any

from scidex_replay.compare import office
from scidex_replay.compare.base import MAX_DIFFERENCES, Comparison, Difference, Kind, Tolerance

CHUNK = 1 << 20
#: how deep containers are unpacked (a zip in a tar in a gzip is depth 3)
MAX_DEPTH = 3
#: the longest readable diff kept, in characters (the members' diffs, one after another)
MAX_FULL_DIFF = 1 << 20
#: the most members whose own metrics are kept under ``metrics["members"]``
MAX_MEMBER_METRICS = 10
_depth: contextvars.ContextVar[int] = contextvars.ContextVar("scidex_replay_archive_depth", default=0)

Opener = Callable[[], IO[bytes]]


class Report:
    """Differences found in a container, in bounded memory: up to ``MAX_DIFFERENCES`` of each
    kind are kept (content first in ``differences``), every one is counted; ``facets`` are
    the short phrases its summary names, per kind, each with how many members it touched."""

    def __init__(self) -> None:
        self.kept: dict[Kind, list[Difference]] = {k: [] for k in Kind}
        self.counts: dict[Kind, int] = {k: 0 for k in Kind}
        self.facets: dict[Kind, dict[str, int]] = {k: {} for k in Kind}
        self.metrics: dict[str, Any] = {}
        self.attachments: dict[str, Path] = {}
        self.diffs: list[str] = []
        self._diff_chars = 0
        self.first_content: Difference | None = None

    def add(self, difference: Difference, facet: str | None = None) -> None:
        kind = difference.kind
        self.counts[kind] += 1
        if len(self.kept[kind]) < MAX_DIFFERENCES:
            self.kept[kind].append(difference)
        if kind is Kind.CONTENT and self.first_content is None:
            self.first_content = difference
        if facet:
            self.facets[kind][facet] = self.facets[kind].get(facet, 0) + 1

    def full_diff(self, member: str, text: str | None) -> None:
        if text and self._diff_chars < MAX_FULL_DIFF:
            text = f"=== {member}\n{text}"[: MAX_FULL_DIFF - self._diff_chars]
            self.diffs.append(text)
            self._diff_chars += len(text)

    @property
    def differences(self) -> list[Difference]:
        order = (Kind.CONTENT, Kind.NUMERIC, Kind.ORDER, Kind.VOLATILE_ID, Kind.METADATA)
        return [d for k in order for d in self.kept[k]]

    @property
    def empty(self) -> bool:
        return not any(self.counts.values())

    def phrase(self, kinds: Iterable[Kind]) -> str:
        parts = []
        for kind in kinds:
            for facet, n in self.facets[kind].items():
                per_member = facet.endswith("member times") or facet.startswith("member ") and facet != "member order"
                parts.append(f"{facet} ({n} member{'s' if n > 1 else ''})" if per_member else facet)
        if len(parts) > 6:
            parts = parts[:6] + [f"{len(parts) - 6} more"]
        return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1] if parts else ""

    def _facet_count(self, kinds: Iterable[Kind]) -> int:
        return sum(len(self.facets[k]) for k in kinds)

    def comparison(self, comparator: str, what: str) -> Comparison:
        """The ``Comparison`` these differences make, its summary naming ``what`` was compared."""
        if self.counts[Kind.CONTENT]:
            first = self.first_content
            changed = self.metrics.get("members_changed")
            total = self.metrics.get("members_live")
            head = what
            if changed is not None and total:
                names = list(self.facets[Kind.CONTENT])
                head = f"{changed} of {total} members ({', '.join(names[:3])}{', …' if len(names) > 3 else ''})"
            summary = f"content differs: {head}; first: {first.where}: {first.detail}"
            others = self.phrase([Kind.NUMERIC, Kind.ORDER, Kind.VOLATILE_ID, Kind.METADATA])
            if others:
                summary += f"; also {others}"
        else:
            kinds = [Kind.NUMERIC, Kind.ORDER, Kind.VOLATILE_ID, Kind.METADATA]
            summary = f"equivalent: only {self.phrase(kinds)} differ{'s' if self._facet_count(kinds) == 1 else ''}"
        if len(summary) > 400:
            summary = summary[:399] + "…"
        self.metrics["differences_by_kind"] = {k.value: n for k, n in self.counts.items() if n}
        return Comparison(
            comparator, summary, self.differences, self.metrics, dict(self.attachments),
            full_diff="".join(self.diffs) or None,
        )


@contextmanager
def _deeper():
    token = _depth.set(_depth.get() + 1)
    try:
        yield _depth.get() > MAX_DEPTH
    finally:
        _depth.reset(token)


def same_stream(a: IO[bytes], b: IO[bytes]) -> bool:
    """Whether two streams hold the same bytes, read a chunk at a time."""
    while True:
        x, y = a.read(CHUNK), b.read(CHUNK)
        if x != y:
            return False
        if not x:
            return True


def compare_payloads(
    report: Report, member: str, live: Opener, replayed: Opener, tolerance: Tolerance, *,
    context: MemberContext | None = None,
) -> bool:
    """Compare one member (or a gzip payload) of two containers, opened by ``live()`` and
    ``replayed()``; its differences go to ``report`` under ``member``. True when they differ
    in content (a ``content`` difference was added)."""
    with live() as a, replayed() as b:
        if same_stream(a, b):
            return False
    context = context or MemberContext()
    before = report.counts[Kind.CONTENT]
    if office.is_metadata_member(member) and context.small(member):
        with live() as a, replayed() as b:
            fields = office.metadata_fields(member, a.read(), b.read())
        if fields is not None:
            for label, x, y in fields:
                report.add(Difference(f"{member} {label}", Kind.METADATA, f"{x} → {y}"))
            if fields:
                report.facets[Kind.METADATA][f"{member} {', '.join(f[0] for f in fields)}"] = 1
            else:  # the same fields, written differently (whitespace, attribute order)
                report.add(Difference(member, Kind.METADATA, "the same fields, serialised differently"), member)
            return False
    if context.sheets is not None and office.SHEET.match(member):
        where = f"{member} (sheet {context.sheets[member]!r})" if member in context.sheets else member
        with live() as a, replayed() as b:
            differences, metrics = office.compare_sheet(a, b, where=where, tolerance=tolerance, strings=context.strings)
        if not differences:
            differences = [Difference(where, Kind.METADATA, "the same cells and layout, serialised differently")]
            report.facets[Kind.METADATA][f"{member} serialisation"] = 1
        for d in differences:
            report.add(d, member if d.kind is Kind.CONTENT else None)
        if metrics["cells_within_tolerance"]:
            n = metrics["cells_within_tolerance"]
            report.facets[Kind.NUMERIC][f"numbers within tolerance in {member} ({n} cell{'s' if n > 1 else ''}, max abs diff {metrics['max_abs_diff']:.3g})"] = 1
        report.metrics.setdefault("members", {})[member] = metrics
        return report.counts[Kind.CONTENT] > before
    with tempfile.TemporaryDirectory(prefix="scidex-member-") as tmp:
        a_path, b_path = Path(tmp) / "live", Path(tmp) / "replayed"
        for opener, path in ((live, a_path), (replayed, b_path)):
            with opener() as src, open(path, "wb") as dst:
                shutil.copyfileobj(src, dst, CHUNK)
        compare_extracted(report, member, a_path, b_path, tolerance)
    return report.counts[Kind.CONTENT] > before


def compare_extracted(report: Report, member: str, a_path: Path, b_path: Path, tolerance: Tolerance) -> Comparison:
    """Compare two extracted members with the comparator the registry chooses for ``member``
    (bytes only beyond ``MAX_DEPTH`` nested containers); their differences, prefixed with the
    member's name, metrics, attachments and readable diff go to ``report``."""
    from scidex_replay.compare.registry import compare_files, load_comparators

    with _deeper() as too_deep:
        if too_deep:
            inner = load_comparators().get("bytes").compare(a_path, b_path, name=member, tolerance=tolerance)
        else:
            inner = compare_files(a_path, b_path, name=member, tolerance=tolerance)
    for d in inner.differences:
        where = d.where if d.where == member or d.where.startswith(f"{member} ") or d.where.startswith(f"{member}:") else f"{member}: {d.where}"
        report.add(Difference(where, d.kind, d.detail), member if d.kind is Kind.CONTENT else None)
    others = [k for k in inner.kinds if k != Kind.CONTENT.value]
    if others:
        said = inner.summary.removeprefix("equivalent: ").replace("only ", "", 1).removesuffix(" differs").removesuffix(" differ")
        facet = f"{member} ({said})" if inner.equivalent else f"{member} ({', '.join(others)})"
        report.facets[Kind(others[-1])][facet] = 1
    if not inner.differences:  # a comparator that found nothing in bytes that differ
        report.add(Difference(member, Kind.CONTENT, inner.summary), member)
    members = report.metrics.setdefault("members", {})
    if len(members) < MAX_MEMBER_METRICS:
        members[member] = {"comparator": inner.comparator, "summary": inner.summary, **inner.metrics}
    for label, path in inner.attachments.items():
        report.attachments[label if label not in report.attachments else f"{label}:{member}"] = path
    report.full_diff(member, inner.full_diff)
    return inner


class MemberContext:
    """What a zip's members need from the rest of it: member sizes (to read metadata members
    in memory only when small), and for an xlsx the sheet names and shared strings."""

    def __init__(self, sizes: dict[str, int] | None = None, sheets: dict[str, str] | None = None,
                 strings: tuple[list[str] | None, list[str] | None] = (None, None)):
        self.sizes, self.sheets, self.strings = sizes or {}, sheets, strings

    def small(self, member: str) -> bool:
        return self.sizes.get(member, 0) <= office.MAX_METADATA_MEMBER


def _keyed(names: Iterable[str]) -> list[tuple[str, int]]:
    """Member names made unique by their occurrence (an archive may hold a name twice)."""
    seen: dict[str, int] = {}
    out = []
    for n in names:
        seen[n] = seen.get(n, 0) + 1
        out.append((n, seen[n]))
    return out


def _label(key: tuple[str, int]) -> str:
    return key[0] if key[1] == 1 else f"{key[0]} (#{key[1]})"


def compare_membership(report: Report, a_keys: list[tuple[str, int]], b_keys: list[tuple[str, int]]) -> list[tuple[str, int]]:
    """Members only in one archive (``content``) and members in another order (``order``);
    the members both hold, in the live order."""
    a_set, b_set = set(a_keys), set(b_keys)
    for key in a_keys:
        if key not in b_set:
            report.add(Difference(_label(key), Kind.CONTENT, "member not replayed (only in the recorded archive)"), _label(key))
    for key in b_keys:
        if key not in a_set:
            report.add(Difference(_label(key), Kind.CONTENT, "member only in the replayed archive"), _label(key))
    common_a = [k for k in a_keys if k in b_set]
    common_b = [k for k in b_keys if k in a_set]
    if common_a != common_b:
        i = next(i for i, (x, y) in enumerate(zip(common_a, common_b)) if x != y)
        report.add(Difference(f"member #{i + 1}", Kind.ORDER,
                              f"the same members in another order: {_label(common_a[i])!r} recorded, {_label(common_b[i])!r} replayed"), "member order")
    report.metrics.update(members_live=len(a_keys), members_replayed=len(b_keys),
                          members_added=len(b_set - a_set), members_removed=len(a_set - b_set))
    return common_a


class _Tally:
    """Counts the members both archives hold that differ in content (``members_changed``,
    with the added and removed ones) and those that differ with their content equal
    (``members_equivalent``): ``with tally:`` around each member's comparison."""

    def __init__(self, report: Report):
        self.report, self.changed, self.equivalent = report, 0, 0

    def __enter__(self) -> None:
        self.before = dict(self.report.counts)

    def __exit__(self, *exc: object) -> None:
        after = self.report.counts
        if after[Kind.CONTENT] > self.before[Kind.CONTENT]:
            self.changed += 1
        elif after != self.before:
            self.equivalent += 1

    def done(self) -> None:
        m = self.report.metrics
        m.update(members_changed=self.changed + m["members_added"] + m["members_removed"], members_equivalent=self.equivalent)


def _header_change(report: Report, where: str, field: str, a: Any, b: Any, facet: str, shown: Callable[[Any], str] = repr) -> None:
    if a != b:
        report.add(Difference(where, Kind.METADATA, f"{field} {shown(a)} → {shown(b)}"), facet)


def _layout_only(report: Report, what: str, detail: str = "every member reads equal; the compressed streams or the archive layout differ",
                 facet: str = "compressed streams or archive layout") -> None:
    """Bytes differ, yet every header field and member read equal: the encoding differs."""
    if report.empty:
        report.add(Difference(what, Kind.METADATA, detail), facet)


class ZipComparator:
    """Zip archives, member by member: xlsx, docx, pptx, ODF (odt/ods/odp), jar, wheel.

    Members added or removed are ``content``; the same members in another order ``order``;
    member times, extra fields, comments, compression, permissions and the archive comment
    ``metadata``; a member whose bytes differ is compared by its own format's comparator
    (an xlsx worksheet by cell, a metadata member such as ``docProps/core.xml`` by field).
    Metrics: ``members_live``, ``members_replayed``, ``members_added``, ``members_removed``,
    ``members_changed`` (in content, added and removed ones included), ``members_equivalent``
    (differing with their content equal), ``members`` (each compared member's own metrics). Raises ``zipfile.BadZipFile`` for a damaged archive.
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
            a_by = dict(zip(_keyed(i.filename for i in a_infos), a_infos))
            b_by = dict(zip(_keyed(i.filename for i in b_infos), b_infos))
            common = compare_membership(report, list(a_by), list(b_by))
            context = self._context(za, zb, a_by, b_by)
            tally = _Tally(report)
            for key in common:
                ia, ib = a_by[key], b_by[key]
                member = _label(key)
                with tally:
                    self._headers(report, member, ia, ib)
                    if not (ia.CRC == ib.CRC and ia.file_size == ib.file_size and self._same(za, zb, ia, ib)):
                        compare_payloads(report, member, lambda ia=ia: za.open(ia), lambda ib=ib: zb.open(ib), tolerance, context=context)
            _header_change(report, "archive comment", "comment", za.comment, zb.comment, "archive comment")
        tally.done()
        _layout_only(report, name)
        return report.comparison(self.name, f"the archive {name}")

    @staticmethod
    def _same(za: zipfile.ZipFile, zb: zipfile.ZipFile, ia: zipfile.ZipInfo, ib: zipfile.ZipInfo) -> bool:
        with za.open(ia) as a, zb.open(ib) as b:
            return same_stream(a, b)

    @staticmethod
    def _headers(report: Report, member: str, ia: zipfile.ZipInfo, ib: zipfile.ZipInfo) -> None:
        def when(t: tuple) -> str:
            return "%04d-%02d-%02d %02d:%02d:%02d" % t
        _header_change(report, member, "time", ia.date_time, ib.date_time, "zip member times", when)
        _header_change(report, member, "compression", ia.compress_type, ib.compress_type, "member compression")
        _header_change(report, member, "extra field", ia.extra, ib.extra, "member extra fields")
        _header_change(report, member, "comment", ia.comment, ib.comment, "member comments")
        _header_change(report, member, "permissions", ia.external_attr >> 16, ib.external_attr >> 16, "member permissions", oct)
        _header_change(report, member, "creator OS", ia.create_system, ib.create_system, "member creator OS")

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
        _header_change(report, "gzip header", "mtime", ha["mtime"], hb["mtime"], "gzip header mtime", when)
        for field in ("filename", "os", "xfl", "extra", "comment"):
            _header_change(report, "gzip header", field, ha[field], hb[field], f"gzip header {field}")
        inner = payload_name(name, ha["filename"] or hb["filename"])
        with tempfile.TemporaryDirectory(prefix="scidex-gzip-") as tmp:
            a_path, b_path = Path(tmp) / "live", Path(tmp) / "replayed"
            equal = _gunzip_pair(live, replayed, a_path, b_path)
            report.metrics.update(payload_size_live=a_path.stat().st_size, payload_size_replayed=b_path.stat().st_size,
                                  payload_name=inner)
            if not equal:
                compare_extracted(report, inner, a_path, b_path, tolerance)
        _layout_only(report, "gzip stream", "the header and payload read equal; the compressed stream differs (level or encoder)", "compressed stream")
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
            a_by = dict(zip(_keyed(m.name for m in a_members), a_members))
            b_by = dict(zip(_keyed(m.name for m in b_members), b_members))
            common = compare_membership(report, list(a_by), list(b_by))
            tally = _Tally(report)
            for key in common:
                ma, mb = a_by[key], b_by[key]
                member = _label(key)
                with tally:
                    self._headers(report, member, ma, mb)
                    if ma.type != mb.type or ma.linkname != mb.linkname:
                        report.add(Difference(member, Kind.CONTENT, f"type {ma.type!r} → {mb.type!r}, link {ma.linkname!r} → {mb.linkname!r}"), member)
                    elif ma.isfile():
                        compare_payloads(report, member, lambda ma=ma: ta.extractfile(ma), lambda mb=mb: tb.extractfile(mb), tolerance,
                                         context=MemberContext({member: max(ma.size, mb.size)}))
        tally.done()
        _layout_only(report, name)
        return report.comparison(self.name, f"the archive {name}")

    @staticmethod
    def _headers(report: Report, member: str, ma: tarfile.TarInfo, mb: tarfile.TarInfo) -> None:
        def when(t: float) -> str:
            return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
        _header_change(report, member, "mtime", ma.mtime, mb.mtime, "tar member times", when)
        _header_change(report, member, "uid/gid", (ma.uid, ma.gid), (mb.uid, mb.gid), "member owners")
        _header_change(report, member, "uname/gname", (ma.uname, ma.gname), (mb.uname, mb.gname), "member owner names")
        _header_change(report, member, "mode", ma.mode, mb.mode, "member modes", oct)
        pa = {k: v for k, v in ma.pax_headers.items() if k not in ("mtime", "uid", "gid", "uname", "gname", "path", "size", "linkpath")}
        pb = {k: v for k, v in mb.pax_headers.items() if k not in ("mtime", "uid", "gid", "uname", "gname", "path", "size", "linkpath")}
        _header_change(report, member, "pax records", pa, pb, "member pax records")
