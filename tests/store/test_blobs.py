"""Content-addressed blob store: round-trips, atomic puts, one-pass adds, integrity checks, hash validation."""

from __future__ import annotations

import hashlib
import io
import os
import stat
import tempfile
import threading
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scidex_replay.errors import BadInput, IntegrityError, NotFound, StorageError, StoreNotice
from scidex_replay.store import BlobStore, blobs, hash_bytes, hash_file, validate_hash
from scidex_replay.store.blobs import CHUNK, WRITEBACK

MIB = 1 << 20


@pytest.fixture
def store(tmp_path: Path) -> BlobStore:
    return BlobStore(tmp_path / "blobs")


def files_under(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()) if root.exists() else []


def tmp_files(store: BlobStore) -> list[Path]:
    tmp = store.root / "tmp"
    return list(tmp.iterdir()) if tmp.exists() else []


def read_all(store: BlobStore, digest: str) -> bytes:
    with store.open(digest) as fh:
        return fh.read()


class LimitedStream(io.RawIOBase):
    """A lazily generated stream that fails if asked for more than ``limit`` bytes at once."""

    def __init__(self, size: int, limit: int = CHUNK, fail_at: int | None = None, exc: BaseException | None = None):
        self.size = size
        self.limit = limit
        self.pos = 0
        self.fail_at = fail_at
        self.exc = exc or OSError("stream broke")
        self.requests: list[int] = []
        self.digest = hashlib.sha256()

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:
        n = len(buf)
        self.requests.append(n)
        if n > self.limit:
            raise AssertionError(f"asked for {n} bytes at once (limit {self.limit})")
        if self.fail_at is not None and self.pos >= self.fail_at:
            raise self.exc
        n = min(n, self.size - self.pos)
        chunk = self._pattern(n)
        buf[:n] = chunk
        self.digest.update(chunk)
        self.pos += n
        return n

    def _pattern(self, n: int) -> bytes:
        # a repeating pattern keyed on position: cheap, and not one repeated chunk
        pattern = bytes(range(256)) * (n // 256 + 2)
        start = self.pos % 256
        return pattern[start : start + n]

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0 or size > self.limit:
            raise AssertionError(f"read({size}) would load more than {self.limit} bytes at once")
        return super().read(size)

    def readall(self) -> bytes:
        raise AssertionError("readall() loads the whole stream into memory")


# -- round trips ------------------------------------------------------------


def test_bytes_round_trip_and_are_filed_under_their_sha256(store: BlobStore):
    data = b"absorbance,well\n0.42,A1\n"
    digest, size = store.put_bytes(data)
    assert digest == hashlib.sha256(data).hexdigest() == hash_bytes(data)
    assert size == len(data)
    assert read_all(store, digest) == data
    assert store.has(digest)
    assert store.path(digest) == store.root / digest[:2] / digest[2:]
    assert list(store.iter_digests()) == [digest]


def test_empty_bytes_round_trip(store: BlobStore):
    digest, size = store.put_bytes(b"")
    assert size == 0
    assert digest == hashlib.sha256(b"").hexdigest()
    assert read_all(store, digest) == b""
    assert store.verify(digest)


def test_files_round_trip_and_materialize_as_writable_copies(store: BlobStore, tmp_path: Path):
    src = tmp_path / "in.bin"
    src.write_bytes(os.urandom(3 * MIB + 17))
    digest, size = store.put_file(src)
    assert digest == hash_file(src)
    assert size == src.stat().st_size
    dest = store.materialize(digest, tmp_path / "out.bin")
    assert dest.read_bytes() == src.read_bytes()
    dest.write_bytes(b"edited")  # a materialized copy is the caller's to change
    assert store.verify(digest)


def test_same_bytes_added_twice_are_stored_once(store: BlobStore, tmp_path: Path):
    data = b"x" * 1000
    first, _ = store.put_bytes(data)
    inode = store.path(first).stat().st_ino
    src = tmp_path / "same.bin"
    src.write_bytes(data)
    second, _ = store.put_file(src)
    assert second == first
    assert list(store.iter_digests()) == [first]
    assert store.path(first).stat().st_ino == inode  # not rewritten
    assert tmp_files(store) == []


def test_different_bytes_get_different_blobs(store: BlobStore):
    a, _ = store.put_bytes(b"a")
    b, _ = store.put_bytes(b"b")
    assert a != b
    assert sorted(store.iter_digests()) == sorted([a, b])


def test_blobs_are_written_read_only(store: BlobStore):
    digest, _ = store.put_bytes(b"immutable")
    mode = store.path(digest).stat().st_mode
    assert stat.S_IMODE(mode) & 0o222 == 0, oct(mode)


def test_large_data_is_streamed_in_bounded_chunks(store: BlobStore):
    stream = LimitedStream(5 * MIB, limit=CHUNK)
    digest, size = store.put_stream(stream)
    assert size == 5 * MIB
    assert digest == stream.digest.hexdigest()
    assert len(stream.requests) >= 5
    assert max(stream.requests) <= CHUNK
    chunks = [len(c) for c in store.iter_chunks(digest, verify=True)]
    assert sum(chunks) == 5 * MIB
    assert max(chunks) <= CHUNK


@settings(max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=4096))
def test_any_bytes_round_trip_and_hash_to_their_digest(store: BlobStore, data: bytes):
    digest, size = store.put_bytes(data)
    assert digest == hashlib.sha256(data).hexdigest()
    assert size == len(data)
    with store.open(digest) as fh:
        assert fh.read() == data
    assert store.verify(digest)


# -- atomicity ----------------------------------------------------------------


@pytest.mark.parametrize("exc", [OSError("disk went away"), KeyboardInterrupt()], ids=["oserror", "keyboardinterrupt"])
def test_interrupted_put_leaves_no_blob_and_no_temp_file(store: BlobStore, exc: BaseException):
    stream = LimitedStream(5 * MIB, fail_at=2 * MIB, exc=exc)
    with pytest.raises(type(exc)):
        store.put_stream(stream)
    assert stream.pos >= 2 * MIB  # it really was interrupted mid-way
    assert list(store.iter_digests()) == []
    assert tmp_files(store) == []
    assert [p for p in files_under(store.root)] == []


# -- put_file: one pass over the source ---------------------------------------------


class SpyFile:
    """The real file object for ``path``, counting the bytes read; ``on_read(call_no)`` runs after each read."""

    def __init__(self, fh, on_read=None):
        self.fh = fh
        self.on_read = on_read
        self.calls = 0
        self.bytes_read = 0

    def readinto(self, buf) -> int:
        n = self.fh.readinto(buf)
        self.calls += 1
        self.bytes_read += n
        if self.on_read:
            self.on_read(self.calls)
        return n

    def __getattr__(self, name):
        return getattr(self.fh, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.fh.close()


@pytest.fixture
def spy_open(monkeypatch):
    """Make the store open ``path`` through a ``SpyFile``; returns the list of spies made."""
    spies: list[SpyFile] = []

    def install(path: Path, on_read=None) -> list[SpyFile]:
        real_open = open

        def fake_open(file, *args, **kwargs):
            fh = real_open(file, *args, **kwargs)
            if Path(file) != path:
                return fh
            spies.append(SpyFile(fh, on_read))
            return spies[-1]

        monkeypatch.setattr(blobs, "open", fake_open, raising=False)
        return spies

    return install


@pytest.fixture
def fsyncs(monkeypatch) -> list[int]:
    """Record every ``os.fsync`` call (file descriptors), still syncing."""
    calls: list[int] = []
    real = os.fsync

    def fsync(fd: int) -> None:
        calls.append(fd)
        real(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    return calls


def test_adding_new_bytes_reads_the_file_once(store: BlobStore, tmp_path: Path, spy_open):
    src = tmp_path / "new.bin"
    src.write_bytes(os.urandom(3 * CHUNK + 5))
    spies = spy_open(src)
    digest, size = store.put_file(src)
    assert [s.bytes_read for s in spies] == [size], "the source is opened once and read once"
    assert read_all(store, digest) == src.read_bytes()
    assert tmp_files(store) == []


def test_adding_stored_bytes_leaves_the_blob_untouched_and_syncs_nothing(
    store: BlobStore, tmp_path: Path, spy_open, fsyncs: list[int]
):
    src = tmp_path / "same.bin"
    src.write_bytes(os.urandom(2 * CHUNK + 7))
    digest, _ = store.put_file(src)
    blob = store.path(digest).stat()
    fsyncs.clear()
    spies = spy_open(src)
    assert store.put_file(src) == (digest, src.stat().st_size)
    after = store.path(digest).stat()
    assert (after.st_ino, after.st_mtime_ns, after.st_nlink) == (blob.st_ino, blob.st_mtime_ns, 1), "not rewritten"
    assert fsyncs == [], "a temp copy that is thrown away is not synced"
    assert tmp_files(store) == []
    assert [s.bytes_read for s in spies] == [src.stat().st_size]
    assert store.verify(digest)


def test_a_blob_stored_meanwhile_by_another_writer_is_not_replaced(store: BlobStore, tmp_path: Path, monkeypatch):
    data = os.urandom(CHUNK + 1)
    src = tmp_path / "raced.bin"
    src.write_bytes(data)
    other = BlobStore(store.root)
    theirs: list[int] = []
    real = os.fsync

    def fsync_then_race(fd: int) -> None:  # our temp is synced after the "already stored?" check
        real(fd)
        monkeypatch.setattr(os, "fsync", real)
        theirs.append(other.path(other.put_bytes(data)[0]).stat().st_ino)

    monkeypatch.setattr(os, "fsync", fsync_then_race)
    digest, _ = store.put_file(src)
    assert store.path(digest).stat().st_ino == theirs[0], "the blob the other writer stored is kept"
    assert store.path(digest).stat().st_nlink == 1
    assert tmp_files(store) == []
    assert read_all(store, digest) == data



def test_without_hard_links_a_new_blob_is_renamed_into_place(store: BlobStore, tmp_path: Path, monkeypatch):
    def no_links(*args, **kwargs):
        raise PermissionError(1, "Operation not permitted")  # what e.g. a FAT or SMB mount answers

    monkeypatch.setattr(os, "link", no_links)
    data = os.urandom(CHUNK + 9)
    digest, _ = store.put_bytes(data)
    assert read_all(store, digest) == data
    assert stat.S_IMODE(store.path(digest).stat().st_mode) & 0o222 == 0
    ino = store.path(digest).stat().st_ino
    assert store.put_bytes(data) == (digest, len(data))
    assert store.path(digest).stat().st_ino == ino
    assert tmp_files(store) == []




def test_copies_are_written_in_pieces_of_at_most_64_kib():
    class Recorder(io.RawIOBase):
        def __init__(self) -> None:
            super().__init__()
            self.data = bytearray()
            self.writes: list[int] = []

        def writable(self) -> bool:
            return True

        def write(self, data) -> int:
            self.writes.append(len(data))
            self.data += data
            return len(data)

    stream, out = LimitedStream(2 * CHUNK + 5), Recorder()
    digest, size = blobs._copy_hashing(stream, out)
    assert (digest, size) == (stream.digest.hexdigest(), 2 * CHUNK + 5)
    assert hashlib.sha256(out.data).hexdigest() == digest
    assert max(out.writes) == blobs.WRITE == 64 << 10
    assert sum(out.writes) == size

@pytest.fixture
def fadvise_calls(monkeypatch) -> list[tuple[int, int, int]]:
    """Record ``os.posix_fadvise`` calls as (offset, length, advice), passing them on where the OS has it."""
    calls: list[tuple[int, int, int]] = []
    real = getattr(os, "posix_fadvise", None)

    def fadvise(fd: int, offset: int, length: int, advice: int) -> None:
        calls.append((offset, length, advice))
        if real is not None:
            real(fd, offset, length, advice)

    monkeypatch.setattr(os, "posix_fadvise", fadvise, raising=False)
    monkeypatch.setattr(os, "POSIX_FADV_DONTNEED", getattr(os, "POSIX_FADV_DONTNEED", 4), raising=False)
    return calls


def test_a_large_put_starts_writing_back_as_it_goes(store: BlobStore, tmp_path: Path, fadvise_calls):
    stream = LimitedStream(2 * WRITEBACK + 3 * CHUNK)
    digest, size = store.put_stream(stream)
    dontneed = os.POSIX_FADV_DONTNEED
    assert fadvise_calls == [(0, WRITEBACK, dontneed), (WRITEBACK, WRITEBACK, dontneed)]
    assert size == 2 * WRITEBACK + 3 * CHUNK
    assert store.verify(digest)
    fadvise_calls.clear()
    store.materialize(digest, tmp_path / "copy.bin")
    assert fadvise_calls == [], "a materialized copy is the caller's file: left to the OS"


def test_without_posix_fadvise_a_large_put_still_works(store: BlobStore, monkeypatch):
    monkeypatch.delattr(os, "posix_fadvise", raising=False)  # macOS
    stream = LimitedStream(WRITEBACK + CHUNK)
    digest, size = store.put_stream(stream)
    assert (digest, size) == (stream.digest.hexdigest(), WRITEBACK + CHUNK)
    assert store.verify(digest)

@pytest.mark.parametrize("change", ["grow", "shrink", "rewrite"])
def test_a_file_that_changes_while_it_is_added_is_refused(store: BlobStore, tmp_path: Path, spy_open, change: str):
    src = tmp_path / "moving.bin"
    src.write_bytes(os.urandom(4 * CHUNK))
    old = src.stat().st_mtime - 60  # so an in-place rewrite moves the mtime even on a coarse clock
    os.utime(src, (old, old))

    def modify(call_no: int) -> None:
        if call_no != 1:
            return
        with open(src, "r+b") as fh:
            if change == "grow":
                fh.seek(0, os.SEEK_END)
                fh.write(b"appended")
            elif change == "shrink":
                fh.truncate(2 * CHUNK)
            else:
                fh.seek(3 * CHUNK)
                fh.write(os.urandom(CHUNK))

    spies = spy_open(src, modify)
    with pytest.raises(BadInput, match="changed while it was being stored"):
        store.put_file(src)
    assert spies[0].calls >= 2, "the change happened mid-read"
    assert list(store.iter_digests()) == []
    assert tmp_files(store) == []


@pytest.mark.parametrize("exc", [OSError("read error"), KeyboardInterrupt()], ids=["oserror", "keyboardinterrupt"])
def test_an_add_that_fails_midway_leaves_no_blob_and_no_temp_file(
    store: BlobStore, tmp_path: Path, spy_open, exc: BaseException
):
    src = tmp_path / "flaky.bin"
    src.write_bytes(os.urandom(4 * CHUNK))

    def fail(call_no: int) -> None:
        if call_no == 2:
            raise exc

    spy_open(src, fail)
    with pytest.raises(StorageError if isinstance(exc, OSError) else type(exc)):  # an OSError says which file, in one line
        store.put_file(src)
    assert list(store.iter_digests()) == []
    assert tmp_files(store) == []


@pytest.mark.parametrize("expect_other", [False, True], ids=["no-expected", "expected-other-blob"])
def test_a_named_pipe_is_stored_as_read(store: BlobStore, tmp_path: Path, expect_other: bool):
    expected = store.put_bytes(b"something else")[0] if expect_other else None
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    data = os.urandom(2 * CHUNK + 3)
    writer = threading.Thread(target=fifo.write_bytes, args=(data,))
    writer.start()
    try:
        digest, size = store.put_file(fifo, expected=expected)
    finally:
        writer.join()
    assert (digest, size) == (hashlib.sha256(data).hexdigest(), len(data))
    assert read_all(store, digest) == data


def test_a_file_with_the_expected_stored_digest_is_only_hashed(
    store: BlobStore, tmp_path: Path, spy_open, fsyncs: list[int], monkeypatch
):
    src = tmp_path / "reproduced.bin"
    src.write_bytes(os.urandom(3 * CHUNK + 1))
    digest, size = store.put_file(src)
    blob = store.path(digest).stat()
    fsyncs.clear()
    spies = spy_open(src)

    def no_temp(*args, **kwargs):
        raise AssertionError("a temp file was made for bytes that are already stored")

    monkeypatch.setattr(tempfile, "mkstemp", no_temp)
    assert store.put_file(src, expected=digest) == (digest, size)
    assert [s.bytes_read for s in spies] == [size]
    assert fsyncs == []
    assert store.path(digest).stat().st_ino == blob.st_ino


def test_a_file_that_differs_from_the_expected_blob_is_stored(store: BlobStore, tmp_path: Path, spy_open):
    recorded = os.urandom(CHUNK + 2)
    expected, _ = store.put_bytes(recorded)
    src = tmp_path / "diverged.bin"
    src.write_bytes(os.urandom(2 * CHUNK + 5))
    own = hashlib.sha256(src.read_bytes()).hexdigest()
    spies = spy_open(src)
    digest, size = store.put_file(src, expected=expected)
    assert digest == own != expected
    assert read_all(store, digest) == src.read_bytes()
    assert read_all(store, expected) == recorded
    assert [s.bytes_read for s in spies] == [2 * size], "hashed once against the expected blob, then copied"
    assert tmp_files(store) == []


def test_an_expected_digest_that_is_not_stored_costs_no_extra_read(store: BlobStore, tmp_path: Path, spy_open):
    src = tmp_path / "new.bin"
    src.write_bytes(os.urandom(2 * CHUNK))
    spies = spy_open(src)
    digest, size = store.put_file(src, expected=hashlib.sha256(b"recorded, but gone").hexdigest())
    assert [s.bytes_read for s in spies] == [size]
    assert read_all(store, digest) == src.read_bytes()

# -- hash validation ------------------------------------------------------------

BAD_HASHES = [
    "../../etc/passwd",
    "A" * 64,
    "ABCDEF" + "0" * 58,
    "a" * 63,
    "a" * 65,
    "g" * 64,
    "",
    "a" * 64 + "\n",
    " " + "a" * 63,
    "aa/" + "b" * 61,
]


@pytest.mark.parametrize("bad", BAD_HASHES, ids=repr)
def test_validate_hash_rejects_anything_but_64_lowercase_hex(bad: str):
    with pytest.raises(BadInput):
        validate_hash(bad)


def test_validate_hash_accepts_a_sha256_hex_digest():
    digest = hashlib.sha256(b"x").hexdigest()
    assert validate_hash(digest) == digest


@pytest.mark.parametrize("bad", BAD_HASHES, ids=repr)
@pytest.mark.parametrize(
    "operation", ["path", "has", "open", "verify", "iter_chunks", "materialize", "remove", "put_file(expected=)"]
)
def test_malformed_hash_is_rejected_before_touching_the_filesystem(tmp_path: Path, bad: str, operation: str):
    root = tmp_path / "never-created"
    store = BlobStore(root)
    dest = tmp_path / "dest.bin"
    src = tmp_path / "src.bin"
    src.write_bytes(b"bytes")
    calls = {
        "path": lambda: store.path(bad),
        "has": lambda: store.has(bad),
        "open": lambda: store.open(bad),
        "verify": lambda: store.verify(bad),
        "iter_chunks": lambda: list(store.iter_chunks(bad, verify=True)),
        "materialize": lambda: store.materialize(bad, dest),
        "remove": lambda: store.remove(bad),
        "put_file(expected=)": lambda: store.put_file(src, expected=bad),
    }
    with pytest.raises(BadInput) as excinfo:
        calls[operation]()
    assert not isinstance(excinfo.value, NotFound), "a malformed hash must not look like a missing blob"
    assert not root.exists()
    assert not dest.exists()


def test_a_traversal_hash_never_reaches_a_file_outside_the_store(tmp_path: Path):
    outside = tmp_path / "secret"
    outside.write_text("do not read")
    store = BlobStore(tmp_path / "store" / "blobs")
    bad = "../../secret"
    with pytest.raises(BadInput):
        store.open(bad)
    with pytest.raises(BadInput):
        store.remove(bad)
    assert outside.read_text() == "do not read"


# -- integrity --------------------------------------------------------------------

BIG = 2 * CHUNK + 123


def _corrupt(path: Path, how: str) -> None:
    os.chmod(path, 0o644)
    if how == "bitflip":
        with open(path, "r+b") as fh:
            fh.seek(CHUNK + 5)
            b = fh.read(1)
            fh.seek(CHUNK + 5)
            fh.write(bytes([b[0] ^ 0x01]))
    elif how == "truncate":
        with open(path, "r+b") as fh:
            fh.truncate(CHUNK + 1)
    elif how == "delete":
        path.unlink()
    else:  # pragma: no cover
        raise ValueError(how)


@pytest.fixture(params=["bitflip", "truncate", "delete"])
def corrupted(request, store: BlobStore) -> tuple[BlobStore, str, str]:
    digest, _ = store.put_bytes(os.urandom(BIG))
    assert store.verify(digest)
    _corrupt(store.path(digest), request.param)
    return store, digest, request.param


def test_verify_detects_a_corrupted_blob(corrupted):
    store, digest, _ = corrupted
    assert store.verify(digest) is False


def test_materialize_detects_a_corrupted_blob_and_removes_the_partial_copy(corrupted, tmp_path: Path):
    store, digest, how = corrupted
    dest = tmp_path / "restored.bin"
    expected = NotFound if how == "delete" else IntegrityError
    with pytest.raises(expected):
        store.materialize(digest, dest)
    assert not dest.exists()


def test_verified_iteration_detects_a_corrupted_blob(corrupted):
    store, digest, how = corrupted
    expected = NotFound if how == "delete" else IntegrityError
    with pytest.raises(expected):
        for _ in store.iter_chunks(digest, verify=True):
            pass


def test_verified_iteration_of_an_intact_blob_yields_its_bytes(store: BlobStore):
    data = os.urandom(BIG)
    digest, _ = store.put_bytes(data)
    assert b"".join(store.iter_chunks(digest, verify=True)) == data


def test_missing_blob_is_not_found(store: BlobStore):
    digest = hashlib.sha256(b"never stored").hexdigest()
    assert not store.has(digest)
    assert store.verify(digest) is False
    with pytest.raises(NotFound):
        store.open(digest)


@pytest.mark.parametrize("how", ["bitflip", "truncate"])
@pytest.mark.parametrize("put", ["put_file", "put_bytes", "put_file-expected"])
def test_re_adding_the_original_bytes_repairs_a_damaged_blob_and_quarantines_it(
    store: BlobStore, tmp_path: Path, how: str, put: str
):
    data = os.urandom(BIG)
    src = tmp_path / "original.bin"
    src.write_bytes(data)
    digest, _ = store.put_bytes(data)
    _corrupt(store.path(digest), how)
    damaged = store.path(digest).read_bytes()
    with pytest.warns(StoreNotice, match=f"blob {digest[:12]} .* damaged"):
        if put == "put_bytes":
            got = store.put_bytes(data)
        else:
            got = store.put_file(src, expected=digest if put.endswith("expected") else None)
    assert got == (digest, len(data))
    assert store.verify(digest) and read_all(store, digest) == data
    assert stat.S_IMODE(store.path(digest).stat().st_mode) == 0o444
    [kept] = (store.root / "quarantine").iterdir()
    assert kept.name.startswith(f"{digest}-") and kept.read_bytes() == damaged
    assert tmp_files(store) == []
    assert list(store.iter_digests()) == [digest], "the quarantine is not a blob"


def test_a_sound_blob_is_kept_when_its_bytes_are_added_again(store: BlobStore, tmp_path: Path, recwarn):
    digest, _ = store.put_bytes(b"sound bytes")
    before = store.path(digest).stat().st_ino
    assert store.put_bytes(b"sound bytes") == (digest, 11)
    assert store.path(digest).stat().st_ino == before
    assert not (store.root / "quarantine").exists()
    assert not [w for w in recwarn if issubclass(w.category, StoreNotice)]
