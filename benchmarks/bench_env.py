"""Environment capture time and per-step subprocess overhead.

Baselines measured in the same run: a bare ``python -c pass`` (the floor of any
fresh interpreter) and the kernel executor (no process at all).

    .venv/bin/python benchmarks/bench_env.py [--repeat N]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from scidex_replay.env import capture  # noqa: E402
from scidex_replay.executors import KernelExecutor, SubprocessExecutor  # noqa: E402
from scidex_replay.handlers.python_call import PythonCallHandler  # noqa: E402
from scidex_replay.registry import Step  # noqa: E402


def median_time(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=15)
    n = parser.parse_args().repeat

    uncached = median_time(lambda: capture.lock_text(), n)
    capture.current_environment()
    cached = median_time(capture.current_environment, n * 100)
    print(f"env capture: {uncached * 1000:.1f} ms uncached (once per process), {cached * 1e6:.2f} µs cached")

    now = datetime.now(timezone.utc)
    step = Step("s_bench", "python.call", "_noop:noop", {}, "a_x", (), "", "", None, None, now, now)
    handler = PythonCallHandler()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.txt"
        bare = median_time(lambda: subprocess.run([sys.executable, "-c", "pass"], check=True), n)
        kernel = median_time(lambda: KernelExecutor().run(handler, step, [], out), n)
        sub_exec = SubprocessExecutor()
        import os

        os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(Path(__file__).parent), os.environ.get("PYTHONPATH")]))
        sub = median_time(lambda: sub_exec.run(handler, step, [], out), n)
    print(f"bare `python -c pass`:        {bare * 1000:7.1f} ms  (baseline)")
    print(f"subprocess executor, no-op:   {sub * 1000:7.1f} ms  ({sub / bare:.2f}x baseline, +{(sub - bare) * 1000:.1f} ms)")
    print(f"kernel executor, no-op:       {kernel * 1000:7.3f} ms  ({kernel / bare:.4f}x baseline)")


if __name__ == "__main__":
    main()
