"""Blobs live at ``<root>/ab/cdef...`` named by the sha256 of their bytes.

Every write goes to a temp file in ``<root>/tmp`` (same filesystem) and is hashed
on the way, in one pass over the source; on Linux its writeback starts as it is
written. If a blob of that hash is already stored and is sound (its size is that of the
bytes just written and, sizes being equal, its bytes hash to its name), the temp file
is dropped without an fsync and the stored blob is left as it is. Otherwise the temp
file is fsynced and linked into place, which fails rather than replace a blob that
another writer stored meanwhile; a stored blob that is not sound (damaged, truncated)
is first linked into ``<root>/quarantine/<hash>-<time>`` and then atomically replaced
(``os.replace``), with a ``StoreNotice`` warning saying so: re-adding the original
file repairs a damaged blob, as git rewrites an object that fails its hash. A reader never sees a partial blob and a crash leaves at most a
stray temp file. Data is streamed in 1 MiB chunks; nothing is loaded into memory
whole. Paths are derived from validated hashes only.

A step gets its inputs as copies of its own (``copy_out``), never as links to a
blob, so a step that writes its input cannot change the store. The copy is made
the cheapest way that works between the store and the step's directory, in this
order, each falling through to the next when the filesystem or OS refuses it
(``EXDEV``, ``EOPNOTSUPP``, ``EINVAL``, ``ENOTTY``, ``ENOSYS``...):

1. ``clone``: a reflink (Linux ``FICLONE``), a copy-on-write clone that shares the
   blob's extents until one side is written (btrfs, XFS with reflinks, bcachefs);
2. ``copy_file_range``: a copy in the kernel, which clones or copies on the
   server where the filesystem can (XFS, btrfs, NFS 4.2, ZFS 2.2);
3. ``read``: read, hashed and written by Python in one pass (across filesystems,
   where the kernel refuses; macOS; Windows).

After 1 and 2 the copy is read back and hashed; after 3 the digest is that of
the bytes written. Either way ``copy_out`` returns the hash of the bytes at the
destination, and a damaged blob gives one that is not its name. Chosen by
``benchmarks/bench_stage.py`` (RESULTS.md): on ext4 a kernel copy plus hash ties
with the one pass (both ~1 s per GiB, hashing alone 0.7 s) and hashes what was
actually written; ``sendfile`` plus hash never beat the one pass and lost across
filesystems (1.19-1.26 s against 1.08-1.14 s per GiB, ext4 to tmpfs), so it is not tried.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import stat
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from scidex_replay.errors import BadInput, IntegrityError, NotFound, StoreNotice, StoreUnwritable, storage_error

CHUNK = 1 << 20
# Writes go out in 64 KiB pieces. A 1 MiB write asks the page cache for large folios,
# and on a VM that hands free memory back to its host those cost far more: copying
# 1 GiB into memory freed 3 s earlier took 3.7 s in 1 MiB writes, 0.42 s in 64 KiB
# ones (benchmarks/RESULTS.md, bench_store.py).
WRITE = 64 << 10
WRITEBACK = 8 * CHUNK
_HASH_RE = re.compile(r"[0-9a-f]{64}")

FICLONE = 0x40049409  # _IOW(0x94, 9, int), linux/fs.h
# Bytes asked of copy_file_range per call; the kernel caps a call at ~2 GiB.
KERNEL_COPY = 1 << 30
STAGING = ("clone", "copy_file_range", "read")
# Answers meaning "not this way, here": try the next way. EPERM is what a seccomp
# filter (older container runtimes) answers for a system call it blocks.
_CANNOT = frozenset(
    {errno.EXDEV, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EINVAL, errno.ENOTTY, errno.ENOSYS, errno.EBADF, errno.EPERM}
)

# Answers meaning "this user may not write here": a permission, a read-only file system, a folder
# on the way that cannot be made (ENOENT, ENOTDIR: a data home under /proc, or under a file).
_REFUSED = frozenset({errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOENT, errno.ENOTDIR})


def validate_hash(digest: str) -> str:
    """Return ``digest`` if it is 64 lowercase hex chars, else raise ``BadInput``."""
    if not isinstance(digest, str) or not _HASH_RE.fullmatch(digest):
        raise BadInput(f"not a sha256 hex digest: {digest!r:.80}")
    return digest


def hash_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def hash_file(path: str | os.PathLike[str]) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def _copy_hashing(src: BinaryIO, dst: BinaryIO, early_writeback: bool = False) -> tuple[str, int]:
    """Copy ``src`` to ``dst`` (read in ``CHUNK``s, written in ``WRITE``s); return the sha256 and size copied.

    With ``early_writeback`` (where ``os.posix_fadvise`` exists: Linux, not macOS),
    each ``WRITEBACK`` bytes just written are handed to the kernel to write out in
    the background (``POSIX_FADV_DONTNEED`` starts writeback of dirty pages and
    keeps them cached), so the fsync that follows has little left to do.
    """
    digest = hashlib.sha256()
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    size = synced = 0
    early_writeback = early_writeback and hasattr(os, "posix_fadvise")
    while n := src.readinto(buf):
        chunk = view[:n]
        digest.update(chunk)
        dst.writelines(chunk[at : at + WRITE] for at in range(0, n, WRITE))
        size += n
        if early_writeback and size - synced >= WRITEBACK:
            dst.flush()
            os.posix_fadvise(dst.fileno(), synced, size - synced, os.POSIX_FADV_DONTNEED)
            synced = size
    return digest.hexdigest(), size


def _clone(src_fd: int, dst_fd: int) -> None:
    """Make ``dst_fd`` a copy-on-write clone of ``src_fd`` (a reflink), or raise ``OSError``."""
    if not sys.platform.startswith("linux"):
        raise OSError(errno.ENOSYS, "FICLONE is Linux's")
    import fcntl

    fcntl.ioctl(dst_fd, FICLONE, src_fd)


def _copy_file_range(src_fd: int, dst_fd: int) -> None:
    """Copy ``src_fd`` to ``dst_fd`` with ``os.copy_file_range`` (file offsets untouched), or raise ``OSError``."""
    if not hasattr(os, "copy_file_range"):
        raise OSError(errno.ENOSYS, "no os.copy_file_range")
    size, offset = os.fstat(src_fd).st_size, 0
    while offset < size:
        n = os.copy_file_range(src_fd, dst_fd, min(KERNEL_COPY, size - offset), offset, offset)
        if n == 0:
            if offset == 0:  # some filesystems answer 0 rather than an error
                raise OSError(errno.EOPNOTSUPP, "copy_file_range copied nothing")
            break  # the blob is shorter than it was: its hash will say so
        offset += n


def _stage(src: BinaryIO, out: BinaryIO, ways: tuple[str, ...] = STAGING, hashed: bool = True) -> tuple[str | None, str]:
    """Copy ``src`` into the empty ``out`` (open for reading and writing) the first of ``ways`` that works.

    Returns the sha256 of the bytes in ``out`` afterwards (None for a copy in the kernel when not
    ``hashed``: the caller hashes it later) and the way taken. A way
    the filesystem refuses (an errno in ``_CANNOT``) is undone (``out`` emptied if
    it wrote anything, both files rewound) and the next one is tried; any other
    error is raised.
    """
    copies: dict[str, Callable[[int, int], None]] = {"clone": _clone, "copy_file_range": _copy_file_range}
    refused: OSError | None = None
    for way in ways:
        if way == "read":
            digest, _ = _copy_hashing(src, out)
            out.flush()
            return digest, way
        try:
            copies[way](src.fileno(), out.fileno())
        except OSError as exc:
            if exc.errno not in _CANNOT:
                raise
            refused = exc
            if os.fstat(out.fileno()).st_size:
                # Only when there is something to undo: on ext4 a truncation to 0 makes
                # close() start writing the new data back (auto_da_alloc), +0.25 s per GiB.
                os.ftruncate(out.fileno(), 0)
            out.seek(0)
            src.seek(0)
            continue
        out.seek(0)
        return (hashlib.file_digest(out, "sha256").hexdigest() if hashed else None), way
    raise OSError(errno.ENOSYS, f"none of {', '.join(ways)} can copy here ({refused})") from refused


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _check_unchanged(src: str | os.PathLike[str], fh: BinaryIO, before: os.stat_result, size: int) -> None:
    """Raise ``BadInput`` if the regular file open as ``fh`` changed since ``before``; ``size`` bytes were read."""
    after = os.fstat(fh.fileno())
    if stat.S_ISREG(before.st_mode) and (
        size != before.st_size or (after.st_size, after.st_mtime_ns) != (before.st_size, before.st_mtime_ns)
    ):
        raise BadInput(
            f"{os.fspath(src)} changed while it was being stored "
            f"({before.st_size} bytes before, {after.st_size} after, {size} read); nothing was stored"
        )


def _link_into_place(tmp: Path, final: Path) -> None:
    """Give the fsynced ``tmp`` the name ``final``, unless a blob already has it; then drop ``tmp``."""
    try:
        os.link(tmp, final)
    except FileExistsError:
        pass  # another writer stored the same bytes meanwhile: keep its blob
    except OSError:  # a filesystem without hard links
        if not final.exists():
            os.replace(tmp, final)
            return
    tmp.unlink()


def _refresh(blob: Path) -> None:
    """Date ``blob``'s access time now (its mtime, when it was written, stays): a blob that an
    ``add`` has just relied on is young again for ``gc``, which reads the later of the two
    (``iter_blobs``) and takes only blobs older than its grace period."""
    try:
        os.utime(blob, ns=(time.time_ns(), blob.stat().st_mtime_ns))
    except OSError:  # another user's blob in a shared home: gc's re-check of references remains
        pass


def _blob_is_sound(blob: Path, digest: str, size: int) -> bool:
    """True when ``blob`` holds ``size`` bytes that hash to ``digest`` (sizes are compared first: cheap)."""
    try:
        if blob.stat().st_size != size:
            return False
        with open(blob, "rb") as fh:
            return hashlib.file_digest(fh, "sha256").hexdigest() == digest
    except OSError:
        return False


class StoreBase:
    """What both stores do the same way, in terms of ``open``, ``copy_out`` and ``put_stream``:
    ``BlobStore`` (a local directory) and ``remote.RemoteBlobStore`` (any fsspec URL)."""

    def put_bytes(self, data: bytes) -> tuple[str, int]:
        import io

        return self.put_stream(io.BytesIO(data))

    def iter_chunks(self, digest: str, verify: bool = False) -> Iterator[bytes]:
        """Yield the blob's bytes; with ``verify``, raise at the end if they do not hash to ``digest``."""
        h = hashlib.sha256()
        with self.open(digest) as fh:
            while chunk := fh.read(CHUNK):
                if verify:
                    h.update(chunk)
                yield chunk
        if verify and h.hexdigest() != digest:
            raise IntegrityError(f"blob {digest[:12]} is corrupt: its bytes hash to {h.hexdigest()[:12]}")

    def materialize(self, digest: str, dest: str | os.PathLike[str]) -> Path:
        """Copy the blob to ``dest`` (a writable copy), verifying its hash on the way."""
        dest = Path(dest)
        got = self.copy_out(digest, dest)
        if got != digest:
            dest.unlink(missing_ok=True)
            raise IntegrityError(f"blob {digest[:12]} is corrupt: its bytes hash to {got[:12]}")
        return dest

    def save(self, digest: str, dest: str | os.PathLike[str]) -> Path:
        """Write the blob to ``dest`` through a temp file in its folder (``materialize``, then a
        rename): ``dest`` is either as it was or the whole verified blob, never a part of it."""
        dest = Path(dest)
        fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.")
        os.close(fd)
        try:
            self.materialize(digest, tmp)
            os.replace(tmp, dest)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return dest


class BlobStore(StoreBase):
    """A directory of immutable blobs keyed by sha256."""

    def __init__(self, root: str | os.PathLike[str]):
        self.root = Path(root)

    def path(self, digest: str) -> Path:
        validate_hash(digest)
        return self.root / digest[:2] / digest[2:]

    def has(self, digest: str) -> bool:
        return self.path(digest).is_file()

    def put_file(self, src: str | os.PathLike[str], expected: str | None = None) -> tuple[str, int]:
        """Store the bytes of ``src``; return ``(sha256, size)``. Idempotent.

        ``src`` is read once, hashed while it is copied to a temp file. Bytes
        already in the store cost that read, a read of the stored blob to check it
        (see the module's docstring: a damaged one is quarantined and replaced) and
        a temp copy that is dropped without an fsync. ``expected`` is the digest
        the caller expects (a replayed step's recorded output): when that blob
        is stored, a regular file is hashed first and, if it matches and the stored
        blob is sound, nothing is written at all; if not, it is read a second time
        to be stored. If
        ``src`` is a regular file whose size or mtime changes while it is read,
        nothing is stored and ``BadInput`` is raised: the bytes read may be a
        mix that the file never held. ``StorageError`` (one line; nothing stored) when
        ``src`` cannot be read or the store has no room (a full disk, a file size limit).
        """
        try:
            with open(src, "rb") as fh:
                before = os.fstat(fh.fileno())
                if expected is not None and stat.S_ISREG(before.st_mode) and self.has(expected):
                    if hashlib.file_digest(fh, "sha256").hexdigest() == expected:
                        _check_unchanged(src, fh, before, fh.tell())
                        if _blob_is_sound(self.path(expected), expected, fh.tell()):
                            _refresh(self.path(expected))
                            return expected, fh.tell()
                    fh.seek(0)
                return self._put(fh, lambda size: _check_unchanged(src, fh, before, size))
        except OSError as exc:  # a full disk, or a file that cannot be read: one line, no partial blob (``_put``)
            raise storage_error(exc, src, self.root) from exc

    def put_stream(self, stream: BinaryIO) -> tuple[str, int]:
        """Store the bytes read from ``stream`` until EOF; return ``(sha256, size)``. Idempotent."""
        return self._put(stream)

    def _put(self, stream: BinaryIO, check: Callable[[int], None] | None = None) -> tuple[str, int]:
        tmp_dir = self.root / "tmp"
        with self._writing(tmp_dir):
            tmp_dir.mkdir(parents=True, exist_ok=True)
            fd, tmp_name = tempfile.mkstemp(dir=tmp_dir, prefix="put-")
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as out:
                digest, size = _copy_hashing(stream, out, early_writeback=True)
                if check is not None:
                    check(size)
                final = self.path(digest)
                stored = final.is_file()
                damaged = stored and not _blob_is_sound(final, digest, size)
                stored = stored and not damaged
                if not stored:
                    out.flush()
                    os.fsync(out.fileno())
            if stored:  # nothing to make durable: the temp copy is dropped without an fsync
                tmp.unlink()
                _refresh(final)
                return digest, size
            with self._writing(final.parent):
                final.parent.mkdir(parents=True, exist_ok=True)
                os.chmod(tmp, 0o444)
                if damaged:
                    self._replace_damaged(tmp, final, digest)
                else:
                    _link_into_place(tmp, final)
            _fsync_dir(final.parent)
            return digest, size
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def check_writable(self) -> None:
        """``StoreUnwritable`` when this process cannot write in the store (a read-only data home,
        a shared one whose ``blobs/`` it does not own): for a caller about to run a step, which
        could not be kept."""
        where = next(p for p in (self.root / "tmp", self.root, *self.root.parents) if p.exists())
        if not os.access(where, os.W_OK | os.X_OK):
            raise StoreUnwritable(
                f"cannot write in the blob store: {where} is read-only here, so a step recorded now could not be kept; nothing was run"
            )

    @contextmanager
    def _writing(self, where: Path) -> Iterator[None]:
        """Turn a refusal to write in the store (a permission, a read-only file system, a folder on
        the way that cannot be made) into ``StoreUnwritable`` naming the folder."""
        try:
            yield
        except OSError as exc:
            if exc.errno not in _REFUSED:
                raise
            raise StoreUnwritable(
                f"cannot write in the blob store: {where}: {exc.strerror or exc}; nothing was stored "
                f"(a shared data home needs {self.root} writable by every user who adds to it)"
            ) from exc

    def _replace_damaged(self, tmp: Path, final: Path, digest: str) -> None:
        """Keep the damaged blob at ``final`` in the quarantine, then put the sound ``tmp`` in its place atomically."""
        from datetime import datetime, timezone

        quarantine = self.root / "quarantine"
        quarantine.mkdir(parents=True, exist_ok=True)
        kept = quarantine / f"{digest}-{datetime.now(timezone.utc).strftime('%Y%m%dT%H%M%S%fZ')}"
        try:
            os.link(final, kept)
        except FileNotFoundError:
            pass  # another writer repaired it meanwhile: nothing left to keep
        except OSError:  # a filesystem without hard links
            import shutil

            shutil.copyfile(final, kept)
        os.replace(tmp, final)
        _fsync_dir(final.parent)
        warnings.warn(
            f"blob {digest[:12]} in the store was damaged (its bytes did not hash to its name): "
            f"replaced by the bytes just added; the damaged copy is kept at {kept}",
            StoreNotice, stacklevel=4,
        )

    def open(self, digest: str) -> BinaryIO:
        try:
            return open(self.path(digest), "rb")
        except FileNotFoundError as exc:
            raise NotFound(f"blob {digest[:12]} is missing from the store") from exc

    def open_verified(self, digest: str) -> BinaryIO:
        """The blob opened for reading once its bytes are read and found to hash to ``digest``:
        ``NotFound`` when it is missing, ``IntegrityError`` when they do not."""
        fh = self.open(digest)
        if hashlib.file_digest(fh, "sha256").hexdigest() != digest:
            fh.close()
            raise IntegrityError(f"blob {digest[:12]} in the store is corrupt: its bytes do not hash to its name")
        fh.seek(0)
        return fh

    def verify(self, digest: str) -> bool:
        """True when the blob exists and its bytes hash to ``digest``."""
        try:
            with self.open(digest) as fh:
                return hashlib.file_digest(fh, "sha256").hexdigest() == digest
        except NotFound:
            return False

    def copy_out(self, digest: str, dest: str | os.PathLike[str]) -> str:
        """Give ``dest`` a copy of the blob of its own; return the sha256 of the bytes at ``dest``.

        The copy is a reflink where the filesystem has them, else made in the
        kernel, else by Python (see the module's docstring), and then hashed; it
        is never a link to the blob, so writing ``dest`` leaves the blob as it
        was. The caller compares the digest with the one it expects: a damaged
        blob gives a different one.
        """
        with self.open(digest) as src, open(dest, "w+b") as out:
            got, _ = _stage(src, out)
        return got

    def iter_digests(self) -> Iterator[str]:
        """Every digest filed in the store (by path; use ``verify`` to check bytes)."""
        if not self.root.is_dir():
            return
        for sub in sorted(self.root.iterdir()):
            if len(sub.name) != 2 or not sub.is_dir():
                continue
            for blob in sorted(sub.iterdir()):
                digest = sub.name + blob.name
                if _HASH_RE.fullmatch(digest):
                    yield digest

    def remove(self, digest: str) -> None:
        self.path(digest).unlink(missing_ok=True)

    def size(self, digest: str) -> int:
        try:
            return self.path(digest).stat().st_size
        except FileNotFoundError as exc:
            raise NotFound(f"blob {digest[:12]} is missing from the store") from exc

    def iter_blobs(self) -> Iterator[tuple[str, int, float]]:
        """``(digest, size, age)`` of every blob filed in the store, ``age`` the later of when it was
        written and when it was last added again (``put_file`` sets its atime), which ``gc``'s
        grace period reads."""
        for digest in self.iter_digests():
            try:
                st = self.path(digest).stat()
            except FileNotFoundError:
                continue
            yield digest, st.st_size, max(st.st_mtime, st.st_atime)

    def stale_temps(self, older_than_s: float) -> list[str]:
        """Names of the temp files of interrupted writes older than ``older_than_s``."""
        import time

        tmp = self.root / "tmp"
        now = time.time()
        return [p.name for p in sorted(tmp.iterdir()) if now - p.stat().st_mtime > older_than_s] if tmp.is_dir() else []

    def remove_temp(self, name: str) -> None:
        (self.root / "tmp" / os.path.basename(name)).unlink(missing_ok=True)

    def quarantine(self, digest: str, where: Path) -> Path:
        """Move the blob out of the store, into ``where`` as ``<digest>``."""
        import shutil

        where.mkdir(parents=True, exist_ok=True)
        shutil.move(str(self.path(digest)), where / digest)
        return where / digest
