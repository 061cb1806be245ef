"""What the members of office documents and jars say, for the zip comparator.

Two things only an office format knows:

- *Metadata members.* ``docProps/core.xml`` (OOXML: xlsx, docx, pptx) stamps
  ``dcterms:created``/``dcterms:modified`` with the clock (openpyxl, XlsxWriter#659);
  ``meta.xml`` (ODF) carries ``meta:creation-date``, ``dc:date``, ``meta:generator`` and
  ``meta:editing-duration``; a jar's ``META-INF/MANIFEST.MF`` names the JDK that built it
  (``Created-By``, ``Build-Jdk``). ``metadata_fields`` says which of those fields differ when
  nothing else in the member does (diffoscope reads the same members the same way).
- *Worksheet cells.* ``sheet_cells`` streams the cells of an xlsx worksheet
  (``xl/worksheets/sheetN.xml``) so that a changed value is named by its cell (``B3``) and
  sheet, and a number within the tolerance is ``numeric`` rather than ``content``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any
from xml.etree import ElementTree as ET

from scidex_replay.compare.base import Difference, Kind, Tolerance, relative_difference

DC = "{http://purl.org/dc/elements/1.1/}"
DCTERMS = "{http://purl.org/dc/terms/}"
CP = "{http://schemas.openxmlformats.org/package/2006/metadata/core-properties}"
META = "{urn:oasis:names:tc:opendocument:xmlns:meta:1.0}"
MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
REL = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
PKG_REL = "{http://schemas.openxmlformats.org/package/2006/relationships}"

#: member name -> the fields of it that are times, tools and people, shown as ``prefix:name``
METADATA_FIELDS: dict[str, dict[str, str]] = {
    "docProps/core.xml": {
        f"{DCTERMS}created": "dcterms:created", f"{DCTERMS}modified": "dcterms:modified",
        f"{CP}lastModifiedBy": "cp:lastModifiedBy", f"{CP}lastPrinted": "cp:lastPrinted",
        f"{CP}revision": "cp:revision",
    },
    "meta.xml": {
        f"{META}creation-date": "meta:creation-date", f"{DC}date": "dc:date",
        f"{META}generator": "meta:generator", f"{META}editing-duration": "meta:editing-duration",
        f"{META}editing-cycles": "meta:editing-cycles", f"{META}print-date": "meta:print-date",
    },
    "META-INF/MANIFEST.MF": {
        k: k for k in ("Created-By", "Build-Jdk", "Build-Jdk-Spec", "Built-By", "Bnd-LastModified")
    },
}
#: the largest metadata member parsed in memory (they are a few kB)
MAX_METADATA_MEMBER = 4 << 20
SHEET = re.compile(r"^xl/worksheets/[^/]+\.xml$")


def is_metadata_member(member: str) -> bool:
    return member in METADATA_FIELDS


def metadata_fields(member: str, live: bytes, replayed: bytes) -> list[tuple[str, str, str]] | None:
    """The metadata fields of ``member`` that differ, as ``(field, live value, replayed value)``,
    when they are the member's only differences; None when anything else differs or the
    member cannot be read (the caller then compares it as any other member)."""
    fields = METADATA_FIELDS[member]
    read = _manifest_fields if member.endswith(".MF") else _xml_fields
    try:
        a_rest, a_values = read(live, fields)
        b_rest, b_values = read(replayed, fields)
    except (ET.ParseError, UnicodeDecodeError, ValueError):
        return None
    if a_rest != b_rest:
        return None
    changed = [(label, a_values.get(label, "(absent)"), b_values.get(label, "(absent)")) for label in fields.values()]
    return [c for c in changed if c[1] != c[2]]


def _xml_fields(data: bytes, fields: dict[str, str]) -> tuple[bytes, dict[str, str]]:
    """The XML with the fields' texts blanked, and the fields' texts."""
    root = ET.fromstring(data)
    values: dict[str, str] = {}
    for elem in root.iter():
        label = fields.get(elem.tag)
        if label is not None:
            values[label] = (elem.text or "").strip()
            elem.text = ""
    return ET.tostring(root), values


def _manifest_fields(data: bytes, fields: dict[str, str]) -> tuple[list[str], dict[str, str]]:
    """A jar manifest's lines without the fields (continuation lines joined), and their values."""
    lines: list[str] = []
    for raw in data.decode("utf-8").splitlines():
        if raw.startswith(" ") and lines:
            lines[-1] += raw[1:]
        else:
            lines.append(raw)
    values: dict[str, str] = {}
    rest = []
    for line in lines:
        key, sep, value = line.partition(":")
        if sep and key in fields:
            values[key] = value.strip()
        else:
            rest.append(line)
    return rest, values


@dataclass(frozen=True)
class Cell:
    """One worksheet cell: its reference (``B3``), row and column (1-based), type attribute
    (``n`` number, ``s`` shared-string index, ``str``, ``b``, ``inlineStr``...) and value text."""

    ref: str
    row: int
    col: int
    type: str
    value: str
    formula: str


def _col(ref: str) -> int:
    n = 0
    for ch in ref:
        if not ch.isalpha():
            break
        n = n * 26 + ord(ch.upper()) - 64
    return n


def sheet_cells(fh: IO[bytes], outside: hashlib._Hash) -> Iterator[Cell]:
    """The cells of a worksheet in document order (row-major), streamed with ``iterparse``;
    everything that is not a cell (dimension, columns, styles, merged ranges) is fed to
    ``outside`` so that two sheets whose cells read equal can still be told apart."""
    row = 0
    data = None  # <sheetData>: each row leaves it once read, so memory holds one row
    for event, elem in ET.iterparse(fh, events=("start", "end")):
        tag = elem.tag
        if event == "start":
            if tag == f"{MAIN}sheetData":
                data = elem
            if tag == f"{MAIN}row":
                row = int(elem.get("r") or row + 1)
            elif tag != f"{MAIN}c" and not _in_cell(tag):
                outside.update(f"<{tag} {sorted(elem.attrib.items())}>".encode())
            continue
        if tag == f"{MAIN}c":
            ref = elem.get("r") or ""
            v = elem.find(f"{MAIN}v")
            f = elem.find(f"{MAIN}f")
            text = elem.find(f"{MAIN}is")
            value = v.text if v is not None and v.text is not None else "".join(text.itertext()) if text is not None else ""
            attrs = {k: x for k, x in elem.attrib.items() if k not in ("r", "t")}
            if attrs:  # the cell's style: not its value, but not nothing either
                outside.update(f"{ref}{sorted(attrs.items())}".encode())
            yield Cell(ref, row, _col(ref), elem.get("t", "n"), value, (f.text or "") if f is not None else "")
            elem.clear()
        elif tag == f"{MAIN}row":
            elem.clear()
            if data is not None and len(data) and data[0] is elem:
                data.remove(elem)
        elif not _in_cell(tag):
            outside.update((elem.text or "").strip().encode() + b"</>")


def _in_cell(tag: str) -> bool:
    return tag in (f"{MAIN}v", f"{MAIN}f", f"{MAIN}is", f"{MAIN}t", f"{MAIN}r", f"{MAIN}rPr")


def merge_cells(a: Iterator[Cell], b: Iterator[Cell]) -> Iterator[tuple[Cell | None, Cell | None]]:
    """Pairs of cells at the same place from two row-major streams; None where one has none."""
    x, y = next(a, None), next(b, None)
    while x is not None or y is not None:
        kx = (x.row, x.col) if x is not None else None
        ky = (y.row, y.col) if y is not None else None
        if ky is None or (kx is not None and kx < ky):
            yield x, None
            x = next(a, None)
        elif kx is None or ky < kx:
            yield None, y
            y = next(b, None)
        else:
            yield x, y
            x, y = next(a, None), next(b, None)


def compare_sheet(
    live: IO[bytes], replayed: IO[bytes], *, where: str, tolerance: Tolerance,
    strings: tuple[list[str] | None, list[str] | None] = (None, None),
) -> tuple[list[Difference], dict[str, Any]]:
    """The cells that differ between two versions of a worksheet, streamed: a number within
    ``tolerance`` is ``numeric``, any other change ``content`` (``where`` is the member and
    sheet, e.g. ``xl/worksheets/sheet1.xml (sheet 'summary')``, to which ``cell B3`` is added).
    Shared-string cells are shown by their strings when ``strings`` holds both tables.
    When every cell reads equal but the rest of the sheet does not (widths, styles, merged
    ranges), one ``content`` difference says so. Raises ``ET.ParseError`` for a broken sheet."""
    a_out, b_out = hashlib.sha256(), hashlib.sha256()
    differences: list[Difference] = []
    changed = numeric = 0
    max_abs, max_rel, at = 0.0, 0.0, ""
    for x, y in merge_cells(sheet_cells(live, a_out), sheet_cells(replayed, b_out)):
        a, b = _shown(x, strings[0]), _shown(y, strings[1])
        if a == b and (x is None or y is None or x.formula == y.formula):
            continue
        ref = (x or y).ref
        kind = Kind.CONTENT
        detail = f"{a if x is not None else '(empty)'!r} → {b if y is not None else '(empty)'!r}"
        nums = _numbers(x, y)
        if nums is not None and (x.formula == y.formula):
            diff = abs(nums[0] - nums[1])
            rel = relative_difference(*nums)
            if diff > max_abs or (diff == max_abs and not at):
                max_abs, at = diff, ref
            max_rel = max(max_rel, rel)
            if tolerance.close(*nums):
                kind, numeric = Kind.NUMERIC, numeric + 1
            detail += f" (abs diff {diff:.6g}, rel {rel:.3g})"
        elif x is not None and y is not None and x.formula != y.formula:
            detail = f"formula {x.formula!r} → {y.formula!r}; value {detail}"
        changed += kind is Kind.CONTENT
        if len(differences) < MAX_KEPT:
            differences.append(Difference(f"{where} cell {ref}", kind, detail))
    metrics: dict[str, Any] = {"cells_changed": changed, "cells_within_tolerance": numeric}
    if at:
        metrics.update(max_abs_diff=max_abs, max_rel_diff=max_rel, max_abs_diff_at=at)
    if a_out.digest() != b_out.digest():
        differences.append(Difference(where, Kind.CONTENT, "the sheet outside its cell values differs (columns, styles, merged ranges or dimension)"))
    return differences, metrics


#: cells kept per sheet (the count is in the metrics)
MAX_KEPT = 50


def _shown(cell: Cell | None, strings: list[str] | None) -> str | None:
    if cell is None:
        return None
    if cell.type == "s" and strings is not None:
        try:
            return strings[int(cell.value)]
        except (ValueError, IndexError):
            return cell.value
    return cell.value


def _numbers(x: Cell | None, y: Cell | None) -> tuple[float, float] | None:
    if x is None or y is None or x.type != "n" or y.type != "n":
        return None
    try:
        return float(x.value), float(y.value)
    except ValueError:
        return None


def sheet_names(workbook: bytes, rels: bytes) -> dict[str, str]:
    """Worksheet member -> sheet name, from ``xl/workbook.xml`` and ``xl/_rels/workbook.xml.rels``."""
    targets = {}
    for rel in ET.fromstring(rels).iter(f"{PKG_REL}Relationship"):
        target = rel.get("Target", "")
        target = target.lstrip("/") if target.startswith("/") else f"xl/{target}"
        targets[rel.get("Id")] = target
    names = {}
    for sheet in ET.fromstring(workbook).iter(f"{MAIN}sheet"):
        member = targets.get(sheet.get(f"{REL}id"))
        if member:
            names[member] = sheet.get("name", "")
    return names


def shared_strings(data: bytes) -> list[str]:
    """The strings of ``xl/sharedStrings.xml`` by index."""
    return ["".join(si.itertext()) for si in ET.fromstring(data).iter(f"{MAIN}si")]
