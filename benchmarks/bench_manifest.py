"""What checking every manifest against its JSON Schema costs, against writing it as JSON.

For manifests of N steps (10, 100, 1000, 10000; each step reproduced), in one process:

- the one-off cost of the first check (importing ``jsonschema`` and building the validator:
  measured in a fresh interpreter, since both are cached per process);
- baseline: ``json.dumps`` of the manifest (what writing ``manifest.json`` costs anyway);
- ``manifest.build`` of the manifest, which validates what it built;
- ``manifest.problem`` alone (the check ``manifest.load`` runs on a manifest it reads).

Each figure is the median of ``--repeat`` rounds; ratios are to the baseline of the same N.

    .venv/bin/python benchmarks/bench_manifest.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from bench_env import median_time  # noqa: E402
from scidex_replay.outcomes import Outcome  # noqa: E402
from scidex_replay.registry.records import Run, Step, StepResult  # noqa: E402
from scidex_replay.replay import manifest as manifests  # noqa: E402

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


def chain(n: int) -> tuple[Run, list[Step], list[StepResult]]:
    steps = [
        Step(f"s_{i:07d}", "shell", "python step.py", {"k": i}, f"a_{i:07d}", (f"a_{i - 1:07d}",) if i else (),
             "0" * 64, "1" * 64, "e" * 64, None, T0, T0)
        for i in range(n)
    ]
    results = [StepResult(s.step_id, i, Outcome.REPRODUCED, True, "", "1" * 64, duration_s=0.01) for i, s in enumerate(steps)]
    run = Run("r_bench", steps[-1].target_artifact_id, "replay", None, None, {}, "reproduced", T0, None)
    return run, steps, results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    probe = "import time; t = time.perf_counter(); from scidex_replay.replay import manifest as m; m._validator(); print(time.perf_counter() - t)"
    first = float(subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout)
    importing = float(subprocess.run(
        [sys.executable, "-c", "import time; t = time.perf_counter(); import jsonschema; print(time.perf_counter() - t)"],
        capture_output=True, text=True, check=True,
    ).stdout)
    print(f"first check in a process: {first:.3f} s, of which importing jsonschema {importing:.3f} s")
    manifests._validator()
    print(f"{'steps':>6} {'json.dumps s':>12} {'build s':>9} {'x dumps':>8} {'validate s':>10} {'x dumps':>8} {'us/step':>8}")
    for n in (10, 100, 1000, 10000):
        run, steps, results = chain(n)
        manifest = manifests.build(run, steps, results, artifacts={}, replay_env="e" * 64, completed_at=None)
        dumps = median_time(lambda: json.dumps(manifest, indent=2), args.repeat)
        build = median_time(
            lambda: manifests.build(run, steps, results, artifacts={}, replay_env="e" * 64, completed_at=None), args.repeat
        )
        check = median_time(lambda: manifests.problem(manifest), args.repeat)
        print(f"{n:>6} {dumps:>12.4f} {build:>9.4f} {build / dumps:>8.1f} {check:>10.4f} {check / dumps:>8.1f} {check / n * 1e6:>8.0f}")


if __name__ == "__main__":
    main()
