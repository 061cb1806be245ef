"""The Dask executor on a shared store (moto's S3 server on 127.0.0.1): steps run on worker
processes started apart, each with its own empty data home; they fetch their inputs and upload
their outputs themselves, and the manifest is the sequential one (durations aside). On the
PostgreSQL backend this is the whole team setup in one test: PostgreSQL + S3 + Dask workers."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

PY = sys.executable
UPPER = "open('a.txt', 'w').write(open('in.txt').read().upper())"
LOWER = "open('b.txt', 'w').write(open('in.txt').read().lower())"
JOIN = "open('j.txt', 'w').write(open('a.txt').read() + open('b.txt').read())"
VOLATILE_STEP_KEYS = {"duration_s"}
VOLATILE_KEYS = {"run_id", "started_at", "completed_at"}


def comparable(manifest: dict) -> dict:
    kept = {k: v for k, v in manifest.items() if k not in VOLATILE_KEYS}
    kept["options"] = {k: v for k, v in manifest["options"].items() if k not in ("executor", "dask_address")}
    kept["steps"] = [{k: v for k, v in s.items() if k not in VOLATILE_STEP_KEYS} for s in manifest["steps"]]
    return kept


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def workers(tmp_path):
    """A scheduler and two worker processes, each worker with its own empty data home and no store setting."""
    bin_dir = Path(sys.executable).parent
    address = f"tcp://127.0.0.1:{_port()}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCIDEX_REPLAY_")}
    procs = [subprocess.Popen(
        [str(bin_dir / "dask"), "scheduler", "--host", "127.0.0.1", "--port", address.rsplit(":", 1)[1], "--no-dashboard"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )]
    homes = []
    for i in range(2):
        home = tmp_path / f"worker-home-{i}"
        home.mkdir()
        homes.append(home)
        procs.append(subprocess.Popen(
            [str(bin_dir / "dask"), "worker", address, "--nthreads", "1", "--no-dashboard", "--host", "127.0.0.1",
             "--local-directory", str(tmp_path / f"worker-dir-{i}")],
            env={**env, "SCIDEX_REPLAY_HOME": str(home)}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True,
        ))
    from distributed import Client

    deadline = time.monotonic() + 60
    with Client(address, timeout=30) as client:
        while len(client.scheduler_info()["workers"]) < 2:
            assert time.monotonic() < deadline, "the dask workers did not come up"
            time.sleep(0.2)
    try:
        yield address, homes
    finally:
        for proc in reversed(procs):
            os.killpg(proc.pid, 15)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, 9)


def test_steps_run_on_worker_processes_with_their_own_homes_and_the_manifest_is_the_sequential_one(
    cli, s3_server, tmp_path, monkeypatch, workers
):
    for k, v in s3_server.env(f"s3://{s3_server.bucket()}/team").items():
        monkeypatch.setenv(k, v)
    work = tmp_path / "work"
    work.mkdir()
    (work / "in.txt").write_text("Mixed Case Data\n" * 200)
    for script, out, extra in ((UPPER, "a.txt", ()), (LOWER, "b.txt", ())):
        assert cli("run", "-i", "in.txt", "-o", out, *extra, "--", PY, "-c", script, cwd=work).returncode == 0
    proc = cli("run", "-i", "a.txt", "-i", "b.txt", "-o", "j.txt", "--", PY, "-c", JOIN, cwd=work)
    assert proc.returncode == 0, proc.stderr
    (final,) = proc.stdout.split()

    monkeypatch.setenv("SCIDEX_REPLAY_HOME", str(tmp_path / "home-seq"))
    seq = cli("rerun-artifact", final, "--out", tmp_path / "seq", "--json")
    assert seq.returncode == 0, seq.stderr
    address, homes = workers
    monkeypatch.setenv("SCIDEX_REPLAY_HOME", str(tmp_path / "home-dask"))
    par = cli("rerun-artifact", final, "--executor", "dask", "--dask-address", address, "--out", tmp_path / "par", "--json", timeout=180)
    assert par.returncode == 0, par.stderr
    sequential, on_dask = json.loads(seq.stdout), json.loads(par.stdout)
    assert on_dask["summary"] == {"reproduced": 3}
    assert comparable(on_dask) == comparable(sequential)
    fetched = [list((h / "store-cache").rglob("??/*")) for h in homes]
    assert sum(map(len, fetched)) >= 3, fetched  # the workers fetched the inputs into their own homes' caches
    assert not any((h / "blobs").exists() for h in homes)


def test_a_worker_that_cannot_reach_the_store_is_named_in_one_line_exit_2(cli, s3_server, tmp_path, monkeypatch, workers):
    """The credentials are in this shell's environment only (as AWS_* variables, not in the store's
    options that travel with each task): the workers, started without them, cannot read the store.
    The line must say it happened on a worker, and which, not leave the user looking at a shell
    that has credentials."""
    import _s3

    options = {k: v for k, v in s3_server.options.items() if k not in ("key", "secret")}
    monkeypatch.setenv("SCIDEX_REPLAY_STORE", f"s3://{s3_server.bucket()}/team")
    monkeypatch.setenv("SCIDEX_REPLAY_STORE_OPTIONS", json.dumps(options))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", _s3.KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", _s3.SECRET)
    work = tmp_path / "work"
    work.mkdir()
    (work / "in.txt").write_text("Mixed Case Data\n")
    proc = cli("run", "-i", "in.txt", "-o", "a.txt", "--", PY, "-c", UPPER, cwd=work)
    assert proc.returncode == 0, proc.stderr
    (final,) = proc.stdout.split()
    address, _ = workers
    monkeypatch.setenv("SCIDEX_REPLAY_HOME", str(tmp_path / "home-dask"))
    par = cli("rerun-artifact", final, "--executor", "dask", "--dask-address", address, timeout=180)
    line = par.stderr.strip().splitlines()[-1]
    assert par.returncode == 2 and "Traceback" not in par.stderr, par.stderr
    assert "on the dask worker tcp://127.0.0.1:" in line and "credentials" in line.lower(), line
