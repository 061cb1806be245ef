"""``scidex-replay demo``: a small real analysis, recorded step by step.

A plate-reader experiment: raw absorbance readings (with a few flagged wells)
are cleaned and blank-corrected with pandas, summarized per sample, fitted with
a linear drift model (numpy least squares), charted with matplotlib, and
written up as a Markdown report that cites the chart::

    readings.csv ─► clean ─┬─► summarize ─┬─► chart.png ─┐
                           │              └──────────────┼─► report.md
                           └─► fit (drift) ──────────────┘

Each step is a ``shell`` step whose script is one of its inputs, exactly as a
user would record it with ``scidex-replay run``.
"""

from __future__ import annotations

import importlib.util
import random
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from scidex_replay.command import record_command
from scidex_replay.errors import BadInput
from scidex_replay.registry import Registry

SCRIPTS = Path(__file__).parent / "scripts"


def raw_readings(seed: int = 7) -> str:
    """Synthetic but realistic plate-reader readings as CSV text (deterministic for ``seed``)."""
    rng = random.Random(seed)
    lines = ["well,sample,replicate,absorbance,flag"]
    means = {"blank": 0.05, "ctrl": 0.42, "drugA": 0.31, "drugB": 0.18}
    for i, (sample, mean) in enumerate(means.items()):
        for rep in range(1, 7):
            well = f"{'ABCD'[i]}{rep}"
            value = max(0.0, rng.gauss(mean, 0.02))
            flag = "bubble" if rng.random() < 0.1 else ""
            lines.append(f"{well},{sample},{rep},{value:.4f},{flag}")
    return "\n".join(lines) + "\n"


def build_demo(reg: Registry, log: Callable[[str], None] = print) -> str:
    """Record the demo chain in ``reg``; return the id of the final report artifact."""
    if importlib.util.find_spec("matplotlib") is None:  # its chart step runs in this interpreter
        raise BadInput("the demo needs matplotlib: pip install 'scidex-replay[demo]'")
    py = sys.executable
    with tempfile.TemporaryDirectory(prefix="scidex-demo-") as tmp:
        folder = Path(tmp)  # the analysis folder: its scripts, as a user has them
        for script in SCRIPTS.glob("*.py"):
            shutil.copyfile(script, folder / script.name)
        raw_path = folder / "readings.csv"
        raw_path.write_text(raw_readings())
        raw = reg.add_artifact(raw_path, kind="csv")
        log(f"added raw readings        {raw.id}")

        def step(script: str, inputs: list[str], output: str) -> str:
            """``python SCRIPT IN... OUT`` as ``scidex-replay run -i SCRIPT -i ID... -o OUT --step NAME`` records it."""
            names = [reg.get_artifact(i).name or i for i in inputs]
            recorded = record_command(
                reg, [py, script, *names, output], inputs=[script, *inputs], outputs=[output],
                step_name=Path(script).stem, cwd=folder,
            )
            art = recorded.artifacts[0]
            log(f"recorded {recorded.step.name:<16} -> {art.id} ({output}, sha256:{art.content_hash[:12]})")
            return art.id

        clean = step("clean.py", [raw.id], "clean.csv")
        summary = step("summarize.py", [clean], "summary.csv")
        chart = step("chart.py", [summary], "chart.png")
        fit = step("fit.py", [clean], "fit.csv")
        return step("report.py", [summary, chart, fit], "report.md")
