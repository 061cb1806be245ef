"""Issue 23: ``verify --repair`` run from several homes at once on a shared store (moto's S3
server): a blob another repair (or a gc) takes away while it is being checked is reported as gone,
never as the store being unavailable, and the rest of the store is still checked."""

from __future__ import annotations

import json

import pytest

from scidex_replay.integrity import verify
from scidex_replay.registry import Registry
from scidex_replay.store.remote import RemoteBlobStore


@pytest.fixture
def shared(home, s3_server, monkeypatch):
    for k, v in s3_server.env(f"s3://{s3_server.bucket()}/blobs").items():
        monkeypatch.setenv(k, v)
    return s3_server


def _corrupt(reg: Registry, digest: str) -> None:
    reg.store.fs.pipe_file(reg.store.key(digest), b"damaged bytes")


def _two_corrupt_artifacts(reg: Registry) -> tuple[str, str]:
    """Two referenced, corrupt blobs, the first sorting before the second (checked first)."""
    digests = sorted(reg.add_artifact(f"bytes {i}\n".encode(), name=f"f{i}.txt").content_hash for i in range(2))
    for digest in digests:
        _corrupt(reg, digest)
    return digests[0], digests[1]


def test_a_blob_deleted_while_its_bytes_are_read_is_reported_missing_and_checking_goes_on(shared, monkeypatch):
    reg = Registry.open()
    raced, later = _two_corrupt_artifacts(reg)
    info = RemoteBlobStore._info

    def info_then_deleted(self, key):  # another repair moves the blob aside between the HEAD and the GET
        found = info(self, key)
        if key == self.key(raced) and found is not None:
            self.fs.rm(key)
        return found

    monkeypatch.setattr(RemoteBlobStore, "_info", info_then_deleted)
    report = verify(reg, repair=True)
    kinds = {p.digest: (p.kind, p.detail) for p in report.problems}
    assert kinds[raced][0] == "missing" and "deleted from the store while verify ran" in kinds[raced][1]
    assert kinds[later][0] == "corrupt", "the rest of the store is still checked"
    assert any(later[:12] in r and "moved corrupt blob" in r for r in report.repaired)


def test_a_corrupt_blob_another_repair_moves_aside_first_is_no_error(shared, monkeypatch, cli):
    reg = Registry.open()
    raced, later = _two_corrupt_artifacts(reg)
    quarantine = RemoteBlobStore.quarantine

    def beaten(self, digest, where):  # the other home's repair got there first
        if digest == raced:
            self.fs.rm(self.key(digest))
        return quarantine(self, digest, where)

    monkeypatch.setattr(RemoteBlobStore, "quarantine", beaten)
    report = verify(reg, repair=True)
    assert [(p.kind, p.digest) for p in report.problems] == [("corrupt", raced), ("corrupt", later)]
    assert any(raced[:12] in r and "moved out of the store meanwhile" in r for r in report.repaired), report.repaired
    assert not reg.store.has(raced) and not reg.store.has(later)
    # and in the command, with nothing raced any more: the two blobs are missing, an ordinary problem (exit 1)
    proc = cli("verify", "--json")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert sorted(p["kind"] for p in json.loads(proc.stdout)["problems"]) == ["missing", "missing"]


def test_an_unreferenced_blob_a_gc_deletes_meanwhile_is_reported_gone_and_verify_passes(shared, monkeypatch):
    reg = Registry.open()
    stray, _ = reg.store.put_bytes(b"referenced by nothing\n")
    verify_blob = RemoteBlobStore.verify

    def deleted_first(self, digest):
        if digest == stray:
            self.fs.rm(self.key(digest))
        return verify_blob(self, digest)

    monkeypatch.setattr(RemoteBlobStore, "verify", deleted_first)
    report = verify(reg)
    assert [(p.kind, p.digest) for p in report.problems] == [("gone", stray)] and report.ok
