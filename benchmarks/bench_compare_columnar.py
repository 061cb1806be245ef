"""Comparing two binary array/table files that differ in one value, against just reading both.

Two pairs of files, each file ``--size-mib`` MiB (256 by default; 16 with ``--quick``),
made in a temp dir and read once first so every reader starts from a warm page cache:

- Parquet: 8 float64 columns of random numbers (incompressible; written without dictionary
  encoding, which random floats defeat anyway), row groups of ``--row-group`` rows
  (512 Ki: 32 MiB of values), written by pyarrow (snappy); the second file
  equal but for one value in the middle row group;
- HDF5: one float64 dataset of shape (rows, 8), chunked (64 Ki rows per chunk), written by
  h5py; the second equal but for one value.

Each measurement runs in a fresh process, which imports everything first, then resets its
peak RSS (``/proc/self/clear_refs``) and reports its peak above the RSS it had (and the
pyarrow memory pool's peak); every round runs each of them
once, in this order, so a change in load hits them alike, and the table shows the median
of ``--repeat`` rounds:

- ``pyarrow.read_table`` of both files (the whole tables in memory), ``ParquetFile.iter_batches``
  over both (streamed: the floor of a streaming comparator), ``pandas.read_parquet`` of both;
  ``compare_files`` (the ``columnar`` comparator, what a replay runs when the bytes differ);
- ``h5py`` reading both datasets whole, and slab by slab; ``compare_files`` (``hdf5``).

Ratios are printed against each read; the target (issue 18) is a comparison in at most 1.5x
the time pandas/pyarrow take to read both, with memory bounded by a row group or chunk, not
the file.

    .venv/bin/python benchmarks/bench_compare_columnar.py [--size-mib 256] [--repeat 3] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

COLUMNS = 8
HDF_CHUNK_ROWS = 1 << 16


def make_parquet(dirpath: Path, size: int, row_group: int) -> tuple[Path, Path, int]:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = size // (8 * COLUMNS)
    target = (rows // 2) + 17  # a row in the middle row group
    paths = dirpath / "a.parquet", dirpath / "b.parquet"
    schema = pa.schema([(f"c{i}", pa.float64()) for i in range(COLUMNS)])
    writers = [pq.ParquetWriter(p, schema, use_dictionary=False) for p in paths]  # random floats: no dictionary
    rng = np.random.default_rng(1)
    for start in range(0, rows, row_group):
        n = min(row_group, rows - start)
        cols = [rng.random(n) for _ in range(COLUMNS)]
        table = pa.table(cols, schema=schema)
        writers[0].write_table(table, row_group_size=row_group)
        if start <= target < start + n:
            cols[3] = cols[3].copy()
            cols[3][target - start] += 0.25
            table = pa.table(cols, schema=schema)
        writers[1].write_table(table, row_group_size=row_group)
    for w in writers:
        w.close()
    return *paths, target


def make_hdf(dirpath: Path, size: int) -> tuple[Path, Path, int]:
    import h5py
    import numpy as np

    rows = size // (8 * COLUMNS)
    target = rows // 2 + 5
    paths = dirpath / "a.h5", dirpath / "b.h5"
    rng = np.random.default_rng(2)
    files = [h5py.File(p, "w") for p in paths]
    dsets = [f.create_dataset("grid", shape=(rows, COLUMNS), dtype="f8", chunks=(HDF_CHUNK_ROWS, COLUMNS)) for f in files]
    for start in range(0, rows, HDF_CHUNK_ROWS * 8):
        block = rng.random((min(HDF_CHUNK_ROWS * 8, rows - start), COLUMNS))
        dsets[0][start:start + len(block)] = block
        if start <= target < start + len(block):
            block[target - start, 3] += 0.25
        dsets[1][start:start + len(block)] = block
    for f in files:
        f.close()
    return *paths, target


# -- what each child process does ----------------------------------------------


def child(mode: str, a: str, b: str) -> dict:
    import numpy as np  # noqa: F401  (imported by every mode, and by the baseline)
    import pandas as pd
    import pyarrow.parquet as pq
    import h5py

    from scidex_replay.compare.base import Tolerance
    from scidex_replay.compare.registry import compare_files, load_comparators

    import pyarrow as pa

    load_comparators()
    rss0 = _reset_peak()
    t0 = time.perf_counter()
    out: dict = {}
    if mode == "baseline":
        pass
    elif mode == "pq.read_table":
        ta, tb = pq.read_table(a), pq.read_table(b)
        out["rows"] = ta.num_rows + tb.num_rows
    elif mode == "pq.iter_batches":
        n = 0
        fa, fb = pq.ParquetFile(a, pre_buffer=False), pq.ParquetFile(b, pre_buffer=False)
        for x, y in zip(fa.iter_batches(batch_size=1 << 16), fb.iter_batches(batch_size=1 << 16)):
            n += len(x) + len(y)
        out["rows"] = n
    elif mode == "pd.read_parquet":
        da, db = pd.read_parquet(a), pd.read_parquet(b)
        out["rows"] = len(da) + len(db)
    elif mode == "h5py.read":
        with h5py.File(a) as fa, h5py.File(b) as fb:
            xa, xb = fa["grid"][()], fb["grid"][()]
        out["elements"] = xa.size + xb.size
    elif mode == "h5py.slabs":
        with h5py.File(a) as fa, h5py.File(b) as fb:
            n, da, db = 0, fa["grid"], fb["grid"]
            for s in range(0, da.shape[0], HDF_CHUNK_ROWS * 2):
                n += da[s:s + HDF_CHUNK_ROWS * 2].size + db[s:s + HDF_CHUNK_ROWS * 2].size
        out["elements"] = n
    elif mode == "compare_files":
        c = compare_files(Path(a), Path(b), name=Path(a).name, tolerance=Tolerance())
        out["summary"] = c.summary
        out["comparator"] = c.comparator
    else:
        raise SystemExit(f"unknown mode {mode}")
    out["seconds"] = time.perf_counter() - t0
    out["peak_mib"] = (_status("VmHWM") - rss0) / 1024 if rss0 is not None else None
    out["arrow_pool_mib"] = pa.default_memory_pool().max_memory() / 2**20
    return out


def _status(field: str) -> int:
    """A field of /proc/self/status in KiB (VmRSS, VmHWM)."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def _reset_peak() -> int | None:
    """Reset this process's peak RSS (Linux: ``echo 5 > /proc/self/clear_refs``); the RSS now, in KiB."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return _status("VmRSS")
    except OSError:
        return None


def run_child(mode: str, a: Path, b: Path) -> dict:
    proc = subprocess.Popen([sys.executable, __file__, "--child", mode, str(a), str(b)], stdout=subprocess.PIPE, text=True)
    stdout = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise SystemExit(f"{mode} failed with exit {proc.returncode}")
    result = json.loads(stdout)
    result["rss_mib"] = usage.ru_maxrss / 1024  # KiB on Linux: the whole life, imports included
    if result["peak_mib"] is None:  # no clear_refs: the process's peak above one that only imports
        result["peak_mib"] = result["rss_mib"]
    return result


def warm(*paths: Path) -> None:
    for p in paths:
        with open(p, "rb") as fh:
            while fh.read(1 << 24):
                pass


def bench(title: str, a: Path, b: Path, modes: list[str], reads: list[str], repeat: int, bound_mib: float) -> list[str]:
    warm(a, b)
    rounds: dict[str, list[dict]] = {m: [] for m in ["baseline", *modes]}
    for _ in range(repeat):
        for mode in rounds:
            rounds[mode].append(run_child(mode, a, b))
    base = statistics.median(r["peak_mib"] for r in rounds["baseline"])
    med = {m: (statistics.median(r["seconds"] for r in rs), statistics.median(r["peak_mib"] for r in rs) - base,
               statistics.median(r["arrow_pool_mib"] for r in rs)) for m, rs in rounds.items()}
    size = a.stat().st_size / 2**20
    lines = [f"## {title}: two files of {size:.0f} MiB each, differing in one value (median of {repeat})",
             f"{'what':<20} {'seconds':>8} {'peak MiB':>9} {'arrow pool MiB':>15}  (peak RSS while it runs, above the RSS before it)"]
    for m in modes:
        s, r, p = med[m]
        lines.append(f"{m:<20} {s:8.2f} {r:9.0f} {p:15.0f}")
    cs, cr, _ = med["compare_files"]
    for read in reads:
        rs, rr, _ = med[read]
        lines.append(f"compare_files / {read:<16} time {cs / rs:5.2f}x   memory {cr / max(rr, 1):5.2f}x")
    lines.append(f"target: time <= 1.5x {reads[0]} -> {'met' if cs <= 1.5 * med[reads[0]][0] else 'MISSED'}; "
                 f"memory {cr:.0f} MiB against one {bound_mib:.0f} MiB row group/slab per file and {2 * size:.0f} MiB of files")
    lines.append(f"summary: {rounds['compare_files'][0]['summary']}")
    return lines


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        print(json.dumps(child(*sys.argv[2:5])))
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size-mib", type=int, default=256)
    ap.add_argument("--row-group", type=int, default=1 << 19, help="rows per Parquet row group")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="16 MiB files, one round")
    ap.add_argument("--only", choices=["parquet", "hdf5"], help="one pair only")
    args = ap.parse_args()
    size = (16 if args.quick else args.size_mib) << 20
    repeat = 1 if args.quick else args.repeat
    row_group = min(args.row_group, size // (8 * COLUMNS) // 4) if args.quick else args.row_group
    out: list[str] = []
    with tempfile.TemporaryDirectory(prefix="bench-compare-columnar-") as tmp:
        d = Path(tmp)
        if args.only in (None, "parquet"):
            a, b, _ = make_parquet(d, size, row_group)
            out += bench("Parquet", a, b, ["pq.read_table", "pq.iter_batches", "pd.read_parquet", "compare_files"],
                         ["pq.read_table", "pq.iter_batches", "pd.read_parquet"], repeat, row_group * COLUMNS * 8 / 2**20)
            a.unlink()
            b.unlink()
        if args.only in (None, "hdf5"):
            a, b, _ = make_hdf(d, size)
            from scidex_replay.compare import hdf

            slab = next(hdf.blocks_of((size // 64, COLUMNS), (HDF_CHUNK_ROWS, COLUMNS)))[0]
            out += bench("HDF5", a, b, ["h5py.read", "h5py.slabs", "compare_files"], ["h5py.read", "h5py.slabs"], repeat,
                         (slab.stop - slab.start) * COLUMNS * 8 / 2**20)
    print("\n".join(out))


if __name__ == "__main__":
    main()
