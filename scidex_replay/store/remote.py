"""A blob store on any fsspec filesystem (``s3://bucket/prefix``, ``gs://...``, ``file:///mnt/shared``),
read through a bounded local cache in the data home.

Same guarantees as the local store (``blobs.py``), over a network:

- keys are ``<prefix>/ab/cdef...``, derived from validated sha256 digests only;
- a write streams the bytes in ``CHUNK`` pieces to ``<prefix>/tmp/<random>``, hashing them on
  the way, checks what the server holds there (its size, and on S3 its ETag against the MD5
  of the bytes sent when the object went up in one part), then moves it under its final key:
  a final key never names a partial object (S3 publishes an object only once it is whole; a
  plain filesystem gets a rename). When the final key already holds those bytes (same size,
  and bytes that hash to the key: checked by this process, or read back once), nothing is
  uploaded: a regular file is hashed first, so bytes already stored cost one local read;
- every read is hashed: a step's copy of a blob the cache lacks is downloaded straight to it,
  hashed as it lands, and then copied into the cache in the kernel (one pass over the bytes, not
  two); a cache hit is hashed as it is copied out (``copy_out`` returns the hash of what the step
  gets; a cached copy damaged since is fetched again); ``path``/``open`` hash a cached copy once
  per process; nothing is read whole into memory. A step's copy is never a link to the cache's
  (as DVC's default cache types, reflink or copy): a step that writes its input leaves the cache
  as it was;
- the cache (``<home>/store-cache``, a local ``BlobStore``) is bounded: past
  ``SCIDEX_REPLAY_STORE_CACHE_MB`` (default 10240) the least recently used blobs are dropped;
  the blob being used is kept even if larger than the bound. Temp files of killed downloads
  (``store-cache/tmp``) older than an hour are removed when the cache is scanned; younger ones
  count against the bound. A cached copy another process evicts under a reader is fetched
  again. A cache that cannot be written is skipped when a step has its own copy (one
  ``StoreNotice``) and is one line naming it otherwise (``StoreUnwritable``, ``StorageError``
  for a full disk), never blamed on the store;
- the URL must name one lasting, shared place: an object store URL needs a bucket, a folder
  (``file://`` or a plain path) must be absolute, an in-memory filesystem is refused
  (``BadInput``);
- an S3 store gets botocore timeouts and retries unless its options say otherwise
  (``S3_CONFIG``, under ``config_kwargs`` key by key: connect 10 s, answer 60 s, 3 attempts in
  botocore's standard mode; s3fs's own retry loop, which multiplies those, is cut to 1; uploads
  send no ``Expect: 100-continue``, whose wait aiohttp does not time out): a server that accepts
  connections and never answers fails an operation in about 3 minutes.

Errors of the server come out as one line: ``StoreUnavailable`` (exit 2) for an endpoint that
cannot be reached, a missing bucket or refused credentials, ``NotFound`` for a missing blob.
``verify --repair`` (``quarantine``) moves a corrupt object to the home's quarantine and, when the
cache holds a copy that hashes right, uploads it again.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

from scidex_replay.errors import (
    NO_ROOM,
    BadInput,
    IntegrityError,
    NotFound,
    ReplayError,
    StorageError,
    StoreNotice,
    StoreUnavailable,
    StoreUnwritable,
    one_line,
    storage_error,
)
from scidex_replay.store.blobs import CHUNK, BlobStore, StoreBase, _check_unchanged, _stage, validate_hash

_KEY_RE = re.compile(r"(?:^|/)([0-9a-f]{2})/([0-9a-f]{62})$")
#: A blob whose object is older than this is uploaded again rather than skipped when it is added
#: again, which refreshes its date: ``gc`` (whose grace period is longer) never takes a blob that an
#: ``add`` has just relied on.
REFRESH_S = 3600
#: Upload part size (S3's multipart parts) and read-ahead of a download.
BLOCK = 16 * CHUNK
#: Protocols whose PUT publishes an object only once it is whole, multipart uploads included.
ATOMIC_PUT = frozenset({"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss"})
#: Protocols whose URL starts with a bucket (or container): ``s3://`` alone names none.
NEEDS_BUCKET = ATOMIC_PUT | {"oss", "r2", "b2"}
#: Protocols that keep nothing once the process ends: refused as a store.
NOT_LASTING = frozenset({"memory"})
#: botocore settings an S3 store gets unless ``SCIDEX_REPLAY_STORE_OPTIONS``' ``config_kwargs`` says
#: otherwise (key by key): seconds to connect, seconds to wait for an answer, botocore's attempts
#: (throttling and dropped connections retried with backoff). A server that accepts connections and
#: never answers fails an operation in about 3 minutes, not botocore's and s3fs's 7.
S3_CONFIG = {"connect_timeout": 10, "read_timeout": 60, "retries": {"max_attempts": 3, "mode": "standard"}}
#: s3fs's own attempts around botocore's (its default, 5, multiplies botocore's).
S3FS_RETRIES = 1
#: Reads of a cached copy that other processes evict under them, before a reader downloads its own.
READ_TRIES = 3
#: A temp file in the cache's ``tmp/`` older than this is left by a killed download: ``_evict`` removes it.
STALE_TEMP_S = 3600
CACHE_MB_ENV = "SCIDEX_REPLAY_STORE_CACHE_MB"
CACHE_MB = 10240
#: The folder under the store's prefix where the records of pending steps go (``put_pending``).
PENDING = "pending"


def _cause(exc: BaseException) -> str:
    """What went wrong, in the server's words and without the stack of wrappers around it."""
    seen = exc
    while seen.__cause__ is not None and not str(seen):
        seen = seen.__cause__
    text = one_line(seen) or type(seen).__name__
    return text[:300]


def _mtime(info: dict[str, Any]) -> float:
    """Seconds since the epoch at which the object of ``info`` (an fsspec ``info``) was last written."""
    for key in ("LastModified", "mtime", "last_modified", "updated", "created"):
        value = info.get(key)
        if isinstance(value, datetime):
            return value.timestamp()
        if isinstance(value, (int, float)):
            return float(value)
        if isinstance(value, str):
            try:
                return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
            except ValueError:
                continue
    return 0.0


def _local_error(exc: BaseException, dest: str | os.PathLike[str]) -> OSError | None:
    """The ``OSError`` in ``exc`` (or what it wraps) that writing the local file ``dest`` raised: no
    room, a read-only file system, ``dest`` itself refused. None for what the server or network said."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OSError) and (
            seen.errno in NO_ROOM or seen.errno == errno.EROFS
            or (seen.filename is not None and os.fspath(seen.filename) == os.fspath(dest))
        ):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def _drop_expect(request: Any, **kwargs: Any) -> None:
    """botocore ``before-send`` handler: no ``Expect: 100-continue`` on an upload. aiohttp waits for
    the server's ``100 Continue`` without the read timeout, so a server that never answers would
    hold an upload for ever."""
    if "Expect" in request.headers:
        del request.headers["Expect"]


def _no_expect_continue(fs: Any) -> None:
    """Have every S3 client that ``fs`` (an s3fs filesystem) makes drop ``Expect`` (``_drop_expect``)."""
    make = fs.set_session

    async def set_session(*args: Any, **kwargs: Any) -> Any:
        client = await make(*args, **kwargs)
        if client is not None and not getattr(client, "_scidex_no_expect", False):
            client.meta.events.register("before-send.s3", _drop_expect)
            client._scidex_no_expect = True
        return client

    fs.set_session = set_session


def _check_url(url: str, protocol: str | None, cls: type | None = None) -> None:
    """``BadInput`` for a store URL that would not name one shared, lasting place: an object store
    without a bucket (``s3://``), a relative path or ``file://`` URL (it would land in whatever folder
    the command runs from), a URL with one slash (``s3:/bucket``), an in-memory filesystem (its blobs
    gone at exit while the registry keeps their artifacts)."""
    from fsspec.implementations.memory import MemoryFileSystem

    protocols = {protocol} | set(() if cls is None else cls.protocol if isinstance(cls.protocol, (tuple, list)) else (cls.protocol,))
    if protocol is None:
        if re.match(r"[A-Za-z][A-Za-z0-9+.-]+:/(?!/)", url):
            raise BadInput(f"--store {url}: a URL needs two slashes after its protocol ({url.split(':', 1)[0]}://bucket/prefix)")
        if not os.path.isabs(url):
            raise BadInput(f"--store {url}: a folder must be an absolute path (file:///mnt/shared/blobs or /mnt/shared/blobs)")
        return
    rest = url.split("://", 1)[1] if "://" in url else url.split(":", 1)[1]
    if (cls is not None and issubclass(cls, MemoryFileSystem)) or protocols & NOT_LASTING:
        raise BadInput(f"--store {url}: the {protocol} protocol does not keep its blobs once the process ends; use a bucket or a shared folder")
    if protocols & {"file", "local"}:
        if not rest.startswith("/"):
            raise BadInput(f"--store {url}: a file URL must name an absolute path (file:///mnt/shared/blobs)")
        return
    if protocols & NEEDS_BUCKET and not rest.split("/", 1)[0]:
        raise BadInput(f"--store {url}: an object store URL needs a bucket ({protocol}://bucket/prefix)")


class _Follow:
    """An fsspec progress callback that hashes a download into ``path`` as it lands: a thread of its
    own reads what has reached the file since the last update (from the page cache; hashlib and
    file reads release the GIL) while the download goes on, so verifying the bytes costs no pass
    of its own. ``finish`` reads what is left (all of it for a filesystem that reports no
    progress, or that wrote another file and renamed it)."""

    def __init__(self, path: str | os.PathLike[str]):
        import threading

        self.path = os.fspath(path)
        self.fd: int | None = None
        self._restart()
        self._wake, self._done = threading.Event(), False
        self._thread = threading.Thread(target=self._follow, daemon=True)
        self._thread.start()

    def _follow(self) -> None:
        while not self._done:
            self._wake.wait(0.05)
            self._wake.clear()
            try:
                self._catch_up(written_only=True)
            except OSError:
                return  # finish() reads what is left

    def _restart(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
        self.sha = hashlib.sha256()
        self.pos = 0

    def _catch_up(self, written_only: bool = False) -> None:
        if self.fd is None:
            try:
                self.fd = os.open(self.path, os.O_RDONLY)
            except FileNotFoundError:
                return
        end = None
        if written_only and hasattr(os, "SEEK_HOLE"):  # a download in parts leaves holes: stop at the next one
            try:
                end = os.lseek(self.fd, self.pos, os.SEEK_HOLE)
            except OSError:
                return
        while data := os.pread(self.fd, CHUNK if end is None else min(CHUNK, end - self.pos), self.pos):
            self.sha.update(data)
            self.pos += len(data)

    # the fsspec Callback interface that get_file calls
    def set_size(self, size: Any) -> None:
        pass

    def relative_update(self, inc: int = 1) -> None:
        self._wake.set()

    def absolute_update(self, value: int) -> None:
        self._wake.set()

    def branched(self, *args: Any, **kwargs: Any) -> None:
        return None

    def call(self, *args: Any, **kwargs: Any) -> None:
        pass

    def _stop(self) -> None:
        self._done = True
        self._wake.set()
        self._thread.join()

    def finish(self, expected: str) -> str:
        """The hash of the file as it is now. Followed bytes that do not hash to ``expected`` are read
        again from the start: a download in parallel parts (s3fs past its block size) writes out
        of order, so what was followed may hold holes filled later."""
        self._stop()
        if self.fd is not None and os.fstat(self.fd).st_ino != os.stat(self.path).st_ino:
            self._restart()  # the file was replaced (written elsewhere, renamed): read the new one
        self._catch_up()
        if self.sha.hexdigest() != expected or self.pos != os.stat(self.path).st_size:
            self._restart()
            self._catch_up()
        return self.sha.hexdigest()

    def close(self) -> None:
        if self._thread.is_alive():
            self._stop()
        self._restart()


class RemoteBlobStore(StoreBase):
    """Blobs keyed by sha256 under ``url`` (any fsspec URL), read through a local LRU cache."""

    def __init__(self, url: str, options: dict[str, Any], cache_root: str | os.PathLike[str], cache_bytes: int | None = None):
        import fsspec
        from fsspec.core import split_protocol

        self.url = url.rstrip("/")
        self.options = dict(options)
        protocol, _ = split_protocol(url)
        _check_url(url, protocol)  # before the class: gs:// names no bucket whether gcsfs is installed or not
        try:
            cls = fsspec.get_filesystem_class(protocol or "file")
        except ValueError as exc:
            raise BadInput(f"--store {url}: unknown protocol {protocol!r} (fsspec knows {', '.join(sorted(fsspec.available_protocols())[:12])}, ...)") from exc
        except ImportError as exc:
            raise BadInput(f"--store {url}: the {protocol} protocol needs a package that is not installed ({_cause(exc)}); for S3: pip install 'scidex-replay[s3]'") from exc
        _check_url(url, protocol, cls)
        protocols = cls.protocol if isinstance(cls.protocol, (tuple, list)) else (cls.protocol,)
        # no instance shared with other code, no listings cached: another machine may add or delete meanwhile
        settings = {"skip_instance_cache": True, "use_listings_cache": False, **self.options}
        s3 = bool(set(protocols) & {"s3", "s3a"})
        if s3:  # timeouts and retries under the user's own (theirs win, key by key)
            user = settings.get("config_kwargs")
            settings["config_kwargs"] = {**S3_CONFIG, **(user if isinstance(user, dict) else {})}
        try:
            self.fs = cls(**settings)
        except TypeError as exc:
            raise BadInput(f"SCIDEX_REPLAY_STORE_OPTIONS for {protocol}: {_cause(exc)}") from exc
        if s3:
            self.fs.retries = S3FS_RETRIES
            _no_expect_continue(self.fs)
        self.prefix = cls._strip_protocol(self.url).rstrip("/")
        self.root = Path(cache_root)  # where local work happens (the cache); errors name it
        self.cache = BlobStore(cache_root)
        self.cache_bytes = cache_bytes if cache_bytes is not None else CACHE_MB << 20
        self._atomic_put = bool(set(protocols) & ATOMIC_PUT)
        self._local = bool(set(protocols) & {"file", "local"})  # a folder: its errors are the folder's permissions
        self._sound: set[str] = set()  # remote digests this process has seen whole and right
        self._checked: set[str] = set()  # cached digests hashed by this process since they arrived
        self._cache_size: int | None = None  # bytes in the cache as this process counts them (see _evict)
        self.restored = False  # the last quarantine() uploaded the blob again from the cache
        self._cache_warned = False  # a StoreNotice said the cache could not take a copy

    def __repr__(self) -> str:
        return f"RemoteBlobStore({self.url!r})"

    def __reduce__(self) -> tuple[Any, ...]:  # a Dask task carries the store: URL, options, no cache state
        return (RemoteBlobStore, (self.url, self.options, self.root, self.cache_bytes))

    # -- keys and errors ------------------------------------------------------
    def key(self, digest: str) -> str:
        validate_hash(digest)
        return f"{self.prefix}/{digest[:2]}/{digest[2:]}"

    @contextmanager
    def _remote(self, doing: str) -> Iterator[None]:
        """Turn what the server or the network answered into one line naming the store: ``cannot
        {doing} the store URL: ...``, ``doing`` with its preposition (``"read from"``, ``"upload to"``)."""
        try:
            yield
        except (NotFound, BadInput, IntegrityError, StorageError):  # said already, in one line
            raise
        except FileNotFoundError as exc:
            raise StoreUnavailable(f"cannot {doing} the store {self.url}: no such bucket or folder ({_cause(exc)})") from exc
        except PermissionError as exc:
            check = "the folder's permissions" if self._local else "the credentials"
            raise StoreUnavailable(f"cannot {doing} the store {self.url}: access refused ({_cause(exc)}); check {check}") from exc
        except Exception as exc:  # botocore's connection errors, aiohttp's, OSError... (never KeyboardInterrupt: not an Exception)
            raise StoreUnavailable(f"cannot {doing} the store {self.url}: {type(exc).__name__}: {_cause(exc)}") from exc

    def _info(self, key: str) -> dict[str, Any] | None:
        """The object's info, or None when there is none."""
        with self._remote("read from"):
            try:
                return self.fs.info(key)
            except FileNotFoundError:
                self._check_root()
                return None

    def _check_root(self) -> None:
        """Raise ``StoreUnavailable`` when the bucket itself is missing (an object missing is no error)."""
        bucket = self.prefix.split("/", 1)[0]
        if self.fs.protocol and set(self.fs.protocol if isinstance(self.fs.protocol, tuple) else [self.fs.protocol]) & {"s3", "s3a", "gs", "gcs"}:
            if not self.fs.exists(bucket):
                raise FileNotFoundError(f"bucket {bucket} does not exist")

    # -- what is stored --------------------------------------------------------
    def has(self, digest: str) -> bool:
        return self._info(self.key(digest)) is not None

    def size(self, digest: str) -> int:
        info = self._info(self.key(digest))
        if info is None:
            raise NotFound(f"blob {digest[:12]} is missing from the store {self.url}")
        return int(info["size"])

    def verify(self, digest: str) -> bool:
        """True when the blob exists and its bytes (read from the server, not the cache) hash to ``digest``."""
        key = self.key(digest)
        if self._info(key) is None:
            return False
        with self._remote("read from"):
            h = hashlib.sha256()
            with self.fs.open(key, "rb", block_size=BLOCK) as fh:
                while chunk := fh.read(CHUNK):
                    h.update(chunk)
        ok = h.hexdigest() == digest
        (self._sound.add if ok else self._sound.discard)(digest)
        return ok

    def iter_blobs(self) -> Iterator[tuple[str, int, float]]:
        """``(digest, size, mtime)`` of every blob filed in the store (by key; ``verify`` checks bytes)."""
        with self._remote("list"):
            if not self.fs.exists(self.prefix):
                self._check_root()
                return
            found = self.fs.find(self.prefix, detail=True)
        base = len(self.prefix) + 1
        for name, info in sorted(found.items()):
            m = _KEY_RE.search(name[base:] if name.startswith(self.prefix) else name)
            if m and name[base:].count("/") == 1:
                yield m.group(1) + m.group(2), int(info.get("size") or 0), _mtime(info)

    def iter_digests(self) -> Iterator[str]:
        for digest, _, _ in self.iter_blobs():
            yield digest

    def remove(self, digest: str) -> None:
        self._delete(self.key(digest))
        self._sound.discard(digest)
        self.cache.remove(digest)

    # -- what the store holds besides blobs: pending steps' records, incomplete uploads --------
    def _pending_key(self, name: str) -> str:
        name = os.path.basename(name)
        if not re.fullmatch(r"[\w.-]+\.json", name):
            raise BadInput(f"{name!r}: not the name of a pending step's record")
        return f"{self.prefix}/{PENDING}/{name}"

    def put_pending(self, name: str, data: bytes) -> None:
        """File ``data`` (the record of a step kept aside: ``pending.keep``) as ``<prefix>/pending/<name>``,
        a key no blob has, so that ``gc`` from any data home keeps the blobs it names; whole or not at
        all (a filesystem without atomic PUTs gets a temp object, then a rename)."""
        key = self._pending_key(name)
        tmp = key if self._atomic_put else f"{self.prefix}/tmp/pending-{uuid.uuid4().hex}"
        try:
            with self._remote("upload to"):
                self._folders(tmp, key)
                self.fs.pipe_file(tmp, data)
                if tmp != key:
                    self.fs.mv(tmp, key)
        except BaseException:
            if tmp != key:
                self._drop(tmp)
            raise

    def pending_records(self) -> list[tuple[str, bytes]]:
        """``(name, bytes)`` of every pending step's record filed in the store (``put_pending``), by name."""
        folder = f"{self.prefix}/{PENDING}"
        with self._remote("list"):
            if not self.fs.exists(folder):
                return []
            names = sorted(n for n in self.fs.find(folder) if n.endswith(".json"))
            found = []
            for name in names:
                try:
                    found.append((name.rsplit("/", 1)[-1], self.fs.cat_file(name)))
                except FileNotFoundError:  # recorded meanwhile
                    continue
        return found

    def remove_pending(self, name: str) -> None:
        """Delete the record ``put_pending`` filed as ``name`` (none: nothing to do)."""
        self._delete(self._pending_key(name))

    def incomplete_uploads(self, older_than_s: float) -> list[tuple[str, str, int | None]]:
        """``(key, upload id, bytes in its parts or None)`` of the multipart uploads begun under the
        store's prefix more than ``older_than_s`` seconds ago and never completed nor aborted (an
        ``add`` interrupted mid-upload leaves one; S3 bills its parts). ``[]`` on a filesystem
        without multipart uploads (anything but S3)."""
        if not hasattr(self.fs, "call_s3"):
            return []
        bucket, _, under = self.prefix.partition("/")
        under = f"{under}/" if under else ""
        now = time.time()
        found: list[tuple[str, str, int | None]] = []
        markers: dict[str, str] = {}
        with self._remote("list"):
            while True:
                page = self.fs.call_s3("list_multipart_uploads", Bucket=bucket, Prefix=under, **markers)
                for upload in page.get("Uploads") or ():
                    key = upload.get("Key", "")
                    if not key.startswith(under) or now - _mtime({"created": upload.get("Initiated")}) <= older_than_s:
                        continue
                    found.append((f"{bucket}/{key}", upload["UploadId"], self._upload_bytes(bucket, key, upload["UploadId"])))
                if not page.get("IsTruncated"):
                    break
                markers = {"KeyMarker": page.get("NextKeyMarker", ""), "UploadIdMarker": page.get("NextUploadIdMarker", "")}
        return found

    def _upload_bytes(self, bucket: str, key: str, upload_id: str) -> int | None:
        try:
            parts = self.fs.call_s3("list_parts", Bucket=bucket, Key=key, UploadId=upload_id)
        except Exception:  # gone meanwhile, or a server that does not say: the bytes are unknown
            return None
        return sum(int(p.get("Size") or 0) for p in parts.get("Parts") or ())

    def abort_upload(self, key: str, upload_id: str) -> None:
        """Abort the incomplete multipart upload ``upload_id`` of ``key`` (``bucket/path``, as
        ``incomplete_uploads`` names it): the server drops its parts. Already gone: nothing to do."""
        bucket, _, path = key.partition("/")
        with self._remote("delete in"):
            try:
                self.fs.call_s3("abort_multipart_upload", Bucket=bucket, Key=path, UploadId=upload_id)
            except FileNotFoundError:
                pass

    def stale_temps(self, older_than_s: float) -> list[str]:
        """Names of the temp objects of interrupted uploads older than ``older_than_s``."""
        now = time.time()
        with self._remote("list"):
            if not self.fs.exists(f"{self.prefix}/tmp"):
                return []
            found = self.fs.find(f"{self.prefix}/tmp", detail=True)
        return [name.rsplit("/", 1)[-1] for name, info in sorted(found.items()) if now - _mtime(info) > older_than_s]

    def remove_temp(self, name: str) -> None:
        with self._remote("delete in"):
            self.fs.rm(f"{self.prefix}/tmp/{os.path.basename(name)}")

    def quarantine(self, digest: str, where: Path) -> Path:
        """Move the blob's object out of the store, into ``where`` (a local folder) as ``<digest>``.

        Only the remote object is taken: a cached copy whose bytes hash to ``digest`` is kept, and
        uploaded again under its key, so the bucket is whole again (``restored`` is then True, and
        a ``StoreNotice`` says so); a cached copy that does not hash right is dropped."""
        import warnings

        from scidex_replay.errors import StoreNotice

        where.mkdir(parents=True, exist_ok=True)
        kept = where / digest
        key = self.key(digest)
        with self._remote("download from"):
            self.fs.get_file(key, str(kept))
        self._delete(key)
        self._sound.discard(digest)
        self.restored = False
        cached = self.cache.path(digest)
        if cached.is_file():
            if self.cache.verify(digest):
                self._upload_file(cached, digest, cached.stat().st_size, lambda: None)
                self.restored = True
                warnings.warn(StoreNotice(f"uploaded blob {digest[:12]} to the store {self.url} again from the sound copy in the cache {self.cache.root}"), stacklevel=2)
            else:
                self.cache.remove(digest)
                self._checked.discard(digest)
        return kept

    def check_writable(self) -> None:
        """The local cache must be writable; the server says for itself at the first upload."""
        self.cache.check_writable()

    # -- writes ---------------------------------------------------------------
    def _sound_remote(self, digest: str, size: int) -> bool:
        """True when the final key holds ``size`` bytes hashing to ``digest`` and its object is
        younger than ``REFRESH_S`` (an older one is uploaded again: see ``REFRESH_S``)."""
        info = self._info(self.key(digest))
        if info is None or int(info["size"]) != size or time.time() - _mtime(info) > REFRESH_S:
            return False
        return digest in self._sound or self.verify(digest)

    def put_file(self, src: str | os.PathLike[str], expected: str | None = None) -> tuple[str, int]:
        """Store the bytes of ``src``; return ``(sha256, size)``. Idempotent (see the module's docstring).

        A regular file is hashed first: bytes already stored (and sound) are not uploaded. A file
        that changes while it is read is ``BadInput``, nothing stored.
        """
        import stat

        from scidex_replay.errors import storage_error

        try:
            with open(src, "rb") as fh:
                before = os.fstat(fh.fileno())
                if stat.S_ISREG(before.st_mode):
                    digest = hashlib.file_digest(fh, "sha256").hexdigest()
                    size = fh.tell()
                    _check_unchanged(src, fh, before, size)
                    if self._sound_remote(digest, size):
                        return digest, size
                    self._upload_file(src, digest, size, lambda: _check_unchanged(src, fh, before, size))
                    return digest, size
                return self._upload(fh)
        except OSError as exc:
            raise storage_error(exc, src, self.root) from exc

    def put_stream(self, stream: BinaryIO) -> tuple[str, int]:
        """Store the bytes read from ``stream`` until EOF; return ``(sha256, size)``. Idempotent."""
        return self._upload(stream)

    def _upload(self, stream: BinaryIO, check: Any = None) -> tuple[str, int]:
        tmp = f"{self.prefix}/tmp/put-{uuid.uuid4().hex}"
        sha, md5 = hashlib.sha256(), hashlib.md5(usedforsecurity=False)
        size = 0
        buf = bytearray(CHUNK)
        view = memoryview(buf)
        try:
            with self._remote("upload to"):
                self._folders(tmp)
                with self.fs.open(tmp, "wb", block_size=BLOCK) as out:
                    while n := stream.readinto(buf):
                        chunk = view[:n]
                        sha.update(chunk)
                        md5.update(chunk)
                        out.write(bytes(chunk))
                        size += n
            if check is not None:
                check(size)
            digest = sha.hexdigest()
            final = self.key(digest)
            if self._sound_remote(digest, size):
                self._drop(tmp)
                return digest, size
            self._check_uploaded(tmp, size, md5.hexdigest())
            with self._remote("upload to"):
                self._folders(final)
                self.fs.mv(tmp, final)
            self._sound.add(digest)
            return digest, size
        except BaseException:
            self._drop(tmp)
            raise

    def _upload_file(self, src: str | os.PathLike[str], digest: str, size: int, check: Any) -> None:
        """Upload the regular file ``src`` (whose bytes hash to ``digest``) as s3fs uploads a file and
        check it (``check()``: the file unchanged; the size the server holds). On an object store whose PUT
        publishes an object only once it is whole (S3, GCS, Azure: ``ATOMIC_PUT``) it goes straight
        under ``digest``'s key, and is deleted again when the check fails; elsewhere to a temp key,
        moved under its name once checked."""
        final = self.key(digest)
        tmp = final if self._atomic_put else f"{self.prefix}/tmp/put-{uuid.uuid4().hex}"
        try:
            with self._remote("upload to"):
                self._folders(tmp, final)
                self.fs.put_file(os.fspath(src), tmp)
            check()
            self._check_uploaded(tmp, size, None)  # the bytes themselves: botocore sends a checksum the server checks
            if tmp != final:
                with self._remote("upload to"):
                    self.fs.mv(tmp, final)
            self._sound.add(digest)
        except BaseException:
            self._drop(tmp)
            raise

    def _check_uploaded(self, tmp: str, size: int, md5: str | None, info: dict | None = None) -> None:
        """``IntegrityError`` unless the server holds ``size`` bytes at ``tmp`` (and, where its ETag
        is the MD5 of the object, the MD5 of the bytes sent)."""
        info = info or self._info(tmp)
        if info is None or int(info["size"]) != size:
            got = "nothing" if info is None else f"{info['size']} bytes"
            raise IntegrityError(f"the store {self.url} holds {got} after an upload of {size} bytes; nothing was stored")
        etag = str(info.get("ETag") or "").strip('"')
        if md5 and re.fullmatch(r"[0-9a-f]{32}", etag) and etag != md5:
            raise IntegrityError(f"the store {self.url} holds other bytes than those uploaded (MD5 {etag}, sent {md5}); nothing was stored")

    def _folders(self, *keys: str) -> None:
        """Make the folders of ``keys`` on a filesystem that has folders (not on an object store)."""
        if not self._atomic_put:
            for key in keys:
                self.fs.makedirs(key.rsplit("/", 1)[0], exist_ok=True)

    def _delete(self, key: str) -> None:
        """Delete the object ``key``; one already gone is no error."""
        with self._remote("delete in"):
            try:
                self.fs.rm(key)
            except FileNotFoundError:
                pass

    def _drop(self, key: str) -> None:
        try:
            self.fs.rm(key)
        except Exception:  # best effort: a stray temp object is what verify --repair removes
            pass

    # -- reads through the cache ------------------------------------------------
    def _get(self, digest: str, dest: str | os.PathLike[str]) -> str:
        """Download the blob to ``dest`` as s3fs downloads a file (one streamed GET), hashing it as it
        lands (``_Follow``); return the sha256 of the bytes at ``dest``. ``NotFound`` when the store
        has no such blob."""
        key = self.key(digest)
        follow = _Follow(dest)
        try:
            with self._remote("download from"):
                try:
                    self.fs.get_file(key, os.fspath(dest), callback=follow)  # its first request opens ``dest``
                except FileNotFoundError as exc:
                    if _local_error(exc, dest) is None:
                        self._check_root()
                        raise NotFound(f"blob {digest[:12]} is missing from the store {self.url}") from None
                    raise self._write_error(exc, digest, Path(dest).parent) from exc
                except OSError as exc:
                    local = _local_error(exc, dest)
                    if local is None:
                        raise
                    raise self._write_error(local, digest, Path(dest).parent) from exc
            got = follow.finish(digest)
        finally:
            follow.close()
        if got == digest:
            self._sound.add(digest)
        return got

    def _write_error(self, exc: OSError, digest: str, where: Path) -> ReplayError:
        """The one-line error for ``exc``, raised while blob ``digest`` was written in the local folder
        ``where`` (the cache or a step's folder): ``StorageError`` when there is no room, else
        ``StoreUnwritable`` naming the folder (exit 2 both)."""
        blob = f"blob {digest[:12]} of the store {self.url}"
        if exc.errno in NO_ROOM:
            return storage_error(exc, blob, where)
        named = f"{exc.filename}: " if exc.filename else ""
        cache = " (the store's local cache: remove or fix it)" if where == self.cache.root or self.cache.root in where.parents else ""
        return StoreUnwritable(f"cannot write {blob} in {where}{cache}: {named}{exc.strerror or exc}")

    @contextmanager
    def _cache_writing(self, digest: str) -> Iterator[None]:
        """Turn a failure to write in the cache (a file in the way, no room, a permission) into a one-line
        error naming the cache directory (``_write_error``)."""
        try:
            yield
        except OSError as exc:
            raise self._write_error(exc, digest, self.cache.root) from exc

    @contextmanager
    def _cache_entry(self) -> Iterator[Path]:
        """A temp file in the cache to fill; filed under the digest given to ``_file`` (gone otherwise).
        Nothing is fsynced: the cache is rebuilt from the store at will, and every use of it hashes
        what it reads."""
        import tempfile

        tmp_dir = self.cache.root / "tmp"
        tmp_dir.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=tmp_dir, prefix="get-")
        os.close(fd)
        try:
            yield Path(tmp)
        finally:
            Path(tmp).unlink(missing_ok=True)

    def _file(self, tmp: Path, digest: str) -> None:
        final = self.cache.path(digest)
        final.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(tmp, 0o444)
        size = os.stat(tmp).st_size
        os.replace(tmp, final)
        self._evict(keep=digest, added=size)

    def _fetch(self, digest: str) -> str:
        """Download the blob into the cache; return the hash of the bytes the server sent (filed
        in the cache under that hash, so a damaged object never lands under its name)."""
        with self._cache_writing(digest), self._cache_entry() as tmp:
            got = self._get(digest, tmp)
            self._file(tmp, got)
        self._checked.add(got)
        return got

    def _tee(self, digest: str, dest: str | os.PathLike[str]) -> str:
        """Download the blob straight to ``dest``; when its bytes are the blob's, give the cache a copy
        made in the kernel (``_stage`` without its hash: unlike ``_fetch``'s, this copy is hashed
        when it is next used, not now, so the step waits for one pass over the bytes, not two).
        Return the hash of the bytes at ``dest``."""
        got = self._get(digest, dest)
        if got == digest:
            try:
                with self._cache_entry() as tmp:
                    with open(dest, "rb") as src, open(tmp, "w+b") as out:
                        _stage(src, out, hashed=False)
                    self._file(tmp, digest)
            except OSError as exc:  # the step has its copy: the cache's is a nicety, skipped (said once)
                if not self._cache_warned:
                    import warnings

                    self._cache_warned = True
                    warnings.warn(StoreNotice(f"not caching blobs of the store {self.url} in {self.cache.root}: {one_line(exc)}"), stacklevel=2)
        return got

    def _cached(self, digest: str) -> str:
        """The hash of the bytes the cache holds for ``digest``, fetching them when it has none."""
        path = self.cache.path(digest)
        if path.is_file():
            try:
                os.utime(path)  # the LRU's clock
            except OSError:
                pass
            return digest
        return self._fetch(digest)

    def path(self, digest: str) -> Path:
        """A local file holding the blob's bytes, verified (the cache's copy; fetched when absent).
        ``NotFound`` when the store has no such blob, ``IntegrityError`` when its bytes are damaged."""
        got = self._cached(digest)
        if got == digest and digest not in self._checked:
            if not self.cache.verify(digest):
                self.cache.remove(digest)
                got = self._fetch(digest)
            self._checked.add(digest)
        if got != digest:
            raise IntegrityError(f"blob {digest[:12]} in the store {self.url} is corrupt: its bytes hash to {got[:12]}")
        return self.cache.path(digest)

    def open(self, digest: str) -> BinaryIO:
        """The blob's verified bytes, opened for reading (see ``path``). A cached copy that another
        process evicts between ``path`` and the open is fetched again (``READ_TRIES`` times); past
        that, the blob is downloaded to a file of this reader's own, opened, then unlinked."""
        for _ in range(READ_TRIES):
            path = self.path(digest)
            try:
                return open(path, "rb")
            except FileNotFoundError:  # evicted by another process sharing the cache
                self._checked.discard(digest)
        with self._cache_writing(digest), self._cache_entry() as tmp:
            got = self._get(digest, tmp)
            if got != digest:
                raise IntegrityError(f"blob {digest[:12]} in the store {self.url} is corrupt: its bytes hash to {got[:12]}")
            return open(tmp, "rb")  # the entry is unlinked on the way out; this file stays readable

    def open_verified(self, digest: str) -> BinaryIO:
        """``open``: its bytes are the cache's, hashed (and downloaded once when absent) by ``path``."""
        return self.open(digest)

    def copy_out(self, digest: str, dest: str | os.PathLike[str]) -> str:
        """Give ``dest`` a copy of the blob; return the sha256 of the bytes at ``dest`` (the caller
        compares it with the one it expects: a damaged object gives another one)."""
        if not self.cache.path(digest).is_file():
            return self._tee(digest, dest)  # one download to the step's copy, then a copy in the cache
        got = self._cached(digest)
        out = self._copy_cached(got, dest)
        if out is not None and out != got:  # the cached copy was damaged since it arrived: fetch it again
            self.cache.remove(got)
            self._checked.discard(got)
            got = self._fetch(digest)
            out = self._copy_cached(got, dest)
        if out is None:  # evicted by another process meanwhile: download to the step's copy
            return self._tee(digest, dest)
        if got != digest:
            self.cache.remove(got)
        return out

    def _copy_cached(self, digest: str, dest: str | os.PathLike[str]) -> str | None:
        """``cache.copy_out``, or None when the cached copy is gone (another process evicted it)."""
        try:
            return self.cache.copy_out(digest, dest)
        except NotFound:
            self._checked.discard(digest)
            return None

    def _sweep_temps(self) -> int:
        """Remove the cache's temp files older than ``STALE_TEMP_S`` (left by killed downloads); return
        the bytes of the younger ones (downloads under way), which count against the bound."""
        now, young = time.time(), 0
        try:
            entries = list(os.scandir(self.cache.root / "tmp"))
        except OSError:
            return 0
        for entry in entries:
            try:
                st = entry.stat(follow_symlinks=False)
                if now - st.st_mtime > STALE_TEMP_S:
                    os.unlink(entry.path)
                else:
                    young += st.st_size
            except OSError:  # gone meanwhile, or not ours to remove
                continue
        return young

    def _evict(self, keep: str, added: int) -> None:
        """Drop the least recently used cached blobs until the cache fits ``cache_bytes``, ``added``
        bytes having just been filed. ``keep`` (the blob being used) is kept even if larger than the
        bound; the temp files of killed downloads are swept (``_sweep_temps``). The cache's size is read (a ``stat`` per entry: 0.3 s for 20k
        entries) at the first blob this store files and whenever the bytes it has filed since take
        it past the bound, not at every blob: other processes sharing the cache can take it past
        the bound by what they file meanwhile, until one of them next reads it."""
        if self._cache_size is not None:
            self._cache_size += added
            if self._cache_size <= self.cache_bytes:
                return
        entries = []
        total = 0
        for digest in self.cache.iter_digests():
            try:
                st = self.cache.path(digest).stat()
            except FileNotFoundError:
                continue
            total += st.st_size
            entries.append((st.st_mtime, st.st_size, digest))
        total += self._sweep_temps()
        for _, size, digest in sorted(entries):
            if total <= self.cache_bytes:
                break
            if digest == keep:
                continue
            self.cache.remove(digest)
            self._checked.discard(digest)
            total -= size
        self._cache_size = total
