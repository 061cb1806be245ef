"""Replay overhead per step, chain-walk time, and restart vs full replay.

Prints, for chains of 10, 100 and 1000 no-op ``python.call`` steps (kernel
executor), the replay time per step and its ratio to the 10-step figure (flat
means ~1.0), and the largest chain replayed again with a fresh interpreter per step instead
of forks of a warm zygote; the recursive chain walk over 100k recorded steps; and a restart of
a 1000-step chain that failed at step 990 against a full replay of it.

    .venv/bin/python benchmarks/bench_replay.py [--quick]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from scidex_replay.recording import record_call  # noqa: E402
from scidex_replay.registry import Registry  # noqa: E402
from scidex_replay.replay import rerun_artifact  # noqa: E402


def build_chain(reg: Registry, n: int, fault: str = "") -> str:
    import _noop

    current = reg.add_artifact(b"seed\n", name="seed.txt").id
    for k in range(1, n + 1):
        current = record_call(reg, _noop.noop, inputs=[current], output="out.txt", k=k, fault=fault).id
    return current


@contextlib.contextmanager
def fresh_interpreters():
    """Replays in this block start a fresh interpreter for every step (``executors/zygote.py`` off)."""
    old = os.environ.get("SCIDEX_REPLAY_ZYGOTE")
    os.environ["SCIDEX_REPLAY_ZYGOTE"] = "0"
    try:
        yield
    finally:
        if old is None:
            del os.environ["SCIDEX_REPLAY_ZYGOTE"]
        else:
            os.environ["SCIDEX_REPLAY_ZYGOTE"] = old


def timed(fn, *args, **kw):
    t0 = time.perf_counter()
    value = fn(*args, **kw)
    return time.perf_counter() - t0, value


def bulk_chain(reg: Registry, n: int) -> str:
    """n recorded steps inserted in bulk (recording them one by one would dominate the benchmark)."""
    from sqlalchemy import insert

    from scidex_replay.registry.models import ArtifactRow, StepInputRow, StepOutputRow, StepRow

    now = datetime.now(timezone.utc)
    h = "0" * 64
    arts = [dict(id=f"a_b{i:07d}", content_hash=h, size=0, kind="txt", name=None, created_at=now, meta={}) for i in range(n + 1)]
    steps = [
        dict(step_id=f"s_b{i:07d}", step_type="copy", method="copy", parameters={}, target_artifact_id=f"a_b{i + 1:07d}",
             input_hash=h, output_hash=h, env_hash=None, trace_id=None, started_at=now, completed_at=now)
        for i in range(n)
    ]
    inputs = [
        dict(step_id=f"s_b{i:07d}", position=0, artifact_id=f"a_b{i:07d}", producer_step_id=f"s_b{i - 1:07d}" if i else None)
        for i in range(n)
    ]
    outputs = [dict(step_id=f"s_b{i:07d}", position=0, artifact_id=f"a_b{i + 1:07d}", path=None) for i in range(n)]
    with reg.session() as s:
        for table, rows in ((ArtifactRow, arts), (StepRow, steps), (StepInputRow, inputs), (StepOutputRow, outputs)):
            for start in range(0, len(rows), 20000):
                s.execute(insert(table), rows[start : start + 20000])
    return f"a_b{n:07d}"


def walk_ids(reg: Registry, artifact_id: str) -> list[str]:
    """The recursive walk alone: the step ids, as ``Registry.chain`` gets them."""
    from scidex_replay.registry.registry import walk_step_ids

    with reg.engine.connect() as conn:
        return walk_step_ids(conn, artifact_id)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    args = parser.parse_args()
    sizes = [10, 100] if args.quick else [10, 100, 1000]
    walk_n = 10_000 if args.quick else 100_000
    restart_n = 100 if args.quick else 1000
    with tempfile.TemporaryDirectory() as tmp:
        reg = Registry.open(f"sqlite:///{tmp}/r.db", home=tmp)
        print(f"{'steps':>6} {'record s':>9} {'replay s':>9} {'ms/step':>8} {'vs N=10':>8}")
        base = None
        for n in sizes:
            rec, target = timed(build_chain, reg, n)
            dur, report = timed(rerun_artifact, target, registry=reg)
            assert report.ok, report.manifest["summary"]
            per = dur / n * 1000
            base = base or per
            print(f"{n:>6} {rec:>9.2f} {dur:>9.2f} {per:>8.2f} {per / base:>8.2f}")
        with fresh_interpreters():  # the same last chain, every step in a fresh interpreter (no zygote)
            fresh, report = timed(rerun_artifact, target, registry=reg)
        assert report.ok, report.manifest["summary"]
        print(f"{n:>6} steps, each in a fresh interpreter (SCIDEX_REPLAY_ZYGOTE=0): replay {fresh:.2f} s, "
              f"{fresh / n * 1000:.2f} ms/step ({fresh / dur:.1f}x the zygote's)")

        target = bulk_chain(reg, walk_n)
        lookup, _ = timed(reg.get_artifact, target)
        walk, ids = timed(walk_ids, reg, target)
        full, steps = timed(reg.chain, target)
        assert len(steps) == len(ids) == walk_n
        print(
            f"chain walk of {walk_n} steps: recursive query {walk:.3f} s, with every step record built {full:.3f} s "
            f"({walk / lookup:.0f}x and {full / lookup:.0f}x one artifact lookup of {lookup * 1000:.2f} ms)"
        )

        fault = Path(tmp) / "fault"
        target = build_chain(reg, restart_n, fault=str(fault))
        fail_at = restart_n - 10
        full, report = timed(rerun_artifact, target, registry=reg)
        fault.write_text(str(fail_at))
        failed = rerun_artifact(target, registry=reg)
        fault.unlink()
        assert failed.status == "failed"
        restart, report = timed(rerun_artifact, target, registry=reg, restart=failed.run_id)
        assert report.ok and report.manifest["summary"].get("reused") == fail_at - 1
        print(
            f"restart of a {restart_n}-step chain failed at step {fail_at}: {restart:.2f} s vs full replay {full:.2f} s "
            f"(ratio {restart / full:.3f}; {restart_n - fail_at + 1}/{restart_n} = {(restart_n - fail_at + 1) / restart_n:.3f})"
        )


if __name__ == "__main__":
    main()
