"""Run the independent steps of a wave in parallel on a ``dask.distributed`` cluster.

The engine hands ``run_many`` every step of a wave whose producers have all run
(see ``replay/engine.py``). Each step becomes one Dask task, and the worker runs it
exactly like the subprocess executor: a fresh ``python -m
scidex_replay.executors.child`` in deterministic mode, with the same timeout and
memory limit. A task carries only the handler object, the ``Step`` record and
paths. Inputs and outputs stay where the engine put them: in the run's scratch
directory, copied out of the content-addressed store and hash-checked, with the
output hashed back into the store. No data goes through the scheduler, so the
workers must see this machine's file system. A ``LocalCluster`` does. A remote
scheduler's workers need the same paths, for example on a shared mount.

On a shared store (``--store URL``, ``SCIDEX_REPLAY_STORE``) no file system is shared: a
task carries the store's URL and options and its inputs' digests, and the worker fetches
the inputs into a working directory of its own (through the cache of its own data home),
runs the step, uploads its outputs and answers their digests; the caller fetches them
(verified) to where the engine compares them.

By default the executor starts a ``LocalCluster`` of ``os.cpu_count()``
single-threaded workers, listening on 127.0.0.1 only, when the first step is
submitted, and each step's process starts from the caller's environment at
submit time, as under the subprocess executor. The workers are threads of this
process (``processes=False``): each step already runs in an interpreter of its
own, so worker processes would add no isolation. They would add 1-3 s of
start-up per run, and multiprocessing's *spawn* would import the caller's
``__main__`` again. ``processes=True`` starts worker processes instead.

With ``address`` the executor connects to an existing scheduler when it is
created (an unreachable address is ``BadInput``). Steps then start from the
workers' own environment, and only the client is closed at the end. When a
run stops early (an interrupt), queued steps are cancelled and running step
processes are killed, only this executor's. ``close()`` (or leaving a ``with``
block) stops what the executor started; ``rerun_artifact`` calls it when the run
ends.
"""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from distributed import Client, LocalCluster, as_completed

from scidex_replay.errors import BadInput, StoreUnavailable
from scidex_replay.executors.base import Call, OnDone
from scidex_replay.executors.subprocess import SubprocessExecutor
from scidex_replay.handlers.process import limits as resolve_limits
from scidex_replay.handlers.process import run_step_process, terminate
from scidex_replay.handlers.spec import Handler, ReplayedArtifact
from scidex_replay.registry.records import Step

logger = logging.getLogger(__name__)

#: (handler, step, inputs, output): one step ready to run, as the engine hands it over.

# Worker side: the step processes running in this process, by the token of the executor that sent them.
_LIVE: dict[str, set[subprocess.Popen]] = {}
_LIVE_LOCK = threading.Lock()


class _TrackedSubprocess(SubprocessExecutor):
    """The subprocess executor, with each child registered under ``token`` while it runs (see ``_kill_steps``)."""

    def __init__(self, token: str, **options: Any):
        super().__init__(**options)
        self.token = token

    def _spawn(self, argv: list[str], data: bytes, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
        procs: list[subprocess.Popen] = []

        def track(proc: subprocess.Popen) -> None:
            procs.append(proc)
            with _LIVE_LOCK:
                _LIVE.setdefault(self.token, set()).add(proc)

        try:
            return run_step_process(
                argv, input=data, cwd=cwd, env=env, limits=self.limits, cpus=sorted(self.cpus) if self.cpus else None,
                on_start=track,
            )
        finally:
            with _LIVE_LOCK:
                live = _LIVE.get(self.token, set())
                live.difference_update(procs)
                if not live:
                    _LIVE.pop(self.token, None)


def _run_step(
    token: str, options: Mapping[str, Any], env: Mapping[str, str] | None, handler: Handler, step: Step,
    inputs: list[Path], output: Path,
) -> tuple[ReplayedArtifact | Exception, float]:
    """The task a worker runs: one step in a fresh interpreter, as the subprocess executor does.

    Returns the outcome (the step's exception included) and how long the step ran, timed
    here, so that the time a task waited in the scheduler's queue is not counted.
    """
    t0 = time.perf_counter()
    try:
        outcome: ReplayedArtifact | Exception = _TrackedSubprocess(token, env=env, **options).run(handler, step, inputs, output)
    except Exception as exc:
        outcome = exc
    return outcome, time.perf_counter() - t0


def _worker_name() -> str:
    """``tcp://10.0.0.5:40123 (host node-5)``: the worker running this task, for an error."""
    import socket

    from distributed import get_worker

    try:
        address = get_worker().address
    except ValueError:  # not in a worker (a test calling the task itself)
        address = "(none)"
    return f"{address} (host {socket.gethostname()})"


def _rebase(path: Path, old: Path, new: Path) -> Path:
    return new / path.relative_to(old) if path.is_relative_to(old) else new / path.name


def _run_step_remote(
    token: str, options: Mapping[str, Any], env: Mapping[str, str] | None, handler: Handler, step: Step,
    store: Any, inputs: list[tuple[str, Path]], output: Path,
) -> tuple[tuple[str, ...] | Exception, tuple[Path, ...], float]:
    """The task a worker runs on a shared store (``--store URL``), with no file system shared with the
    caller: fetch the inputs by digest into a working directory of the worker's own (the step's
    recorded path when this machine has none there, else a fresh one), run the step there, upload
    its outputs; return their digests and the caller's paths for them. The store's cache is the
    worker's data home's (``SCIDEX_REPLAY_HOME`` of the worker's process)."""
    import shutil
    import tempfile

    from scidex_replay.config import data_home
    from scidex_replay.handlers.spec import workdir_of
    from scidex_replay.store import open_store

    t0 = time.perf_counter()
    where = workdir_of(step, output)
    own = Path(tempfile.mkdtemp(prefix="scidex-worker-")) if where.exists() else where
    paths: tuple[Path, ...] = ()
    try:
        own.mkdir(parents=True, exist_ok=True)
        local = open_store(data_home(), store.url, store.options)
        staged = []
        for digest, path in inputs:
            dest = _rebase(path, where, own)
            dest.parent.mkdir(parents=True, exist_ok=True)
            local.materialize(digest, dest)  # IntegrityError: the store's bytes are not the ones asked for
            staged.append(dest)
        produced = _TrackedSubprocess(token, env=env, **options).run(handler, step, staged, _rebase(output, where, own))
        digests = tuple(local.put_file(p)[0] for p in produced.all_paths)
        paths = tuple(_rebase(p, own, where) for p in produced.all_paths)
        outcome: tuple[str, ...] | Exception = digests
    except StoreUnavailable as exc:  # the worker's own reach of the store (its network, its credentials)
        outcome = StoreUnavailable(f"on the dask worker {_worker_name()}: {exc}")
    except Exception as exc:
        outcome = exc
    finally:
        shutil.rmtree(own, ignore_errors=True)
    return outcome, paths, time.perf_counter() - t0


def _kill_steps(token: str) -> int:
    """Worker side: kill the step processes that the executor with ``token`` started; how many there were."""
    with _LIVE_LOCK:
        procs = list(_LIVE.pop(token, ()))
    for proc in procs:
        terminate(proc)  # the step's process and all it started
    return len(procs)


class DaskExecutor:
    name = "dask"

    def __init__(
        self,
        address: str | None = None,
        n_workers: int | None = None,
        *,
        processes: bool = False,
        timeout_s: float | None = None,
        memory_limit_mb: int | None = None,
        connect_timeout_s: float = 10,
    ):
        """``timeout_s`` and ``memory_limit_mb`` limit each step's process; None takes the limits in
        force when ``run_many`` is called (``handlers.process.limits``)."""
        self.address = address
        self.n_workers = n_workers or os.cpu_count() or 1
        self.processes = processes
        self.timeout_s = timeout_s
        self.memory_limit_mb = memory_limit_mb
        self.step_options = resolve_limits(timeout_s, memory_limit_mb).to_json()
        self.connect_timeout_s = connect_timeout_s
        self.token = uuid.uuid4().hex
        self._cluster: LocalCluster | None = None
        self._client: Client | None = None
        if address:
            self._client = self._connect(address)

    def _connect(self, address: str) -> Client:
        try:
            return Client(address, timeout=self.connect_timeout_s, set_as_default=False)
        except (OSError, asyncio.TimeoutError) as exc:
            raise BadInput(f"cannot reach the dask scheduler at {address}: {exc}") from exc

    @property
    def client(self) -> Client:
        """The client, connecting again after ``close()`` or starting the LocalCluster on first use."""
        if self._client is None and self.address:
            self._client = self._connect(self.address)
        elif self._client is None:
            logger.info("starting a dask LocalCluster of %d workers (processes=%s)", self.n_workers, self.processes)
            self._cluster = LocalCluster(
                n_workers=self.n_workers,
                threads_per_worker=1,
                processes=self.processes,
                protocol="tcp://",
                host="127.0.0.1",
                dashboard_address="127.0.0.1:0",  # its HTTP server (health, metrics) on loopback, any free port
                scheduler_kwargs={"dashboard": False},
                silence_logs=logging.ERROR,
            )
            self._client = Client(self._cluster, set_as_default=False)
        return self._client

    def run(self, handler: Handler, step: Step, inputs: Sequence[Path], output: Path) -> ReplayedArtifact:
        outcomes: list[Any] = []
        self.run_many([(handler, step, inputs, output)], lambda i, outcome, seconds: outcomes.append(outcome))
        if isinstance(outcomes[0], BaseException):
            raise outcomes[0]
        return outcomes[0]

    def run_many(self, calls: Sequence[Call], on_done: OnDone) -> None:
        """Submit every call at once and call ``on_done(index, outcome, seconds)`` in this thread as each finishes.

        The outcome is the handler's ``ReplayedArtifact``, or the exception the
        step raised (a lost worker's error included); ``seconds`` is how long the step
        ran on its worker (for a lost worker: since submission). When this returns early (an
        interrupt, or ``on_done`` raising), the steps still queued are cancelled and
        the step processes still running are killed, as the subprocess executor
        kills its child.
        """
        # Limits in force here (a replay's) do not reach the worker threads: each task carries them.
        self.step_options = resolve_limits(self.timeout_s, self.memory_limit_mb).to_json()
        client = self.client
        # Our own workers are on this machine and were started by us: steps get the caller's environment.
        env = dict(os.environ) if not self.address else None
        store = self._shared_store()
        if store is not None:  # workers fetch and upload through the shared store; only digests travel
            from scidex_replay.store import hash_file

            futures = [
                client.submit(
                    _run_step_remote, self.token, self.step_options, env, h, step, store,
                    [(hash_file(p), Path(p)) for p in inputs], output, pure=False,
                )
                for h, step, inputs, output in calls
            ]
        else:
            futures = [
                client.submit(_run_step, self.token, self.step_options, env, h, step, list(inputs), output, pure=False)
                for h, step, inputs, output in calls
            ]
        index = {future.key: i for i, future in enumerate(futures)}
        submitted = time.perf_counter()
        try:
            for future in as_completed(futures, loop=client.loop):
                try:
                    outcome, seconds = self._received(store, future.result())
                except (Exception, asyncio.CancelledError) as exc:
                    outcome, seconds = exc, time.perf_counter() - submitted
                on_done(index[future.key], outcome, seconds)
        finally:
            pending = [f for f in futures if not f.done()]
            if pending:
                self._stop(client, pending)

    @staticmethod
    def _shared_store() -> Any:
        """The shared store in force here (``SCIDEX_REPLAY_STORE``), or None for the local one."""
        from scidex_replay.config import store_url

        if not store_url():
            return None
        from scidex_replay.config import data_home
        from scidex_replay.store import open_store

        return open_store(data_home())

    @staticmethod
    def _received(store: Any, answer: tuple) -> tuple[Any, float]:
        """A task's answer as the engine wants it: on a shared store, the outputs a worker uploaded
        fetched (verified) to where the engine reads them."""
        if store is None:
            return answer
        outcome, paths, seconds = answer
        if isinstance(outcome, BaseException):
            return outcome, seconds
        for digest, path in zip(outcome, paths):
            path.parent.mkdir(parents=True, exist_ok=True)
            store.materialize(digest, path)
        return ReplayedArtifact(paths[0], paths if len(paths) > 1 else ()), seconds

    def _stop(self, client: Client, pending: list) -> None:
        try:
            client.cancel(pending)
            killed = client.run(_kill_steps, self.token)
            logger.info("stopped %d step(s): %s", len(pending), killed)
        except Exception as exc:  # the cluster may be gone already; nothing more to stop then
            logger.warning("could not stop the running steps: %s", exc)

    def close(self) -> None:
        """Close the client, and the LocalCluster if this executor started it. Safe to call twice."""
        client, cluster = self._client, self._cluster
        self._client = self._cluster = None
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()

    def __enter__(self) -> "DaskExecutor":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
