"""The shared blob store (``--store s3://...``) against a real S3-compatible server on 127.0.0.1
(moto's, started by the ``s3_server`` fixture), through s3fs as users run it against AWS or MinIO."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from scidex_replay.registry import Registry

PY = sys.executable
SCRIPT = "import sys; data = open('in.txt').read(); open('out.txt', 'w').write(data.upper())"
SECOND = "import sys; data = open('out.txt').read(); open('final.txt', 'w').write(data[::-1])"


@pytest.fixture
def bucket(s3_server) -> str:
    return s3_server.bucket()


@pytest.fixture
def shared(s3_server, bucket, home, monkeypatch) -> str:
    """Home A on the shared store: the store's env set for this test and its subprocesses."""
    url = f"s3://{bucket}/blobs"
    for k, v in s3_server.env(url).items():
        monkeypatch.setenv(k, v)
    return url


def ids_of(proc: subprocess.CompletedProcess) -> list[str]:
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.split()


def record_chain(cli, where: Path) -> str:
    """Two steps (upper-case, reverse) recorded from ``where``; the final artifact's id."""
    where.mkdir(exist_ok=True)
    (where / "in.txt").write_text("shared bytes\n" * 1000)
    ids_of(cli("run", "-i", "in.txt", "-o", "out.txt", "--step", "upper", "--", PY, "-c", SCRIPT, cwd=where))
    (final,) = ids_of(cli("run", "-i", "out.txt", "-o", "final.txt", "--step", "reverse", "--", PY, "-c", SECOND, cwd=where))
    return final


def home_b(tmp_path: Path, monkeypatch) -> Path:
    """Another machine: a new, empty data home on the same registry and the same store."""
    other = tmp_path / "home-b"
    other.mkdir()
    monkeypatch.setenv("SCIDEX_REPLAY_HOME", str(other))
    return other


def manifest(out: Path) -> dict:
    return json.loads((out / "manifest.json").read_text())


def test_a_chain_recorded_on_one_home_reproduces_from_another_with_an_empty_data_home(cli, shared, s3_server, bucket, tmp_path, monkeypatch):
    final = record_chain(cli, tmp_path / "work")
    assert not any((tmp_path / "home" / "blobs").rglob("*")) if (tmp_path / "home" / "blobs").exists() else True
    keys = s3_server.filesystem().find(f"{bucket}/blobs")
    assert len(keys) == 3  # in, out, final: every blob in the bucket, none of them partial temp objects
    other = home_b(tmp_path, monkeypatch)
    proc = cli("rerun-artifact", final, "--out", tmp_path / "replay")
    assert proc.returncode == 0, proc.stderr
    assert [s["outcome"] for s in manifest(tmp_path / "replay")["steps"]] == ["reproduced", "reproduced"]
    assert not (other / "blobs").exists()  # home B never had a local store: its bytes came through the cache
    assert len(list((other / "store-cache").rglob("??/*"))) >= 2


def test_a_corrupted_object_is_reported_by_the_step_never_reproduced(cli, shared, s3_server, bucket, tmp_path, monkeypatch):
    final = record_chain(cli, tmp_path / "work")
    reg = Registry.open()
    (upper,) = [s for s in reg.chain(final) if s.name == "upper"]
    first_input = reg.get_artifact(upper.source_artifact_ids[0]).content_hash
    fs = s3_server.filesystem()
    key = f"{bucket}/blobs/{first_input[:2]}/{first_input[2:]}"
    fs.pipe_file(key, b"tampered " + fs.cat_file(key)[9:])  # same size, other bytes
    home_b(tmp_path, monkeypatch)
    proc = cli("rerun-artifact", final, "--out", tmp_path / "replay")
    steps = manifest(tmp_path / "replay")["steps"]
    by_name = {s["step_name"]: s for s in steps}
    assert by_name["upper"]["outcome"] in ("input-differs", "failed"), by_name["upper"]
    assert by_name["reverse"]["outcome"] != "reproduced"
    assert proc.returncode != 0


def test_the_server_stopped_mid_replay_is_a_clear_failure_and_the_run_restarts_once_it_is_back(cli, shared, s3_server, bucket, tmp_path, monkeypatch):
    final = record_chain(cli, tmp_path / "work")
    other = home_b(tmp_path, monkeypatch)
    s3_server.snapshot()  # what the server will hold when it is back
    stopped = threading.Event()

    def stop_once_the_replay_has_fetched_something() -> None:  # mid-replay: its first input came, the rest has not
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not list((other / "store-cache").glob("??/*")):
            time.sleep(0.01)
        s3_server.stop(keep=False)  # at once, as a crash would
        stopped.set()

    watcher = threading.Thread(target=stop_once_the_replay_has_fetched_something)
    watcher.start()
    try:
        proc = cli("rerun-artifact", final, "--out", tmp_path / "down")
    finally:
        watcher.join()
        s3_server.start()
    assert stopped.is_set()
    # the store, not the analysis: one line, exit 2 (not 1, "does not reproduce"), the run interrupted
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert f"s3://{bucket}/blobs" in proc.stderr and "connect" in proc.stderr.lower(), proc.stderr
    runs = Registry.open().runs(final)
    assert runs and runs[-1].status == "interrupted", (runs[-1].status, proc.stderr)
    proc = cli("rerun-artifact", final, "--restart", runs[-1].run_id, "--out", tmp_path / "back")
    assert proc.returncode == 0, proc.stderr
    assert [s["outcome"] for s in manifest(tmp_path / "back")["steps"]] == ["reproduced", "reproduced"]


def test_verify_checks_the_remote_store_and_repair_moves_a_corrupt_object_out(cli, shared, s3_server, bucket, tmp_path):
    final = record_chain(cli, tmp_path / "work")
    proc = cli("verify", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["checked"] == 3
    reg = Registry.open()
    digest = reg.get_artifact(final).content_hash
    fs = s3_server.filesystem()
    key = f"{bucket}/blobs/{digest[:2]}/{digest[2:]}"
    fs.pipe_file(key, b"X" + fs.cat_file(key)[1:])
    proc = cli("verify", "--json")
    report = json.loads(proc.stdout)
    assert proc.returncode == 1 and [p["kind"] for p in report["problems"]] == ["corrupt"]
    import shutil

    shutil.rmtree(tmp_path / "home" / "store-cache", ignore_errors=True)  # no sound copy to put back (see below)
    proc = cli("verify", "--repair")
    assert not fs.exists(key), proc.stderr
    assert (tmp_path / "home" / "quarantine" / digest).is_file()
    proc = cli("verify", "--json")
    assert [p["kind"] for p in json.loads(proc.stdout)["problems"]] == ["missing"]


def test_cat_from_an_empty_home_downloads_the_object_once_and_then_reads_the_cache(cli, shared, s3_server, bucket, tmp_path, monkeypatch):
    final = record_chain(cli, tmp_path / "work")
    digest = Registry.open().get_artifact(final).content_hash
    key = f"{bucket}/blobs/{digest[:2]}/{digest[2:]}"
    home_b(tmp_path, monkeypatch)
    before = s3_server.requests("GET", key)
    proc = cli("cat", final)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == (tmp_path / "work" / "final.txt").read_text()
    assert s3_server.requests("GET", key) == before + 1
    assert cli("cat", final).stdout == proc.stdout
    assert s3_server.requests("GET", key) == before + 1  # verified from the cache, no download


def test_cat_of_a_corrupted_object_is_one_line_and_writes_nothing(cli, shared, s3_server, bucket, tmp_path, monkeypatch):
    final = record_chain(cli, tmp_path / "work")
    digest = Registry.open().get_artifact(final).content_hash
    fs = s3_server.filesystem()
    key = f"{bucket}/blobs/{digest[:2]}/{digest[2:]}"
    fs.pipe_file(key, b"X" + fs.cat_file(key)[1:])
    home_b(tmp_path, monkeypatch)
    proc = cli("cat", final)
    assert proc.returncode != 0 and proc.stdout == ""
    assert f"the stored bytes of {final} are missing or do not match" in proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr


def test_a_step_that_writes_the_copy_it_was_given_leaves_the_cache_as_it_was(s3_server, bucket, tmp_path):
    from scidex_replay.store.remote import RemoteBlobStore

    writer = RemoteBlobStore(f"s3://{bucket}/own", s3_server.options, tmp_path / "w")
    digest = writer.put_bytes(b"bytes the step may overwrite\n" * 1000)[0]
    cold = RemoteBlobStore(f"s3://{bucket}/own", s3_server.options, tmp_path / "r")
    assert cold.copy_out(digest, tmp_path / "given") == digest  # a download straight to the step's copy
    with open(tmp_path / "given", "r+b") as fh:
        fh.write(b"OVERWRITTEN")
    assert cold.cache.verify(digest)
    assert cold.copy_out(digest, tmp_path / "again") == digest


def test_an_upload_of_bytes_already_stored_is_skipped(s3_server, bucket, tmp_path):
    from scidex_replay.store.remote import RemoteBlobStore

    store = RemoteBlobStore(f"s3://{bucket}/skip", s3_server.options, tmp_path / "cache")
    src = tmp_path / "f"
    src.write_bytes(os.urandom(1 << 20))
    digest, _ = store.put_file(src)
    before = store.fs.info(store.key(digest))["LastModified"]
    again = RemoteBlobStore(f"s3://{bucket}/skip", s3_server.options, tmp_path / "cache2")
    assert again.put_file(src)[0] == digest
    assert store.fs.info(store.key(digest))["LastModified"] == before
    assert store.fs.find(f"{bucket}/skip") == [store.key(digest)]  # no temp object left behind


def test_the_read_cache_is_bounded_and_drops_the_least_recently_used(s3_server, bucket, tmp_path):
    from scidex_replay.store.remote import RemoteBlobStore

    writer = RemoteBlobStore(f"s3://{bucket}/lru", s3_server.options, tmp_path / "w")
    digests = [writer.put_bytes(os.urandom(400_000))[0] for _ in range(3)]
    reader = RemoteBlobStore(f"s3://{bucket}/lru", s3_server.options, tmp_path / "r", cache_bytes=1_000_000)
    for d in digests[:2]:
        assert reader.copy_out(d, tmp_path / "x") == d
    os.utime(reader.cache.path(digests[0]), (1, 1))
    reader.copy_out(digests[1], tmp_path / "x")  # a hit: no download, used again
    assert reader.copy_out(digests[2], tmp_path / "x") == digests[2]
    assert set(reader.cache.iter_digests()) == {digests[1], digests[2]}


def test_the_cache_is_listed_once_while_it_stays_under_its_bound_not_at_every_blob(s3_server, bucket, tmp_path, monkeypatch):
    from scidex_replay.store.remote import RemoteBlobStore

    writer = RemoteBlobStore(f"s3://{bucket}/count", s3_server.options, tmp_path / "w")
    digests = [writer.put_bytes(os.urandom(100_000))[0] for _ in range(6)]
    reader = RemoteBlobStore(f"s3://{bucket}/count", s3_server.options, tmp_path / "r", cache_bytes=450_000)
    listed = []
    real = reader.cache.iter_digests
    monkeypatch.setattr(reader.cache, "iter_digests", lambda: listed.append(1) or real())
    for d in digests[:4]:
        assert reader.copy_out(d, tmp_path / "x") == d
    assert len(listed) == 1  # 400 kB filed, under the bound: read once, at the first blob
    for d in digests[4:]:
        assert reader.copy_out(d, tmp_path / "x") == d
    assert len(listed) == 3  # past the bound at each of the last two: read, least recently used dropped
    assert sum(reader.cache.path(d).stat().st_size for d in reader.cache.iter_digests()) <= 450_000
    assert set(digests[4:]) <= set(reader.cache.iter_digests())


def test_a_damaged_cached_copy_is_fetched_again(s3_server, bucket, tmp_path):
    from scidex_replay.store.remote import RemoteBlobStore

    store = RemoteBlobStore(f"s3://{bucket}/heal", s3_server.options, tmp_path / "c")
    digest = store.put_bytes(b"the right bytes")[0]
    assert store.copy_out(digest, tmp_path / "a") == digest
    cached = store.cache.path(digest)
    os.chmod(cached, 0o644)
    cached.write_bytes(b"the wrong bytes")
    assert store.copy_out(digest, tmp_path / "b") == digest
    assert (tmp_path / "b").read_bytes() == b"the right bytes"


@pytest.mark.parametrize(
    "env, words",
    [
        ({"SCIDEX_REPLAY_STORE": "nosuchproto://bucket/x"}, "unknown protocol"),
        ({"SCIDEX_REPLAY_STORE": "s3://b/x", "SCIDEX_REPLAY_STORE_OPTIONS": "{not json"}, "not valid JSON"),
        ({"SCIDEX_REPLAY_STORE": "s3://b/x", "SCIDEX_REPLAY_STORE_OPTIONS": "[1]"}, "JSON object"),
        ({"SCIDEX_REPLAY_STORE": "s3://b/x", "SCIDEX_REPLAY_STORE_CACHE_MB": "inf"}, "not a finite size in MB"),
        ({"SCIDEX_REPLAY_STORE": "s3://b/x", "SCIDEX_REPLAY_STORE_CACHE_MB": "1e400"}, "not a finite size in MB"),
    ],
    ids=["unknown-protocol", "malformed-options", "options-not-an-object", "cache-mb-inf", "cache-mb-1e400"],
)
def test_a_bad_store_setting_is_one_line_exit_2(cli, tmp_path, monkeypatch, env, words):
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    (tmp_path / "f.txt").write_text("x")
    proc = cli("add", tmp_path / "f.txt")
    assert proc.returncode == 2 and words in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr


@pytest.mark.parametrize("where", ["before", "after"], ids=["before-the-command", "after-the-command"])
def test_the_store_option_of_the_cli_is_the_variable(cli, s3_server, tmp_path, monkeypatch, where):
    monkeypatch.setenv("SCIDEX_REPLAY_STORE_OPTIONS", s3_server.env("s3://x")["SCIDEX_REPLAY_STORE_OPTIONS"])
    (tmp_path / "f.txt").write_text("x")
    store = ("--store", "s3://no-such-bucket-here/x")
    proc = cli(*store, "add", tmp_path / "f.txt") if where == "before" else cli("add", tmp_path / "f.txt", *store)
    assert proc.returncode == 2 and "no such bucket" in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr


def test_an_unreachable_endpoint_is_one_line_exit_2(cli, s3_server, tmp_path, monkeypatch):
    from _s3 import _free_port

    options = {**s3_server.options, "endpoint_url": f"http://127.0.0.1:{_free_port()}"}
    monkeypatch.setenv("SCIDEX_REPLAY_STORE", "s3://b/x")
    monkeypatch.setenv("SCIDEX_REPLAY_STORE_OPTIONS", json.dumps(options))
    (tmp_path / "f.txt").write_text("x")
    proc = cli("add", tmp_path / "f.txt")
    assert proc.returncode == 2 and "s3://b/x" in proc.stderr and "connect" in proc.stderr.lower()
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr


def test_refused_credentials_are_one_line_exit_2(cli, tmp_path, monkeypatch):
    from _s3 import S3Server

    server = S3Server(tmp_path)
    server.start(auth=True)  # IAM checks on, and no user: every key is refused
    try:
        monkeypatch.setenv("SCIDEX_REPLAY_STORE", "s3://b/x")
        monkeypatch.setenv("SCIDEX_REPLAY_STORE_OPTIONS", json.dumps(server.options))
        (tmp_path / "f.txt").write_text("x")
        proc = cli("add", tmp_path / "f.txt")
    finally:
        server.stop(keep=False)
    assert proc.returncode == 2 and "refused" in proc.stderr and "credentials" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr


def test_a_blob_downloaded_in_parallel_parts_is_hashed_and_cached_right(s3_server, bucket, tmp_path):
    """s3fs downloads an object past its block size in parts written out of order."""
    from scidex_replay.store.remote import RemoteBlobStore

    options = {**s3_server.options, "default_block_size": 5 << 20}
    store = RemoteBlobStore(f"s3://{bucket}/parts", options, tmp_path / "w")
    src = tmp_path / "big"
    src.write_bytes(os.urandom(12 << 20))
    digest, _ = store.put_file(src)
    cold = RemoteBlobStore(f"s3://{bucket}/parts", options, tmp_path / "r")
    assert cold.copy_out(digest, tmp_path / "copy") == digest
    assert (tmp_path / "copy").read_bytes() == src.read_bytes()
    assert cold.cache.verify(digest)


def test_a_file_url_store_moves_a_checked_temp_file_into_place(tmp_path):
    """A plain filesystem (``file://``) publishes a file as it is written: uploads go through ``tmp/``."""
    from scidex_replay.store.remote import RemoteBlobStore

    store = RemoteBlobStore(f"file://{tmp_path / 'shared'}", {}, tmp_path / "cache")
    src = tmp_path / "f"
    src.write_bytes(os.urandom(3 << 20))
    digest, size = store.put_file(src)
    assert (tmp_path / "shared" / digest[:2] / digest[2:]).read_bytes() == src.read_bytes()
    assert list((tmp_path / "shared" / "tmp").iterdir()) == []
    assert [d for d, _, _ in store.iter_blobs()] == [digest] and store.verify(digest)
    other = RemoteBlobStore(f"file://{tmp_path / 'shared'}", {}, tmp_path / "cache2")
    assert other.copy_out(digest, tmp_path / "out") == digest
    assert other.put_bytes(b"abc")[0] in {d for d, _, _ in other.iter_blobs()}


def test_repair_keeps_a_sound_cached_copy_and_uploads_it_again(cli, shared, s3_server, bucket, tmp_path):
    """verify --repair moves the corrupt object aside; the home's cached copy, which hashes right,
    is kept and put back in the bucket: the chain still replays, from this home and from the bucket."""
    final = record_chain(cli, tmp_path / "work")
    want = (tmp_path / "work" / "final.txt").read_text()
    assert cli("cat", final).stdout == want  # now in this home's cache
    digest = Registry.open().get_artifact(final).content_hash
    fs = s3_server.filesystem()
    key = f"{bucket}/blobs/{digest[:2]}/{digest[2:]}"
    good = fs.cat_file(key)
    fs.pipe_file(key, b"X" + good[1:])
    proc = cli("verify", "--repair")
    assert "uploaded blob" in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    assert (tmp_path / "home" / "quarantine" / digest).read_bytes() == b"X" + good[1:]
    assert fs.cat_file(key) == good  # the bucket is whole again
    proc = cli("cat", final)
    assert proc.returncode == 0 and proc.stdout == want, proc.stderr
    proc = cli("verify", "--json")
    assert proc.returncode == 0 and json.loads(proc.stdout)["problems"] == [], proc.stdout


@pytest.mark.parametrize(
    "how, url, words",
    [
        ("env", "s3://", "needs a bucket"),
        ("option", "s3://", "needs a bucket"),
        ("env", "s3:///blobs", "needs a bucket"),
        ("env", "gs://", "needs a bucket"),
        ("env", "file://", "absolute path"),
        ("option", "file://rel/blobs", "absolute path"),
        ("env", "s3:/team/blobs", "two slashes"),
        ("env", "relative/dir", "absolute path"),
        ("env", "memory://x/blobs", "does not keep its blobs"),
    ],
    ids=["empty-bucket-env", "empty-bucket-option", "empty-bucket-slash", "gs-empty", "file-empty", "file-relative",
         "one-slash", "plain-relative", "memory"],
)
def test_a_malformed_store_url_is_one_line_exit_2_and_creates_nothing(cli, tmp_path, monkeypatch, how, url, words):
    """A store URL that names no lasting, shared place is refused before anything is stored
    (it used to file blobs in the current folder, or in memory, with exit 0)."""
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    (tmp_path / "f.txt").write_text("x")
    if how == "env":
        monkeypatch.setenv("SCIDEX_REPLAY_STORE", url)
        proc = cli("add", tmp_path / "f.txt", cwd=cwd)
    else:
        monkeypatch.delenv("SCIDEX_REPLAY_STORE", raising=False)
        proc = cli("--store", url, "add", tmp_path / "f.txt", cwd=cwd)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert words in proc.stderr and url in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert list(cwd.iterdir()) == []


def test_store_errors_read_naturally_and_a_folder_store_names_its_permissions(tmp_path, monkeypatch):
    from scidex_replay.errors import StoreUnavailable
    from scidex_replay.store.remote import RemoteBlobStore

    store = RemoteBlobStore(f"file://{tmp_path / 'shared'}", {}, tmp_path / "cache")

    def refused(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(store.fs, "put_file", refused)
    monkeypatch.setattr(store.fs, "get_file", refused)
    (tmp_path / "f").write_bytes(b"abc")
    with pytest.raises(StoreUnavailable) as err:
        store.put_file(tmp_path / "f")
    assert f"cannot upload to the store file://{tmp_path / 'shared'}: access refused" in str(err.value)
    assert "check the folder's permissions" in str(err.value) and "credentials" not in str(err.value)
    (tmp_path / "shared" / "ab").mkdir(parents=True)
    digest = "ab" + "0" * 62
    (tmp_path / "shared" / "ab" / digest[2:]).write_bytes(b"x")
    with pytest.raises(StoreUnavailable, match="cannot download from the store"):
        store.copy_out(digest, tmp_path / "out")


@pytest.mark.parametrize("evictions", [1, 99], ids=["evicted-once", "evicted-at-every-try"])
def test_a_cached_copy_evicted_between_path_and_open_is_fetched_again(s3_server, bucket, tmp_path, monkeypatch, evictions):
    """Another process sharing the cache evicts the blob between ``path()`` and the open."""
    from scidex_replay.store.remote import RemoteBlobStore

    store = RemoteBlobStore(f"s3://{bucket}/race", s3_server.options, tmp_path / "c")
    data = os.urandom(200_000)
    digest = store.put_bytes(data)[0]
    real = store.path
    left = [evictions]

    def path_then_evict(d):
        p = real(d)
        if left[0] > 0:
            left[0] -= 1
            p.unlink()
        return p

    monkeypatch.setattr(store, "path", path_then_evict)
    with store.open(digest) as fh:
        assert fh.read() == data
    assert not list((tmp_path / "c" / "tmp").iterdir())  # a reader's own download leaves nothing behind


def test_a_cached_copy_evicted_before_copy_out_reads_it_is_downloaded_again(s3_server, bucket, tmp_path, monkeypatch):
    from scidex_replay.store.remote import RemoteBlobStore

    store = RemoteBlobStore(f"s3://{bucket}/race2", s3_server.options, tmp_path / "c")
    data = os.urandom(200_000)
    digest = store.put_bytes(data)[0]
    assert store.copy_out(digest, tmp_path / "a") == digest  # cached now
    real = store._cached

    def cached_then_evict(d):
        got = real(d)
        store.cache.path(d).unlink()
        return got

    monkeypatch.setattr(store, "_cached", cached_then_evict)
    assert store.copy_out(digest, tmp_path / "b") == digest
    assert (tmp_path / "b").read_bytes() == data


@pytest.mark.parametrize("in_the_way", ["store-cache", "store-cache/tmp"], ids=["cache-is-a-file", "cache-tmp-is-a-file"])
def test_a_cache_that_cannot_be_written_is_skipped_by_replay_and_one_line_for_cat(cli, shared, tmp_path, monkeypatch, in_the_way):
    """A replay's steps get their own copies: a cache that cannot take one is skipped (one notice at
    most); ``cat`` needs the cache and says, in one line, which folder is in the way."""
    final = record_chain(cli, tmp_path / "work")
    other = home_b(tmp_path, monkeypatch)
    blocker = other / in_the_way
    blocker.parent.mkdir(parents=True, exist_ok=True)
    blocker.write_text("not a folder")
    proc = cli("rerun-artifact", final, "--out", tmp_path / "replay")
    assert proc.returncode == 0, proc.stderr
    assert [s["outcome"] for s in manifest(tmp_path / "replay")["steps"]] == ["reproduced", "reproduced"]
    assert "Traceback" not in proc.stderr and proc.stderr.count("notice: not caching") == 1, proc.stderr
    proc = cli("cat", final)
    assert proc.returncode == 2 and proc.stdout == "", proc.stderr
    assert str(other / "store-cache") in proc.stderr and "cannot write" in proc.stderr and "the store s3://" not in proc.stderr.split(":")[1]
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr


def test_a_full_disk_under_the_cache_is_skipped_by_a_step_copy_and_named_by_a_read(s3_server, bucket, tmp_path, monkeypatch):
    import errno

    from scidex_replay.errors import StorageError, StoreNotice
    from scidex_replay.store import remote
    from scidex_replay.store.remote import RemoteBlobStore

    store = RemoteBlobStore(f"s3://{bucket}/full", s3_server.options, tmp_path / "c")
    data = os.urandom(100_000)
    digest = store.put_bytes(data)[0]

    def no_room(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(remote, "_stage", no_room)  # the cache's copy of a step's input
    with pytest.warns(StoreNotice, match="not caching"):
        assert store.copy_out(digest, tmp_path / "step-copy") == digest
    assert (tmp_path / "step-copy").read_bytes() == data and not store.cache.has(digest)
    monkeypatch.setattr(store.fs, "get_file", no_room)  # the download into the cache itself
    with pytest.raises(StorageError) as err:
        store.open(digest)
    assert "No space left on device" in str(err.value) and str(tmp_path / "c") in str(err.value)
    assert "cannot download" not in str(err.value)


def test_the_cache_scan_removes_temp_files_of_killed_downloads_and_counts_younger_ones(s3_server, bucket, tmp_path):
    from scidex_replay.store.remote import STALE_TEMP_S, RemoteBlobStore

    writer = RemoteBlobStore(f"s3://{bucket}/temps", s3_server.options, tmp_path / "w")
    digests = [writer.put_bytes(os.urandom(300_000))[0] for _ in range(2)]
    reader = RemoteBlobStore(f"s3://{bucket}/temps", s3_server.options, tmp_path / "r", cache_bytes=1_000_000)
    tmp = tmp_path / "r" / "tmp"
    tmp.mkdir(parents=True)
    old, young = tmp / "get-killed", tmp / "get-under-way"
    old.write_bytes(b"\0" * 2_000_000)
    young.write_bytes(b"\0" * 500_000)
    stale = time.time() - STALE_TEMP_S - 60
    os.utime(old, (stale, stale))
    assert reader.copy_out(digests[0], tmp_path / "x") == digests[0]  # the first blob filed: the cache is scanned
    assert not old.exists() and young.exists()
    assert reader.copy_out(digests[1], tmp_path / "x") == digests[1]
    # 600 kB of blobs + 500 kB under way > 1 MB: the least recently used blob went
    assert set(reader.cache.iter_digests()) == {digests[1]}


def test_an_s3_store_gets_timeouts_and_retries_under_the_users_options(tmp_path):
    from scidex_replay.store.remote import S3_CONFIG, RemoteBlobStore

    plain = RemoteBlobStore("s3://b/x", {"endpoint_url": "http://127.0.0.1:9", "key": "k", "secret": "s"}, tmp_path / "c")
    assert plain.fs.config_kwargs == S3_CONFIG and plain.fs.retries == 1
    assert S3_CONFIG["connect_timeout"] == 10 and S3_CONFIG["read_timeout"] == 60
    assert S3_CONFIG["retries"] == {"max_attempts": 3, "mode": "standard"}
    own = RemoteBlobStore("s3://b/x", {"config_kwargs": {"read_timeout": 5}}, tmp_path / "c")
    assert own.fs.config_kwargs == {**S3_CONFIG, "read_timeout": 5}  # the user's win, key by key
    assert own.options == {"config_kwargs": {"read_timeout": 5}}  # what a Dask task carries: theirs only


def test_a_server_that_never_answers_fails_in_bounded_time_with_the_defaults(tmp_path, monkeypatch):
    """A listener that accepts connections and never answers: with our defaults (made small here), an
    add fails in one line within seconds, not after botocore's and s3fs's own retries (minutes)."""
    import socket

    from scidex_replay.errors import StoreUnavailable
    from scidex_replay.store import remote

    monkeypatch.setattr(remote, "S3_CONFIG", {"connect_timeout": 1, "read_timeout": 1, "retries": {"max_attempts": 2, "mode": "standard"}})
    hung = socket.socket()
    hung.bind(("127.0.0.1", 0))
    hung.listen(16)
    held = []
    stop = threading.Event()

    def accept():
        hung.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(hung.accept()[0])
            except OSError:
                continue

    threading.Thread(target=accept, daemon=True).start()
    outcome = []

    def add():
        store = remote.RemoteBlobStore("s3://b/x", {"endpoint_url": f"http://127.0.0.1:{hung.getsockname()[1]}", "key": "k", "secret": "s"}, tmp_path / "c")
        try:
            store.put_bytes(b"abcdef")
        except StoreUnavailable as exc:
            outcome.append(exc)

    t0 = time.monotonic()
    worker = threading.Thread(target=add, daemon=True)
    worker.start()
    worker.join(15)
    stop.set()
    try:
        assert not worker.is_alive(), "still waiting for the server after 15 s"
        assert outcome and "the store s3://b/x" in str(outcome[0]) and "\n" not in str(outcome[0])
        assert time.monotonic() - t0 < 15 and len(held) >= 2  # botocore's attempts: 2, s3fs's: 1
    finally:
        for conn in held:
            conn.close()
        hung.close()
