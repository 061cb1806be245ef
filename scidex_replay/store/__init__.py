"""Content-addressed blob store (sha256), atomic writes, streaming reads."""

from scidex_replay.store.blobs import BlobStore, hash_bytes, hash_file, validate_hash

__all__ = ["BlobStore", "hash_bytes", "hash_file", "validate_hash"]
