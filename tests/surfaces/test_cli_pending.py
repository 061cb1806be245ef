"""A step that ran but that the registry refused to record (locked past its busy timeout) is
kept aside, never thrown away, and `recover` records it (issue 19)."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

CLI = str(Path(sys.executable).with_name("scidex-replay"))


@pytest.mark.sqlite_only(reason="holds SQLite's database lock; PostgreSQL locks rows, not the database")
def test_a_step_the_locked_registry_refuses_is_kept_and_recover_records_it(registry, home, cli, tmp_path, monkeypatch):
    monkeypatch.setenv("SCIDEX_REPLAY_BUSY_TIMEOUT_S", "0.2")
    work, ctl = tmp_path / "work", tmp_path / "ctl"
    work.mkdir()
    ctl.mkdir()
    script = f'touch {ctl}/started; while [ ! -e {ctl}/release ]; do sleep 0.05; done; echo "an hour of work" > out.txt'
    proc = subprocess.Popen(
        [CLI, "run", "-o", "out.txt", "--", "sh", "-c", script], cwd=work, env=dict(os.environ),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    deadline = time.monotonic() + 60
    while not (ctl / "started").exists():
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.05)
    lock = sqlite3.connect(registry.engine.url.database, isolation_level=None)
    lock.execute("BEGIN EXCLUSIVE")
    try:
        (ctl / "release").touch()
        out, err = proc.communicate(timeout=120)
    finally:
        lock.execute("ROLLBACK")
        lock.close()
    assert proc.returncode == 1 and out == "", err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert "`scidex-replay recover`" in err and "out.txt" in err
    kept = list((home / "pending").glob("*.json"))
    assert len(kept) == 1
    verified = cli("verify", "--json")
    assert verified.returncode == 0
    assert not [p for p in json.loads(verified.stdout)["problems"] if p["kind"] == "orphan"], "kept blobs are referenced"

    recovered = cli("recover")
    assert recovered.returncode == 0, recovered.stderr
    (artifact_id,) = recovered.stdout.split()
    assert registry.store.path(registry.get_artifact(artifact_id).content_hash).read_text() == "an hour of work\n"
    assert not list((home / "pending").glob("*.json"))
    replayed = cli("rerun-artifact", artifact_id, "--json")
    assert replayed.returncode == 0, replayed.stderr
    assert json.loads(replayed.stdout)["status"] == "reproduced"
    assert cli("recover").stderr.strip() == "no step is waiting to be recorded"


def test_recover_refuses_a_step_kept_for_another_registry(registry, home, cli):
    (home / "pending").mkdir()
    (home / "pending" / "x.json").write_text(json.dumps({
        "schema": "scidex-replay/pending-step/v1", "registry": "sqlite:////elsewhere/registry.db",
        "sources": [], "outputs": [], "code": [],
    }))
    refused = cli("recover")
    assert refused.returncode == 2
    assert "was kept for the registry sqlite:////elsewhere/registry.db" in refused.stderr and "Traceback" not in refused.stderr
    assert (home / "pending" / "x.json").exists(), "nothing is lost"
