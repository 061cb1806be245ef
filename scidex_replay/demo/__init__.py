"""``scidex-replay demo``: a small real analysis, recorded step by step, replayed, then forked.

The data is real and ships with matplotlib (the demo extra): ``Stocks.csv`` from its
sample data, monthly closing prices of nine stocks and two indices (Yahoo Finance,
1990-2017). Nothing is downloaded. Each step is a ``shell`` step recorded exactly as
``scidex-replay run -i SCRIPT -i INPUT... -o OUTPUT... --step NAME -- python SCRIPT ...``
records it::

    Stocks.csv ─► clean ─► prices.csv ─┬─► returns ─► returns.csv ─► stats ─► stats.csv, corr.csv ─┐
                                       └─► chart ─► growth.png ───────────────────────────────────┴─► report ─► report.md

``stats`` declares ``RISK_FREE`` (``--env RISK_FREE=0.02``); the demo's fork changes it.
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from scidex_replay.command import record_command
from scidex_replay.errors import BadInput
from scidex_replay.registry import Registry

SCRIPTS = Path(__file__).parent / "scripts"
RISK_FREE = "0.02"
FORK_RISK_FREE = "0.05"


def sample_data() -> Path:
    """matplotlib's bundled ``Stocks.csv``; ``BadInput`` when matplotlib is not installed."""
    if importlib.util.find_spec("matplotlib") is None:  # its data and chart step need it
        raise BadInput("the demo needs matplotlib: pip install 'scidex-replay[demo]'")
    from matplotlib import cbook

    return Path(cbook.get_sample_data("Stocks.csv", asfileobj=False))


@dataclass
class Demo:
    """What ``build_demo`` recorded: the target's id and the id of each named output."""

    target: str
    outputs: dict[str, str]
    steps: list[str]


def build_demo(reg: Registry, log: Callable[[str], None] = lambda line: None) -> Demo:
    """Record the demo chain in ``reg``; ``log`` gets one line per recorded step."""
    data = sample_data()
    py = sys.executable
    outputs: dict[str, str] = {}
    steps: list[str] = []
    with tempfile.TemporaryDirectory(prefix="scidex-demo-") as tmp:
        folder = Path(tmp)  # the analysis folder: its scripts and data, as a user has them
        for script in SCRIPTS.glob("*.py"):
            shutil.copyfile(script, folder / script.name)
        shutil.copyfile(data, folder / "Stocks.csv")
        outputs["Stocks.csv"] = reg.add_artifact(folder / "Stocks.csv", kind="csv").id

        def step(name: str, inputs: list[str], outs: list[str], env: tuple[str, ...] = ()) -> None:
            """``scidex-replay run -i NAME.py -i IN... -o OUT... --step NAME -- python NAME.py IN... OUT...``"""
            recorded = record_command(
                reg, [py, f"{name}.py", *inputs, *outs], inputs=[f"{name}.py", *(outputs[i] for i in inputs)],
                outputs=outs, step_name=name, cwd=folder, env=env,
            )
            outputs.update((o, a.id) for o, a in zip(outs, recorded.artifacts, strict=True))
            steps.append(name)
            log(f"  {name:<8} {' '.join(inputs):<24} -> {', '.join(outs)}")

        step("clean", ["Stocks.csv"], ["prices.csv"])
        step("returns", ["prices.csv"], ["returns.csv"])
        step("stats", ["returns.csv"], ["stats.csv", "corr.csv"], env=(f"RISK_FREE={RISK_FREE}",))
        step("chart", ["prices.csv"], ["growth.png"])
        step("report", ["stats.csv", "corr.csv", "growth.png"], ["report.md"])
    return Demo(target=outputs["report.md"], outputs=outputs, steps=steps)


def _best(reg: Registry, digest: str) -> str:
    """``AAPL 31.3%/yr, volatility 31.6%, Sharpe 0.93`` from the stored bytes of a stats.csv."""
    import io

    import pandas as pd

    data = b"".join(reg.store.iter_chunks(digest))
    stats = pd.read_csv(io.BytesIO(data), index_col="ticker")
    top = stats.iloc[0]
    return f"{stats.index[0]} {top['annual_return']:.1%}/yr, volatility {top['volatility']:.1%}, Sharpe {top['sharpe']:.2f}"


def run_demo(reg: Registry, home: str, say: Callable[[str], None] = print) -> int:
    """Record, replay and fork the demo, saying what happened in a few lines; the replay's exit code."""
    import time

    from scidex_replay.replay import rerun_artifact

    t0 = time.perf_counter()
    sample_data()  # BadInput before anything is said or recorded
    say(f"data home: {home}  (set SCIDEX_REPLAY_HOME to use another)")
    say("data: Stocks.csv from matplotlib's sample data: real monthly closes of 9 stocks and 2 indices, 1990-2017")
    say("recorded 5 steps, each a script run in deterministic mode (scidex-replay run ... --step NAME):")
    demo = build_demo(reg, log=say)
    say(f"  result: best since 2005 is {_best(reg, reg.get_artifact(demo.outputs['stats.csv']).content_hash)}  (risk-free {RISK_FREE})")
    replay = rerun_artifact(demo.target, registry=reg)
    m = replay.manifest
    outs = sum(len(s.get("outputs") or [1]) for s in m["steps"])
    same = sum(1 for s in m["steps"] for o in (s.get("outputs") or []) if o.get("ok"))
    say(f"replayed report.md ({demo.target}) as run {m['run_id']}: {_counts(m)}; {same} of {outs} outputs byte-identical")
    fork = rerun_artifact(demo.target, registry=reg, fork=True, set_params={"stats": {"env.RISK_FREE": FORK_RISK_FREE}})
    f = fork.manifest
    stats_digest = next(o["hash_replayed"] for s in f["steps"] if s.get("step_name") == "stats" for o in s["outputs"] if o["name"] == "stats.csv")
    say(f"forked it as run {f['run_id']} with --set stats.env.RISK_FREE={FORK_RISK_FREE}: {_counts(f)}")
    say(f"  result: best is now {_best(reg, stats_digest)}")
    say(f"manifests: {replay.manifest_path} and {fork.manifest_path}  ({time.perf_counter() - t0:.1f} s)")
    say(f"next: scidex-replay chain {demo.target}; scidex-replay runs {demo.target}")
    return replay.exit_code


def _counts(m: dict) -> str:
    return ", ".join(f"{n} {k}" for k, n in m["summary"].items() if n)
