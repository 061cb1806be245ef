"""``verify``: every blob against its hash, every registry reference against the store.

Works on either store (the local ``<home>/blobs`` or a shared ``--store URL``).
Reports without changing anything unless asked to repair. Repair never deletes
user data: a corrupt blob is moved to ``<home>/quarantine`` (from a remote store: downloaded there, then deleted from it) (so it can never be
used as if it were intact), and temp files of interrupted writes older than an
hour are removed (younger ones may belong to a write in progress).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from scidex_replay.errors import NotFound, StoreUnavailable

from scidex_replay.pending import pending_blobs, pending_files, shared_pending_blobs
from scidex_replay.registry import Registry


STALE_S = 3600


@dataclass(frozen=True)
class Problem:
    kind: str  # "corrupt", "missing", "orphan", "temp", "upload" (an incomplete multipart upload), "gone"
    digest: str
    detail: str


@dataclass(frozen=True)
class VerifyReport:
    checked: int
    problems: tuple[Problem, ...] = ()
    repaired: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return not any(p.kind in ("corrupt", "missing") for p in self.problems)


def _sound(store: Any, digest: str) -> bool | None:
    """Whether the blob's bytes hash to ``digest``; None when it is no longer in the store (deleted
    since it was listed: the object is gone, the store itself answers). ``StoreUnavailable`` otherwise."""
    try:
        if store.verify(digest):
            return True
    except (StoreUnavailable, NotFound, FileNotFoundError):
        if store.has(digest):
            raise
        return None
    return False if store.has(digest) else None  # a remote store's verify is False for a missing object


def _bytes(size: int | None) -> str:
    return "bytes unknown" if size is None else f"{size} bytes"


def verify(registry: Registry, repair: bool = False, stale_s: float = STALE_S) -> VerifyReport:
    """Check every blob of ``registry.store`` against its hash and every reference against the store;
    report temp objects and (on S3) incomplete multipart uploads older than ``stale_s`` seconds.
    ``repair``: quarantine corrupt blobs, remove those temps, abort those uploads.
    ``StoreUnavailable`` for a remote store that cannot be reached."""
    store = registry.store
    refs = registry.referenced_digests()
    for path in pending_files(registry):  # a step kept aside until the registry takes it (pending.py)
        for digest in pending_blobs(path):
            refs.setdefault(digest, []).append(f"pending:{path.name}")
    for digest, users in shared_pending_blobs(registry).items():  # on a shared store: those of every home
        refs.setdefault(digest, []).extend(users)
    refs = {digest: list(dict.fromkeys(users)) for digest, users in refs.items()}  # each user once
    problems: list[Problem] = []
    repaired: list[str] = []
    on_disk = set(store.iter_digests())  # on a remote store (--store URL): its objects, read from the server
    for digest in sorted(on_disk | set(refs)):
        users = ", ".join(refs.get(digest, [])[:3]) or "no artifact"
        if digest not in on_disk:
            problems.append(Problem("missing", digest, f"referenced by {users}"))
            continue
        sound = _sound(store, digest)
        if sound is None:  # listed, then deleted before its bytes were read: by a gc, or another repair
            if digest in refs:
                problems.append(Problem("missing", digest, f"referenced by {users}; deleted from the store while verify ran"))
            else:
                problems.append(Problem("gone", digest, "deleted from the store while verify ran (by gc or another repair)"))
        elif not sound:
            problems.append(Problem("corrupt", digest, f"bytes do not hash to their name; used by {users}"))
            if repair:
                quarantine = registry.home / "quarantine"
                try:
                    store.quarantine(digest, quarantine)
                    repaired.append(f"moved corrupt blob {digest[:12]} to {quarantine}")
                except (StoreUnavailable, NotFound, FileNotFoundError):
                    if store.has(digest):
                        raise
                    repaired.append(f"corrupt blob {digest[:12]} was moved out of the store meanwhile (by another repair)")
        elif digest not in refs:
            problems.append(Problem("orphan", digest, "in the store but referenced by nothing"))
    for stray in store.stale_temps(stale_s):
        problems.append(Problem("temp", stray, "temp file of an interrupted write"))
        if repair:
            store.remove_temp(stray)
            repaired.append(f"removed temp file {stray}")
    for key, upload_id, size in getattr(store, "incomplete_uploads", lambda _s: [])(stale_s):
        problems.append(Problem("upload", key, f"incomplete multipart upload of an interrupted write ({_bytes(size)} in its parts)"))
        if repair:
            store.abort_upload(key, upload_id)
            repaired.append(f"aborted the incomplete upload of {key} ({_bytes(size)})")
    return VerifyReport(checked=len(on_disk), problems=tuple(problems), repaired=tuple(repaired))
