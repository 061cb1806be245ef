"""Fault injection (issue 19): a replay killed with SIGKILL at random points keeps every result it
wrote, shows ``interrupted``, and ``--restart`` completes the chain without executing again any
step that had finished; the store stays consistent (``verify``)."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from scidex_replay.command import record_command

CLI = str(Path(sys.executable).with_name("scidex-replay"))
STEPS = 20
KILLS = 20


def _executed(log: Path, since: int) -> tuple[list[int], int]:
    """The step numbers logged from byte ``since`` on, and the log's new end."""
    text = log.read_text() if log.exists() else ""
    return [int(n) for n in text[since:].split()], len(text)


def _finished(registry, run_ids: list[str], numbers: dict[str, int]) -> set[int]:
    """The step numbers with a result written by any of ``run_ids``."""
    return {numbers[r.step_id] for run_id in run_ids for r in registry.results(run_id)}


@pytest.mark.sqlite_only(reason="20 SIGKILLs take ~50 s; per-step writes and liveness on PostgreSQL: test_run_liveness.py")
def test_a_replay_killed_at_random_points_restarts_without_running_a_finished_step_again(registry, tmp_path):
    log, work = tmp_path / "executions.log", tmp_path / "work"
    work.mkdir()
    current = registry.add_artifact(b"seed\n", name="s-1.txt").id
    numbers: dict[str, int] = {}
    for n in range(STEPS):  # shell steps: a kill lands in the engine as often as in a step
        script = f"echo {n} >> {log}; cat s{n - 1}.txt > s{n}.txt; echo {n} >> s{n}.txt"
        recorded = record_command(
            registry, ["sh", "-c", script], inputs=[f"{current}:s{n - 1}.txt"], outputs=[f"s{n}.txt"], step_name=f"s{n}", cwd=work,
        )
        numbers[recorded.step.step_id] = n
        current = recorded.artifacts[0].id
    target, recorded = current, registry.get_artifact(current).content_hash
    began = time.monotonic()
    whole = subprocess.run([CLI, "rerun-artifact", target], env=dict(os.environ), capture_output=True, text=True)
    assert whole.returncode == 0, whole.stderr
    seconds = time.monotonic() - began  # a replay of the whole chain here and now: the kills land inside one
    rng = random.Random(19)
    kills = rounds = reused_total = 0
    while kills < KILLS:
        rounds += 1
        assert rounds <= 3 * KILLS, "the replays finish before they can be killed: the chain is too fast"
        parent: str | None = None
        _, round_start = _executed(log, 0)
        round_kills = 0
        while True:  # replay, then restart each killed run until one completes
            ancestry = registry.ancestry(parent) if parent else []
            finished = _finished(registry, ancestry, numbers)
            _, start = _executed(log, 0)
            args = [CLI, "rerun-artifact", target] + (["--restart", parent] if parent else [])
            proc = subprocess.Popen(args, env=dict(os.environ), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            deadline = time.monotonic() + rng.uniform(0.2, 1.0) * seconds
            while proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.01)
            if proc.poll() is None and kills < KILLS:
                proc.send_signal(signal.SIGKILL)
            out, err = proc.communicate(timeout=120)
            ran, _ = _executed(log, start)
            assert not finished & set(ran), f"steps {sorted(finished & set(ran))} had finished and were executed again"
            run = registry.runs(target)[-1]
            if run.status == "interrupted":  # killed before it ended (a kill just after the run ended finds it complete)
                assert proc.returncode == -signal.SIGKILL, err
                kills += 1
                round_kills += 1
                parent = run.run_id
                continue
            assert run.status == "reproduced", (run.status, err)
            results = registry.results(run.run_id)
            assert len(results) == STEPS and {r.outcome for r in results} <= {"reproduced", "reused"}
            reused = {numbers[r.step_id] for r in results if r.outcome == "reused"}
            assert reused == finished, "every step a killed run finished is reused, and only those"
            reused_total += len(reused)
            break
        executions, _ = _executed(log, round_start)
        # a kill loses at most the one step it interrupted (steps run one at a time)
        assert len(executions) <= STEPS + round_kills, (len(executions), round_kills)
        replayed = registry.results(run.run_id)[-1]
        assert registry.store.path(replayed.output_hash_replayed).read_bytes() == registry.store.path(recorded).read_bytes()
    assert reused_total >= KILLS // 2, "the kills landed before most steps could finish: the test proves little"
    verified = subprocess.run([CLI, "verify", "--json"], capture_output=True, text=True, env=dict(os.environ))
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert not [p for p in json.loads(verified.stdout)["problems"] if p["kind"] in ("corrupt", "missing")]
