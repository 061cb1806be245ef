"""Per-step replay overhead of scidex-replay against ``dvc repro`` on the same linear chain.

The chain has N ``python -c`` steps: step k reads ``d{k-1}.txt`` and writes
``d{k}.txt`` (the input plus one line). Both tools run exactly the same command
for each step. For DVC it is a stage of ``dvc.yaml`` in a fresh ``git init`` +
``dvc init`` repository. For scidex-replay it is a ``shell`` step recorded in a
fresh registry. Measured in the same run:

- *bare*, the baseline: the N commands run one after another by ``subprocess.run``;
- the same in deterministic mode (the environment scidex-replay gives each step),
  which shows how much of scidex-replay's overhead is the price of that mode;
- ``dvc repro --force`` (every stage runs; a whole ``dvc`` command);
- ``scidex-replay rerun-artifact`` (every step runs; a whole CLI command), and
  ``rerun_artifact()`` in process (no CLI start-up).

Overhead per step = (wall time - bare) / N. The *marginal* cost per step is the
slope between two chain lengths, which leaves out each tool's fixed start-up.

Restart after a failure at step k (N=50, k=40): a first run fails at step k
(an environment variable makes that command exit 1; the command text does not
change). Then, timed: ``dvc repro`` (it reruns stages k..N, the stages that never
completed; stages 1..k-1 are up to date) against ``scidex-replay rerun-artifact
ID --restart RUN`` (it reuses steps 1..k-1 and reruns k..N). Baseline: the
N-k+1 commands run bare.

DVC is installed from PyPI with pip into ``benchmarks/.dvc-venv``, once.
Each figure is the median of ``--repeat`` runs.

    .venv/bin/python benchmarks/bench_dvc.py [--sizes 10,50] [--scidex-sizes 10,50,200,1000] [--repeat 3] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DVC_VENV = HERE / ".dvc-venv"
PY = sys.executable
SCIDEX = str(Path(sys.executable).parent / "scidex-replay")
#: Holds k while step k is to fail. A file, not a variable: a scidex-replay step sees only the
#: variables it declares, and the fault must not change the command (the reuse key).
FAULT_FILE = Path(tempfile.gettempdir()) / "scidex-bench-dvc-fault"
#: step k: ``python -c PROG d{k-1}.txt d{k}.txt k``; exits 1 when FAULT_FILE holds k
PROG = (
    f"import os, sys; os.path.exists('{FAULT_FILE}') and open('{FAULT_FILE}').read() == sys.argv[3] and sys.exit(1); "
    "open(sys.argv[2], 'w').write(open(sys.argv[1]).read() + sys.argv[3] + chr(10))"
)


def ensure_dvc() -> Path:
    dvc = DVC_VENV / "bin" / "dvc"
    if not dvc.exists():
        print(f"installing dvc into {DVC_VENV} (once)", flush=True)
        subprocess.run([PY, "-m", "venv", "--clear", str(DVC_VENV)], check=True)
        subprocess.run([str(DVC_VENV / "bin" / "python"), "-m", "pip", "install", "--quiet", "dvc"], check=True)
    return dvc


def run(cmd: list[str], cwd: Path, env: dict[str, str] | None = None, ok: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if ok and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:3])}... exited {proc.returncode}: {proc.stderr[-2000:]}")
    return proc


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def median(fn, repeat: int) -> float:
    return statistics.median(timed(fn) for _ in range(repeat))


def env_without_fault(**extra: str) -> dict[str, str]:
    return {**os.environ, "DVC_NO_ANALYTICS": "1", **extra}


def failing_at(k: int, fn):
    """``fn()`` while step ``k`` fails."""
    FAULT_FILE.write_text(str(k))
    try:
        return fn()
    finally:
        FAULT_FILE.unlink()


# -- bare -------------------------------------------------------------------
def bare(tmp: Path, first: int, last: int, deterministic: bool = False) -> float:
    """The commands of steps first..last, one after another, no tool around them.

    With ``deterministic``, in the environment scidex-replay gives every step
    (``PYTHONHASHSEED=0``, ``TZ``, locale, thread counts, RNG seeding at start):
    the part of its overhead that is the price of deterministic mode.
    """
    from scidex_replay.env.deterministic import deterministic_env

    env = deterministic_env(0, env_without_fault()) if deterministic else env_without_fault()
    work = tmp / f"bare-{first}-{last}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    (work / f"d{first - 1}.txt").write_text("seed\n")

    def go() -> None:
        for k in range(first, last + 1):
            subprocess.run([PY, "-c", PROG, f"d{k - 1}.txt", f"d{k}.txt", str(k)], cwd=work, check=True, env=env)

    return timed(go)


# -- DVC --------------------------------------------------------------------
def dvc_repo(dvc: Path, tmp: Path, n: int, name: str) -> Path:
    repo = tmp / name
    repo.mkdir()
    run(["git", "init", "-q"], repo)
    run([str(dvc), "init", "-q"], repo, env_without_fault())
    run([str(dvc), "config", "core.analytics", "false"], repo, env_without_fault())
    (repo / "d0.txt").write_text("seed\n")
    lines = ["stages:"]
    for k in range(1, n + 1):
        lines += [
            f"  s{k:04d}:",
            f"    cmd: {PY} -c \"{PROG}\" d{k - 1}.txt d{k}.txt {k}",
            f"    deps: [d{k - 1}.txt]",
            f"    outs: [d{k}.txt]",
        ]
    (repo / "dvc.yaml").write_text("\n".join(lines) + "\n")
    return repo


# -- scidex-replay ------------------------------------------------------------
def scidex_chain(tmp: Path, n: int, name: str) -> tuple[dict[str, str], str]:
    """A registry holding the recorded chain; returns (env for the CLI, target artifact id)."""
    from scidex_replay.handlers.shell import ShellHandler
    from scidex_replay.recording import run_handler
    from scidex_replay.registry import Registry

    home = tmp / name
    url = f"sqlite:///{home}/registry.db"
    reg = Registry.open(url, home=home)
    seed = tmp / f"{name}-seed" / "d0.txt"
    seed.parent.mkdir()
    seed.write_text("seed\n")
    current = reg.add_artifact(seed).id
    for k in range(1, n + 1):
        argv = [PY, "-c", PROG, "{in0}", "{out}", str(k)]
        current = run_handler(
            reg, ShellHandler(), method=f"step {k}", parameters={"argv": argv}, inputs=[current], output=f"d{k}.txt"
        ).id
    reg.close()
    return env_without_fault(SCIDEX_REPLAY_HOME=str(home), SCIDEX_REPLAY_DB=url), current


def scidex_in_process(env: dict[str, str], target: str) -> float:
    from scidex_replay.registry import Registry
    from scidex_replay.replay import rerun_artifact

    reg = Registry.open(env["SCIDEX_REPLAY_DB"], home=env["SCIDEX_REPLAY_HOME"])
    try:
        t0 = time.perf_counter()
        report = rerun_artifact(target, registry=reg)
        took = time.perf_counter() - t0
        assert report.ok, report.manifest["summary"]
        return took
    finally:
        reg.close()


def per_step(wall: float, base: float, n: int) -> float:
    return (wall - base) / n * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="10,50", help="chain lengths for both tools")
    parser.add_argument("--scidex-sizes", default="200,1000", help="extra chain lengths for scidex-replay only (flatness)")
    parser.add_argument("--fail-n", type=int, default=50)
    parser.add_argument("--fail-at", type=int, default=40)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="sizes 5,10, no extra sizes, one run each")
    args = parser.parse_args()
    sizes = [5, 10] if args.quick else [int(s) for s in args.sizes.split(",")]
    extra = [] if args.quick or not args.scidex_sizes else [int(s) for s in args.scidex_sizes.split(",")]
    repeat = 1 if args.quick else args.repeat
    fail_n, fail_at = (10, 6) if args.quick else (args.fail_n, args.fail_at)

    dvc = ensure_dvc()
    dvc_version = run([str(dvc), "--version"], HERE, env_without_fault()).stdout.strip()
    print(f"dvc {dvc_version}; commands run by {PY}; median of {repeat}", flush=True)
    rows = []
    with tempfile.TemporaryDirectory(prefix="scidex-bench-dvc-") as tmp_name:
        tmp = Path(tmp_name)
        print(f"{'tool':28} {'N':>5} {'wall s':>8} {'bare s':>8} {'overhead ms/step':>17}", flush=True)
        for n in sizes + extra:
            base = statistics.median(bare(tmp, 1, n) for _ in range(repeat))
            det = statistics.median(bare(tmp, 1, n, deterministic=True) for _ in range(repeat))
            env, target = scidex_chain(tmp, n, f"scidex-{n}")
            cli = median(lambda: run([SCIDEX, "rerun-artifact", target], tmp, env), repeat)
            inproc = statistics.median(scidex_in_process(env, target) for _ in range(repeat))
            row = {"n": n, "bare": base, "scidex_cli": cli, "scidex_api": inproc, "det": det}
            if n in sizes:
                repo = dvc_repo(dvc, tmp, n, f"dvc-{n}")
                run([str(dvc), "repro", "-q"], repo, env_without_fault())  # first run: lock file and cache
                row["dvc"] = median(lambda: run([str(dvc), "repro", "--force", "-q"], repo, env_without_fault()), repeat)
                print(f"{'dvc repro --force':28} {n:>5} {row['dvc']:8.2f} {base:8.2f} {per_step(row['dvc'], base, n):17.1f}")
            print(f"{'scidex-replay rerun-artifact':28} {n:>5} {cli:8.2f} {base:8.2f} {per_step(cli, base, n):17.1f}")
            print(f"{'rerun_artifact() in process':28} {n:>5} {inproc:8.2f} {base:8.2f} {per_step(inproc, base, n):17.1f}")
            print(f"{'  of which deterministic mode':28} {n:>5} {det:8.2f} {base:8.2f} {per_step(det, base, n):17.1f}", flush=True)
            rows.append(row)

        both = [r for r in rows if "dvc" in r]
        print()
        for r in both:
            d, s = per_step(r["dvc"], r["bare"], r["n"]), per_step(r["scidex_cli"], r["bare"], r["n"])
            print(f"N={r['n']}: DVC {d:.1f} ms/stage vs scidex-replay {s:.1f} ms/step (CLI) -> DVC / scidex = {d / s:.1f}x")
        if len(both) >= 2:
            a, b = both[0], both[-1]

            def slope(key: str) -> float:
                return ((b[key] - b["bare"]) - (a[key] - a["bare"])) / (b["n"] - a["n"]) * 1000

            print(f"marginal cost per step, N={a['n']}->{b['n']}: DVC {slope('dvc'):.1f} ms, "
                  f"scidex-replay {slope('scidex_cli'):.1f} ms (CLI), {slope('scidex_api'):.1f} ms (in process)")
        first = rows[0]
        for r in rows:
            ratio = per_step(r["scidex_api"], r["bare"], r["n"]) / per_step(first["scidex_api"], first["bare"], first["n"])
            print(f"scidex-replay in process, N={r['n']}: {per_step(r['scidex_api'], r['bare'], r['n']):.1f} ms/step "
                  f"({ratio:.2f}x the N={first['n']} figure)")

        # restart after a failure at step k
        rerun = fail_n - fail_at + 1
        base = statistics.median(bare(tmp, fail_at, fail_n) for _ in range(repeat))
        dvc_times, scidex_times = [], []
        for i in range(repeat):
            repo = dvc_repo(dvc, tmp, fail_n, f"dvc-fail-{i}")
            failed = failing_at(fail_at, lambda: run([str(dvc), "repro", "-q"], repo, env_without_fault(), ok=False))
            assert failed.returncode != 0 and (repo / f"d{fail_at - 1}.txt").exists() and not (repo / f"d{fail_at}.txt").exists()
            dvc_times.append(timed(lambda: run([str(dvc), "repro", "-q"], repo, env_without_fault())))
            assert (repo / f"d{fail_n}.txt").exists()

            env, target = scidex_chain(tmp, fail_n, f"scidex-fail-{i}")
            failed = failing_at(fail_at, lambda: run([SCIDEX, "rerun-artifact", target, "--json"], tmp, env, ok=False))
            assert failed.returncode == 1, failed.stderr
            run_id = json.loads(failed.stdout)["run_id"]
            restart = lambda: run([SCIDEX, "rerun-artifact", target, "--restart", run_id, "--json"], tmp, env)  # noqa: E731
            t0 = time.perf_counter()
            done = restart()
            scidex_times.append(time.perf_counter() - t0)
            summary = json.loads(done.stdout)["summary"]
            assert summary == {"reproduced": rerun, "reused": fail_at - 1}, summary
        d, s = statistics.median(dvc_times), statistics.median(scidex_times)
        print()
        print(f"restart after a failure at step {fail_at} of {fail_n} ({rerun} steps rerun, {fail_at - 1} up to date / reused):")
        print(f"  bare {rerun} commands                 {base:6.2f} s")
        print(f"  dvc repro                          {d:6.2f} s  ({per_step(d, base, rerun):.1f} ms overhead per rerun stage)")
        print(f"  scidex-replay --restart            {s:6.2f} s  ({per_step(s, base, rerun):.1f} ms overhead per rerun step)")
        print(f"  DVC / scidex-replay wall time      {d / s:6.2f}x; overhead ratio {(d - base) / (s - base):.1f}x")

    if both:
        r = both[-1]
        d = per_step(r["dvc"], r["bare"], r["n"])
        for what, key in (("whole CLI command", "scidex_cli"), ("rerun_artifact() in process", "scidex_api")):
            s = per_step(r[key], r["bare"], r["n"])
            print(f"target: per-step replay overhead at least 20x lower than DVC's per-stage overhead at N={r['n']} "
                  f"({what}): {d:.1f} / {s:.1f} ms = {d / s:.1f}x -> {'met' if d / s >= 20 else 'missed'}")


if __name__ == "__main__":
    main()
