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
column at a time with NumPy. Where no line matches within a window of ``text.WINDOW``
lines (float noise in every row), the rest of both files is read by pandas in chunks of
``DENSE_CHUNK`` rows and compared row against row, column by column: the same account,
near the time of a plain read. Its order check sums pandas' row hashes of the chunks that
differ beyond the tolerance; rows equal within it in place are not rows moved, so they
rule ``order`` out. A table pandas cannot read (ragged rows) is compared line by line.

Limits: a quoted field holding a line break is compared as the lines it spans; rows are
counted as the lines after the header (comment and blank lines included).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from itertools import zip_longest
from pathlib import Path

from scidex_replay.compare.base import (
    MAX_DIFFERENCES, Comparison, Difference, Kind, Tolerance, relative_difference,
)
from scidex_replay.compare.numbers import INTEGER, LEADING_ZERO
from scidex_replay.compare.registry import HEAD_BYTES
from scidex_replay.compare.text import MAX_HUNKS, WINDOW, Hunk, LineDiff, endings, excerpt

#: the columns named in a summary
SUMMARY_COLUMNS = 3
#: rows of each file pandas reads at a time where the files differ nearly everywhere
DENSE_CHUNK = 50_000
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


class NotATable(Exception):
    """A file named as a table that holds binary data."""


def _binary(head: bytes) -> bool:
    """Whether a file's first bytes are binary data rather than a table in some text encoding
    (UTF-8, or Latin-1 as spreadsheets export it): a NUL, or more than 1% control characters."""
    controls = sum(b < 9 or 13 < b < 32 for b in head)
    return b"\x00" in head or controls > len(head) // 100


def _number(cell: str) -> float | None:
    """The number a cell holds; None for text, and for a code written with leading zeros
    (``007``, ``02139``: a sample id or a ZIP code, compared as written)."""
    if not cell or "_" in cell or LEADING_ZERO.match(cell.strip()):
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
    comments: list[Difference] = field(default_factory=list)
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
    order_possible: bool = True  # False once hashing was skipped for rows equal within the tolerance

    def note(self, d: Difference) -> None:
        """Keep ``d`` among the examples while there is room, and always the first of its kind."""
        if len(self.examples) < MAX_DIFFERENCES or d.kind not in self.kinds_seen:
            self.examples.append(d)
        self.kinds_seen.add(d.kind)

    def comment(self, d: Difference) -> None:
        """A differing comment line (kept apart from the cells: the first ``SUMMARY_COLUMNS``)."""
        if len(self.comments) < SUMMARY_COLUMNS:
            self.comments.append(d)
        self.kinds_seen.add(d.kind)

    def row(self, line: int) -> int:
        return line + (0 if self.header else 1)

    def column(self, j: int) -> str:
        return self.columns[j] if j < len(self.columns) else f"column {j + 1}"

    def hunk(self, h: Hunk) -> None:
        if any(line.count('"') % 2 for line in (*h.a_lines, *h.b_lines)):
            self.order_possible = False  # a quoted field spans lines: these lines are not rows
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
            if any(_number(va) is None or _number(vb) is None for _, va, vb in cells):
                raise ValueError("text, 1_000 or 007 in this column: cell by cell")
            A = np.array([va for _, va, _ in cells], dtype=float)
            B = np.array([vb for _, _, vb in cells], dtype=float)
        except ValueError:  # text in this column: cell by cell
            for i, va, vb in cells:
                self._cell(j, a0 + i, va, vb)
            return
        lines = np.array([a0 + i for i, _, _ in cells])
        integers = all(INTEGER.fullmatch(va.strip()) and INTEGER.fullmatch(vb.strip()) for _, va, vb in cells)
        self.numbers(j, lines, A, B, lambda k: (cells[k][1], cells[k][2]), integers)

    def numbers(self, j: int, lines, A, B, text, integers: bool = False) -> None:
        """Numbers of column ``j`` that differ (NumPy arrays; ``lines`` their 0-based line
        numbers; ``text(k)`` the two cells as written): counts, maxima and the examples."""
        import numpy as np

        stats = self._stats(j)
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            eq = (A == B) | (np.isnan(A) & np.isnan(B))
            d = np.where(eq, 0.0, np.abs(A - B))
            d = np.where(np.isnan(d), np.inf, d)
            r = np.where(eq, 0.0, d / np.abs(A))
            r = np.where(np.isnan(r), np.inf, r)
            tolerance = self.tolerance.for_integers if integers else self.tolerance  # counts and ids are exact
            close = eq | (np.isfinite(d) & (d <= tolerance.atol + tolerance.rtol * np.abs(A)))
        k = int(np.argmax(d))
        if d[k] > stats.max_abs_diff or not stats.max_abs_row:
            stats.max_abs_diff, stats.max_abs_row = float(d[k]), self.row(int(lines[k]))
        k = int(np.argmax(r))
        if r[k] > stats.max_rel_diff or not stats.max_rel_row:
            stats.max_rel_diff, stats.max_rel_row = float(r[k]), self.row(int(lines[k]))
        n_close = int(close.sum())
        stats.numeric += n_close
        stats.content += len(A) - n_close
        shown = list(range(min(len(A), max(MAX_DIFFERENCES - len(self.examples), 0))))
        for kind_close in (False, True):  # the first of each kind, kept whatever the room
            kind = Kind.NUMERIC if kind_close else Kind.CONTENT
            if kind not in self.kinds_seen:
                first = np.flatnonzero(close == kind_close)
                if first.size and int(first[0]) not in shown:
                    shown.append(int(first[0]))
        for k in shown:
            la = int(lines[k])
            va, vb = text(k)
            where = f"column {self.column(j)!r} row {self.row(la)} (line {la + 1})"
            detail = f"{va} → {vb} (abs diff {d[k]:.3g}, rel diff {r[k]:.3g})"
            self.note(Difference(where, Kind.NUMERIC if close[k] else Kind.CONTENT, detail))

    def dense(self, live: Path, replayed: Path, a_pos: int, b_pos: int, line: int) -> tuple[int, int]:
        """Compare both files from byte ``a_pos``/``b_pos`` (line ``line`` of each) to their ends
        with pandas, ``DENSE_CHUNK`` rows of each at a time, row against row; returns the
        rows read from each. Used where no line matched within a window: the files differ
        nearly everywhere (numbers with float noise in every row), and parsing in C keeps
        the comparison near the time of a read."""
        import numpy as np
        import pandas as pd

        ncol = len(self.columns)
        kw = dict(header=None, sep=self.delimiter, names=list(range(ncol)) if ncol else None,
                  chunksize=DENSE_CHUNK, skip_blank_lines=False, low_memory=False)
        rows = [0, 0]
        with open(live, "rb") as fa, open(replayed, "rb") as fb:
            fa.seek(a_pos)
            fb.seek(b_pos)
            for ca, cb in zip_longest(pd.read_csv(fa, **kw), pd.read_csv(fb, **kw)):
                na, nb = len(ca) if ca is not None else 0, len(cb) if cb is not None else 0
                n = min(na, nb)
                start = line + rows[0]
                content = sum(s.content for s in self.stats.values()) + self.comment_lines
                differing = self._dense_chunk(ca.iloc[:n], cb.iloc[:n], start) if n else False
                if na != nb or sum(s.content for s in self.stats.values()) + self.comment_lines > content:
                    # rows that differ beyond the tolerance: they may be rows moved (order)
                    for side, chunk in ((0, ca), (1, cb)):
                        if chunk is not None:
                            h = int(pd.util.hash_pandas_object(chunk, index=False).to_numpy().sum(dtype=np.uint64))
                            if side:
                                self.sum_replayed = (self.sum_replayed + h) & _MASK
                            else:
                                self.sum_live = (self.sum_live + h) & _MASK
                elif differing:  # numbers within the tolerance in place: not the same rows moved
                    self.order_possible = False
                if na != nb:
                    side, extra, first = ("recorded", na - n, start + n) if na > nb else ("replayed", nb - n, line + rows[1] + n)
                    if side == "recorded":
                        self.unpaired_live += extra
                    else:
                        self.unpaired_replayed += extra
                    self.note(Difference(f"row {self.row(first)} (line {first + 1}, {side})", Kind.CONTENT, f"{extra} row(s) or more only {side}"))
                rows[0] += na
                rows[1] += nb
        self.hunk_lines_live += rows[0]
        self.hunk_lines_replayed += rows[1]
        if not self.first_row:
            self.first_row = self.row(line)
        return rows[0], rows[1]

    def _dense_chunk(self, ca, cb, start: int) -> bool:
        """Compare two chunks of as many rows, row against row; whether any cell differs."""
        import numpy as np
        import pandas as pd

        changed = np.zeros(len(ca), dtype=bool)
        width = max(ca.shape[1], cb.shape[1])
        for j in range(width):
            if j >= ca.shape[1] or j >= cb.shape[1]:
                continue
            sa, sb = ca.iloc[:, j], cb.iloc[:, j]
            if pd.api.types.is_numeric_dtype(sa) and pd.api.types.is_numeric_dtype(sb) and not pd.api.types.is_bool_dtype(sa):
                A, B = sa.to_numpy(dtype=float), sb.to_numpy(dtype=float)
                with np.errstate(invalid="ignore"):
                    neq = ~((A == B) | (np.isnan(A) & np.isnan(B)))
                idx = np.flatnonzero(neq)
                if idx.size:
                    integers = pd.api.types.is_integer_dtype(sa) and pd.api.types.is_integer_dtype(sb)
                    self.numbers(
                        j, start + idx, A[idx], B[idx], lambda k, A=A[idx], B=B[idx]: (repr(float(A[k])), repr(float(B[k]))), integers,
                    )
            else:
                na_a, na_b = sa.isna().to_numpy(), sb.isna().to_numpy()
                ta, tb = sa.astype(str).to_numpy(), sb.astype(str).to_numpy()
                neq = (ta != tb) & ~(na_a & na_b)
                for i in np.flatnonzero(neq):
                    va, vb = "" if na_a[i] else str(ta[i]), "" if na_b[i] else str(tb[i])
                    if j == 0 and (va.startswith("#") or vb.startswith("#")):  # a comment line, as pair() says it
                        neq[i] = False
                        self.comment_lines += 1
                        ea, eb, col = excerpt(va, vb)
                        self.comment(Difference(f"line {start + int(i) + 1} (comment)", Kind.CONTENT, f"column {col}: {ea!r} → {eb!r}"))
                        continue
                    self._cell(j, start + int(i), va, vb)
            changed |= neq
        n = int(changed.sum())
        self.changed_rows += n
        return n > 0

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
            self.comment(Difference(f"line {la + 1} (comment)", Kind.CONTENT, f"column {col}: {ea!r} → {eb!r}"))
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
            integers = INTEGER.fullmatch(va.strip()) and INTEGER.fullmatch(vb.strip())
            close = (self.tolerance.for_integers if integers else self.tolerance).close(na, nb)
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
        for path in (live, replayed):
            with open(path, "rb") as fh:
                if _binary(fh.read(HEAD_BYTES)):
                    raise NotATable("binary data, not a table")  # the registry falls back to bytes
        try:
            return self._compare(live, replayed, name, tolerance, dense=True)
        except ValueError:  # pandas could not read the rest (ragged rows): line by line all along
            return self._compare(live, replayed, name, tolerance, dense=False)

    def _compare(self, live: Path, replayed: Path, name: str, tolerance: Tolerance, dense: bool) -> Comparison:
        first = _first_line(live)
        delimiter = delimiter_of(name, first)
        header_fields = _fields(first, delimiter)
        header = bool(header_fields) and any(_number(c) is None for c in header_fields)
        table = _Table(header_fields if header else [], header, delimiter, tolerance)
        lines = LineDiff(live, replayed)
        unified = [f"--- live/{name}\n", f"+++ replayed/{name}\n"]
        hunks = 0
        counts = None
        for hunk in lines:
            if hunks < MAX_HUNKS:
                unified.append(hunk.unified(name))
            hunks += 1
            if dense and len(hunk.a_lines) == len(hunk.b_lines) == WINDOW and hunk.a0 == hunk.b0 and (hunk.a0 or not header) and not table.heads:
                rows = table.dense(live, replayed, hunk.a_pos, hunk.b_pos, hunk.a0)
                counts = (hunk.a0 + rows[0], hunk.b0 + rows[1])
                break
            table.hunk(hunk)
        if counts is None:
            counts = (lines.lines_live, lines.lines_replayed)
        return _verdict(self.name, table, lines, counts, hunks, "".join(unified) if hunks else None)


def _verdict(comparator: str, t: _Table, lines: LineDiff, counts: tuple[int, int], hunks: int, full_diff: str | None) -> Comparison:
    skip = 1 if t.header else 0
    rows_live, rows_replayed = max(counts[0] - skip, 0), max(counts[1] - skip, 0)
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
    if t.order_possible and t.hunk_lines_live == t.hunk_lines_replayed and t.sum_live == t.sum_replayed:
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
    if t.comments:
        first = t.comments[0]
        parts.append(f"{first.where}: {first.detail}" + (f" and {t.comment_lines - 1} more" if t.comment_lines > 1 else ""))
    if cols and numeric_cols:
        parts.append("numbers within the tolerance in " + ", ".join(f"column {c!r}" for c, _ in numeric_cols[:SUMMARY_COLUMNS]))
    differences += t.comments + t.examples
    metrics["comment_lines"] = t.comment_lines
    content = any(d.kind is Kind.CONTENT for d in differences)
    if content:
        summary = "content differs: " + "; ".join(parts) if parts else "content differs"
    else:
        within = [f"column {c!r} {s.phrase()}" for c, s in numeric_cols[:SUMMARY_COLUMNS]]
        summary = f"equivalent: numbers within the tolerance in {', '.join(within)}, {t.changed_rows} of {rows_live} rows"
    return Comparison(comparator, summary, differences, metrics, full_diff=full_diff)
