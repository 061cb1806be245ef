"""PDF documents via pypdf: the pages, then the fields a producer stamps.

Galaxy's verifier (``lib/galaxy/tool_util/verify``, ``files_diff``) passes two PDFs whose
differing lines all mention ``CreationDate``, ``ModDate``, ``ID``, ``Producer`` or
``Creator``; here those fields are read, not grepped:

- ``content``: the page count; a page's extracted text (the first changed line named);
  a page whose drawing differs while its text does not (its content stream, images and
  other resources, media box or annotations, compared decoded, so recompressing changes
  nothing; fonts by name, their glyphs being read as the text); any other document-info
  entry (``/Title``, ``/Author``...).
- ``metadata``: the document info ``/CreationDate``, ``/ModDate``, ``/Producer``,
  ``/Creator``, the trailer ``/ID``, the XMP metadata stream, and a file whose every page
  and field is equal but whose layout is not (object order, cross-reference form).

Pages are read one at a time from the open files (pypdf loads objects on demand), so
memory is bounded by a page and its resources. Raises ``MissingExtra`` without pypdf and
pypdf's errors for a file it cannot read (the registry then falls back to bytes).
"""

from __future__ import annotations

import difflib
import hashlib
import re
from pathlib import Path
from typing import Any

from scidex_replay.compare.base import Comparison, Difference, Kind, Tolerance, require
from scidex_replay.compare.text import excerpt

#: document-info entries that are times and tools (Galaxy ignores the same), shown as metadata
METADATA_INFO = ("/CreationDate", "/ModDate", "/Producer", "/Creator")
#: how deep a page's objects are followed for its digest
MAX_DEPTH = 32
#: a font subset's tag (PDF 32000-1, 9.6.4: six capitals and "+"), which names the glyph set
SUBSET_TAG = re.compile(r"^/?[A-Z]{6}\+")


class PdfComparator:
    """PDF documents (see the module docstring for the rules).

    Metrics: ``pages_live``, ``pages_replayed``, ``pages_changed`` (text or drawing),
    ``first_changed_page`` (1-based, when one changed).
    """

    name = "pdf"
    extensions = (".pdf",)
    priority = 20

    def sniff(self, head: bytes, name: str) -> bool:
        return head.startswith(b"%PDF-")

    def compare(self, live: Path, replayed: Path, *, name: str, tolerance: Tolerance) -> Comparison:
        pypdf = require("pypdf")
        differences: list[Difference] = []
        with open(live, "rb") as fa, open(replayed, "rb") as fb:
            ra, rb = pypdf.PdfReader(fa), pypdf.PdfReader(fb)
            pages = len(ra.pages), len(rb.pages)
            metrics: dict[str, Any] = {"pages_live": pages[0], "pages_replayed": pages[1]}
            if pages[0] != pages[1]:
                differences.append(Difference("document", Kind.CONTENT, f"page count {pages[0]} → {pages[1]}"))
            changed = []
            for i in range(min(pages)):
                found = _page_difference(ra.pages[i], rb.pages[i], i + 1)
                if found is not None:
                    changed.append(i + 1)
                    if len(changed) <= 50:
                        differences.append(found)
            metrics["pages_changed"] = len(changed)
            if changed:
                metrics["first_changed_page"] = changed[0]
            differences += _info_differences(ra, rb)
        if not differences:
            differences.append(Difference("file layout", Kind.METADATA,
                                          "pages and document info equal; object order, compression or cross-reference differ"))
        return Comparison(self.name, _summary(differences, metrics), differences, metrics)


def _summary(differences: list[Difference], metrics: dict[str, Any]) -> str:
    fields = [d.where for d in differences if d.kind is Kind.METADATA]
    named = ", ".join(fields)
    content = [d for d in differences if d.kind is Kind.CONTENT]
    if not content:
        return f"equivalent: pages equal; only {named} differ{'s' if len(fields) == 1 else ''}"
    pages = metrics["pages_changed"]
    head = f"{pages} of {min(metrics['pages_live'], metrics['pages_replayed'])} pages" if pages else "the document"
    first = content[0]
    summary = f"content differs: {head}; first: {first.where}: {first.detail}"
    if named:
        summary += f"; also {named}"
    return summary if len(summary) <= 400 else summary[:399] + "…"


def _page_difference(a: Any, b: Any, number: int) -> Difference | None:
    """The first way page ``number`` differs: its text (first changed line), else its drawing."""
    ta, tb = a.extract_text() or "", b.extract_text() or ""
    if ta != tb:
        la, lb = ta.splitlines(), tb.splitlines()
        for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, la, lb, autojunk=False).get_opcodes():
            if tag == "equal":
                continue
            x = la[i1] if i1 < i2 else ""
            y = lb[j1] if j1 < j2 else ""
            ex, ey, _ = excerpt(x, y)
            lines = f"line {i1 + 1}" if i2 - i1 <= 1 else f"lines {i1 + 1}-{i2}"
            return Difference(f"page {number} text {lines}", Kind.CONTENT, f"{ex!r} → {ey!r}")
        return Difference(f"page {number} text", Kind.CONTENT, "text differs in spacing or line breaks")
    if page_digest(a) != page_digest(b):
        return Difference(f"page {number}", Kind.CONTENT, "the text is equal but the drawing differs (content stream, resources or annotations)")
    return None


def page_digest(page: Any) -> str:
    """A digest of what a page draws: every object it reaches except its ``/Parent``, streams
    by their decoded data, indirect objects by content rather than number, fonts by name
    (``/BaseFont``, ``/Subtype``): a font subset also holds the glyphs of other pages, so a
    page added elsewhere would otherwise change this one (the subset tag ``ABCDEF+`` is left
    out for the same reason); the page's text is compared apart."""
    h = hashlib.sha256()
    _feed(page, h, set(), 0)
    return h.hexdigest()


def _feed(obj: Any, h: Any, seen: set[int], depth: int) -> None:
    from pypdf.generic import ArrayObject, DictionaryObject, IndirectObject, StreamObject

    if depth > MAX_DEPTH:
        h.update(b"<deep>")
        return
    if isinstance(obj, IndirectObject):
        if obj.idnum in seen:
            h.update(b"<seen>")
            return
        seen.add(obj.idnum)
        obj = obj.get_object()
    if isinstance(obj, DictionaryObject) and obj.get("/Type") == "/Font":
        base = SUBSET_TAG.sub("", str(obj.get("/BaseFont", "")))
        h.update(f"<font {obj.get('/Subtype')} {base}>".encode())
        return
    if isinstance(obj, StreamObject):
        h.update(b"<stream>")
        h.update(obj.get_data())
        items = {k: v for k, v in obj.items() if k not in ("/Length", "/Filter", "/DecodeParms")}
        _feed(DictionaryObject(items), h, seen, depth + 1)
    elif isinstance(obj, DictionaryObject):
        h.update(b"<<")
        for key in sorted(obj.keys()):
            if key == "/Parent":
                continue
            h.update(str(key).encode())
            _feed(obj.raw_get(key), h, seen, depth + 1)
        h.update(b">>")
    elif isinstance(obj, ArrayObject):
        h.update(b"[")
        for item in obj:
            _feed(item, h, seen, depth + 1)
        h.update(b"]")
    else:
        h.update(repr(obj).encode())


def _info_differences(ra: Any, rb: Any) -> list[Difference]:
    """Document info entries, the trailer ``/ID`` and the XMP stream that differ."""
    out = []
    ia, ib = ra.metadata or {}, rb.metadata or {}
    for key in sorted(set(ia) | set(ib)):
        x, y = ia.get(key), ib.get(key)
        if x != y:
            kind = Kind.METADATA if key in METADATA_INFO else Kind.CONTENT
            out.append(Difference(f"document info {key}", kind, f"{_shown(x)} → {_shown(y)}"))
    if _ids(ra) != _ids(rb):
        out.append(Difference("trailer /ID", Kind.METADATA, f"{_ids(ra)} → {_ids(rb)}"))
    xa, xb = _xmp(ra), _xmp(rb)
    if xa != xb:
        out.append(Difference("XMP metadata", Kind.METADATA, "the XMP metadata stream differs"))
    return out


def _ids(reader: Any) -> str | None:
    ids = reader.trailer.get("/ID")
    if ids is None:
        return None
    def hexed(x: Any) -> str:  # a byte string, or a text string pypdf decoded from bytes
        x = x.get_object()
        raw = getattr(x, "original_bytes", None)
        return (raw if raw is not None else x if isinstance(x, bytes) else str(x).encode("latin-1", "replace")).hex()
    return " ".join(hexed(x) for x in ids.get_object())


def _xmp(reader: Any) -> str | None:
    root = reader.trailer["/Root"].get_object()
    stream = root.get("/Metadata")
    return hashlib.sha256(stream.get_object().get_data()).hexdigest() if stream is not None else None


def _shown(value: Any) -> str:
    if value is None:
        return "(absent)"
    text = repr(str(value))
    return text if len(text) <= 120 else text[:119] + "…"
