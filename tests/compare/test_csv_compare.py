"""The CSV/TSV comparator: tables written by pandas and the csv module, compared cell by cell."""

from __future__ import annotations

import json
import re
import sys
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from scidex_replay.compare.base import Tolerance
from scidex_replay.compare.registry import compare_files, load_comparators
from scidex_replay.compare.tables import CsvComparator

NOISE = Tolerance()  # float noise only: rtol 1e-9, atol 0


def frame(n: int = 120) -> pd.DataFrame:
    i = np.arange(n)
    return pd.DataFrame({"id": i, "mean": i * 0.5, "name": [f"s{k}" for k in i]})


def pair(tmp_path: Path, live: pd.DataFrame, replayed: pd.DataFrame, name: str = "t.csv", **to_csv) -> tuple[Path, Path]:
    a, b = tmp_path / "live" / name, tmp_path / "replayed" / name
    for path, df in ((a, live), (b, replayed)):
        path.parent.mkdir(exist_ok=True)
        df.to_csv(path, index=False, **to_csv)
    return a, b


def compare(a: Path, b: Path, tolerance: Tolerance = NOISE):
    return compare_files(a, b, name=a.name, tolerance=tolerance)


def test_is_chosen_for_csv_and_tsv_by_extension():
    comparators = load_comparators()
    assert comparators.choose(b"a,b\n1,2\n", "out.csv").name == "csv"
    assert comparators.choose(b"a\tb\n1\t2\n", "out.TSV").name == "csv"
    assert comparators.choose(b"a,b\n1,2\n", "notes.txt").name == "text"


def test_a_value_beyond_the_tolerance_is_content_with_column_row_and_amount(tmp_path):
    live, replayed = frame(), frame()
    replayed.loc[16, "mean"] = 8.25  # was 8.0
    c = compare(*pair(tmp_path, live, replayed))
    assert c.comparator == "csv" and not c.equivalent and c.kinds == ["content"]
    assert c.summary == "content differs: column 'mean' max abs diff 0.25 (row 17), max rel diff 0.0312, 1 of 120 rows"
    assert c.metrics["column_differences"] == {"mean": {
        "changed_cells": 1, "numeric_cells": 0, "max_abs_diff": 0.25, "max_abs_row": 17, "max_rel_diff": 0.03125, "max_rel_row": 17,
    }}
    assert (c.metrics["changed_rows"], c.metrics["changed_cells"], c.metrics["rows_live"]) == (1, 1, 120)
    assert c.differences[1].to_json() == {"where": "column 'mean' row 17 (line 18)", "kind": "content", "detail": "8.0 → 8.25 (abs diff 0.25, rel diff 0.0312)"}
    assert "-16,8.0,s16\n+16,8.25,s16\n" in c.full_diff


def test_a_bootstrap_off_by_float_noise_is_numeric_and_equivalent(tmp_path):
    live, replayed = frame(), frame()
    replayed.loc[[3, 40], "mean"] = replayed.loc[[3, 40], "mean"] * (1 + 1.7e-12)
    c = compare(*pair(tmp_path, live, replayed))
    assert c.equivalent and c.kinds == ["numeric"]
    assert c.summary.startswith("equivalent: numbers within the tolerance in column 'mean' max abs diff 3.4e-11 (row 41)")
    assert c.summary.endswith(", 2 of 120 rows")
    m = c.metrics["column_differences"]["mean"]
    assert m["numeric_cells"] == 2 and m["changed_cells"] == 0 and m["max_abs_row"] == 41
    assert m["max_rel_diff"] == pytest.approx(1.7e-12, rel=1e-3)
    # the same difference with a tolerance below it is content
    strict = compare(*pair(tmp_path, live, replayed), tolerance=Tolerance(rtol=1e-13))
    assert not strict.equivalent and strict.metrics["column_differences"]["mean"]["changed_cells"] == 2


def test_the_same_rows_in_another_order_are_order(tmp_path):
    live = frame()
    replayed = live.sample(frac=1.0, random_state=3)  # every row, shuffled
    c = compare(*pair(tmp_path, live, replayed))
    assert c.equivalent and c.kinds == ["order"]
    assert c.summary.startswith("equivalent: the same 120 rows in another order (")
    assert c.metrics["rows_moved"] > 100


def test_reordered_rows_with_one_value_changed_are_content(tmp_path):
    live = frame()
    replayed = live.iloc[::-1].copy()
    replayed.loc[7, "name"] = "changed"
    c = compare(*pair(tmp_path, live, replayed))
    assert c.comparator == "csv" and not c.equivalent and "order" not in c.kinds
    assert c.summary == "content differs: 119 row(s) only recorded, 119 row(s) only replayed"


def test_a_renamed_column_is_content_in_the_header(tmp_path):
    c = compare(*pair(tmp_path, frame(), frame().rename(columns={"mean": "avg"})))
    assert not c.equivalent
    assert c.summary == "content differs: columns ['id', 'mean', 'name'] → ['id', 'avg', 'name'] (removed ['mean'], added ['avg'])"
    assert c.differences[0].where == "header (line 1)"


def test_an_added_row_changes_the_row_count(tmp_path):
    live = frame(120)
    c = compare(*pair(tmp_path, live, frame(121)))
    assert not c.equivalent
    assert c.summary == "content differs: 120 → 121 rows (+1); 1 row(s) only replayed"
    assert (c.metrics["rows_live"], c.metrics["rows_replayed"]) == (120, 121)


def test_line_endings_alone_are_metadata(tmp_path):
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    frame().to_csv(a, index=False, lineterminator="\r\n")  # the csv module's default
    frame().to_csv(b, index=False)
    c = compare(a, b)
    assert c.equivalent and c.kinds == ["metadata"]
    assert c.summary == "equivalent: the table reads equal; line endings differ ('\\r\\n' → '\\n') on 121 line(s)"


def test_tab_separated_cells_are_split_on_tabs(tmp_path):
    live, replayed = frame(), frame()
    replayed.loc[0, "name"] = "zero"
    c = compare(*pair(tmp_path, live, replayed, name="t.tsv", sep="\t"))
    assert c.differences[1].to_json() == {"where": "column 'name' row 1 (line 2)", "kind": "content", "detail": "'s0' → 'zero'"}


def noisy_pair(tmp_path: Path, rows: int = 12_000) -> tuple[Path, Path]:
    """Every row's 'x' off by float noise, one 'name' changed, a clock footer: no line in common."""
    rng = np.random.default_rng(5)
    live = pd.DataFrame({"id": np.arange(rows), "x": rng.standard_normal(rows), "name": [f"s{i}" for i in range(rows)]})
    replayed = live.assign(x=live["x"] * (1 + 1.7e-12))
    replayed.loc[9_000, "name"] = "changed"
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    for path, df, clock in ((a, live, "21:00:01"), (b, replayed, "21:00:07")):
        df.to_csv(path, index=False)
        with open(path, "a") as fh:
            fh.write(f"# generated at {clock}\n")
    return a, b


def test_files_that_differ_in_every_row_are_read_by_pandas_with_the_same_answer(tmp_path, monkeypatch):
    from scidex_replay.compare import tables

    a, b = noisy_pair(tmp_path)
    dense = CsvComparator().compare(a, b, name="b.csv", tolerance=NOISE)
    monkeypatch.setattr(tables, "WINDOW", 10**9)  # never switch: line by line all along
    by_lines = CsvComparator().compare(a, b, name="b.csv", tolerance=NOISE)
    assert (dense.metrics.pop("hunks"), by_lines.metrics.pop("hunks")) == (1, 7)  # then it stopped looking for hunks
    assert dense.to_json() == by_lines.to_json()
    assert dense.summary == (
        "content differs: column 'name' 1 cell(s), 12000 of 12001 rows; "
        "line 12002 (comment): column 23: '# generated at 21:00:01' → '# generated at 21:00:07'; numbers within the tolerance in column 'x'"
    )
    x = dense.metrics["column_differences"]["x"]
    assert x["numeric_cells"] == 12_000 and x["changed_cells"] == 0 and x["max_rel_diff"] == pytest.approx(1.7e-12, rel=1e-3)


def test_ragged_rows_pandas_cannot_read_are_compared_line_by_line(tmp_path):
    a, b = noisy_pair(tmp_path)
    lines = b.read_text().splitlines(keepends=True)
    lines[6000] = lines[6000].rstrip("\n") + ",extra\n"  # a fourth cell: pandas raises
    b.write_text("".join(lines))
    c = compare_files(a, b, name="b.csv", tolerance=NOISE)
    assert c.comparator == "csv" and not c.equivalent
    assert any(d.to_json() == {"where": "column 'column 4' row 6000 (line 6001)", "kind": "content", "detail": "only replayed: 'extra'"} for d in c.differences)


def test_a_shuffled_large_table_is_order_when_read_by_pandas(tmp_path):
    live = frame(20_000)
    a, b = pair(tmp_path, live, live.sample(frac=1.0, random_state=1))
    c = CsvComparator().compare(a, b, name="b.csv", tolerance=NOISE)
    assert c.equivalent and c.kinds == ["order"] and c.metrics["rows_moved"] == 20_000


def write_clock_table(path: Path, rows: int, clock: str) -> None:
    """The table of shared case 20-large-output (terashuf#6): rows of numbers, then the clock."""
    rng = np.random.RandomState(7)
    with open(path, "w") as fh:
        fh.write("i,a,b\n")
        for start in range(0, rows, 50_000):
            k = min(50_000, rows - start)
            a, b = rng.standard_normal(k), rng.random_sample(k)
            fh.write("".join(f"{start + j},{a[j]:.12f},{b[j]:.12f}\n" for j in range(k)))
        fh.write(f"# generated at {clock}\n")


def test_a_large_table_whose_last_line_holds_the_clock_is_found_in_bounded_memory(tmp_path):
    a, b = tmp_path / "live" / "big.csv", tmp_path / "replayed" / "big.csv"
    for path, clock in ((a, "2026-11-29T21:00:01"), (b, "2026-11-29T21:00:07")):
        path.parent.mkdir()
        write_clock_table(path, 300_000, clock)
    size = a.stat().st_size
    assert size > 10_000_000
    tracemalloc.start()
    try:
        c = CsvComparator().compare(a, b, name="big.csv", tolerance=NOISE)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 3 << 20, f"peak {peak} bytes for two files of {size} bytes"  # two 1 MiB blocks, not the file
    assert not c.equivalent
    assert c.summary == "content differs: line 300002 (comment): column 34: '# generated at 2026-11-29T21:00:01' → '# generated at 2026-11-29T21:00:07'"
    assert [d.where for d in c.differences] == ["line 300002 (comment)"]
    assert c.metrics["rows_live"] == c.metrics["rows_replayed"] == 300_001


def test_a_truncated_or_binary_file_named_csv_is_compared_without_crashing(tmp_path):
    live, cut = tmp_path / "live.csv", tmp_path / "cut.csv"
    frame().to_csv(live, index=False)
    cut.write_bytes(live.read_bytes()[:-7])  # the last row cut in the middle
    c = compare_files(live, cut, name="t.csv", tolerance=NOISE)
    assert c.comparator == "csv" and not c.equivalent
    assert [d.to_json() for d in c.differences[-2:]] == [
        {"where": "column 'mean' row 120 (line 121)", "kind": "content", "detail": "59.5 → 59. (abs diff 0.5, rel diff 0.0084)"},
        {"where": "column 'name' row 120 (line 121)", "kind": "content", "detail": "only recorded: 's119'"},
    ]
    junk = tmp_path / "junk.csv"
    junk.write_bytes(bytes(range(256)) * 64 + b"\n" + b"x" * 200_000)  # binary, and a cell over csv's field limit
    c = compare_files(live, junk, name="t.csv", tolerance=NOISE)
    assert c.comparator == "bytes" and not c.equivalent and "binary data, not a table" in c.summary


CLOCK_STEP = """\
import sys, time
rows = int(sys.argv[1])
with open("big.csv", "w") as fh:
    fh.write("i,a,b\\n")
    fh.write("".join(f"{i},{i * 0.25:.12f},{i % 7}\\n" for i in range(rows)))
    fh.write(f"# generated at {time.time():.6f}\\n")
"""


def test_a_recorded_step_writing_the_clock_differs_at_its_last_line(cli, tmp_path):
    (tmp_path / "expand.py").write_text(CLOCK_STEP)
    rec = cli("run", "-o", "big.csv", "--", sys.executable, "expand.py", "200000", cwd=tmp_path)
    assert rec.returncode == 0, rec.stderr
    artifact = rec.stdout.split()[0]
    out = tmp_path / "m"
    replay = cli("rerun-artifact", artifact, "--out", out, timeout=120)
    assert replay.returncode == 1, replay.stderr
    (step,) = json.loads((out / "manifest.json").read_text())["steps"]
    assert step["outcome"] == "output-differs"
    comparison = step["comparison"]
    assert comparison["comparator"] == "csv" and comparison["equivalent"] is False
    assert re.fullmatch(r"content differs: line 200002 \(comment\): column \d+: '# generated at [\d.]+' → '# generated at [\d.]+'", comparison["summary"])
    assert comparison["differences"][0]["where"] == "line 200002 (comment)"
    assert comparison["metrics"]["rows_live"] == 200_001


@pytest.mark.parametrize("rows", [5, 3000])  # line by line, and pandas chunks past the window
def test_an_integer_column_is_exact_under_any_relative_tolerance_and_moves_only_within_a_declared_atol(tmp_path, rows):
    from scidex_replay.compare.base import Tolerance
    from scidex_replay.compare.tables import CsvComparator

    base = 1795986302472021823  # time.time_ns(): a clock, in an integer column
    (tmp_path / "a.csv").write_text("id,stamp\n" + "".join(f"{i},{base + i}\n" for i in range(rows)))
    (tmp_path / "b.csv").write_text("id,stamp\n" + "".join(f"{i},{base + i + 988_763_678}\n" for i in range(rows)))
    noise = CsvComparator().compare(tmp_path / "a.csv", tmp_path / "b.csv", name="t.csv", tolerance=Tolerance())
    assert not noise.equivalent and "content" in noise.kinds
    relative = CsvComparator().compare(tmp_path / "a.csv", tmp_path / "b.csv", name="t.csv", tolerance=Tolerance(rtol=1e-6, declared=True))
    assert not relative.equivalent  # a relative tolerance is for floats: counts, dates, clocks stay exact
    absolute = CsvComparator().compare(tmp_path / "a.csv", tmp_path / "b.csv", name="t.csv", tolerance=Tolerance(atol=1e9, declared=True))
    assert absolute.equivalent and absolute.kinds == ["numeric"]


def test_a_code_that_lost_its_leading_zeros_is_content(tmp_path):
    from scidex_replay.compare.base import Tolerance
    from scidex_replay.compare.tables import CsvComparator

    (tmp_path / "a.csv").write_text("sample_id,zip,count\n007,02139,5\n008,02140,6\n")
    (tmp_path / "b.csv").write_text("sample_id,zip,count\n7,2139,5\n8,2140,6\n")  # read as numbers and written back
    c = CsvComparator().compare(tmp_path / "a.csv", tmp_path / "b.csv", name="t.csv", tolerance=Tolerance(atol=1, declared=True))
    assert not c.equivalent and c.kinds == ["content"]
    assert {d.where.split(" row")[0] for d in c.differences} == {"column 'sample_id'", "column 'zip'"}


def test_binary_data_named_csv_falls_back_to_bytes_and_a_quoted_line_break_is_never_a_reorder(tmp_path):
    import os

    from scidex_replay.compare.base import Tolerance
    from scidex_replay.compare.registry import compare_files

    (tmp_path / "a.csv").write_bytes(os.urandom(3000))
    (tmp_path / "b.csv").write_bytes(os.urandom(3000))
    c = compare_files(tmp_path / "a.csv", tmp_path / "b.csv", name="x.csv", tolerance=Tolerance())
    assert c.comparator == "bytes" and "binary data, not a table" in c.summary
    (tmp_path / "a.csv").write_text('id,note\n1,"x\n2,y"\n3,"z\n4,w"\n')  # two rows, each over two lines
    (tmp_path / "b.csv").write_text('id,note\n1,"x\n4,w"\n3,"z\n2,y"\n')  # both notes changed
    c = compare_files(tmp_path / "a.csv", tmp_path / "b.csv", name="x.csv", tolerance=Tolerance())
    assert not c.equivalent and "order" not in c.kinds
