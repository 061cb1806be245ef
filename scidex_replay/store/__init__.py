"""Content-addressed blob store (sha256), atomic writes, streaming reads.

Two implementations of one interface (``StoreBase``): ``BlobStore``, a local directory (the
default, ``<home>/blobs``), and ``RemoteBlobStore``, any fsspec URL shared by a team
(``--store`` / ``SCIDEX_REPLAY_STORE``), read through a local cache. ``open_store`` picks one.
"""

from __future__ import annotations

import os
from pathlib import Path

from scidex_replay.store.blobs import BlobStore, StoreBase, hash_bytes, hash_file, validate_hash

__all__ = ["BlobStore", "StoreBase", "hash_bytes", "hash_file", "open_store", "validate_hash"]


def open_store(home: str | os.PathLike[str], url: str | None = None, options: dict | None = None) -> StoreBase:
    """The blob store of a data home: at ``url`` (default ``$SCIDEX_REPLAY_STORE``) read through the
    cache ``<home>/store-cache``, else the local ``<home>/blobs``.

    ``BadInput`` for an unknown protocol, a URL that names no lasting, shared place (an object store
    without a bucket, a relative folder, ``memory://``), options that are not a JSON object
    (``$SCIDEX_REPLAY_STORE_OPTIONS``) or a cache size that is not a finite number of MB >= 0; the server itself
    is first asked at the first read or write (``StoreUnavailable`` then).
    """
    from scidex_replay.config import store_options, store_url

    home = Path(home)
    url = url or store_url()
    if not url:
        return BlobStore(home / "blobs")
    from scidex_replay.errors import BadInput
    from scidex_replay.store.remote import CACHE_MB, CACHE_MB_ENV, RemoteBlobStore

    raw = os.environ.get(CACHE_MB_ENV, "").strip()
    try:
        cache_mb = float(raw) if raw else CACHE_MB
        if not 0 <= cache_mb < 1 << 43:  # a finite size (8 EiB at most): inf, 1e400 and nan are none
            raise ValueError
    except ValueError:
        raise BadInput(f"{CACHE_MB_ENV}={raw!r}: not a finite size in MB >= 0") from None
    return RemoteBlobStore(url, store_options() if options is None else options, home / "store-cache", int(cache_mb * (1 << 20)))
