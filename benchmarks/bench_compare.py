"""Comparators against reading: ``compare_files`` on two files that differ in one value, and
the time and memory the format's usual library takes just to read both, in the same run.

For each format pair (``FORMATS``; ``csv``: two 256 MiB tables that differ in one
digit of one cell in the middle; ``csv-noise``: every row's ``x`` off by a relative
1.7e-12, as a bootstrap replayed on another BLAS would be; ``zip-csv`` and ``gzip-csv``:
the ``csv`` pair inside a zip or a gzip whose member or header times differ, a container
around a table), every round runs, each in a fresh interpreter so that its peak
resident memory (``getrusage(RUSAGE_SELF).ru_maxrss``) is its own:

- baseline: the library reading both files (CSV: ``pandas.read_csv`` of each);
- ``compare_files(live, replayed)``: what a replay runs for an output whose bytes differ
  (the registry picks the comparator: ``csv`` here).

Both files are read once first so that every reader starts from a warm page cache. Times
are the median of ``--repeat`` rounds, wall seconds inside the child; imports are excluded
(both children load the format's library, e.g. pandas, before the clock starts, as a
replay that already holds it would); memory is the child's peak RSS, and that peak minus
the RSS after its imports ("added"), which is what the comparison itself holds.
Target (issue 18): a comparison in at most 1.5x the read time, its memory bounded by a
chunk, not the file.

To add a format pair, write ``make_X(dir, size) -> (live, replayed, name)`` and
``read_X(live, replayed)`` and add a ``Format`` to ``FORMATS``.

    .venv/bin/python benchmarks/bench_compare.py [--size-mib 256] [--repeat 3] [--quick] [--format csv]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np


# -- format pairs ---------------------------------------------------------------------------
def make_csv(where: Path, size: int) -> tuple[Path, Path, str]:
    """A table of an int id and three float columns (12 decimals), ``size`` bytes or a little
    more; the replayed copy has one digit of one cell in its middle row changed."""
    live, replayed = where / "live.csv", where / "replayed.csv"
    _write_table(size, live)
    shutil.copyfile(live, replayed)
    with open(replayed, "r+b") as fh:
        fh.seek(size // 2)
        chunk = fh.read(4096)
        start = size // 2 + chunk.index(b"\n") + 1  # a row start
        line = chunk[chunk.index(b"\n") + 1 :].split(b"\n", 1)[0]
        at = start + line.index(b".", line.index(b",") + 1) + 3  # a digit of column x
        fh.seek(at)
        digit = fh.read(1)
        fh.seek(at)
        fh.write(b"7" if digit != b"7" else b"3")
    return live, replayed, "table.csv"


def make_csv_noise(where: Path, size: int) -> tuple[Path, Path, str]:
    """The same table with every value of column x written in full (``repr``) and, in the
    replayed copy, multiplied by 1 + 1.7e-12: every row differs, within the tolerance."""
    live, replayed = where / "live-noise.csv", where / "replayed-noise.csv"
    _write_table(size, live, replayed)
    return live, replayed, "table.csv"


def _write_table(size: int, live: Path, noisy: Path | None = None) -> None:
    rng = np.random.default_rng(18)
    with open(live, "w") as fh, open(noisy or os.devnull, "w") as gh:
        fh.write("id,x,y,z\n")
        gh.write("id,x,y,z\n")
        row = 0
        while fh.tell() < size:
            k = 50_000
            x, y, z = rng.standard_normal(k), rng.random(k), rng.standard_normal(k) * 1e3
            if noisy is None:
                fh.write("".join(f"{row + j},{x[j]:.12f},{y[j]:.12f},{z[j]:.12f}\n" for j in range(k)))
            else:
                rest = [f",{y[j]:.12f},{z[j]:.12f}\n" for j in range(k)]
                fh.write("".join(f"{row + j},{v!r}{rest[j]}" for j, v in enumerate(x.tolist())))
                xn = (x * (1 + 1.7e-12)).tolist()
                gh.write("".join(f"{row + j},{v!r}{rest[j]}" for j, v in enumerate(xn)))
            row += k


def make_zip_csv(where: Path, size: int) -> tuple[Path, Path, str]:
    """The ``csv`` pair, each table deflated as the one member of a zip written a minute apart
    (member times differ, as two runs of a tool make them): a container around a table."""
    import zipfile

    live_csv, replayed_csv, _ = make_csv(where, size)
    live, replayed = where / "live.zip", where / "replayed.zip"
    for src, dest, minute in ((live_csv, live, 0), (replayed_csv, replayed, 1)):
        with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
            info = zipfile.ZipInfo("table.csv", date_time=(2026, 11, 29, 12, minute, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            with open(src, "rb") as fh, zf.open(info, "w", force_zip64=True) as out:
                shutil.copyfileobj(fh, out, 8 << 20)
        src.unlink()
    return live, replayed, "tables.zip"


def make_gzip_csv(where: Path, size: int) -> tuple[Path, Path, str]:
    """The ``csv`` pair gzipped with header times a minute apart (``table.csv.gz``)."""
    import gzip

    live_csv, replayed_csv, _ = make_csv(where, size)
    live, replayed = where / "live.csv.gz", where / "replayed.csv.gz"
    for src, dest, mtime in ((live_csv, live, 1_800_000_000), (replayed_csv, replayed, 1_800_000_060)):
        with open(src, "rb") as fh, open(dest, "wb") as raw, gzip.GzipFile("table.csv", "wb", 1, raw, mtime) as out:
            shutil.copyfileobj(fh, out, 8 << 20)
        src.unlink()
    return live, replayed, "table.csv.gz"


def read_zip_csv(live: Path, replayed: Path) -> str:
    import pandas as pd

    a, b = pd.read_csv(live, compression="zip"), pd.read_csv(replayed, compression="zip")
    return f"{a.shape} and {b.shape}"


def read_gzip_csv(live: Path, replayed: Path) -> str:
    import pandas as pd

    a, b = pd.read_csv(live, compression="gzip"), pd.read_csv(replayed, compression="gzip")
    return f"{a.shape} and {b.shape}"


def read_csv(live: Path, replayed: Path) -> str:
    import pandas as pd

    a, b = pd.read_csv(live), pd.read_csv(replayed)
    return f"{a.shape} and {b.shape}"


@dataclass(frozen=True)
class Format:
    name: str
    baseline: str  # what the baseline does, for the table
    make: Callable[[Path, int], tuple[Path, Path, str]]
    read: Callable[[Path, Path], str]
    imports: tuple[str, ...]  # what the baseline child imports before the clock starts


FORMATS = {
    "csv": Format("csv", "pandas.read_csv of both", make_csv, read_csv, ("pandas",)),
    "csv-noise": Format("csv-noise", "pandas.read_csv of both", make_csv_noise, read_csv, ("pandas",)),
    "zip-csv": Format("zip-csv", "pandas.read_csv of the member of both zips", make_zip_csv, read_zip_csv, ("pandas",)),
    "gzip-csv": Format("gzip-csv", "pandas.read_csv of both gzip files", make_gzip_csv, read_gzip_csv, ("pandas",)),
}


# -- one measurement, in a child process ----------------------------------------------------
def _rss_kib() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024


def child(what: str, fmt: str, live: Path, replayed: Path, name: str) -> None:
    """Run one ``what`` (``read`` or ``compare``) and print its figures as JSON."""
    for module in FORMATS[fmt].imports:  # both children load the format's library before the clock starts
        __import__(module)
    if what == "read":
        run = lambda: FORMATS[fmt].read(live, replayed)  # noqa: E731
    else:
        from scidex_replay.compare.base import Tolerance
        from scidex_replay.compare.registry import compare_files, load_comparators

        load_comparators()
        run = lambda: compare_files(live, replayed, name=name, tolerance=Tolerance())  # noqa: E731
    before = _rss_kib()
    t0 = time.perf_counter()
    result = run()
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    said = result if isinstance(result, str) else f"{result.comparator}: {result.summary}"
    print(json.dumps({"seconds": seconds, "peak_kib": peak, "added_kib": max(peak - before, 0), "said": said}))


def measure(what: str, fmt: str, live: Path, replayed: Path, name: str) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--child", what, fmt, str(live), str(replayed), name],
        check=True, capture_output=True, text=True,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def warm(*paths: Path) -> None:
    for path in paths:
        with open(path, "rb") as fh:
            while fh.read(8 << 20):
                pass


def bench(fmt: Format, size: int, repeat: int, where: Path) -> bool:
    t0 = time.perf_counter()
    live, replayed, name = fmt.make(where, size)
    print(f"{fmt.name}: two files of {live.stat().st_size / 2**20:.0f} MiB made in {time.perf_counter() - t0:.1f} s")
    warm(live, replayed)
    runs: dict[str, list[dict]] = {"read": [], "compare": []}
    for _ in range(repeat):
        for what in runs:  # interleaved, so a change in load hits both alike
            runs[what].append(measure(what, fmt.name, live, replayed, name))
    med = {w: {k: statistics.median(r[k] for r in rs) for k in ("seconds", "peak_kib", "added_kib")} for w, rs in runs.items()}
    base, cmp_ = med["read"], med["compare"]
    print(f"{'':34} {'s':>8} {'vs read':>8} {'peak MiB':>9} {'added MiB':>10}")
    for label, m in ((f"baseline: {fmt.baseline}", base), ("compare_files", cmp_)):
        print(f"{label:34} {m['seconds']:8.3f} {m['seconds'] / base['seconds']:7.2f}x {m['peak_kib'] / 1024:9.1f} {m['added_kib'] / 1024:10.1f}")
    print(f"  the comparison said: {runs['compare'][-1]['said']}")
    ratio = cmp_["seconds"] / base["seconds"]
    bounded = cmp_["added_kib"] < 64 * 1024  # blocks, a window of lines or a chunk of rows: not 2 x the file
    met = ratio <= 1.5 and bounded
    print(
        f"target: compare <= 1.5x the read time, memory bounded by a chunk: {ratio:.2f}x, "
        f"{cmp_['added_kib'] / 1024:.1f} MiB added for {2 * live.stat().st_size / 2**20:.0f} MiB of files "
        f"(reading added {base['added_kib'] / 1024:.0f} MiB) -> {'met' if met else 'missed'}"
    )
    return met


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        _, _, what, fmt, live, replayed, name = sys.argv
        child(what, fmt, Path(live), Path(replayed), name)
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mib", type=int, default=256, help="size of each file (default 256)")
    parser.add_argument("--quick", action="store_true", help="16 MiB files, one round")
    parser.add_argument("--repeat", type=int, default=3, help="rounds; each figure is the median (default 3)")
    parser.add_argument("--format", choices=sorted(FORMATS), action="append", help="only these format pairs")
    args = parser.parse_args()
    size = (16 if args.quick else args.size_mib) << 20
    repeat = 1 if args.quick else args.repeat
    load = os.getloadavg()[0]
    print(f"bench_compare: {size >> 20} MiB per file, {repeat} round(s), load {load:.1f}, Python {sys.version.split()[0]}")
    with tempfile.TemporaryDirectory(prefix="bench-compare-") as tmp:
        met = [bench(FORMATS[f], size, repeat, Path(tmp)) for f in (args.format or sorted(FORMATS))]
    sys.exit(0 if all(met) else 1)


if __name__ == "__main__":
    main()
