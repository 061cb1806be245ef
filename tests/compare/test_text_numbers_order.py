"""The text comparator on printed results: numbers within a tolerance are ``numeric``, the same
lines in another order are content said as such; and ``run --rtol`` records a tolerance that a replay honours."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from scidex_replay.compare.base import Tolerance
from scidex_replay.compare.text import TextComparator


def compare(tmp_path: Path, live: str, replayed: str, tolerance: Tolerance = Tolerance()):
    (tmp_path / "live.txt").write_text(live)
    (tmp_path / "replayed.txt").write_text(replayed)
    return TextComparator().compare(tmp_path / "live.txt", tmp_path / "replayed.txt", name="report.txt", tolerance=tolerance)


def test_a_bootstrap_mean_that_moved_by_float_noise_is_numeric_and_equivalent(tmp_path):
    c = compare(tmp_path, "bootstrap n=1000\nmean = 0.4187310092\nsd = 0.0812\n",
                "bootstrap n=1000\nmean = 0.4187310092000017\nsd = 0.0812\n")
    assert c.equivalent and c.kinds == ["numeric"]
    assert c.summary == "equivalent: numbers within the tolerance on 1 line(s) (max rel 4.1e-15, first at line 2)"
    assert c.differences[0].detail == "0.4187310092 → 0.4187310092000017 (abs 1.72e-15, rel 4.11e-15)"
    assert c.metrics["numeric_lines"] == 1 and c.metrics["numbers_beyond_tolerance"] == 0


def test_a_number_beyond_the_tolerance_is_content_and_says_how_far(tmp_path):
    c = compare(tmp_path, "p = 0.050\n", "p = 0.049\n")
    assert not c.equivalent and c.kinds == ["content"]
    assert c.summary == "content differs: numbers beyond the tolerance on 1 line(s) (max abs 0.001, rel 0.02), first at line 1"
    declared = compare(tmp_path, "p = 0.050\n", "p = 0.049\n", Tolerance(rtol=0.05, declared=True))
    assert declared.equivalent and declared.kinds == ["numeric"]


def test_the_same_lines_in_another_order_are_content_and_said_so(tmp_path):
    live = "top genes\n" + "".join(f"g{i}\n" for i in (3, 1, 4, 5, 9, 2, 6)) + "end\n"
    replayed = "top genes\n" + "".join(f"g{i}\n" for i in (1, 2, 3, 4, 5, 6, 9)) + "end\n"
    c = compare(tmp_path, live, replayed)  # a ranking reordered is another ranking
    assert not c.equivalent and c.kinds == ["content"]
    assert c.summary.startswith("content differs: the same lines in another order (")
    assert c.metrics["lines_moved"] >= 2


def test_a_code_that_lost_its_leading_zeros_is_content(tmp_path):
    c = compare(tmp_path, "best sample: 007\n", "best sample: 7\n", Tolerance(atol=10, declared=True))
    assert not c.equivalent and c.kinds == ["content"]


def test_a_reorder_that_also_loses_a_line_is_content(tmp_path):
    c = compare(tmp_path, "a\nb\nc\nd\n", "c\na\nd\n")
    assert not c.equivalent and c.kinds == ["content"]


def test_a_changed_word_stays_content_next_to_numeric_noise(tmp_path):
    c = compare(tmp_path, "x = 1.0\n" + "filler\n" * 40 + "label: control\n",
                "x = 1.0000000000000002\n" + "filler\n" * 40 + "label: treated\n")
    assert not c.equivalent and c.kinds == ["numeric", "content"]
    assert c.summary.startswith("content differs: 2 line(s) in 2 place(s), first at line 1")


BOOT = (
    "import os\n"
    "noise = (int.from_bytes(os.urandom(4), 'little') + 1) * 1e-20  # summation order, a thread race...\n"
    "print('bootstrap n=1000')\n"
    "print('mean =', repr(0.4187310092 + noise))\n"
)


@pytest.fixture
def boot(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    (work / "boot.py").write_text(BOOT)
    return work


def test_run_rtol_records_a_tolerance_and_the_replay_within_it_is_ok(cli, boot, tmp_path):
    plain = cli("run", "--stdout", "mean.txt", "--", sys.executable, "boot.py", cwd=boot)
    tolerant = cli("run", "--rtol", "1e-6", "--stdout", "mean2.txt", "--", sys.executable, "boot.py", cwd=boot)
    assert plain.returncode == tolerant.returncode == 0, plain.stderr + tolerant.stderr
    (step,) = json.loads(cli("chain", tolerant.stdout.strip(), "--json").stdout)
    assert step["parameters"]["tolerance"] == {"rtol": 1e-6, "atol": 0.0}

    def replay(artifact: str, out: str, *flags: str) -> tuple[int, dict]:
        proc = cli("rerun-artifact", artifact, "--out", tmp_path / out, *flags)
        (entry,) = json.loads((tmp_path / out / "manifest.json").read_text())["steps"]
        return proc.returncode, entry

    code, entry = replay(plain.stdout.strip(), "plain")
    assert (code, entry["outcome"], entry["ok"]) == (1, "equivalent", False)  # float noise: equivalent, not accepted
    assert entry["comparison"]["differences"][0]["kind"] == "numeric"
    assert replay(plain.stdout.strip(), "accepted", "--accept", "equivalent")[0] == 0

    code, entry = replay(tolerant.stdout.strip(), "tolerant")
    assert (code, entry["outcome"], entry["ok"]) == (0, "equivalent", True)  # the recorded tolerance accepts it
    code, entry = replay(tolerant.stdout.strip(), "tighter", "--rtol", "1e-15")
    assert (code, entry["outcome"]) == (1, "output-differs")  # --rtol replaces the recorded one


@pytest.mark.parametrize("flag", [["--rtol", "tight"], ["--atol", "-1"], ["--rtol", "inf"]])
def test_run_refuses_a_bad_tolerance_in_one_line_and_records_nothing(cli, boot, flag):
    proc = cli("run", *flag, "--stdout", "mean.txt", "--", sys.executable, "boot.py", cwd=boot)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr
    assert flag[0] in proc.stderr and not (boot / "mean.txt").exists()
