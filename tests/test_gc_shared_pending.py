"""Issue 23: on a shared store (moto's S3 server), a step kept aside in one data home's
``<home>/pending`` keeps its blobs from the ``gc`` of every other home until ``recover`` records it."""

from __future__ import annotations

import json

import pytest

from scidex_replay import recording
from scidex_replay.errors import RegistryUnavailable, StepNotRecorded
from scidex_replay.registry import Registry


@pytest.fixture
def shared(home, s3_server, monkeypatch):
    for k, v in s3_server.env(f"s3://{s3_server.bucket()}/blobs").items():
        monkeypatch.setenv(k, v)
    return s3_server


def _keep_a_pending_step(tmp_path, monkeypatch) -> list[str]:
    """Record a step from the current home while the registry refuses every write: it is kept in
    ``<home>/pending``; return the digests of the blobs it keeps."""
    import contextlib

    reg = Registry.open()

    @contextlib.contextmanager
    def refused(what):
        raise RegistryUnavailable(f"cannot {what}: database is locked")
        yield

    monkeypatch.setattr(reg, "writing", refused)
    monkeypatch.setattr(recording, "RECORD_RETRY_S", 0.0)
    src = tmp_path / "raw.csv"
    src.write_text("a,b\n1,2\n")
    with pytest.raises(StepNotRecorded):
        with recording.record_step(reg, "python.inline", method="copy", inputs=[src], output="out.txt") as s:
            s.output.write_text("an hour of work\n")
    (kept,) = (reg.home / "pending").glob("*.json")
    data = json.loads(kept.read_text())
    reg.close()
    return [x["blob"] for x in data["sources"] + data["outputs"] + data["code"] if "blob" in x]


def test_gc_from_another_home_keeps_the_blobs_of_a_pending_step_and_recover_then_records_it(shared, home, cli, tmp_path, monkeypatch):
    kept = _keep_a_pending_step(tmp_path, monkeypatch)
    assert len(kept) == 2
    fs = shared.filesystem()
    bucket = Registry.open().store.prefix

    other = tmp_path / "home-b"
    other.mkdir()
    monkeypatch.setenv("SCIDEX_REPLAY_HOME", str(other))
    stray, _ = Registry.open().store.put_bytes(b"bytes nothing points at\n")
    swept = cli("gc", "--grace", "0")
    assert swept.returncode == 0, swept.stderr
    assert swept.stdout.split() == ["deleted", stray, "24", "bytes"], swept.stdout
    assert "deleted 1 blob(s)" in swept.stderr and "kept 2 referenced" in swept.stderr, swept.stderr
    assert len(fs.find(f"{bucket}/pending")) == 1, "the record is filed in the shared store"
    checked = cli("verify", "--json")
    assert checked.returncode == 0, checked.stdout
    problems = json.loads(checked.stdout)["problems"]
    assert problems == [], "the record is no stray blob, its blobs no orphans"

    monkeypatch.setenv("SCIDEX_REPLAY_HOME", str(home))
    recovered = cli("recover")
    assert recovered.returncode == 0, recovered.stderr
    (artifact_id,) = recovered.stdout.split()
    fs.invalidate_cache()
    assert not fs.find(f"{bucket}/pending", withdirs=False) and not Registry.open().store.pending_records(), "recorded: its record is gone from the store"
    reg = Registry.open()
    assert reg.store.path(reg.get_artifact(artifact_id).content_hash).read_text() == "an hour of work\n"

    monkeypatch.setenv("SCIDEX_REPLAY_HOME", str(other))
    swept = cli("gc", "--grace", "0")
    assert swept.returncode == 0 and "deleted 0 blob(s)" in swept.stderr, swept.stderr  # all referenced by the registry now
    assert all(reg.store.verify(d) for d in kept)


def test_gc_in_the_home_of_a_pending_step_keeps_its_blobs(shared, home, cli, tmp_path, monkeypatch):
    kept = _keep_a_pending_step(tmp_path, monkeypatch)
    store = Registry.open().store
    for name, _ in store.pending_records():
        store.remove_pending(name)  # only <home>/pending says what the step keeps now
    swept = cli("gc", "--grace", "0")
    assert swept.returncode == 0 and "deleted 0 blob(s)" in swept.stderr, swept.stderr
    assert all(store.verify(d) for d in kept)
    assert cli("recover").returncode == 0


def test_a_record_the_shared_store_refuses_still_keeps_the_step_and_says_where(shared, home, tmp_path, monkeypatch):
    from scidex_replay.errors import StoreUnavailable
    from scidex_replay.store.remote import RemoteBlobStore

    def refused(self, name, data):
        raise StoreUnavailable(f"cannot upload to the store {self.url}: connection refused")

    monkeypatch.setattr(RemoteBlobStore, "put_pending", refused)
    with pytest.raises(StoreUnavailable) as caught:
        _keep_a_pending_step(tmp_path, monkeypatch)
    (kept,) = (home / "pending").glob("*.json")
    assert str(kept) in str(caught.value) and "`scidex-replay recover`" in str(caught.value) and "connection refused" in str(caught.value)
