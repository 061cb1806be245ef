"""Chain walk of 100k and 1M recorded steps, on SQLite and on PostgreSQL.

For each backend and size, a linear chain of n steps is inserted in bulk (see
``bench_replay.bulk_chain``); then three things are timed on it:

- *flat read*, the baseline: ``SELECT step_id FROM processing_steps``, the n ids
  with no recursion, which is as fast as the database can hand over n rows;
- *walk*: the recursive query alone (``bench_replay.walk_ids``);
- *chain*: ``Registry.chain``, the walk plus every step record built.

Each is the median of ``--repeat`` runs (1M: a single run). The ratios to the flat read show what
the recursion and the record building cost. The PostgreSQL server is a throwaway one on 127.0.0.1
(``benchmarks/_pg.py``).

    .venv/bin/python benchmarks/bench_walk.py [--quick] [--repeat N] [--sizes 100000,1000000] [--no-postgres]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from _pg import create_database, postgres_server, server_version  # noqa: E402
from bench_replay import bulk_chain, walk_ids  # noqa: E402

from scidex_replay.registry import Registry  # noqa: E402


def flat_ids(reg: Registry) -> list[str]:
    from sqlalchemy import select

    from scidex_replay.registry.models import StepRow

    with reg.engine.connect() as conn:
        return list(conn.scalars(select(StepRow.step_id)))


def median_time(fn, repeat: int) -> tuple[float, object]:
    times, value = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        value = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), value


def bench(backend: str, url: str, home: str, n: int, repeat: int) -> dict[str, float]:
    reg = Registry.open(url, home=home)
    try:
        t0 = time.perf_counter()
        target = bulk_chain(reg, n)
        if backend == "postgresql":
            from sqlalchemy import text

            with reg.engine.connect() as conn:  # fresh statistics, as autovacuum would give a live registry
                conn.execute(text("ANALYZE"))
                conn.commit()
        insert = time.perf_counter() - t0
        reps = repeat if n <= 100_000 else 1
        flat_ids(reg)  # warm the cache once, for every query alike
        flat, ids = median_time(lambda: flat_ids(reg), reps)
        walk, walked = median_time(lambda: walk_ids(reg, target), reps)
        chain, steps = median_time(lambda: reg.chain(target), reps)
        assert len(ids) == len(walked) == len(steps) == n, (len(ids), len(walked), len(steps))
    finally:
        reg.close()
    print(
        f"{backend:>10} {n:>9,} {insert:>9.1f} {flat:>9.3f} {walk:>9.3f} {walk / flat:>7.1f}x {chain:>9.3f} {chain / flat:>7.1f}x"
        f"   {n / walk / 1000:>6.0f}k steps/s walked",
        flush=True,
    )
    return {"flat": flat, "walk": walk, "chain": chain}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="10k and 100k steps")
    parser.add_argument("--sizes", help="comma-separated chain lengths [default: 100000,1000000]")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")] if args.sizes else [10_000, 100_000] if args.quick else [100_000, 1_000_000]

    import sqlite3

    print(f"SQLite {sqlite3.sqlite_version}")
    header = f"{'backend':>10} {'steps':>9} {'insert s':>9} {'flat s':>9} {'walk s':>9} {'/flat':>8} {'chain s':>9} {'/flat':>8}"
    print(header)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            results["sqlite", n] = bench("sqlite", f"sqlite:///{tmp}/walk-{n}.db", tmp, n, args.repeat)
        if not args.no_postgres:
            with postgres_server() as prefix:
                print(f"PostgreSQL {server_version(prefix + 'postgres')}")
                for n in sizes:
                    results["postgresql", n] = bench("postgresql", create_database(prefix), tmp, n, args.repeat)
    if ("sqlite", 100_000) in results:
        walk = results["sqlite", 100_000]["walk"]
        print(f"target: chain walk of 100k steps under 0.2 s on SQLite: {walk:.3f} s -> {'met' if walk < 0.2 else 'missed'}")
        chain = results["sqlite", 100_000]["chain"]
        print(f"        (Registry.chain, which also builds the step records: {chain:.3f} s)")


if __name__ == "__main__":
    main()
