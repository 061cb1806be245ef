"""``text.LineDiff``: the block-skipping line diff the text, CSV and JSON comparators share."""

from __future__ import annotations

import random

import pytest

from scidex_replay.compare.base import Tolerance
from scidex_replay.compare.text import LineDiff, TextComparator


def edited(rng: random.Random, a: list[str]) -> list[str]:
    b = list(a)
    for _ in range(rng.randint(0, 4)):
        op = rng.random()
        if op < 0.3 and b:
            b[rng.randrange(len(b))] = f"x{rng.random()}"
        elif op < 0.6:
            b.insert(rng.randint(0, len(b)), "new")
        elif b:
            del b[rng.randrange(len(b))]
    return b


@pytest.mark.parametrize("seed", range(6))
def test_hunks_turn_the_recorded_lines_into_the_replayed_ones(tmp_path, seed):
    """Whatever the block and window sizes, applying the hunks to the recorded lines gives the
    replayed lines, and every line outside a hunk is equal to its counterpart."""
    rng = random.Random(seed)
    for _ in range(300):
        a = [f"l{rng.randint(0, 30)}" * rng.randint(1, 3) for _ in range(rng.randint(0, 60))]
        b = edited(rng, a)
        (tmp_path / "a").write_text("\n".join(a) + ("\n" if a and rng.random() < 0.8 else ""))
        (tmp_path / "b").write_text("\n".join(b) + ("\n" if b else ""))
        diff = LineDiff(tmp_path / "a", tmp_path / "b", window=rng.choice([4, 50]), block=rng.choice([1, 5, 64, 4096]))
        out, done = [], 0
        for h in diff:
            assert h.a_lines == a[h.a0 : h.a0 + len(h.a_lines)]
            assert h.a0 - done == h.b0 - len(out)
            out += a[done : h.a0] + h.b_lines
            done = h.a0 + len(h.a_lines)
        assert out + a[done:] == b
        assert (diff.lines_live, diff.lines_replayed) == (len(a), len(b))


def test_a_change_far_into_a_file_is_found_by_its_line_number(tmp_path):
    lines = [f"{i},{i * 0.5}" for i in range(200_000)]
    (tmp_path / "a.log").write_text("\n".join(lines) + "\nend 1\n")
    (tmp_path / "b.log").write_text("\n".join(lines) + "\nend 2\n")
    (hunk,) = LineDiff(tmp_path / "a.log", tmp_path / "b.log")
    assert (hunk.a0, hunk.a_lines, hunk.b_lines) == (200_000, ["end 1"], ["end 2"])
    assert hunk.before == lines[-3:]


def test_text_says_when_only_line_endings_differ(tmp_path):
    (tmp_path / "a.txt").write_bytes(b"one\r\ntwo\r\n")
    (tmp_path / "b.txt").write_bytes(b"one\ntwo\n")
    c = TextComparator().compare(tmp_path / "a.txt", tmp_path / "b.txt", name="a.txt", tolerance=Tolerance())
    assert c.summary == "content differs: line endings differ ('\\r\\n' → '\\n') on 2 line(s) only"
    (tmp_path / "c.txt").write_bytes(b"one\ntwo")
    c = TextComparator().compare(tmp_path / "b.txt", tmp_path / "c.txt", name="b.txt", tolerance=Tolerance())
    assert c.summary == "content differs: the final newline was removed only"
