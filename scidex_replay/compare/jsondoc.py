"""JSON documents and JSON Lines: the paths of the values that differ.

Two documents of at most ``MAX_PARSE`` bytes each are parsed (stdlib ``json``) and walked
side by side; a difference is named by its path (``$.results[3].p``, ``$["a key"]``):
numbers within the tolerance are ``numeric``, beyond it ``content``, with the largest
absolute and relative difference and its path; an object whose keys come in another
order is ``order``; an array holding the same items in another order is ``content`` (an
array is ordered: coefficients, ranks, a series); two strings that are both uuids at the
same path are ``volatile-id`` (a hex digest is not: a changed checksum is a change); equal documents
written differently (indentation, escapes) differ in ``metadata``. Anything else that
differs (a value, a type, a key or an item only on one side) is ``content``.

Memory: a parsed document costs several times its size, so a file over ``MAX_PARSE``
(8 MiB; a parsed document takes about ten times its size) is not parsed whole: it is compared line by line with ``text.LineDiff`` (bounded
by a block and a window of lines), and each pair of differing lines is parsed alone when
it can be (``"p": 0.25,`` is the member ``p``), so a pretty-printed file still gets
``numeric`` for numbers within the tolerance. JSON Lines (``.jsonl``, ``.ndjson``, or a
file whose first document is followed by another) is always compared line by line, each
line a document (``line 12 $.p``), and lines that are the same multiset in another
order are ``order`` (as for CSV rows).

Equal subtrees are skipped with ``==`` confirmed by the C encoder (``==`` ignores key
order and takes ``true`` for ``1``). Limit: arrays of different lengths longer than
``MAX_ALIGN`` items are compared item by item without alignment.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

from scidex_replay.compare.base import (
    MAX_DIFFERENCES, Comparison, Difference, Kind, Tolerance, relative_difference,
)
from scidex_replay.compare.text import MAX_HUNKS, Hunk, LineDiff, endings, excerpt

#: the largest file parsed whole, in bytes; larger ones are compared line by line
MAX_PARSE = 8 << 20
#: the longest arrays of different lengths aligned with difflib
MAX_ALIGN = 10_000
LINE_EXTENSIONS = (".jsonl", ".ndjson")
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_START = re.compile(rb'\{\s*["}]|\[\s*(?:[\]\[{"\-0-9]|true|false|null)')
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_MASK = (1 << 64) - 1


def volatile(a: str, b: str) -> bool:
    """Whether ``a`` and ``b`` are both uuids: ids a run makes (``uuid4()``, ``uuid1()``). A hex
    digest is not: a checksum or a commit that changed says the data or the code did."""
    return bool(_UUID.fullmatch(a) and _UUID.fullmatch(b))


def member(path: str, key: str) -> str:
    return f"{path}.{key}" if _IDENT.fullmatch(key) else f"{path}[{json.dumps(key)}]"


def _show(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 60 else text[:59] + "…"


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


class Walk:
    """Two parsed JSON values walked side by side; the differences found (50 kept, the first
    of each kind always) and counts per kind; the largest numeric differences and paths."""

    def __init__(self, tolerance: Tolerance):
        self.tolerance = tolerance
        self.differences: list[Difference] = []
        self.counts = {k: 0 for k in Kind}
        self.max_abs = self.max_rel = 0.0
        self.max_abs_path = self.max_rel_path = ""

    def note(self, where: str, kind: Kind, detail: str) -> None:
        if len(self.differences) < MAX_DIFFERENCES or not self.counts[kind]:
            self.differences.append(Difference(where, kind, detail))
        self.counts[kind] += 1

    def __call__(self, a: Any, b: Any, path: str = "$") -> None:
        if type(a) is type(b) and a == b:
            # == ignores key order and takes true for 1: the encoder (in C) sees both
            if not isinstance(a, (dict, list)) or json.dumps(a) == json.dumps(b):
                return
        if isinstance(a, dict) and isinstance(b, dict):
            self._object(a, b, path)
        elif isinstance(a, list) and isinstance(b, list):
            self._array(a, b, path)
        elif _is_number(a) and _is_number(b):
            self._number(a, b, path)
        elif isinstance(a, str) and isinstance(b, str):
            if volatile(a, b):
                self.note(path, Kind.VOLATILE_ID, f"{a} → {b}")
            else:
                ea, eb, _ = excerpt(a, b)
                self.note(path, Kind.CONTENT, f"{ea!r} → {eb!r}")
        else:
            self.note(path, Kind.CONTENT, f"{_show(a)} → {_show(b)}")

    def _number(self, a: float, b: float, path: str) -> None:
        if a == b or (isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b)):
            return
        d, r = abs(a - b), relative_difference(a, b)
        if d > self.max_abs or not self.max_abs_path:
            self.max_abs, self.max_abs_path = d, path
        if r > self.max_rel or not self.max_rel_path:
            self.max_rel, self.max_rel_path = r, path
        tolerance = self.tolerance.for_integers if isinstance(a, int) and isinstance(b, int) else self.tolerance
        kind = Kind.NUMERIC if tolerance.close(a, b) else Kind.CONTENT
        self.note(path, kind, f"{a!r} → {b!r} (abs diff {d:.3g}, rel diff {r:.3g})")

    def _object(self, a: dict, b: dict, path: str) -> None:
        for k in a:
            if k not in b:
                self.note(member(path, k), Kind.CONTENT, f"only recorded: {_show(a[k])}")
        for k in b:
            if k not in a:
                self.note(member(path, k), Kind.CONTENT, f"only replayed: {_show(b[k])}")
        common_a = [k for k in a if k in b]
        common_b = [k for k in b if k in a]
        if common_a != common_b:
            self.note(path, Kind.ORDER, f"the same keys in another order: {_show(common_a[:8])} → {_show(common_b[:8])}")
        for k in common_a:
            self(a[k], b[k], member(path, k))

    def _array(self, a: list, b: list, path: str) -> None:
        ca = [json.dumps(x, sort_keys=True) for x in a]
        cb = [json.dumps(x, sort_keys=True) for x in b]
        if sorted(ca) == sorted(cb):  # a JSON array is ordered (RFC 8259): coefficients, ranks, a series
            moved = sum(x != y for x, y in zip(ca, cb))
            self.note(path, Kind.CONTENT, f"the same {len(a)} items in another order ({moved} moved)")
            return
        if len(a) == len(b) or len(a) > MAX_ALIGN or len(b) > MAX_ALIGN:
            if len(a) != len(b):
                self.note(path, Kind.CONTENT, f"{len(a)} → {len(b)} items")
            for i, (x, y) in enumerate(zip(a, b)):
                self(x, y, f"{path}[{i}]")
            return
        import difflib

        self.note(path, Kind.CONTENT, f"{len(a)} → {len(b)} items")
        for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, ca, cb, autojunk=False).get_opcodes():
            if tag == "replace" and i2 - i1 == j2 - j1:
                for i, j in zip(range(i1, i2), range(j1, j2)):
                    self(a[i], b[j], f"{path}[{i}]")
            elif tag != "equal":
                for i in range(i1, i2):
                    self.note(f"{path}[{i}]", Kind.CONTENT, f"only recorded: {_show(a[i])}")
                for j in range(j1, j2):
                    self.note(f"{path}[{j}] (replayed)", Kind.CONTENT, f"only replayed: {_show(b[j])}")


def _fragment(line: str) -> Any:
    """A line of JSON read alone: a document, an object member (``"p": 0.25,``) or an array item."""
    text = line.strip().rstrip(",")
    for candidate in (text, "{" + text + "}"):
        try:
            return json.loads(candidate)
        except ValueError:
            continue
    raise ValueError("not JSON on its own")


class JsonComparator:
    """JSON: the paths of the values that differ, numbers against the tolerance, reordered keys
    and arrays as ``order``, random tokens as ``volatile-id``; JSON Lines line by line."""

    name = "json"
    extensions = (".json", ".geojson", *LINE_EXTENSIONS)
    priority = 5

    def sniff(self, head: bytes, name: str) -> bool:
        """A head starting like a JSON object or array, in a file named ``.json``-like, or with
        no suffix or a generic one (``.txt``, ``.out``, ``.dat``): not ``.ipynb`` nor any
        other format that happens to be JSON inside."""
        suffix = Path(name).suffix.lower()
        if suffix not in (*self.extensions, "", ".txt", ".out", ".dat"):
            return False
        return bool(_START.match(head.lstrip(b"\xef\xbb\xbf \t\r\n")))

    def compare(self, live: Path, replayed: Path, *, name: str, tolerance: Tolerance) -> Comparison:
        suffix = Path(name).suffix.lower()
        if suffix in LINE_EXTENSIONS:
            return self._lines(live, replayed, name, tolerance, documents=True)
        too_big = max(live.stat().st_size, replayed.stat().st_size) > MAX_PARSE
        if too_big:
            return self._lines(live, replayed, name, tolerance, documents=False, why=f"over {MAX_PARSE >> 20} MiB, compared line by line")
        try:
            with open(live, "rb") as fh:
                a = json.load(fh)
            with open(replayed, "rb") as fh:
                b = json.load(fh)
        except json.JSONDecodeError as exc:
            if exc.msg == "Extra data":  # documents one per line
                return self._lines(live, replayed, name, tolerance, documents=True)
            if suffix in self.extensions:
                raise
            return self._lines(live, replayed, name, tolerance, documents=False, why="not JSON, compared line by line")
        walk = Walk(tolerance)
        walk(a, b)
        del a, b
        return self._verdict(walk, name)

    def _verdict(self, walk: Walk, name: str, extra: list[Difference] = (), metrics: dict | None = None,
                 full_diff: str | None = None) -> Comparison:
        differences = [*extra, *walk.differences]
        counts = {k.value: n for k, n in walk.counts.items() if n}
        metrics = {**(metrics or {}), "differences_by_kind": counts}
        if walk.max_abs_path:
            metrics.update(max_abs_diff=walk.max_abs, max_abs_path=walk.max_abs_path,
                           max_rel_diff=walk.max_rel, max_rel_path=walk.max_rel_path)
        if not differences:
            d = Difference(name, Kind.METADATA, "the documents are equal; only how they are written differs (whitespace, escapes, number spelling)")
            return Comparison(self.name, "equivalent: the same JSON, written differently", [d], metrics)
        first = {}
        for d in differences:
            first.setdefault(d.kind, d)
        parts = []
        if Kind.CONTENT in first:
            d = first[Kind.CONTENT]
            parts.append(f"{counts.get('content', 1)} value(s) differ, first at {d.where}: {d.detail}")
        numbers = f"max abs diff {walk.max_abs:.3g} at {walk.max_abs_path}, max rel diff {walk.max_rel:.3g}"
        if walk.max_abs_path and Kind.CONTENT in first:
            parts.append(numbers)
        if Kind.NUMERIC in first and Kind.CONTENT not in first:
            parts.append(f"{counts['numeric']} number(s) within the tolerance, {numbers}")
        if Kind.ORDER in first:
            more = f" and {counts['order'] - 1} more" if counts["order"] > 1 else ""
            parts.append(f"{first[Kind.ORDER].detail} at {first[Kind.ORDER].where}{more}")
        if Kind.VOLATILE_ID in first:
            n = counts["volatile-id"]
            parts.append(f"{n} random id(s), first at {first[Kind.VOLATILE_ID].where}")
        if Kind.METADATA in first:
            parts.append(first[Kind.METADATA].detail)
        verdict = "content differs: " if Kind.CONTENT in first else "equivalent: "
        return Comparison(self.name, verdict + "; ".join(parts), differences, metrics, full_diff=full_diff)

    def _lines(self, live: Path, replayed: Path, name: str, tolerance: Tolerance, *, documents: bool, why: str = "") -> Comparison:
        """Line by line: each pair of differing lines parsed alone (a document when
        ``documents``, else a fragment); the rest a line difference."""
        walk = Walk(tolerance)
        lines = LineDiff(live, replayed)
        unified = [f"--- live/{name}\n", f"+++ replayed/{name}\n"]
        sums = [0, 0, 0, 0]
        hunks = 0
        for hunk in lines:
            if hunks < MAX_HUNKS:
                unified.append(hunk.unified(name))
            hunks += 1
            for line in hunk.a_lines:
                sums[0] = (sums[0] + hash(line)) & _MASK
            for line in hunk.b_lines:
                sums[1] = (sums[1] + hash(line)) & _MASK
            sums[2] += len(hunk.a_lines)
            sums[3] += len(hunk.b_lines)
            self._hunk(walk, hunk, documents)
        metrics = {"lines_live": lines.lines_live, "lines_replayed": lines.lines_replayed, "hunks": hunks}
        extra = [Difference(name, Kind.METADATA, f"compared line by line: {why}")] if why else []
        if not hunks:
            eol = endings(lines)
            d = Difference(name, Kind.METADATA, eol) if eol else Difference(name, Kind.CONTENT, "the lines read equal as UTF-8; invalid UTF-8 bytes differ")
            return Comparison(self.name, ("equivalent: " if eol else "content differs: ") + d.detail, [d], metrics)
        if documents and sums[0] == sums[1] and sums[2] == sums[3]:
            d = Difference("lines", Kind.ORDER, f"the same {lines.lines_live} lines in another order ({sums[2]} moved)")
            return Comparison(self.name, f"equivalent: {d.detail}", [d], metrics, full_diff="".join(unified))
        if why:
            metrics["compared_line_by_line"] = why
        return self._verdict(walk, name, extra, metrics, full_diff="".join(unified))

    def _hunk(self, walk: Walk, hunk: Hunk, documents: bool) -> None:
        read = json.loads if documents else _fragment
        for i, (x, y) in enumerate(zip(hunk.a_lines, hunk.b_lines)):
            where = f"line {hunk.a0 + i + 1}"
            try:
                a, b = read(x), read(y)
            except ValueError:
                ea, eb, col = excerpt(x, y)
                walk.note(where, Kind.CONTENT, f"column {col}: {ea!r} → {eb!r}")
                continue
            walk(a, b, f"{where} $")
        n = min(len(hunk.a_lines), len(hunk.b_lines))
        for side, extra, start in (("recorded", hunk.a_lines[n:], hunk.a0 + n), ("replayed", hunk.b_lines[n:], hunk.b0 + n)):
            if extra:
                span = f"{start + 1}" if len(extra) == 1 else f"{start + 1}-{start + len(extra)}"
                walk.note(f"line {span} ({side})", Kind.CONTENT, f"{len(extra)} line(s) only {side}, e.g. {excerpt(extra[0], '')[0]!r}")
