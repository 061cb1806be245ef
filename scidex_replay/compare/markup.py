"""HTML, SVG and XML: a line diff after random ids are given stable names.

Plots exported as HTML or SVG carry ids that change on every run although nothing else
does: plotly's ``<div id="...">`` is a ``uuid4()`` (plotly.py#3449), matplotlib's SVG
markers and clip paths are ``m``/``p`` followed by 10 hex digits from a random salt
(``svg.hashsalt``), and an SVG names the time it was written in ``<dc:date>``. Each side
is read line by line (``text.diff_lines``, memory bounded by a window of lines) and every
volatile id is replaced by ``⟨idN⟩``, N counting distinct ids in the order first seen,
so two files that differ only in their ids read equal: then the difference is
``volatile-id`` and the summary names them (``div id 2f781ae9… → 62cf7fac…``). Volatile
ids are uuid tokens anywhere, and ids of at least 8 hex digits after an optional prefix of
up to 3 letters where an id is defined or referenced (``id="…"``, ``url(#…)``,
``href="#…"``). ``<dc:date>`` and ``<meta name="date|generated|…">`` values are
``metadata``. Anything else is ``content``, shown as a line diff of the normalized lines.

Limits: at most ``MAX_IDS`` distinct ids per file are renamed (later ones are compared
as written); an id added or removed on one side shifts the numbering of those after it,
so a real content change there also shows as changed ids.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from scidex_replay.compare.base import Comparison, Difference, Kind, Tolerance
from scidex_replay.compare.text import MAX_HUNKS, diff_lines

#: distinct ids renamed per file
MAX_IDS = 100_000
#: id pairs named in differences
MAX_NAMED = 20

UUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_HEX_ID = r"[A-Za-z_]{0,3}(?=[0-9a-fA-F]*[0-9])[0-9a-fA-F]{8,}"
_VOLATILE = re.compile(
    rf"(?P<uuid>\b{UUID}\b)"
    rf"|(?P<ctx>\bid=[\"']|url\(#|href=[\"']#)(?P<hex>{_HEX_ID})(?=[\"')])"
)
_META = re.compile(
    r"(?P<open><dc:date>)(?P<value>[^<]*)(?=</dc:date>)"
    r"|(?P<mopen><meta\s+name=[\"'](?P<field>date|generated|created|dcterms\.created|dcterms\.modified|timestamp)[\"']\s+content=[\"'])(?P<mvalue>[^\"']*)",
    re.IGNORECASE,
)
_ELEMENT = re.compile(r"<([A-Za-z][\w:.-]*)")
_SNIFF = (b"<!doctype html", b"<html", b"<svg", b"<?xml")


class Renamer:
    """One file's ids, each renamed ``⟨idN⟩`` in the order first seen; its metadata values and
    line endings. ``tokens[N-1]`` is the id written, ``labels`` the element that defines
    it (``div``), ``lines`` where it was first seen (1-based), ``counts`` its occurrences."""

    def __init__(self) -> None:
        self.index: dict[str, int] = {}
        self.tokens: list[str] = []
        self.labels: dict[int, str] = {}
        self.lines: list[int] = []
        self.counts: list[int] = []
        self.metadata: list[tuple[str, str, int]] = []
        self.endings: set[str] = set()
        self.line = 0

    def _name(self, token: str, before: str, is_definition: bool) -> str:
        k = self.index.get(token)
        if k is None:
            if len(self.tokens) >= MAX_IDS:
                return token
            k = self.index[token] = len(self.tokens)
            self.tokens.append(token)
            self.lines.append(self.line)
            self.counts.append(0)
        self.counts[k] += 1
        if k not in self.labels and (is_definition or before.rstrip().endswith(("id=\"", "id='"))):
            m = _ELEMENT.match(before, max(before.rfind("<"), 0))
            self.labels[k] = m.group(1) if m else "element"
        return f"⟨id{k + 1}⟩"

    def _sub(self, m: re.Match) -> str:
        before = m.string[: m.start()]
        if m.group("uuid"):
            return self._name(m.group("uuid"), before, False)
        ctx = m.group("ctx")
        return ctx + self._name(m.group("hex"), before + ctx, ctx.startswith("id"))

    def _meta(self, m: re.Match) -> str:
        if m.group("open"):
            self.metadata.append(("dc:date", m.group("value"), self.line))
            return m.group("open") + "⟨date⟩"
        self.metadata.append((f"meta {m.group('field')}", m.group("mvalue"), self.line))
        return m.group("mopen") + "⟨date⟩"

    def lines_of(self, path: Path) -> Iterator[str]:
        with open(path, "rb") as fh:
            for raw in fh:
                self.line += 1
                text = raw.rstrip(b"\r\n")
                self.endings.add(raw[len(text):].decode())
                line = text.decode("utf-8", errors="replace")
                yield _META.sub(self._meta, _VOLATILE.sub(self._sub, line))


def _short(token: str) -> str:
    return token if len(token) <= 10 else token[:8] + "…"


class MarkupComparator:
    """HTML/SVG/XML: random ids (uuid4, matplotlib's hex ids) renamed alike on both sides,
    then a line diff; ids alone are ``volatile-id``, ``<dc:date>`` is ``metadata``."""

    name = "markup"
    extensions = (".html", ".htm", ".xhtml", ".svg", ".xml")
    priority = 10

    def sniff(self, head: bytes, name: str) -> bool:
        return head.lstrip(b"\xef\xbb\xbf \t\r\n")[:32].lower().startswith(_SNIFF)

    def compare(self, live: Path, replayed: Path, *, name: str, tolerance: Tolerance) -> Comparison:
        a, b = Renamer(), Renamer()
        content: list[Difference] = []
        unified = [f"--- live/{name}\n", f"+++ replayed/{name}\n"]
        changed = 0
        for n, hunk in enumerate(diff_lines(a.lines_of(live), b.lines_of(replayed))):
            changed += max(len(hunk.a_lines), len(hunk.b_lines))
            content.append(Difference(hunk.where(), Kind.CONTENT, hunk.detail()))
            if n < MAX_HUNKS:
                unified.append(hunk.unified(name))
        pairs = [(k, a.tokens[k], b.tokens[k]) for k in range(min(len(a.tokens), len(b.tokens))) if a.tokens[k] != b.tokens[k]]
        ids = [
            Difference(f"line {a.lines[k]}", Kind.VOLATILE_ID,
                       f"{a.labels.get(k, 'element')} id {ta} → {tb} ({a.counts[k]} occurrence{'s' if a.counts[k] > 1 else ''})")
            for k, ta, tb in pairs[:MAX_NAMED]
        ]
        meta = [
            Difference(f"line {la}", Kind.METADATA, f"{field} {va} → {vb}")
            for (field, va, la), (_, vb, _) in zip(a.metadata, b.metadata) if va != vb
        ]
        metrics = {"hunks": len(content), "lines_changed": changed, "ids_live": len(a.tokens),
                   "ids_replayed": len(b.tokens), "ids_differing": len(pairs), "metadata_differing": len(meta)}
        what = []
        if pairs:
            named = [f"{a.labels.get(k, 'element')} id {_short(ta)} → {_short(tb)}" for k, ta, tb in pairs[:2]]
            more = f" and {len(pairs) - 2} more" if len(pairs) > 2 else ""
            what.append(f"the {named[0]}" if len(pairs) == 1 else f"{len(pairs)} ids ({', '.join(named)}{more})")
        if meta:
            fields = dict.fromkeys(f for (f, va, _), (_, vb, _) in zip(a.metadata, b.metadata) if va != vb)
            what.append(f"metadata ({', '.join(fields)})")
        if content:
            summary = f"content differs: {changed} line(s) in {len(content)} place(s), first at {content[0].where}"
            if what:
                summary += "; also " + " and ".join(what)
            mapping = [f"# ⟨id{k + 1}⟩ = {ta} (live), {tb} (replayed)\n" for k, ta, tb in pairs[:MAX_NAMED]]
            return Comparison(self.name, summary, content + ids + meta, metrics, full_diff="".join(mapping + unified))
        if what:
            verb = "differs" if len(pairs) == 1 and not meta else "differ"
            return Comparison(self.name, f"equivalent: only {' and '.join(what)} {verb}", ids + meta, metrics)
        if a.endings != b.endings:
            why = f"line endings differ ({'/'.join(sorted(map(repr, a.endings)))} → {'/'.join(sorted(map(repr, b.endings)))})"
            return Comparison(self.name, f"equivalent: {why}", [Difference("line endings", Kind.METADATA, why)], metrics)
        d = Difference(name, Kind.CONTENT, "the lines read equal as UTF-8; invalid UTF-8 bytes differ")
        return Comparison(self.name, "content differs: invalid UTF-8 bytes differ", [d], metrics)
