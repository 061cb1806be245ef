"""The columnar comparator on Parquet, Feather and Arrow IPC files written by pyarrow and pandas, and a replay through the CLI."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.feather as feather
import pyarrow.parquet as pq
import pytest

from scidex_replay.compare import columnar
from scidex_replay.compare.base import Tolerance
from scidex_replay.compare.registry import compare_files

PY = sys.executable


def frame(n: int = 120) -> pd.DataFrame:
    return pd.DataFrame({"id": np.arange(n), "mean": np.linspace(0.5, 1.5, n), "label": [f"s{i}" for i in range(n)]})


def parquet(path: Path, df: pd.DataFrame, **kw) -> Path:
    pq.write_table(pa.Table.from_pandas(df, preserve_index=False), path, **kw)
    return path


def compare(a: Path, b: Path, tolerance: Tolerance = Tolerance(), name: str | None = None):
    return compare_files(a, b, name=name or a.name, tolerance=tolerance)


def with_created_by(path: Path, out: Path, created_by: str) -> Path:
    """``path`` as another writer version would have written it: the footer's ``created_by``
    replaced by a string of the same length (the footer stays valid)."""
    old = pq.ParquetFile(path).metadata.created_by.encode()
    new = created_by.encode()
    assert len(new) == len(old)
    data = path.read_bytes()
    assert data.count(old) == 1
    out.write_bytes(data.replace(old, new))
    return out


def test_same_data_with_other_created_by_and_key_value_metadata_is_equivalent_metadata(tmp_path):
    table = pa.Table.from_pandas(frame(), preserve_index=False)
    a = tmp_path / "a.parquet"
    pq.write_table(table.replace_schema_metadata({**table.schema.metadata, b"written_at": b"2026-11-29T09:00:00"}), a)
    b0 = tmp_path / "b0.parquet"
    pq.write_table(table.replace_schema_metadata({**table.schema.metadata, b"written_at": b"2026-11-29T10:30:00"}), b0)
    created_by = pq.ParquetFile(a).metadata.created_by
    other = created_by[:-1] + ("9" if created_by[-1] != "9" else "8")
    b = with_created_by(b0, tmp_path / "b.parquet", other)
    assert pq.ParquetFile(b).metadata.created_by == other

    c = compare(a, b)

    assert c.comparator == "columnar" and c.equivalent and c.kinds == ["metadata"]
    assert c.metrics["metadata_changed"] == ["created_by", "key_value_metadata 'ARROW:schema'", "key_value_metadata 'written_at'"]
    assert c.summary == (
        "equivalent: data equal; only file metadata differs "
        "(created_by, key_value_metadata 'ARROW:schema', key_value_metadata 'written_at')"
    )
    details = {d.where: d.detail for d in c.differences}
    assert details["created_by"] == f"{created_by!r} → {other!r}"
    assert details["key_value_metadata 'written_at'"] == "'2026-11-29T09:00:00' → '2026-11-29T10:30:00'"
    assert c.metrics["rows_live"] == c.metrics["rows_replayed"] == 120 and c.metrics["rows_changed"] == 0


def test_writer_version_and_row_groups_are_metadata(tmp_path):
    a = parquet(tmp_path / "a.parquet", frame())
    c = compare(a, parquet(tmp_path / "b.parquet", frame(), version="1.0", row_group_size=50))
    assert c.equivalent and c.kinds == ["metadata"]
    details = {d.where: d.detail for d in c.differences}
    assert details["format_version"] == "'2.6' → '1.0'" and details["row_groups"] == "1 → 3"


def test_a_changed_value_is_content_with_column_row_and_max_differences(tmp_path):
    df = frame()
    changed = df.copy()
    changed.loc[17, "mean"] += 0.25
    changed.loc[30, "mean"] *= 1 + 1e-12  # within the default tolerance: counted, not content
    changed.loc[40, "label"] = "zz"
    c = compare(parquet(tmp_path / "a.parquet", df), parquet(tmp_path / "b.parquet", changed))
    assert not c.equivalent and c.kinds == ["content"]
    assert c.summary == "content differs: column 'mean' max abs diff 0.25 (row 17) (and 1 more column), 3 of 120 rows"
    mean = c.metrics["columns"]["mean"]
    assert mean["changed"] == 2 and mean["beyond_tolerance"] == 1
    assert mean["max_abs_diff"] == pytest.approx(0.25) and mean["max_abs_at"] == "row 17"
    assert mean["max_rel_diff"] == pytest.approx(0.25 / df.loc[17, "mean"]) and mean["max_rel_at"] == "row 17"
    assert c.metrics["columns"]["label"] == {"changed": 1, "first_at": "row 40"}
    assert c.metrics["rows_changed"] == 3 and "id" not in c.metrics["columns"]
    label = next(d for d in c.differences if d.where == "column 'label'")
    assert label.detail == "1 of 120 rows differ; first at row 40: 's40' → 'zz'"


def test_noise_within_tolerance_is_numeric_and_a_declared_tight_tolerance_makes_it_content(tmp_path):
    df = frame()
    noisy = df.copy()
    noisy.loc[3, "mean"] += 1.7e-12
    a, b = parquet(tmp_path / "a.parquet", df), parquet(tmp_path / "b.parquet", noisy)
    c = compare(a, b)
    assert c.equivalent and c.kinds == ["numeric"]
    delta = abs(noisy.loc[3, "mean"] - df.loc[3, "mean"])  # 1.7e-12 as float64 holds it
    assert c.summary == f"equivalent: column 'mean' max abs diff {delta:.6g} (row 3) within tolerance, 1 of 120 rows"
    assert c.metrics["max_abs_diff"] == delta and delta == pytest.approx(1.7e-12, rel=1e-4)
    strict = compare(a, b, Tolerance(rtol=0.0, atol=1e-13, declared=True))
    assert not strict.equivalent and strict.kinds == ["content"]


def test_the_same_rows_in_another_order_are_order_but_a_change_among_them_is_content(tmp_path):
    df = frame()
    shuffled = df.sample(frac=1.0, random_state=7).reset_index(drop=True)
    a = parquet(tmp_path / "a.parquet", df)
    c = compare(a, parquet(tmp_path / "b.parquet", shuffled))
    moved = int((shuffled["id"].to_numpy() != np.arange(120)).sum())
    assert c.equivalent and c.kinds == ["order"]
    assert c.summary == f"equivalent: the same 120 rows in another order ({moved} moved)"
    shuffled.loc[5, "mean"] += 1.0
    c = compare(a, parquet(tmp_path / "c.parquet", shuffled))
    assert not c.equivalent and "order" not in c.kinds


def test_schema_changes_and_row_count_are_content(tmp_path):
    df = frame()
    other = df.rename(columns={"mean": "avg"}).drop(columns="label").iloc[:100].copy()
    other["id"] = other["id"].astype("int32")
    c = compare(parquet(tmp_path / "a.parquet", df), parquet(tmp_path / "b.parquet", other))
    content = [(d.where, d.detail) for d in c.differences if d.kind.value == "content"]
    assert content == [
        ("column 'mean'", "renamed 'mean' → 'avg'"),
        ("column 'label'", "column 'label' (large_string) not in the replayed file"),
        ("column 'id'", "dtype int64 → int32"),
        ("row count", "120 rows recorded, 100 replayed (-20)"),
    ]
    assert c.summary == (
        "content differs: column 'mean': renamed 'mean' → 'avg'; "
        "column 'label': column 'label' (large_string) not in the replayed file; 2 more schema differences"
    )
    assert c.metrics["rows_live"] == 120 and c.metrics["rows_replayed"] == 100 and c.metrics["rows_changed"] == 0


def test_a_null_where_a_value_was_is_content(tmp_path):
    df = frame()
    holed = df.copy()
    holed["mean"] = holed["mean"].astype(object)
    holed.loc[5, "mean"] = None
    holed["mean"] = holed["mean"].astype(float)
    c = compare(parquet(tmp_path / "a.parquet", df), parquet(tmp_path / "b.parquet", holed))
    assert not c.equivalent
    (d,) = [d for d in c.differences if d.where == "column 'mean'"]
    assert d.detail == f"1 of 120 rows differ; first at row 5: {float(df.loc[5, 'mean'])!r} → None"


def test_row_groups_of_other_sizes_are_aligned_row_by_row(tmp_path, monkeypatch):
    monkeypatch.setattr(columnar, "BATCH_ROWS", 64)
    df = pd.DataFrame({"x": np.arange(1000, dtype=float)})
    changed = df.copy()
    changed.loc[777, "x"] = -1.0
    c = compare(parquet(tmp_path / "a.parquet", df, row_group_size=100),
                parquet(tmp_path / "b.parquet", changed, row_group_size=333))
    assert c.metrics["columns"]["x"]["max_abs_at"] == "row 777" and c.metrics["columns"]["x"]["max_abs_diff"] == 778.0
    assert c.metrics["rows_changed"] == 1


@pytest.mark.parametrize("kind", ["feather", "arrow-stream"])
def test_feather_and_arrow_ipc_are_compared_by_content_whatever_the_name(tmp_path, kind):
    df = frame()
    changed = df.copy()
    changed.loc[17, "mean"] += 0.25
    paths = []
    for name, data in (("a", df), ("b", changed)):
        table = pa.Table.from_pandas(data, preserve_index=False)
        if kind == "feather":
            path = tmp_path / f"{name}.bin"  # no extension: sniffed from ARROW1
            feather.write_feather(table, path)
        else:
            path = tmp_path / f"{name}.arrows"
            with pa.ipc.new_stream(path, table.schema) as w:
                w.write_table(table, max_chunksize=50)
        paths.append(path)
    c = compare(*paths)
    assert c.comparator == "columnar" and c.metrics["format"] == ("arrow" if kind == "feather" else "arrow-stream")
    assert c.summary == "content differs: column 'mean' max abs diff 0.25 (row 17), 1 of 120 rows"


def test_a_truncated_parquet_falls_back_to_bytes(tmp_path):
    a = parquet(tmp_path / "a.parquet", frame())
    cut = tmp_path / "cut.parquet"
    cut.write_bytes(a.read_bytes()[: a.stat().st_size // 2])
    c = compare(a, cut)
    assert c.comparator == "bytes" and c.metrics["comparator_unavailable"] == "columnar"
    assert not c.equivalent and "the columnar comparator could not read it" in c.summary


STAMPED = '''\
import sys, time
import pandas as pd, pyarrow as pa, pyarrow.parquet as pq
df = pd.read_csv(sys.argv[1])
df["mean"] = df["v"].rolling(3, min_periods=1).mean()
table = pa.Table.from_pandas(df, preserve_index=False)
pq.write_table(table.replace_schema_metadata({**table.schema.metadata, b"written_at": repr(time.time()).encode()}), sys.argv[2])
'''


def test_a_parquet_step_stamped_with_the_clock_replays_equivalent_through_the_cli(cli, tmp_path):
    (tmp_path / "stamp.py").write_text(STAMPED)
    (tmp_path / "readings.csv").write_text("v\n" + "".join(f"{x / 8}\n" for x in range(40)))
    ran = cli("run", "-i", "stamp.py", "-i", "readings.csv", "-o", "means.parquet", "--", PY, "{in0}", "{in1}", "{out}")
    assert ran.returncode == 0, ran.stderr

    proc = cli("rerun-artifact", ran.stdout.strip(), "--out", tmp_path / "m")

    assert proc.returncode == 1, proc.stderr
    (step,) = json.loads((tmp_path / "m" / "manifest.json").read_text())["steps"]
    assert step["outcome"] == "equivalent"
    comparison = step["comparison"]
    assert comparison["comparator"] == "columnar" and comparison["equivalent"] is True
    assert comparison["summary"] == (
        "equivalent: data equal; only file metadata differs (key_value_metadata 'ARROW:schema', key_value_metadata 'written_at')"
    )
    assert comparison["metrics"]["rows_live"] == 40 and comparison["metrics"]["rows_changed"] == 0
