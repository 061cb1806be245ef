"""`scidex-replay gc`: unreferenced blobs older than the grace period go, on the local store and a
shared one (moto's S3 server); nothing referenced ever does, not even under concurrent adds."""

from __future__ import annotations

import os
import threading
import time

import pytest

from scidex_replay.gc import collect, parse_grace
from scidex_replay.registry import Registry


@pytest.fixture(params=["local", "s3"])
def store_kind(request, home, monkeypatch) -> str:
    if request.param == "s3":
        server = request.getfixturevalue("s3_server")
        for k, v in server.env(f"s3://{server.bucket()}/blobs").items():
            monkeypatch.setenv(k, v)
    return request.param


def _age(reg: Registry, digest: str, seconds: float) -> None:
    """Make the blob ``seconds`` old (the local file's mtime; on S3, no way but to wait: see callers)."""
    path = reg.store.path(digest) if reg.store.__class__.__name__ == "BlobStore" else None
    if path is not None:
        then = time.time() - seconds
        os.utime(path, (then, then))  # atime too: the local store dates a blob added again by its atime


def test_gc_deletes_only_unreferenced_blobs_past_the_grace_period_and_reports_bytes_freed(store_kind, tmp_path, monkeypatch):
    import scidex_replay.gc as gc

    reg = Registry.open()
    stray, size = reg.store.put_bytes(b"nobody points at these bytes\n")
    _age(reg, stray, 7200)
    if store_kind == "s3":
        time.sleep(2.1)  # no way to date an S3 object back (dated to the second): stray is 2 s older than the rest
    kept = reg.add_artifact(b"referenced bytes\n", name="kept.txt")
    _age(reg, kept.content_hash, 7200)
    young, _ = reg.store.put_bytes(b"just written, not yet referenced\n")
    newest = max(m for _, _, m in reg.store.iter_blobs())
    monkeypatch.setattr(gc.time, "time", lambda: newest + 0.5)  # gc's clock: half a second after the last write
    report = collect(reg, grace_s=1.5, dry_run=True)
    assert report.deleted == ((stray, size),) and report.bytes_freed == size and report.referenced == 1 and report.young == 1
    assert reg.store.has(stray)
    report = collect(reg, grace_s=1.5)
    assert report.deleted == ((stray, size),) and report.bytes_freed == size
    assert not reg.store.has(stray) and reg.store.has(young) and reg.store.verify(kept.content_hash)


def test_the_gc_command_says_what_it_deletes_and_how_many_bytes_it_freed(cli):
    reg = Registry.open()
    stray, size = reg.store.put_bytes(b"nobody points at these bytes\n")
    _age(reg, stray, 7200)
    young, _ = reg.store.put_bytes(b"just written, not yet referenced\n")
    proc = cli("gc", "--dry-run", "--grace", "1h")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["would", "delete", stray, str(size), "bytes"]
    assert "would delete 1 blob(s), 29 bytes to free; kept 0 referenced and 1 younger than 1h" in proc.stderr
    proc = cli("gc", "--grace", "1h")
    assert proc.returncode == 0 and f"deleted 1 blob(s), {size} bytes freed" in proc.stderr, proc.stderr
    assert not reg.store.has(stray) and reg.store.has(young)


def test_gc_never_deletes_a_blob_that_a_concurrent_add_references(home, cli, tmp_path):
    """Adds of old unreferenced bytes (and of new ones) race a gc that runs again and again; each
    add waits a little between storing its bytes and registering them, where a gc would strike."""
    reg = Registry.open()
    files = []
    for i in range(12):
        f = tmp_path / f"f{i}.bin"
        f.write_bytes(os.urandom(2000) + bytes([i]))
        files.append(f)
    for f in files[:6]:  # bytes already in the store, old and referenced by nothing yet
        digest, _ = reg.store.put_file(f)
        _age(reg, digest, 7200)
    stop = threading.Event()
    errors: list[str] = []
    deleted: list[str] = []

    def gc_loop() -> None:
        while not stop.is_set():
            try:
                deleted.extend(d for d, _ in collect(Registry.open(), grace_s=60).deleted)
            except Exception as exc:  # noqa: BLE001
                errors.append(repr(exc))

    adder = Registry.open()
    put_file = adder.store.put_file

    threads = [threading.Thread(target=gc_loop) for _ in range(2)]
    struck: list[str] = []

    def slow_put_file(*args, **kwargs):
        stored = put_file(*args, **kwargs)
        if not threads[0].is_alive():  # from the first add on, gc runs again and again
            for t in threads:
                t.start()
        # the registry is slow to take the artifact: a gc strikes in between, and others run
        struck.extend(d for d, _ in collect(Registry.open(), grace_s=60).deleted)
        time.sleep(0.2)
        return stored

    adder.store.put_file = slow_put_file
    try:
        added = [adder.add_artifact(f).id for f in files]
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert not errors, errors
    reg = Registry.open()
    for art_id in added:
        assert reg.store.verify(reg.get_artifact(art_id).content_hash), art_id
    assert set(struck) <= {reg.get_artifact(a).content_hash for a in added[1:6]} - {reg.get_artifact(added[0]).content_hash}
    assert cli("verify").returncode == 0


@pytest.mark.parametrize("grace", ["-1h", "soon", "12 parsecs", ""])
def test_a_bad_grace_period_is_one_line_exit_2(cli, grace):
    proc = cli("gc", "--grace", grace)
    assert proc.returncode == 2 and "--grace" in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr


def test_parse_grace_reads_units():
    assert [parse_grace(t) for t in ("90", "90s", "2m", "12h", "7d")] == [90, 90, 120, 43200, 604800]


def test_gc_with_no_grace_period_says_so(cli):
    reg = Registry.open()
    kept = reg.add_artifact(b"referenced bytes\n", name="kept.txt")
    proc = cli("gc", "--grace", "0")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.strip() == "deleted 0 blob(s), 0 bytes freed; kept 1 referenced (no grace period)", proc.stderr
    assert reg.store.verify(kept.content_hash)
