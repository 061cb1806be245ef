"""Text outputs: a line diff with line numbers, streamed.

Both files are read in step; where they part, up to ``WINDOW`` lines of each are held and
``difflib`` finds where they meet again, so memory is bounded by the window, not the file
(a 64 MB log whose last line holds the clock is diffed at its last line). ``LineDiff`` first
compares ``BLOCK``-sized byte blocks and only splits into lines where two blocks differ, so
a stretch of identical bytes costs a ``memcmp``, not a Python loop per line. Lines compare
without their line ending (``\n``, ``\r\n``); a line that differs only in its ending is
counted in ``LineDiff.eol_lines``. A long line is shown in a window of ``CONTEXT``
characters around its first change.
"""

from __future__ import annotations

import difflib
import hashlib
import io
from collections import deque
from collections.abc import Iterator
from itertools import islice
from pathlib import Path

from scidex_replay.compare.base import Comparison, Difference, Kind, Tolerance
from scidex_replay.compare.numbers import numeric_change

#: lines of each file held while looking for where two differing regions meet again
WINDOW = 2000
#: characters shown either side of a long line's first change
CONTEXT = 60
#: unchanged lines shown around a hunk
CONTEXT_LINES = 3
#: hunks kept in the readable diff
MAX_HUNKS = 20
#: bytes of each file compared at once while they are equal (``LineDiff``)
BLOCK = 1 << 20
#: byte-identical lines in a row after which ``LineDiff`` goes back to comparing blocks
RESYNC = 16
#: bytes before a difference searched for its context lines
_TAIL = 4096


def excerpt(a: str, b: str, context: int = CONTEXT) -> tuple[str, str, int]:
    """The part of ``a`` and ``b`` around their first differing character: (a, b, column)."""
    col = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
    start = max(0, col - context)
    def cut(s: str) -> str:
        end = col + context
        return ("…" if start else "") + s[start:end] + ("…" if len(s) > end else "")
    return cut(a), cut(b), col + 1


def _lines(path: Path) -> Iterator[str]:
    with open(path, encoding="utf-8", errors="replace", newline="") as fh:
        for line in fh:
            yield line.rstrip("\r\n")


class Hunk:
    """One region where the files differ: lines [a0, a1) of live, [b0, b1) of replayed (0-based);
    from ``LineDiff``, ``a_pos``/``b_pos`` are the byte offsets of its first lines."""

    a_pos: int | None = None
    b_pos: int | None = None

    def __init__(self, a0: int, a_lines: list[str], b0: int, b_lines: list[str], before: list[str]):
        self.a0, self.a_lines, self.b0, self.b_lines, self.before = a0, a_lines, b0, b_lines, before

    def where(self) -> str:
        def span(start: int, n: int) -> str:
            return f"{start + 1}" if n <= 1 else f"{start + 1}-{start + n}"
        if not self.a_lines:
            return f"after line {self.a0} (replayed line {span(self.b0, len(self.b_lines))}, not recorded)"
        if not self.b_lines:
            return f"line {span(self.a0, len(self.a_lines))} (not replayed)"
        if self.a0 == self.b0 and len(self.a_lines) == len(self.b_lines):
            return f"line {span(self.a0, len(self.a_lines))}"
        return f"line {span(self.a0, len(self.a_lines))} (replayed {span(self.b0, len(self.b_lines))})"

    def detail(self) -> str:
        if len(self.a_lines) == 1 and len(self.b_lines) == 1:
            a, b, col = excerpt(self.a_lines[0], self.b_lines[0])
            return f"column {col}: {a!r} → {b!r}"
        parts = []
        if self.a_lines:
            parts.append(f"{len(self.a_lines)} line(s) recorded, e.g. {excerpt(self.a_lines[0], self.b_lines[0] if self.b_lines else '')[0]!r}")
        if self.b_lines:
            parts.append(f"{len(self.b_lines)} line(s) replayed, e.g. {excerpt(self.b_lines[0], self.a_lines[0] if self.a_lines else '')[0]!r}")
        return "; ".join(parts)

    def unified(self, name: str) -> str:
        out = io.StringIO()
        a_start = self.a0 - len(self.before)
        b_start = self.b0 - len(self.before)
        out.write(f"@@ -{a_start + 1},{len(self.before) + len(self.a_lines)} +{b_start + 1},{len(self.before) + len(self.b_lines)} @@\n")
        for line in self.before:
            out.write(f" {line}\n")
        for line, other in zip(self.a_lines, self.b_lines + [""] * len(self.a_lines)):
            out.write(f"-{_short(line, other)}\n")
        for line, other in zip(self.b_lines, self.a_lines + [""] * len(self.b_lines)):
            out.write(f"+{_short(line, other)}\n")
        return out.getvalue()


def _short(line: str, other: str) -> str:
    return line if len(line) <= 2 * CONTEXT + 20 else excerpt(line, other)[0]


def diff_lines(live: Iterator[str], replayed: Iterator[str], window: int = WINDOW) -> Iterator[Hunk]:
    """The hunks where two line streams differ, in order; memory bounded by ``window`` lines.

    Where no common line is found within ``window`` lines after two streams part, the
    rest of both is one last hunk holding the first ``window`` lines of each.
    """
    a_buf: deque[str] = deque()
    b_buf: deque[str] = deque()
    a_pos = b_pos = 0
    before: deque[str] = deque(maxlen=CONTEXT_LINES)
    a_it, b_it = iter(live), iter(replayed)
    while True:
        if not a_buf:
            a_buf.extend(islice(a_it, 1))
        if not b_buf:
            b_buf.extend(islice(b_it, 1))
        if not a_buf and not b_buf:
            return
        if a_buf and b_buf and a_buf[0] == b_buf[0]:
            before.append(a_buf.popleft())
            b_buf.popleft()
            a_pos += 1
            b_pos += 1
            continue
        a_buf.extend(islice(a_it, window - len(a_buf)))
        b_buf.extend(islice(b_it, window - len(b_buf)))
        a_list, b_list = list(a_buf), list(b_buf)
        matcher = difflib.SequenceMatcher(None, a_list, b_list, autojunk=False)
        meet = next((m for m in matcher.get_matching_blocks() if m.size >= min(3, len(a_list) - m.a, len(b_list) - m.b) and m.size), None)
        if meet is None:  # no line in common within the window: the rest differs
            yield Hunk(a_pos, a_list, b_pos, b_list, list(before))
            return
        yield Hunk(a_pos, a_list[: meet.a], b_pos, b_list[: meet.b], list(before))
        for _ in range(meet.a):
            a_buf.popleft()
        for _ in range(meet.b):
            b_buf.popleft()
        a_pos += meet.a
        b_pos += meet.b
        before.clear()


def _key(raw: bytes) -> str:
    return raw.rstrip(b"\r\n").decode("utf-8", errors="replace")


def _common_prefix(a: bytes, b: bytes) -> int:
    """Length of the longest common prefix of ``a`` and ``b``: slices of 64 KiB, then 1 KiB,
    compared in C, then bytes (no copy larger than 64 KiB)."""
    n = min(len(a), len(b))
    lo = 0
    for step in (1 << 16, 1 << 10, 1):
        while lo + step <= n and a[lo : lo + step] == b[lo : lo + step]:
            lo += step
    return lo


def _tail_lines(buf: bytes, n: int, whole: bool) -> list[str]:
    """The last ``n`` complete lines of ``buf``, which ends at a line start and starts at one
    when ``whole`` (else its first, cut line is left out)."""
    lines = buf.split(b"\n")[:-1]
    return [_key(x) for x in (lines if whole else lines[1:])[-n:]]


class LineDiff:
    """The hunks where two files' lines differ, in order (iterate once); memory bounded by
    ``block`` bytes and ``window`` lines of each file.

    Equal stretches are skipped ``block`` bytes at a time; where two blocks differ, both
    files are read line by line from the start of the line that differs, hunks are found
    as ``diff_lines`` finds them, and after ``RESYNC`` byte-identical lines the blocks take
    over again. Where no common line is found within ``window`` lines, both windows are one
    hunk and the comparison goes on after them (every line is either in a hunk or equal to
    its counterpart at the same distance from the last hunk). After iterating:
    ``lines_live``/``lines_replayed`` (line counts), ``eol_lines`` (lines equal but for their
    line ending) and ``eol_example`` (the two endings, e.g. ``("\\r\\n", "\\n")``).
    A line that spans a block is read whole (memory is bounded by the longest such line).
    """

    def __init__(self, live: Path, replayed: Path, *, window: int = WINDOW, block: int = BLOCK):
        self.live, self.replayed, self.window, self.block = live, replayed, window, block
        self.lines_live = self.lines_replayed = 0
        self.eol_lines = 0
        self.eol_example: tuple[str, str] | None = None

    def __iter__(self) -> Iterator[Hunk]:
        with open(self.live, "rb") as fa, open(self.replayed, "rb") as fb:
            a_line = b_line = 0
            pos_a = pos_b = 0
            before: deque[str] = deque(maxlen=CONTEXT_LINES)
            while True:
                pos_a, pos_b, skipped, last = self._equal_blocks(fa, fb, pos_a, pos_b, before)
                a_line += skipped
                b_line += skipped
                if last is not None:  # both files ended, equal since the last hunk
                    self.lines_live, self.lines_replayed = a_line + last, b_line + last
                    return
                state = yield from self._line_mode(fa, fb, pos_a, pos_b, a_line, b_line, before)
                if state is None:
                    return
                pos_a, pos_b, a_line, b_line = state

    def _equal_blocks(self, fa, fb, pos_a: int, pos_b: int, before: deque[str]):
        """Skip equal blocks from ``pos_a``/``pos_b`` (both line starts): (line start of the first
        difference in each file, complete lines skipped, None), or at the end of both files
        (.., .., complete lines skipped, 1 if a last line has no newline else 0)."""
        fa.seek(pos_a)
        fb.seek(pos_b)
        skipped = 0
        line_start = 0  # offset from pos_a of the line the current block starts in
        off = 0
        tail = b""  # the last bytes before ``off``, for context lines
        a = b = b""
        while True:
            a = b = b""  # the previous blocks go before the next are read: two blocks at most
            a = fa.read(self.block)
            b = fb.read(self.block)
            if a == b:
                if not a:
                    return pos_a + off, pos_b + off, skipped, (1 if off > line_start else 0)
                n = a.count(b"\n")
                if n:
                    skipped += n
                    line_start = off + a.rfind(b"\n") + 1
                off += len(a)
                tail = (tail + a[-_TAIL:])[-_TAIL:]
                continue
            k = _common_prefix(a, b)
            j = a.rfind(b"\n", 0, k)
            if j >= 0:
                skipped += a.count(b"\n", 0, j + 1)
                line_start = off + j + 1
            lo = max(line_start - _TAIL, off - len(tail), 0)  # context: the bytes [lo, line_start)
            base = off - len(tail)
            head = tail[lo - base : max(lo, min(off, line_start)) - base] + a[max(lo - off, 0) : max(line_start - off, 0)]
            if lo:
                before.clear()  # what line mode left there is not next to this line
            before.extend(_tail_lines(head, CONTEXT_LINES, whole=lo == 0))
            return pos_a + line_start, pos_b + line_start, skipped, None

    def _line_mode(self, fa, fb, pos_a: int, pos_b: int, a_line: int, b_line: int, before: deque[str]):
        """Line by line from ``pos_a``/``pos_b``, yielding hunks; returns where blocks can take
        over again (positions and line numbers), or None at the end of both files."""
        fa.seek(pos_a)
        fb.seek(pos_b)
        a_buf: deque[bytes] = deque()
        b_buf: deque[bytes] = deque()
        a_eof = b_eof = False
        run = 0

        def fill(buf: deque[bytes], fh, n: int) -> bool:
            while len(buf) < n:
                line = fh.readline()
                if not line:
                    return True
                buf.append(line)
            return False

        while True:
            if not a_buf and not a_eof:
                a_eof = fill(a_buf, fa, 1)
            if not b_buf and not b_eof:
                b_eof = fill(b_buf, fb, 1)
            if not a_buf and not b_buf:
                self.lines_live, self.lines_replayed = a_line, b_line
                return None
            if a_buf and b_buf and _key(a_buf[0]) == _key(b_buf[0]):
                ra, rb = a_buf.popleft(), b_buf.popleft()
                if ra != rb:
                    self.eol_lines += 1
                    if self.eol_example is None:
                        self.eol_example = (ra[len(ra.rstrip(b"\r\n")):].decode(), rb[len(rb.rstrip(b"\r\n")):].decode())
                    run = 0
                else:
                    run += 1
                before.append(_key(ra))
                pos_a += len(ra)
                pos_b += len(rb)
                a_line += 1
                b_line += 1
                if run >= RESYNC:
                    return pos_a, pos_b, a_line, b_line
                continue
            run = 0
            if not a_eof:
                a_eof = fill(a_buf, fa, self.window)
            if not b_eof:
                b_eof = fill(b_buf, fb, self.window)
            a_list, b_list = [_key(x) for x in a_buf], [_key(x) for x in b_buf]
            matcher = difflib.SequenceMatcher(None, a_list, b_list, autojunk=False)
            meet = next((m for m in matcher.get_matching_blocks() if m.size >= min(3, len(a_list) - m.a, len(b_list) - m.b) and m.size), None)
            na, nb = (meet.a, meet.b) if meet is not None else (len(a_list), len(b_list))
            hunk = Hunk(a_line, a_list[:na], b_line, b_list[:nb], list(before))
            hunk.a_pos, hunk.b_pos = pos_a, pos_b
            yield hunk
            for _ in range(na):
                pos_a += len(a_buf.popleft())
            for _ in range(nb):
                pos_b += len(b_buf.popleft())
            a_line += na
            b_line += nb
            before.clear()


class TextComparator:
    """UTF-8 text (a log, printed results, a report): which lines differ, with line numbers.

    Lines equal but for their numbers (``compare.numbers``) are ``numeric`` when every number
    is within the tolerance (a bootstrap mean that moved by 1.7e-12), else ``content`` with
    the largest absolute and relative difference. Anything else is ``content``: also the same
    lines in another order, which the summary says (a ranking, a log and a time series are
    ordered; a text file does not say when its order means nothing), found with an
    order-independent sum of line hashes, so memory stays bounded. (Formats that know better, CSV,
    JSON, HTML, build on ``LineDiff`` and ``diff_lines``.)
    """

    name = "text"
    extensions = (".txt", ".log", ".md", ".rst", ".py", ".r", ".tex", ".yaml", ".yml", ".toml", ".ini", ".fa", ".fasta", ".fastq", ".vcf", ".bed", ".gff", ".sam")
    priority = -50

    def sniff(self, head: bytes, name: str) -> bool:
        return False  # chosen by extension, or as the UTF-8 fallback

    def compare(self, live: Path, replayed: Path, *, name: str, tolerance: Tolerance) -> Comparison:
        differences: list[Difference] = []
        unified = [f"--- live/{name}\n", f"+++ replayed/{name}\n"]
        changed = hunks = 0
        numeric = Numbers()
        moved = _Multiset(), _Multiset()  # the lines removed and added outside numeric hunks
        first_other: str | None = None
        lines = LineDiff(live, replayed)
        for n, hunk in enumerate(lines):
            hunks += 1
            changed += max(len(hunk.a_lines), len(hunk.b_lines))
            kind, detail = numeric.judge(hunk, tolerance)
            if kind is None:
                kind, detail = Kind.CONTENT, hunk.detail()
                moved[0].add(hunk.a_lines)
                moved[1].add(hunk.b_lines)
                first_other = first_other or hunk.where()
            if len(differences) < KEEP_DIFFERENCES:
                differences.append(Difference(hunk.where(), kind, detail))
            if n < MAX_HUNKS:
                unified.append(hunk.unified(name))
        metrics = {"hunks": hunks, "lines_changed": changed, "lines_live": lines.lines_live, "lines_replayed": lines.lines_replayed}
        if not differences:  # only line endings or undecodable bytes differ
            why = endings(lines) or "invalid UTF-8 bytes differ"
            differences.append(Difference(name, Kind.CONTENT, f"the lines read equal; {why}"))
            return Comparison(self.name, f"content differs: {why} only", differences, metrics)
        metrics.update(numeric.metrics())
        full = "".join(unified)
        if first_other is None and not numeric.beyond:
            summary = f"equivalent: numbers within the tolerance on {numeric.lines} line(s) (max rel {numeric.max_rel:.2g}, first at {numeric.first})"
            return Comparison(self.name, summary, differences, metrics, full_diff=full)
        beyond = f"numbers beyond the tolerance on {numeric.beyond} line(s) (max abs {numeric.max_abs:.3g}, rel {numeric.max_rel:.3g})"
        if first_other is None:  # only numbers differ, some too much
            summary = f"content differs: {beyond}, first at {numeric.first}"
        elif moved[0] == moved[1]:  # every line removed was added elsewhere: a ranking, a log, a set printed
            metrics["lines_moved"] = moved[0].count
            summary = f"content differs: the same lines in another order ({moved[0].count} moved, first at {first_other})"
            summary += f"; {beyond}" if numeric.beyond else ""
        else:
            summary = f"content differs: {changed} line(s) in {hunks} place(s), first at {differences[0].where}"
            summary += f"; {beyond}" if numeric.beyond else ""
        return Comparison(self.name, summary, differences, metrics, full_diff=full)


#: differences a text comparison keeps (its metrics count every hunk)
KEEP_DIFFERENCES = 200


class Numbers:
    """The hunks whose lines are equal but for their numbers, and how far those numbers moved."""

    def __init__(self) -> None:
        self.lines = self.beyond = 0
        self.max_abs = self.max_rel = 0.0
        self.first: str | None = None

    def judge(self, hunk: Hunk, tolerance: Tolerance) -> tuple[Kind | None, str]:
        """(``numeric`` or ``content``, detail) for a hunk of line pairs that differ only in
        numbers; (None, "") for any other hunk."""
        if len(hunk.a_lines) != len(hunk.b_lines):
            return None, ""
        changes = [numeric_change(a, b, tolerance) for a, b in zip(hunk.a_lines, hunk.b_lines)]
        if any(c is None for c in changes):
            return None, ""
        within = all(c.within for c in changes)  # type: ignore[union-attr]
        max_abs = max(c.max_abs for c in changes)  # type: ignore[union-attr]
        max_rel = max(c.max_rel for c in changes)  # type: ignore[union-attr]
        self.lines += len(changes)
        self.beyond += sum(not c.within for c in changes)  # type: ignore[union-attr]
        self.max_abs, self.max_rel = max(self.max_abs, max_abs), max(self.max_rel, max_rel)
        self.first = self.first or hunk.where()
        a, b = changes[0].first  # type: ignore[union-attr]
        detail = f"{a} → {b} (abs {max_abs:.3g}, rel {max_rel:.3g})"
        return (Kind.NUMERIC if within else Kind.CONTENT), detail

    def metrics(self) -> dict[str, float | int]:
        if not self.lines:
            return {}
        return {"numeric_lines": self.lines, "numbers_beyond_tolerance": self.beyond,
                "max_abs_diff": self.max_abs, "max_rel_diff": self.max_rel}


class _Multiset:
    """An order-independent summary of lines: their count and the sum of their 64-bit hashes
    (two multisets with equal sums are equal but for a 2**-64 chance)."""

    def __init__(self) -> None:
        self.count = 0
        self.total = 0

    def add(self, lines: list[str]) -> None:
        for line in lines:
            digest = hashlib.blake2b(line.encode("utf-8", "surrogatepass"), digest_size=8).digest()
            self.total = (self.total + int.from_bytes(digest, "little")) % (1 << 64)
        self.count += len(lines)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Multiset) and (self.count, self.total) == (other.count, other.total)


def endings(lines: LineDiff) -> str:
    """What the line endings a finished ``LineDiff`` found say, e.g. ``line endings differ
    (\\r\\n → \\n) on 120 lines``; empty when none differ."""
    if not lines.eol_lines or lines.eol_example is None:
        return ""
    a, b = lines.eol_example
    if not a or not b:
        return "the final newline was " + ("added" if b else "removed")
    return f"line endings differ ({a!r} → {b!r}) on {lines.eol_lines} line(s)"
