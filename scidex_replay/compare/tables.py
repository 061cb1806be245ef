"""Delimited tables (CSV, TSV): which columns, rows and cells differ, and by how much.

Both files are streamed through ``text.LineDiff``: equal stretches are skipped a block of
bytes at a time, and only the lines that differ are parsed (stdlib ``csv``), so memory is
bounded by a block and a window of lines, never the table (a 256 MiB CSV that differs in
one value is compared faster than pandas reads it; ``benchmarks/bench_compare.py``).
A differing line is paired with its counterpart at the same place and compared cell by
cell: a number within the tolerance is ``numeric``, beyond it ``content``, with the
maximum absolute and relative difference per column and the row where each occurs
(Galaxy's verifier compares tables line by line the same way, with ``lines_diff`` and
``sort``, lib/galaxy/tool_util/verify). Rows that are the same multiset in another
order are ``order``: the rows outside the hunks are equal in place, so it suffices that
the hunks' rows on each side have the same count and the same sum of 64-bit row hashes
(no row is held). A changed header is ``content``; a line starting with ``#`` that is
not a row of the table (a ``# generated at ...`` footer) is reported as a comment line.

Differing rows are parsed a hunk at a time and their numbers converted and compared a
column at a time with NumPy, so a table whose every row differs in the last digit costs
a few times a plain read, not a Python loop per cell.

Limits: a quoted field holding a line break is compared as the lines it spans; rows are
counted as the lines after the header (comment and blank lines included).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

from scidex_replay.compare.base import (
    MAX_DIFFERENCES, Comparison, Difference, Kind, Tolerance, relative_difference,
)
from scidex_replay.compare.text import MAX_HUNKS, Hunk, LineDiff, endings, excerpt

#: the columns named in a summary
SUMMARY_COLUMNS = 3
_MASK = (1 << 64) - 1


def delimiter_of(name: str, header: str) -> str:
    """``\\t`` for ``.tsv``/``.tab``; for ``.csv`` the first of ``,``, ``;``, tab found in the header."""
    if Path(name).suffix.lower() in (".tsv", ".tab"):
        return "\t"
    return next((d for d in (",", ";", "\t") if d in header), ",")


def _fields(line: str, delimiter: str) -> list[str]:
    """The cells of one line; the whole line as one cell when ``csv`` cannot split it (a cell
    over ``csv.field_size_limit()``)."""
    try:
        return next(csv.reader([line], delimiter=delimiter), [])
    except csv.Error:
        return [line]


def _number(cell: str) -> float | None:
    if not cell or "_" in cell:
        return None
    try:
        return float(cell)
    except ValueError:
        return None


def _first_line(path: Path) -> str:
    with open(path, "rb") as fh:
        return fh.readline(1 << 20).rstrip(b"\r\n").decode("utf-8", errors="replace")


@dataclass
class ColumnStats:
    """What differs in one column: cells beyond and within the tolerance, the largest
    absolute and relative differences of its numbers and the (1-based) row of each."""

    content: int = 0
    numeric: int = 0
    max_abs_diff: float = 0.0
    max_abs_row: int = 0
    max_rel_diff: float = 0.0
    max_rel_row: int = 0

    def add(self, a: float, b: float, row: int) -> None:
        d, r = abs(a - b), relative_difference(a, b)
        if d > self.max_abs_diff or not self.max_abs_row:
            self.max_abs_diff, self.max_abs_row = d, row
        if r > self.max_rel_diff or not self.max_rel_row:
            self.max_rel_diff, self.max_rel_row = r, row

    def to_json(self) -> dict:
        out = {"changed_cells": self.content, "numeric_cells": self.numeric}
        if self.max_abs_row:
            out.update(max_abs_diff=self.max_abs_diff, max_abs_row=self.max_abs_row,
                       max_rel_diff=self.max_rel_diff, max_rel_row=self.max_rel_row)
        return out

    def phrase(self) -> str:
        if not self.max_abs_row:
            return f"{self.content} cell(s)"
        return f"max abs diff {self.max_abs_diff:.3g} (row {self.max_abs_row}), max rel diff {self.max_rel_diff:.3g}"


@dataclass
class _Table:
    """The running account of one comparison (bounded: counts, per-column stats, 50 examples)."""

    columns: list[str]
    header: bool
    delimiter: str
    tolerance: Tolerance
    stats: dict[str, ColumnStats] = field(default_factory=dict)
    examples: list[Difference] = field(default_factory=list)
    heads: list[Difference] = field(default_factory=list)
    kinds_seen: set[Kind] = field(default_factory=set)
    changed_rows: int = 0
    comment_lines: int = 0
    unpaired_live: int = 0
    unpaired_replayed: int = 0
    sum_live: int = 0
    sum_replayed: int = 0
    hunk_lines_live: int = 0
    hunk_lines_replayed: int = 0
    first_row: int = 0

    def note(self, d: Difference) -> None:
        """Keep ``d`` among the examples while there is room, and always the first of its kind."""
        if len(self.examples) < MAX_DIFFERENCES or d.kind not in self.kinds_seen:
            self.examples.append(d)
        self.kinds_seen.add(d.kind)

    def row(self, line: int) -> int:
        return line + (0 if self.header else 1)

    def column(self, j: int) -> str:
        return self.columns[j] if j < len(self.columns) else f"column {j + 1}"

    def hunk(self, h: Hunk) -> None:
        for line in h.a_lines:
            self.sum_live = (self.sum_live + hash(line)) & _MASK
        for line in h.b_lines:
            self.sum_replayed = (self.sum_replayed + hash(line)) & _MASK
        self.hunk_lines_live += len(h.a_lines)
        self.hunk_lines_replayed += len(h.b_lines)
        if not self.first_row:
            self.first_row = self.row(h.a0)
        n = min(len(h.a_lines), len(h.b_lines))
        self.pairs(h.a0, h.a_lines[:n], h.b0, h.b_lines[:n])
        for side, lines, start in (("recorded", h.a_lines[n:], h.a0 + n), ("replayed", h.b_lines[n:], h.b0 + n)):
            if not lines:
                continue
            if side == "recorded":
                self.unpaired_live += len(lines)
            else:
                self.unpaired_replayed += len(lines)
            span = f"{self.row(start)}" if len(lines) == 1 else f"{self.row(start)}-{self.row(start + len(lines) - 1)}"
            other = "replayed" if side == "recorded" else "recorded"
            self.note(Difference(f"row {span} (line {start + 1}, {side})", Kind.CONTENT,
                                 f"{len(lines)} row(s) {side}, not {other}, e.g. {excerpt(lines[0], '')[0]!r}"))

    def pairs(self, a0: int, a_lines: list[str], b0: int, b_lines: list[str]) -> None:
        """Compare lines paired in place: rows of as many cells on both sides column by column
        with NumPy (one parse per hunk, one float conversion per column), the header, comment
        lines and ragged rows one by one (``pair``)."""
        n = len(a_lines)
        try:
            ra = list(csv.reader(a_lines, delimiter=self.delimiter))
            rb = list(csv.reader(b_lines, delimiter=self.delimiter))
        except csv.Error:
            ra = rb = []
        if len(ra) != n or len(rb) != n:  # a quoted line break, or a cell csv refuses
            for i in range(n):
                self.pair(a0 + i, a_lines[i], b0 + i, b_lines[i])
            return
        simple: list[int] = []
        for i in range(n):
            fa, fb = ra[i], rb[i]
            if fa == fb:
                continue
            if (self.header and (a0 + i == 0 or b0 + i == 0)) or len(fa) != len(fb) or a_lines[i][:1] == "#" or b_lines[i][:1] == "#":
                self.pair(a0 + i, a_lines[i], b0 + i, b_lines[i])
            else:
                simple.append(i)
        if not simple:
            return
        changed: set[int] = set()
        for j in range(max(len(ra[i]) for i in simple)):
            cells = [(i, ra[i][j], rb[i][j]) for i in simple if j < len(ra[i]) and ra[i][j] != rb[i][j]]
            if cells:
                changed.update(i for i, _, _ in cells)
                self._column(j, a0, cells)
        self.changed_rows += len(changed)

    def _column(self, j: int, a0: int, cells: list[tuple[int, str, str]]) -> None:
        """The differing cells of column ``j`` in one hunk: (index in the hunk, recorded, replayed)."""
        import numpy as np  # pandas' dependency, so always there

        try:
            if any("_" in va or "_" in vb for _, va, vb in cells):
                raise ValueError("1_000 is not a number in a table")
            A = np.array([va for _, va, _ in cells], dtype=float)
            B = np.array([vb for _, _, vb in cells], dtype=float)
        except ValueError:  # text in this column: cell by cell
            for i, va, vb in cells:
                self._cell(j, a0 + i, va, vb)
            return
        stats = self._stats(j)
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            eq = (A == B) | (np.isnan(A) & np.isnan(B))
            d = np.where(eq, 0.0, np.abs(A - B))
            d = np.where(np.isnan(d), np.inf, d)
            r = np.where(eq, 0.0, d / np.abs(A))
            r = np.where(np.isnan(r), np.inf, r)
            close = eq | (np.isfinite(d) & (d <= self.tolerance.atol + self.tolerance.rtol * np.abs(A)))
        k = int(np.argmax(d))
        if d[k] > stats.max_abs_diff or not stats.max_abs_row:
            stats.max_abs_diff, stats.max_abs_row = float(d[k]), self.row(a0 + cells[k][0])
        k = int(np.argmax(r))
        if r[k] > stats.max_rel_diff or not stats.max_rel_row:
            stats.max_rel_diff, stats.max_rel_row = float(r[k]), self.row(a0 + cells[k][0])
        n_close = int(close.sum())
        stats.numeric += n_close
        stats.content += len(cells) - n_close
        shown = list(range(min(len(cells), max(MAX_DIFFERENCES - len(self.examples), 0))))
        for kind_close in (False, True):  # the first of each kind, kept whatever the room
            kind = Kind.NUMERIC if kind_close else Kind.CONTENT
            if kind not in self.kinds_seen:
                first = np.flatnonzero(close == kind_close)
                if first.size and int(first[0]) not in shown:
                    shown.append(int(first[0]))
        for k in shown:
            i, va, vb = cells[k]
            la = a0 + i
            where = f"column {self.column(j)!r} row {self.row(la)} (line {la + 1})"
            detail = f"{va} → {vb} (abs diff {d[k]:.3g}, rel diff {r[k]:.3g})"
            self.note(Difference(where, Kind.NUMERIC if close[k] else Kind.CONTENT, detail))

    def pair(self, la: int, a: str, lb: int, b: str) -> None:
        if self.header and (la == 0 or lb == 0):
            ca, cb = _fields(a, self.delimiter), _fields(b, self.delimiter)
            gone = [c for c in ca if c not in cb]
            new = [c for c in cb if c not in ca]
            what = f"columns {ca} → {cb}" if len(ca) + len(cb) <= 40 else f"{len(ca)} → {len(cb)} columns"
            if gone or new:
                what += f" (removed {gone}, added {new})" if gone and new else f" (removed {gone})" if gone else f" (added {new})"
            elif ca != cb:
                what += " (same columns, another order)" if sorted(ca) == sorted(cb) else ""
            self.heads.append(Difference("header (line 1)", Kind.CONTENT, what))
            self.kinds_seen.add(Kind.CONTENT)
            return
        fa, fb = _fields(a, self.delimiter), _fields(b, self.delimiter)
        ncol = len(self.columns) or max(len(fa), len(fb))
        if (a.startswith("#") and len(fa) != ncol) or (b.startswith("#") and len(fb) != ncol):
            self.comment_lines += 1
            ea, eb, col = excerpt(a, b)
            self.note(Difference(f"line {la + 1} (comment)", Kind.CONTENT, f"column {col}: {ea!r} → {eb!r}"))
            return
        row = self.row(la)
        changed = False
        for j in range(max(len(fa), len(fb))):
            if j >= len(fa) or j >= len(fb):
                changed = True
                side = "replayed" if j >= len(fa) else "recorded"
                value = (fb if j >= len(fa) else fa)[j]
                self._stats(j).content += 1
                self.note(Difference(f"column {self.column(j)!r} row {row} (line {la + 1})", Kind.CONTENT, f"only {side}: {value!r}"))
                continue
            if fa[j] != fb[j]:
                changed = True
                self._cell(j, la, fa[j], fb[j])
        self.changed_rows += changed

    def _cell(self, j: int, la: int, va: str, vb: str) -> None:
        stats = self._stats(j)
        row = self.row(la)
        where = f"column {self.column(j)!r} row {row} (line {la + 1})"
        na, nb = _number(va), _number(vb)
        if na is not None and nb is not None:
            stats.add(na, nb, row)
            close = self.tolerance.close(na, nb)
            stats.numeric += close
            stats.content += not close
            detail = f"{va} → {vb} (abs diff {abs(na - nb):.3g}, rel diff {relative_difference(na, nb):.3g})"
            self.note(Difference(where, Kind.NUMERIC if close else Kind.CONTENT, detail))
        else:
            stats.content += 1
            ea, eb, _ = excerpt(va, vb)
            self.note(Difference(where, Kind.CONTENT, f"{ea!r} → {eb!r}"))

    def _stats(self, j: int) -> ColumnStats:
        return self.stats.setdefault(self.column(j), ColumnStats())


class CsvComparator:
    """CSV/TSV tables: header, row count, and each differing cell with per-column maximum
    absolute/relative differences; reordered rows are ``order``; chosen by extension."""

    name = "csv"
    extensions = (".csv", ".tsv", ".tab")
    priority = 0

    def sniff(self, head: bytes, name: str) -> bool:
        return False  # a table is any text; the extension decides

    def compare(self, live: Path, replayed: Path, *, name: str, tolerance: Tolerance) -> Comparison:
        first = _first_line(live)
        delimiter = delimiter_of(name, first)
        header_fields = _fields(first, delimiter)
        header = bool(header_fields) and any(_number(c) is None for c in header_fields)
        table = _Table(header_fields if header else [], header, delimiter, tolerance)
        lines = LineDiff(live, replayed)
        unified = [f"--- live/{name}\n", f"+++ replayed/{name}\n"]
        hunks = 0
        for hunk in lines:
            if hunks < MAX_HUNKS:
                unified.append(hunk.unified(name))
            hunks += 1
            table.hunk(hunk)
        return _verdict(self.name, table, lines, hunks, "".join(unified) if hunks else None)


def _verdict(comparator: str, t: _Table, lines: LineDiff, hunks: int, full_diff: str | None) -> Comparison:
    skip = 1 if t.header else 0
    rows_live, rows_replayed = max(lines.lines_live - skip, 0), max(lines.lines_replayed - skip, 0)
    metrics: dict = {
        "rows_live": rows_live, "rows_replayed": rows_replayed, "columns": len(t.columns),
        "hunks": hunks, "changed_rows": t.changed_rows,
        "changed_cells": sum(s.content for s in t.stats.values()),
        "numeric_cells": sum(s.numeric for s in t.stats.values()),
        "column_differences": {c: s.to_json() for c, s in t.stats.items()},
    }
    if not hunks:
        why = endings(lines)
        if why:
            d = Difference("line endings", Kind.METADATA, why)
            return Comparison(comparator, f"equivalent: the table reads equal; {why}", [d], metrics)
        d = Difference("bytes", Kind.CONTENT, "the lines read equal as UTF-8; invalid UTF-8 bytes differ")
        return Comparison(comparator, "content differs: invalid UTF-8 bytes differ", [d], metrics)
    if t.hunk_lines_live == t.hunk_lines_replayed and t.sum_live == t.sum_replayed:
        moved = t.hunk_lines_live
        metrics["rows_moved"] = moved
        detail = f"the same {rows_live} rows in another order: {moved} row(s) moved, the first at row {t.first_row}"
        d = Difference(f"row {t.first_row}", Kind.ORDER, detail)
        summary = f"equivalent: the same {rows_live} rows in another order ({moved} moved, first at row {t.first_row})"
        return Comparison(comparator, summary, [d], metrics, full_diff=full_diff)
    differences = list(t.heads)
    parts = [d.detail for d in t.heads]
    if rows_live != rows_replayed:
        what = f"{rows_live} → {rows_replayed} rows ({rows_replayed - rows_live:+d})"
        differences.append(Difference("rows", Kind.CONTENT, what))
        parts.append(what)
    content_cols = [(c, s) for c, s in t.stats.items() if s.content]
    numeric_cols = [(c, s) for c, s in t.stats.items() if s.numeric and not s.content]
    for c, s in content_cols:
        differences.append(Difference(f"column {c!r}", Kind.CONTENT, f"{s.content} cell(s) differ beyond the tolerance; {s.phrase()}"))
    for c, s in numeric_cols:
        differences.append(Difference(f"column {c!r}", Kind.NUMERIC, f"{s.numeric} cell(s) within the tolerance; {s.phrase()}"))
    cols = [f"column {c!r} {s.phrase()}" for c, s in content_cols[:SUMMARY_COLUMNS]]
    if len(content_cols) > SUMMARY_COLUMNS:
        cols.append(f"{len(content_cols) - SUMMARY_COLUMNS} more column(s)")
    if cols:
        parts.append(", ".join(cols) + f", {t.changed_rows} of {rows_live} rows")
    if t.unpaired_live or t.unpaired_replayed:
        only = [f"{n} row(s) only {side}" for n, side in ((t.unpaired_live, "recorded"), (t.unpaired_replayed, "replayed")) if n]
        parts.append(", ".join(only))
    comments = [d for d in t.examples if d.where.endswith("(comment)")]
    if comments:
        parts.append(f"{comments[0].where}: {comments[0].detail}" + (f" and {t.comment_lines - 1} more" if t.comment_lines > 1 else ""))
    differences += t.examples
    metrics["comment_lines"] = t.comment_lines
    content = any(d.kind is Kind.CONTENT for d in differences)
    if content:
        summary = "content differs: " + "; ".join(parts) if parts else "content differs"
    else:
        within = [f"column {c!r} {s.phrase()}" for c, s in numeric_cols[:SUMMARY_COLUMNS]]
        summary = f"equivalent: numbers within the tolerance in {', '.join(within)}, {t.changed_rows} of {rows_live} rows"
    return Comparison(comparator, summary, differences, metrics, full_diff=full_diff)
