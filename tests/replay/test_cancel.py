"""Cancelling a replay from another thread (``rerun_artifact(cancel=event)``, what the widget's
Cancel does): between steps, and while a step's process runs (its session is ended). The run
ends ``interrupted`` with what it did, and ``restart=`` goes on from there."""

from __future__ import annotations

import threading
import time

from _procs import alive

from scidex_replay.outcomes import Outcome, Status
from scidex_replay.replay import rerun_artifact
from scidex_replay.replay.engine import run_manifest

#: ``python -c PROGRAM FLAG PIDFILE {out}``: while FLAG exists, writes its pid and its child's
#: (a ``sleep`` in its process group) to PIDFILE and waits a minute; else writes ``done``.
SLOW_WHEN_FLAGGED = (
    "import os, subprocess, sys, time\n"
    "if os.path.exists(sys.argv[1]):\n"
    "    child = subprocess.Popen(['sleep', '60'])\n"
    "    open(sys.argv[2] + '.tmp', 'w').write(f'{os.getpid()} {child.pid}')\n"
    "    os.rename(sys.argv[2] + '.tmp', sys.argv[2])\n"
    "    time.sleep(60)\n"
    "open(sys.argv[-1], 'w').write('done')\n"
)


def test_cancel_between_steps_ends_the_run_interrupted_and_restart_completes_it(reg, rec):
    a = rec.tagged("a", [rec.source("x")])
    b = rec.tagged("b", [a])
    c = rec.tagged("c", [b])
    cancel = threading.Event()
    kinds = []

    def on_event(kind, payload):
        kinds.append(kind)
        if kind == "step":
            cancel.set()  # what Cancel does while the first step's result comes in

    report = rerun_artifact(c, registry=reg, on_event=on_event, cancel=cancel)
    assert report.status is Status.INTERRUPTED and not report.ok
    assert [s["outcome"] for s in report.manifest["steps"]][:1] == ["reproduced"]
    assert len(reg.results(report.run_id)) == 1, "only the step that ran before Cancel has a result"
    assert run_manifest(reg, report.run_id)["status"] == "interrupted"
    assert kinds[0] == "start" and kinds.count("step") == 1 and kinds[-1] == "end"
    assert "running" in kinds, "the step handed to the executor is announced"

    again = rerun_artifact(c, registry=reg, restart=report.run_id)
    assert again.status is Status.REPRODUCED
    outcomes = [s["outcome"] for s in again.manifest["steps"]]
    assert outcomes == [str(Outcome.REUSED), "reproduced", "reproduced"]


def test_cancel_while_a_shell_step_runs_ends_its_process_group(reg, rec, tmp_path, leftovers):
    flag, pidfile = tmp_path / "flag", tmp_path / "pids"
    a = rec.tagged("a", [rec.source("x")])
    slow = rec.shell(SLOW_WHEN_FLAGGED, [a], "slow.txt", args=[flag, pidfile])
    flag.write_text("up")
    cancel = threading.Event()
    done: dict = {}
    worker = threading.Thread(target=lambda: done.update(report=rerun_artifact(slow, registry=reg, cancel=cancel)))
    worker.start()
    deadline = time.monotonic() + 30
    while not pidfile.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert pidfile.exists(), "the slow step did not start"
    pids = [int(p) for p in pidfile.read_text().split()]
    leftovers.extend(pids)
    assert all(alive(p) for p in pids)
    t0 = time.monotonic()
    cancel.set()
    worker.join(timeout=20)
    assert not worker.is_alive(), "the run did not end after Cancel"
    assert time.monotonic() - t0 < 10, "the running step was not stopped"
    report = done["report"]
    assert report.status is Status.INTERRUPTED
    assert [r.step_id for r in reg.results(report.run_id)] == [report.manifest["steps"][0]["step_id"]]
    gone_by = time.monotonic() + 5
    while any(alive(p) for p in pids) and time.monotonic() < gone_by:
        time.sleep(0.02)
    assert not any(alive(p) for p in pids), "the step's process group outlived Cancel"

    flag.unlink()
    again = rerun_artifact(slow, registry=reg, restart=report.run_id)
    assert again.status is Status.REPRODUCED
    assert [s["outcome"] for s in again.manifest["steps"]] == [str(Outcome.REUSED), "reproduced"]


def test_an_event_never_set_changes_nothing(reg, rec):
    c = rec.tagged("b", [rec.tagged("a", [rec.source("x")])])
    report = rerun_artifact(c, registry=reg, cancel=threading.Event())
    assert report.status is Status.REPRODUCED and report.ok
