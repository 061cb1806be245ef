"""Start-up of whole ``scidex-replay`` commands, as ratios to two baselines measured in the same run.

Baselines: ``python -c pass`` (the floor of any fresh interpreter) and
``python -c "import sqlalchemy"`` (the floor of any command that opens the
registry). A third reference row, ``import scidex_replay.registry.registry``, is
what every registry command imports whatever the CLI does; the gap between it
and a command is the CLI's own share.

The registry is a tiny one built here: one source artifact and one ``shell`` step
that copies it (``python -c ...``), so ``rerun-artifact`` includes one step's
interpreter start. Commands and baselines are run round-robin, so a burst of
load hits them all alike; each figure is the median of ``--repeat`` runs. The
last column is CPU time (user + system, the command and the processes it waits
for), which a shared machine disturbs less than wall time.

    .venv/bin/python benchmarks/bench_cli.py [--repeat N]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PY = sys.executable
SCIDEX = str(Path(sys.executable).parent / "scidex-replay")
COPY = "import shutil, sys; shutil.copyfile(sys.argv[1], sys.argv[2])"


def build_registry(work: Path, env: dict[str, str]) -> tuple[str, str]:
    """A source artifact and one step that copies it; returns (source id, target id)."""
    (work / "data.csv").write_text("x,y\n1,2\n")

    def cli(*args: str) -> str:
        return subprocess.run([SCIDEX, *args], cwd=work, env=env, capture_output=True, text=True, check=True).stdout.strip()

    source = cli("add", "data.csv")
    target = cli("run", "-i", source, "-o", "copy.csv", "--", PY, "-c", COPY, "{in0}", "{out}")
    return source, target


def cpu_of_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=9)
    n = parser.parse_args().repeat

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        env = {k: v for k, v in os.environ.items() if k != "SCIDEX_REPLAY_DB"}
        env["SCIDEX_REPLAY_HOME"] = str(work / "home")
        _, target = build_registry(work, env)

        # label -> (argv, expected exit code)
        cases: dict[str, tuple[list[str], int]] = {
            "python -c pass": ([PY, "-c", "pass"], 0),
            "python -c 'import sqlalchemy'": ([PY, "-c", "import sqlalchemy"], 0),
            "import scidex_replay.registry.registry": ([PY, "-c", "import scidex_replay.registry.registry"], 0),
            "--help": ([SCIDEX, "--help"], 0),
            "add missing.csv (bad input)": ([SCIDEX, "add", "missing.csv"], 2),
            "rerun-artifact --set x (bad input)": ([SCIDEX, "rerun-artifact", target, "--set", "x"], 2),
            "chain UNKNOWN (bad id)": ([SCIDEX, "chain", "a_unknown0"], 2),
            "step-types": ([SCIDEX, "step-types"], 0),
            "chain ID": ([SCIDEX, "chain", target], 0),
            "chain ID --json": ([SCIDEX, "chain", target, "--json"], 0),
            "rerun-artifact ID --dry-run": ([SCIDEX, "rerun-artifact", target, "--dry-run"], 0),
            "rerun-artifact ID (1 step)": ([SCIDEX, "rerun-artifact", target], 0),
        }
        wall: dict[str, list[float]] = {label: [] for label in cases}
        cpu: dict[str, list[float]] = {label: [] for label in cases}
        for i in range(n + 1):  # the first round warms the caches and checks exit codes; it is not timed
            for label, (argv, code) in cases.items():
                c0, t0 = cpu_of_children(), time.perf_counter()
                proc = subprocess.run(argv, cwd=work, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
                elapsed, used = time.perf_counter() - t0, cpu_of_children() - c0
                if proc.returncode != code:
                    sys.exit(f"{label}: exit {proc.returncode}, expected {code}\n{proc.stderr.decode()[-2000:]}")
                if i:
                    wall[label].append(elapsed)
                    cpu[label].append(used)

    med = {label: statistics.median(t) for label, t in wall.items()}
    bare, sqla = med["python -c pass"], med["python -c 'import sqlalchemy'"]
    print(f"median of {n}, load average {os.getloadavg()[0]:.2f}")
    print(f"{'':40} {'wall ms':>8} {'x pass':>8} {'x sqlalchemy':>13} {'cpu ms':>8}")
    for label, t in med.items():
        print(f"{label:40} {t * 1000:8.1f} {t / bare:8.2f} {t / sqla:13.2f} {statistics.median(cpu[label]) * 1000:8.1f}")


if __name__ == "__main__":
    main()
