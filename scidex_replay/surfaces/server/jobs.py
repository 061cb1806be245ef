"""Background replay jobs of the workbench: each one a child process of its own session
(``job.py``) whose JSON lines are read asynchronously, so the server stays responsive and a
job outlives the browser tab that started it.

At most ``limit`` jobs run at once; more wait ``queued``, first come first served. Cancel sends
SIGINT to the job's process (the engine ends the run ``interrupted``, restartable), then
SIGTERM and SIGKILL to its process group after ``grace_s`` seconds each. Holds no replay logic.
"""

from __future__ import annotations

import asyncio
import collections
import json
import logging
import os
import secrets
import signal
import sys
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

QUEUED, RUNNING, DONE, FAILED, CANCELLED = "queued", "running", "done", "failed", "cancelled"
FINISHED = (DONE, FAILED, CANCELLED)


def _last_line(file: Any) -> str:
    """The last non-blank line of the (binary) file a process wrote, at most 300 characters."""
    file.seek(0, os.SEEK_END)
    file.seek(max(0, file.tell() - 4096))
    lines = [line.strip() for line in file.read().decode("utf-8", "replace").splitlines() if line.strip()]
    return lines[-1][:300] if lines else ""


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()


@dataclass
class Job:
    """One replay asked of the server; ``to_json`` is the API's JobJSON."""

    job_id: str
    artifact_id: str
    options: dict[str, Any]
    status: str = QUEUED
    created_at: str = field(default_factory=_now)
    finished_at: str | None = None
    run_id: str | None = None
    error: str | None = None
    manifest: dict[str, Any] | None = None
    plan: list[str] = field(default_factory=list)  # step ids in execution order, from the start event
    steps: list[dict[str, Any]] = field(default_factory=list)  # [{"step_id", "position", "outcome"}] as they end
    cancelling: bool = False
    ending: str | None = None  # how its last line says it ended; the status once its process is gone
    process: asyncio.subprocess.Process | None = None
    ended: asyncio.Event = field(default_factory=asyncio.Event)

    def to_json(self) -> dict[str, Any]:
        done = {s["step_id"] for s in self.steps}
        current = next((s for s in self.plan if s not in done), None) if self.status == RUNNING else None
        return {
            "job_id": self.job_id, "artifact_id": self.artifact_id, "options": self.options, "status": self.status,
            "created_at": self.created_at, "finished_at": self.finished_at, "run_id": self.run_id,
            "progress": {
                "done": len(self.steps), "total": len(self.plan) if self.plan else None,
                "current": current, "steps": list(self.steps),
            },
            "error": self.error, "manifest": self.manifest,
        }

    def apply(self, event: dict[str, Any]) -> None:
        """Take in one line of the job process (``job.py`` lists them)."""
        kind = event.get("event")
        if kind == "start":
            self.run_id = event["run_id"]
            self.plan = [s["step_id"] for s in event["steps"]]
        elif kind == "step":
            self.steps.append({"step_id": event["step_id"], "position": event["position"], "outcome": event["outcome"]})
        elif kind in ("end", "interrupted"):
            self.run_id = event.get("run_id") or self.run_id
            self.manifest = event.get("manifest")
            self.ending = DONE if kind == "end" else CANCELLED
        elif kind == "error":
            self.error = event.get("message") or "the replay failed"
            self.ending = FAILED


class Jobs:
    """The server's jobs, newest last. ``env``: the environment of every job process (the
    registry's ``SCIDEX_REPLAY_DB``/``SCIDEX_REPLAY_HOME``)."""

    def __init__(self, *, limit: int, env: dict[str, str], grace_s: float, log: logging.Logger | None = None):
        self.limit = limit
        self.env = env
        self.grace_s = grace_s
        self.log = log or logging.getLogger(__name__)
        self.jobs: dict[str, Job] = {}
        self._queue: collections.deque[Job] = collections.deque()
        self._running = 0
        self._tasks: set[asyncio.Task[None]] = set()

    def submit(self, artifact_id: str, options: dict[str, Any]) -> Job:
        """Queue a replay of ``artifact_id`` with ``options`` (already checked by ``json_options``);
        it starts now when fewer than ``limit`` jobs run."""
        job = Job(job_id=f"j_{secrets.token_hex(6)}", artifact_id=artifact_id, options=options)
        self.jobs[job.job_id] = job
        self._queue.append(job)
        self._pump()
        return job

    def get(self, job_id: str) -> Job | None:
        return self.jobs.get(job_id)

    def newest_first(self) -> list[Job]:
        return list(reversed(self.jobs.values()))

    def _pump(self) -> None:
        while self._queue and self._running < self.limit:
            job = self._queue.popleft()
            self._running += 1
            job.status = RUNNING
            task = asyncio.get_running_loop().create_task(self._run(job))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _run(self, job: Job) -> None:
        # stderr goes to an unlinked file, not a pipe: a job whose server was killed can still write it
        stderr = tempfile.TemporaryFile()
        try:
            job.process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "scidex_replay.surfaces.server.job", job.artifact_id, json.dumps(job.options),
                stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=stderr,
                env=self.env, start_new_session=True, limit=2**26,  # a finished job's line holds its manifest
            )
            if job.cancelling:  # cancelled while it was being started
                self._signal(job, signal.SIGINT)
            await self._read_events(job)
            code = await job.process.wait()
            if job.ending is None:  # it ended without saying how: killed, or a crash before its last line
                if job.cancelling:
                    job.ending = CANCELLED
                else:
                    tail = _last_line(stderr)
                    job.ending = FAILED
                    job.error = f"the replay process ended with exit status {code}" + (f": {tail.strip()}" if tail else "")
        except Exception as exc:  # the process could not be started (e.g. no memory to fork)
            self.log.exception("scidex-replay job %s", job.job_id)
            job.ending, job.error = FAILED, " ".join(f"{type(exc).__name__}: {exc}".split())
        finally:
            stderr.close()
            job.status, job.finished_at = job.ending or FAILED, _now()
            self._running -= 1
            job.ended.set()
            self._pump()

    async def _read_events(self, job: Job) -> None:
        assert job.process is not None and job.process.stdout is not None
        async for line in job.process.stdout:
            try:
                event = json.loads(line)
            except ValueError:
                self.log.warning("scidex-replay job %s: not an event: %r", job.job_id, line[:200])
                continue
            job.apply(event)

    def cancel(self, job: Job) -> None:
        """Cancel ``job``: a queued one at once; a running one by SIGINT, then SIGTERM and SIGKILL of its
        process group ``grace_s`` seconds apart while it does not end. Nothing for a finished job."""
        if job.status in FINISHED or job.cancelling:
            return
        job.cancelling = True
        if job in self._queue:
            self._queue.remove(job)
            job.status, job.finished_at = CANCELLED, _now()
            job.ended.set()
            return
        self._signal(job, signal.SIGINT)
        task = asyncio.get_running_loop().create_task(self._escalate(job))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _escalate(self, job: Job) -> None:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                await asyncio.wait_for(job.ended.wait(), self.grace_s)
                return
            except asyncio.TimeoutError:
                self._signal(job, sig, group=True)

    @staticmethod
    def _signal(job: Job, sig: int, *, group: bool = False) -> None:
        if job.process is None or job.process.returncode is not None:
            return
        try:
            if group:
                os.killpg(job.process.pid, sig)
            else:
                job.process.send_signal(sig)
        except (ProcessLookupError, PermissionError):
            pass

    async def shutdown(self) -> None:
        """Cancel every job and wait for them to end (the server is stopping): no run is left ``running``."""
        for job in list(self.jobs.values()):
            self.cancel(job)
        pending = [job.ended.wait() for job in self.jobs.values() if not job.ended.is_set()]
        if pending:
            await asyncio.wait_for(asyncio.gather(*pending), timeout=3 * self.grace_s + 5)
