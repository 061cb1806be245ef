"""What a ``notebook`` step costs over running the same notebook with plain papermill.

One small parameterized notebook (a parameters cell, then a cell that writes a CSV of ``n``
rows and prints a line) is run, alternately and ``ROUNDS`` times each, by:

- ``papermill``: ``python -m papermill NB OUT -p n 200`` in a folder, as a user runs it;
- ``record``: ``record_notebook`` (``scidex-replay run-notebook NB -p n 200 -o rows.csv``):
  staging, the kernel's environment (probed once, then cached), papermill run by the kernel's
  interpreter in deterministic mode, the executed notebook made byte-stable, storing and
  registering the outputs;
- ``replay``: ``rerun_artifact`` of the recorded CSV: planning, staging, the same papermill run,
  storing and comparing both outputs.

Prints the median seconds of each and their ratio to plain papermill measured in the same run
(a kernel start dominates all three).

    .venv/bin/python benchmarks/bench_notebook.py
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

ROUNDS = 5


def notebook(path: Path) -> None:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    params = nbformat.v4.new_code_cell("n = 10")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell(
        "with open('rows.csv', 'w') as f:\n    f.write(''.join(f'{i},{i * i}\\n' for i in range(n)))\nprint(n, 'rows')"
    )]
    nbformat.write(nb, path)


def main() -> int:
    from scidex_replay.notebook import record_notebook
    from scidex_replay.registry import Registry
    from scidex_replay.replay import rerun_artifact

    times: dict[str, list[float]] = {"papermill": [], "record": [], "replay": []}
    with tempfile.TemporaryDirectory(prefix="bench-notebook-") as tmp:
        os.environ["SCIDEX_REPLAY_HOME"] = str(Path(tmp) / "home")
        reg = Registry.open()
        try:
            for r in range(ROUNDS + 1):  # round 0 warms up (the interpreter probe, caches); not counted
                folder = Path(tmp) / f"round{r}"
                folder.mkdir()
                notebook(folder / "nb.ipynb")
                t0 = time.perf_counter()
                subprocess.run(
                    [sys.executable, "-m", "papermill", "--no-progress-bar", "nb.ipynb", "out.ipynb", "-p", "n", "200"],
                    cwd=folder, check=True, capture_output=True,
                )
                plain = time.perf_counter() - t0
                t0 = time.perf_counter()
                recorded = record_notebook(reg, "nb.ipynb", {"n": 200}, outputs=["rows.csv"], step_name=f"nb{r}", cwd=folder)
                record = time.perf_counter() - t0
                t0 = time.perf_counter()
                report = rerun_artifact(recorded.artifacts[0].id, registry=reg, out=Path(tmp) / f"replay{r}")
                replay = time.perf_counter() - t0
                assert report.ok, report.manifest["steps"][0]["reason"]
                if r:
                    for name, value in (("papermill", plain), ("record", record), ("replay", replay)):
                        times[name].append(value)
        finally:
            reg.close()
    base = statistics.median(times["papermill"])
    print(f"{'run':10} {'median s':>9} {'ratio':>6}   ({ROUNDS} rounds, each: papermill, record, replay)")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"{name:10} {median:9.2f} {median / base:6.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
