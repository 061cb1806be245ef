"""What ``--explain`` costs for a 1-second step: re-runs and seconds per explanation.

Records three ``run`` steps that each take about one second (``time.sleep(1)``, then write
their output): a pure one, one that writes the wall clock, one that writes ``os.urandom``.
For each, times one plain replay, then a replay with ``--explain all``, and prints the
explanation's re-runs and seconds and their ratio to the plain replay measured in the same
run (a ratio of N means the explanation cost about N replays of the step). Then the same for
``run --check`` (``explain_recorded``) right after recording the clock step: the recorded
second is now, so the clock is found by bisection rather than by the first comparison.

    .venv/bin/python benchmarks/bench_explain.py
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

from scidex_replay.command import record_command
from scidex_replay.registry import Registry
from scidex_replay.replay import rerun_artifact
from scidex_replay.replay.explain import explain_recorded

STEPS = {
    "pure": "import time\ntime.sleep(1)\nopen('out.txt', 'w').write('hello\\n')\n",
    "clock": "import time\ntime.sleep(1)\nopen('out.txt', 'w').write(str(int(time.time())) + '\\n')\n",
    "entropy": "import os, time\ntime.sleep(1)\nopen('out.txt', 'wb').write(os.urandom(16))\n",
}


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="bench-explain-") as tmp:
        os.environ["SCIDEX_REPLAY_HOME"] = str(Path(tmp) / "home")
        reg = Registry.open()
        print(f"{'step':8} {'replay s':>9} {'runs':>5} {'explain s':>10} {'ratio':>6}  summary")
        try:
            for name, program in STEPS.items():
                folder = Path(tmp) / name
                folder.mkdir()
                (folder / f"{name}.py").write_text(program)
                recorded = record_command(
                    reg, [sys.executable, f"{name}.py"], inputs=[f"{name}.py"], outputs=["out.txt"], cwd=folder,
                )
                art = recorded.artifacts[0].id
                if name == "pure":  # warm up: the first replay of a process probes the environment
                    rerun_artifact(art, registry=reg, out=Path(tmp) / "warm-up")
                t0 = time.perf_counter()
                rerun_artifact(art, registry=reg, out=Path(tmp) / f"plain-{name}")
                plain = time.perf_counter() - t0
                report = rerun_artifact(art, registry=reg, out=Path(tmp) / f"explain-{name}", explain="all")
                e = report.manifest["steps"][0]["explanation"]
                print(f"{name:8} {plain:9.2f} {e['runs']:5d} {e['seconds']:10.2f} {e['seconds'] / plain:6.1f}  {e['summary']}")
                if name == "clock":
                    folder = Path(tmp) / "checked"
                    folder.mkdir()
                    (folder / "checked.py").write_text(program)
                    fresh = record_command(
                        reg, [sys.executable, "checked.py"], inputs=["checked.py"], outputs=["out.txt"], cwd=folder,
                    )
                    c = explain_recorded(reg, fresh.artifacts[0].id)
                    print(f"{'--check':8} {plain:9.2f} {c.runs:5d} {c.seconds:10.2f} {c.seconds / plain:6.1f}  {c.summary}")
        finally:
            reg.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
