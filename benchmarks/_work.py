"""CPU-bound step functions for the Dask benchmark (imported by name, as ``python.call`` records them)."""

import hashlib
from pathlib import Path


def spin(inputs, output, rounds: int = 0, k: int = 0) -> None:
    """Output = the inputs' bytes, then the hex digest of ``rounds`` chained sha256 of a 64 KiB block (CPU only)."""
    data = b"".join(Path(p).read_bytes() for p in inputs)
    block = (data + str(k).encode()) * (65536 // max(1, len(data) + 8) + 1)
    digest = hashlib.sha256(block[:65536]).digest()
    for _ in range(rounds):
        digest = hashlib.sha256(digest + block[:65536]).digest()
    Path(output).write_bytes(data + digest.hex().encode() + b"\n")
