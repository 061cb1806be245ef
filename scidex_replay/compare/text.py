"""Text outputs: a line diff with line numbers, streamed.

Both files are read line by line in step; where they part, up to ``WINDOW`` lines of each
are held and ``difflib`` finds where they meet again, so memory is bounded by the window,
not the file (a 64 MB log whose last line holds the clock is diffed at its last line).
A long line is shown in a window of ``CONTEXT`` characters around its first change.
"""

from __future__ import annotations

import difflib
import io
from collections import deque
from collections.abc import Iterator
from itertools import islice
from pathlib import Path

from scidex_replay.compare.base import Comparison, Difference, Kind, Tolerance

#: lines of each file held while looking for where two differing regions meet again
WINDOW = 2000
#: characters shown either side of a long line's first change
CONTEXT = 60
#: unchanged lines shown around a hunk
CONTEXT_LINES = 3
#: hunks kept in the readable diff
MAX_HUNKS = 20


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
    """One region where the files differ: lines [a0, a1) of live, [b0, b1) of replayed (0-based)."""

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


class TextComparator:
    """UTF-8 text: which lines differ, with line numbers; every difference is ``content``
    (formats that know better, CSV, JSON, HTML, build on ``diff_lines``)."""

    name = "text"
    extensions = (".txt", ".log", ".md", ".rst", ".py", ".r", ".tex", ".yaml", ".yml", ".toml", ".ini", ".fa", ".fasta", ".fastq", ".vcf", ".bed", ".gff", ".sam")
    priority = -50

    def sniff(self, head: bytes, name: str) -> bool:
        return False  # chosen by extension, or as the UTF-8 fallback

    def compare(self, live: Path, replayed: Path, *, name: str, tolerance: Tolerance) -> Comparison:
        differences: list[Difference] = []
        unified = [f"--- live/{name}\n", f"+++ replayed/{name}\n"]
        changed = 0
        for n, hunk in enumerate(diff_lines(_lines(live), _lines(replayed))):
            changed += max(len(hunk.a_lines), len(hunk.b_lines))
            differences.append(Difference(hunk.where(), Kind.CONTENT, hunk.detail()))
            if n < MAX_HUNKS:
                unified.append(hunk.unified(name))
        metrics = {"hunks": len(differences), "lines_changed": changed}
        if not differences:  # only line endings or undecodable bytes differ
            differences.append(Difference(name, Kind.CONTENT, "the lines read equal; line endings or invalid UTF-8 bytes differ"))
            return Comparison(self.name, "content differs: line endings or encoding only", differences, metrics)
        first = differences[0].where
        summary = f"content differs: {changed} line(s) in {len(differences)} place(s), first at {first}"
        return Comparison(self.name, summary, differences, metrics, full_diff="".join(unified))
