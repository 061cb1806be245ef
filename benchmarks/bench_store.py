"""Content-hashing throughput of the blob store against raw hashlib and ``openssl dgst -sha256``.

On the same 1 GiB file of random bytes (made in a temp dir, read once first so
every reader starts from a warm page cache), each the median of ``--repeat`` runs:

- baseline: ``hashlib.file_digest(f, "sha256")``;
- ``openssl dgst -sha256 FILE`` (a process of its own);
- ``BlobStore.verify`` of the stored blob (what ``scidex-replay verify`` does per blob);
- ``BlobStore.put_file`` of bytes already stored (a replay that reproduced: hashed only);
- ``BlobStore.put_file`` of new bytes (``add``: hashed, copied into the store, fsynced);

then two different 1 GiB files at once in two threads (raw hashlib, verify, and add).
GB/s means 10^9 bytes per second.

    .venv/bin/python benchmarks/bench_store.py [--size-mib 1024] [--repeat 3]
"""

from __future__ import annotations

import argparse
import hashlib
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from scidex_replay.store import BlobStore  # noqa: E402


def make_file(path: Path, size: int, seed: int) -> None:
    rng = random.Random(seed)
    chunk = 64 << 20
    with open(path, "wb") as fh:
        left = size
        while left:
            n = min(chunk, left)
            fh.write(rng.randbytes(n))
            left -= n


def warm(path: Path) -> None:
    with open(path, "rb") as fh:
        while fh.read(8 << 20):
            pass


def raw_hash(path: Path) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def openssl_hash(path: Path) -> str:
    out = subprocess.run(["openssl", "dgst", "-sha256", "-r", str(path)], check=True, capture_output=True, text=True).stdout
    return out.split()[0]


def median_time(fn, repeat: int, before=None) -> float:
    times = []
    for _ in range(repeat):
        if before:
            before()
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def in_threads(fn, args_list) -> None:
    threads = [threading.Thread(target=fn, args=args) for args in args_list]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    size = args.size_mib << 20
    with tempfile.TemporaryDirectory(prefix="scidex-bench-store-") as tmp:
        files = [Path(tmp) / "a.bin", Path(tmp) / "b.bin"]
        for seed, f in enumerate(files):
            make_file(f, size, seed)
            warm(f)
        store = BlobStore(Path(tmp) / "blobs")
        digests = [raw_hash(f) for f in files]
        assert openssl_hash(files[0]) == digests[0]

        def drop_blobs() -> None:
            for d in digests:
                store.remove(d)

        rows: list[tuple[str, float, float]] = []  # (what, seconds, bytes)
        base = median_time(lambda: raw_hash(files[0]), args.repeat)
        rows.append(("hashlib.file_digest (baseline)", base, size))
        rows.append(("openssl dgst -sha256", median_time(lambda: openssl_hash(files[0]), args.repeat), size))
        store.put_file(files[0])
        rows.append(("store verify (stored blob)", median_time(lambda: store.verify(digests[0]), args.repeat), size))
        rows.append(("store put_file, bytes already stored", median_time(lambda: store.put_file(files[0]), args.repeat), size))
        rows.append(
            ("store put_file, new bytes (add)", median_time(lambda: store.put_file(files[0]), args.repeat, before=drop_blobs), size)
        )

        par_base = median_time(lambda: in_threads(raw_hash, [(f,) for f in files]), args.repeat)
        rows.append(("2 files, 2 threads: hashlib.file_digest", par_base, 2 * size))
        for f in files:
            store.put_file(f)
        rows.append(("2 files, 2 threads: store verify", median_time(lambda: in_threads(store.verify, [(d,) for d in digests]), args.repeat), 2 * size))
        rows.append(
            ("2 files, 2 threads: store put_file, new bytes",
             median_time(lambda: in_threads(store.put_file, [(f,) for f in files]), args.repeat, before=drop_blobs), 2 * size)
        )
        assert all(store.verify(d) for d in digests)

    base_rate = size / base / 1e9
    print(f"{args.size_mib} MiB per file, warm page cache, median of {args.repeat}; openssl: {shutil.which('openssl')}")
    print(f"{'':46} {'s':>7} {'GB/s':>7} {'vs hashlib':>11}")
    for what, seconds, nbytes in rows:
        rate = nbytes / seconds / 1e9
        print(f"{what:46} {seconds:7.3f} {rate:7.2f} {rate / base_rate:10.0%}")
    verify_rate = size / rows[2][1] / 1e9
    hashed_rate = size / rows[3][1] / 1e9
    print(
        f"target: store hashing at least 90% of raw hashlib sha256: verify {verify_rate / base_rate:.0%}, "
        f"put of stored bytes {hashed_rate / base_rate:.0%} -> {'met' if min(verify_rate, hashed_rate) >= 0.9 * base_rate else 'missed'}"
        f"; add of new bytes {size / rows[4][1] / 1e9 / base_rate:.0%} (it also writes and fsyncs the copy)"
    )


if __name__ == "__main__":
    main()
