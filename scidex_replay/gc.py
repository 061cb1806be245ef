"""``gc``: delete the blobs that nothing references, once they are older than a grace period.

Referenced means: an artifact's bytes, a replay result's replayed output(s), a blob named in a
run's manifest (a comparator's diff or image, ``*_blob``), or a blob a pending step keeps
(``<home>/pending``, and on a shared store the pending steps of every home: ``<prefix>/pending``). Works on both stores (the local ``<home>/blobs``, a shared ``--store URL``).

A blob is taken only when it is unreferenced *and* older than the grace period (default one
day). Blobs are listed first and references read after, so a blob an ``add`` stores and then
references is either seen referenced or seen young: a put dates the blob it writes, and one it
finds already stored is dated again (the local store touches it; the remote store uploads
again an object older than ``remote.REFRESH_S``, one hour). Each candidate's date is read again
just before it is deleted.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

from scidex_replay.errors import BadInput
from scidex_replay.integrity import STALE_S
from scidex_replay.pending import pending_blobs, pending_files, shared_pending_blobs
from scidex_replay.registry import Registry

#: The default grace period, in seconds: one day.
GRACE_S = 86400.0
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
_HASH = re.compile(r"[0-9a-f]{64}")


def parse_grace(text: str) -> float:
    """Seconds in ``text``: a number >= 0 with an optional unit ``s``, ``m``, ``h`` or ``d`` (``90s``,
    ``12h``, ``7d``). ``BadInput`` for anything else."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", text or "")
    if not m:
        raise BadInput(f"--grace {text!r}: not a duration (a number >= 0 with an optional unit s, m, h or d: 90s, 12h, 7d)")
    return float(m.group(1)) * _UNITS[m.group(2)]


@dataclass(frozen=True)
class GcReport:
    """What ``collect`` did (or, with ``dry_run``, would do): the blobs taken as ``(digest, size)``,
    their total bytes, and how many blobs were kept for being referenced or too young."""

    deleted: tuple[tuple[str, int], ...]
    bytes_freed: int
    referenced: int
    young: int
    dry_run: bool
    #: ``(key, bytes in its parts or None)`` of the incomplete multipart uploads aborted (``dry_run``: found)
    uploads: tuple[tuple[str, int | None], ...] = ()


def referenced(registry: Registry) -> set[str]:
    """Every digest something points at: the registry's (artifacts, results, manifests) and the pending
    steps' (this home's ``<home>/pending``; on a shared store, the records every home filed there), whatever their age."""
    refs = set(registry.referenced_digests())
    refs.update(registry.manifest_blobs())
    for path in pending_files(registry):
        refs.update(pending_blobs(path))
    refs.update(shared_pending_blobs(registry))  # those of every data home sharing the store
    return refs


def collect(registry: Registry, grace_s: float = GRACE_S, dry_run: bool = False, uploads_older_than_s: float | None = None) -> GcReport:
    """Delete (``dry_run``: only list) the blobs of ``registry.store`` that nothing references and
    that are older than ``grace_s`` seconds, and abort (``dry_run``: list) the incomplete multipart
    uploads under the store's prefix (S3) begun more than ``uploads_older_than_s`` seconds ago
    (default: the grace period, and never less than an hour, ``integrity.STALE_S``: an upload may
    still be under way). Never deletes a referenced blob. ``BadInput`` for a negative grace;
    ``StoreUnavailable`` for a remote store that cannot be reached."""
    if not grace_s >= 0:
        raise BadInput(f"grace period {grace_s!r}: must be a number of seconds >= 0")
    store = registry.store
    listed = list(store.iter_blobs())  # first the blobs, then the references (see the module's docstring)
    refs = referenced(registry)
    deleted: list[tuple[str, int]] = []
    kept_ref = young = 0
    now = time.time()
    for digest, size, mtime in listed:
        if digest in refs:
            kept_ref += 1
            continue
        if now - mtime < grace_s:
            young += 1
            continue
        deleted.append((digest, size))
    if not dry_run and deleted:
        refs = referenced(registry)  # once more, right before deleting: an add that finished meanwhile
        current = {d: (s, m) for d, s, m in store.iter_blobs()} if deleted else {}
        taken = []
        for digest, size in deleted:
            if digest in refs or digest not in current or time.time() - current[digest][1] < grace_s:
                continue
            store.remove(digest)
            taken.append((digest, size))
        deleted = taken
    if uploads_older_than_s is None:
        uploads_older_than_s = max(grace_s, STALE_S)
    uploads = []
    for key, upload_id, size in getattr(store, "incomplete_uploads", lambda _s: [])(uploads_older_than_s):
        if not dry_run:
            store.abort_upload(key, upload_id)
        uploads.append((key, size))
    return GcReport(tuple(deleted), sum(s for _, s in deleted), kept_ref, young, dry_run, tuple(uploads))
