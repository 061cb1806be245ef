"""Staging a blob for a step (``copy_out``): each way it can copy, the order it tries them, integrity either way.

This machine's filesystems need not have reflinks, so each way is forced in turn:
the ways before it refuse as a filesystem without them does, and ``clone`` is
played by a stand-in that copies; a real FICLONE is measured by
``benchmarks/bench_stage.py --loop xfs`` (the figures are in benchmarks/RESULTS.md).
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from pathlib import Path

import pytest

from scidex_replay.errors import IntegrityError, NotFound
from scidex_replay.store import BlobStore, blobs
from scidex_replay.store.blobs import CHUNK, STAGING

BIG = 2 * CHUNK + 123  # more than one read chunk, and not a multiple of any
KERNEL_WAYS = ("clone", "copy_file_range")


@pytest.fixture
def store(tmp_path: Path) -> BlobStore:
    return BlobStore(tmp_path / "blobs")


def _copying_clone(src_fd: int, dst_fd: int) -> None:
    """Stands in for FICLONE on a filesystem without reflinks: the same bytes, by plain reads and writes."""
    offset = 0
    while chunk := os.pread(src_fd, CHUNK, offset):
        os.write(dst_fd, chunk)
        offset += len(chunk)


class Ways:
    """Forces ``copy_out`` down one way and records the ways it tried."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch):
        self.monkeypatch = monkeypatch
        self.tried: list[str] = []
        self.real = {"clone": _copying_clone, "copy_file_range": blobs._copy_file_range}

    def force(self, way: str, refusal: int = errno.EOPNOTSUPP) -> Ways:
        """From now on (after the blobs are stored): the ways before ``way`` refuse with ``refusal``."""
        real_read = blobs._copy_hashing

        def read(src, dst, early_writeback=False):
            self.tried.append("read")
            return real_read(src, dst, early_writeback)

        self.monkeypatch.setattr(blobs, "_copy_hashing", read)
        for name in KERNEL_WAYS:
            refuse = STAGING.index(name) < STAGING.index(way)
            self.set(name, self._recorded(name, refusal if refuse else None))
        return self

    def set(self, name: str, fn) -> None:
        self.monkeypatch.setattr(blobs, f"_{name}", fn)

    def _recorded(self, name: str, refusal: int | None):
        def fn(src_fd: int, dst_fd: int) -> None:
            self.tried.append(name)
            if refusal is not None:
                raise OSError(refusal, f"{name}: {os.strerror(refusal)}")
            self.real[name](src_fd, dst_fd)

        return fn


@pytest.fixture
def ways(monkeypatch) -> Ways:
    return Ways(monkeypatch)


def corrupt(path: Path, how: str) -> None:
    os.chmod(path, 0o644)
    with open(path, "r+b") as fh:
        if how == "bitflip":
            fh.seek(CHUNK + 5)
            b = fh.read(1)
            fh.seek(CHUNK + 5)
            fh.write(bytes([b[0] ^ 0x01]))
        else:
            fh.truncate(CHUNK + 1)


# -- each way, and the order they are tried in ---------------------------------------


@pytest.mark.parametrize("way", STAGING)
def test_each_way_stages_a_copy_with_the_blobs_bytes_and_hash(store: BlobStore, tmp_path: Path, ways: Ways, way: str):
    data = os.urandom(BIG)
    digest, _ = store.put_bytes(data)
    ways.force(way)
    dest = tmp_path / "in.bin"
    assert store.copy_out(digest, dest) == digest
    assert dest.read_bytes() == data
    assert ways.tried == list(STAGING[: STAGING.index(way) + 1]), "tried in order, stopping at the first that works"


@pytest.mark.parametrize("way", STAGING)
def test_a_blob_larger_than_every_chunk_size_stages_whole(
    store: BlobStore, tmp_path: Path, ways: Ways, monkeypatch, way: str
):
    monkeypatch.setattr(blobs, "KERNEL_COPY", 100_003)  # many kernel copies, the last one short
    data = os.urandom(BIG)
    digest, _ = store.put_bytes(data)
    ways.force(way)
    dest = tmp_path / "in.bin"
    assert store.copy_out(digest, dest) == digest
    assert dest.stat().st_size == BIG
    assert hashlib.sha256(dest.read_bytes()).hexdigest() == digest


@pytest.mark.parametrize("way", STAGING)
def test_an_empty_blob_stages_each_way(store: BlobStore, tmp_path: Path, ways: Ways, way: str):
    digest, _ = store.put_bytes(b"")
    ways.force(way)
    dest = tmp_path / "empty"
    assert store.copy_out(digest, dest) == digest
    assert dest.read_bytes() == b""


@pytest.mark.parametrize(
    "refusal",
    [errno.EXDEV, errno.EOPNOTSUPP, errno.EINVAL, errno.ENOTTY, errno.ENOSYS, errno.EPERM, errno.EBADF],
    ids=errno.errorcode.get,
)
def test_a_way_the_filesystem_refuses_falls_through_to_the_next(
    store: BlobStore, tmp_path: Path, ways: Ways, refusal: int
):
    data = os.urandom(CHUNK + 1)
    digest, _ = store.put_bytes(data)
    ways.force("read", refusal)
    assert store.copy_out(digest, tmp_path / "in.bin") == digest
    assert ways.tried == list(STAGING)
    assert (tmp_path / "in.bin").read_bytes() == data


def test_a_partial_copy_by_a_refused_way_is_undone(store: BlobStore, tmp_path: Path, ways: Ways):
    data = os.urandom(BIG)
    digest, _ = store.put_bytes(data)
    ways.force("copy_file_range")

    def half_then_refuse(src_fd: int, dst_fd: int) -> None:
        ways.tried.append("clone")
        os.write(dst_fd, b"garbage that must not stay" * 1000)
        os.lseek(src_fd, 12345, os.SEEK_SET)
        raise OSError(errno.EXDEV, "cross-device")

    ways.set("clone", half_then_refuse)
    dest = tmp_path / "in.bin"
    assert store.copy_out(digest, dest) == digest
    assert dest.read_bytes() == data
    assert ways.tried == ["clone", "copy_file_range"]


def test_a_refused_way_that_wrote_nothing_leaves_the_copy_untruncated(
    store: BlobStore, tmp_path: Path, ways: Ways, monkeypatch
):
    # ext4 starts writing back a file truncated to 0 when it is closed (auto_da_alloc):
    # +0.25 s per GiB staged, for nothing to undo.
    digest, _ = store.put_bytes(os.urandom(CHUNK))
    ways.force("copy_file_range")
    truncated: list[int] = []
    real = os.ftruncate
    monkeypatch.setattr(os, "ftruncate", lambda fd, n: (truncated.append(n), real(fd, n)))
    assert store.copy_out(digest, tmp_path / "in.bin") == digest
    assert ways.tried == ["clone", "copy_file_range"]
    assert truncated == []


def test_a_kernel_copy_that_copies_nothing_falls_through(
    store: BlobStore, tmp_path: Path, monkeypatch, ways: Ways
):
    data = os.urandom(CHUNK + 3)
    digest, _ = store.put_bytes(data)
    ways.force("copy_file_range")
    monkeypatch.setattr(os, "copy_file_range", lambda *args: 0, raising=False)  # what some filesystems answer
    assert store.copy_out(digest, tmp_path / "in.bin") == digest
    assert ways.tried == ["clone", "copy_file_range", "read"]
    assert (tmp_path / "in.bin").read_bytes() == data


def test_without_kernel_copies_in_the_os_the_copy_is_made_by_python(store: BlobStore, tmp_path: Path, monkeypatch):
    monkeypatch.delattr(os, "copy_file_range", raising=False)  # macOS, Windows
    monkeypatch.setattr(blobs.sys, "platform", "darwin")
    data = os.urandom(BIG)
    digest, _ = store.put_bytes(data)
    with store.open(digest) as src, open(tmp_path / "in.bin", "w+b") as out:
        assert blobs._stage(src, out) == (digest, "read")
    assert (tmp_path / "in.bin").read_bytes() == data


@pytest.mark.parametrize("failure", [errno.ENOSPC, errno.EIO, errno.EDQUOT], ids=errno.errorcode.get)
def test_an_error_other_than_a_refusal_is_raised_not_skipped(
    store: BlobStore, tmp_path: Path, ways: Ways, failure: int
):
    digest, _ = store.put_bytes(os.urandom(CHUNK))
    ways.force("clone")

    def fails(src_fd: int, dst_fd: int) -> None:
        ways.tried.append("clone")
        raise OSError(failure, os.strerror(failure))

    ways.set("clone", fails)
    with pytest.raises(OSError) as excinfo:
        store.materialize(digest, tmp_path / "in.bin")
    assert excinfo.value.errno == failure
    assert ways.tried == ["clone"]


def test_when_every_way_is_refused_the_reason_is_given(store: BlobStore, tmp_path: Path, ways: Ways):
    digest, _ = store.put_bytes(b"x")
    ways.force("read", errno.EXDEV)
    with store.open(digest) as src, open(tmp_path / "in.bin", "w+b") as out:
        with pytest.raises(OSError, match="none of clone, copy_file_range can copy here") as excinfo:
            blobs._stage(src, out, ("clone", "copy_file_range"))
    assert excinfo.value.errno == errno.ENOSYS
    assert excinfo.value.__cause__.errno == errno.EXDEV


# -- integrity ----------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["bitflip", "truncate"])
@pytest.mark.parametrize("way", STAGING)
def test_a_corrupt_blob_staged_any_way_gives_another_digest(
    store: BlobStore, tmp_path: Path, ways: Ways, way: str, how: str
):
    digest, _ = store.put_bytes(os.urandom(BIG))
    corrupt(store.path(digest), how)
    ways.force(way)
    dest = tmp_path / "in.bin"
    got = store.copy_out(digest, dest)
    assert got != digest
    assert got == hashlib.sha256(dest.read_bytes()).hexdigest()
    dest.unlink()
    with pytest.raises(IntegrityError, match="is corrupt"):
        store.materialize(digest, dest)
    assert not dest.exists()


@pytest.mark.parametrize("way", KERNEL_WAYS)
def test_the_digest_is_of_the_bytes_at_the_destination_not_of_the_blob(
    store: BlobStore, tmp_path: Path, ways: Ways, way: str
):
    digest, _ = store.put_bytes(os.urandom(BIG))
    ways.force(way)
    copy = ways.real[way]

    def copy_then_damage(src_fd: int, dst_fd: int) -> None:  # e.g. a bad clone, a faulty copy
        ways.tried.append(way)
        copy(src_fd, dst_fd)
        os.pwrite(dst_fd, b"\0", CHUNK + 7)

    ways.set(way, copy_then_damage)
    dest = tmp_path / "in.bin"
    got = store.copy_out(digest, dest)
    assert got != digest
    assert got == hashlib.sha256(dest.read_bytes()).hexdigest()
    with pytest.raises(IntegrityError):
        store.materialize(digest, dest)
    assert not dest.exists()


def test_a_missing_blob_is_not_found_and_creates_no_copy(store: BlobStore, tmp_path: Path):
    digest = hashlib.sha256(b"never stored").hexdigest()
    with pytest.raises(NotFound):
        store.copy_out(digest, tmp_path / "in.bin")
    assert not (tmp_path / "in.bin").exists()


@pytest.mark.parametrize("write", ["overwrite", "truncate", "append", "replace"])
@pytest.mark.parametrize("way", STAGING)
def test_writing_the_staged_copy_never_changes_the_stored_blob(
    store: BlobStore, tmp_path: Path, ways: Ways, way: str, write: str
):
    data = os.urandom(BIG)
    digest, _ = store.put_bytes(data)
    ways.force(way)
    dest = tmp_path / "in.bin"
    store.copy_out(digest, dest)
    blob = store.path(digest)
    assert not os.path.samefile(dest, blob), "a copy, not a link"
    assert os.stat(dest).st_mode & stat.S_IWUSR, "the step's copy is writable"
    if write == "replace":
        dest.write_bytes(b"new")
    else:
        with open(dest, "r+b") as fh:
            if write == "overwrite":
                fh.write(b"\xff" * CHUNK)
            elif write == "truncate":
                fh.truncate(1)
            else:
                fh.seek(0, os.SEEK_END)
                fh.write(b"more")
    assert store.verify(digest)
    assert blob.read_bytes() == data
    assert blob.stat().st_nlink == 1
    assert stat.S_IMODE(blob.stat().st_mode) & 0o222 == 0, "the blob stays read-only"


def _clones_here(directory: Path) -> bool:
    a, b = directory / "probe-a", directory / "probe-b"
    a.write_bytes(b"probe")
    try:
        with open(a, "rb") as src, open(b, "wb") as dst:
            blobs._clone(src.fileno(), dst.fileno())
        return True
    except OSError:
        return False
    finally:
        a.unlink()
        b.unlink(missing_ok=True)


def test_on_this_machine_copy_out_takes_the_first_way_that_works(store: BlobStore, tmp_path: Path):
    digest, _ = store.put_bytes(os.urandom(CHUNK + 1))
    with store.open(digest) as src, open(tmp_path / "in.bin", "w+b") as out:
        got, way = blobs._stage(src, out)
    assert got == digest
    expected = "clone" if _clones_here(tmp_path) else "copy_file_range" if hasattr(os, "copy_file_range") else None
    if expected:
        assert way == expected


def test_a_copy_to_another_filesystem_falls_back_for_real(store: BlobStore):
    shm = Path("/dev/shm")  # tmpfs on every machine of this kind: another filesystem than the store's
    data = os.urandom(BIG)
    digest, _ = store.put_bytes(data)
    dest = shm / f"scidex-test-{os.getpid()}-{digest[:12]}"
    try:
        with store.open(digest) as src, open(dest, "w+b") as out:
            got, way = blobs._stage(src, out)
        assert got == digest
        assert way in ("copy_file_range", "read")  # older kernels copy across; from 5.19 they answer EXDEV
        assert dest.read_bytes() == data
    finally:
        dest.unlink(missing_ok=True)
