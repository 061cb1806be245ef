"""Content-hashing throughput of the blob store against raw hashlib, ``openssl dgst -sha256`` and a plain copy.

On the same file of random bytes (1 GiB by default, made in a temp dir, read once
first so every reader starts from a warm page cache), each the median of
``--repeat`` rounds. Every round runs each of these once, in this order, so a
change in load hits them alike:

- baseline: ``hashlib.file_digest(f, "sha256")``;
- ``openssl dgst -sha256 FILE`` (a process of its own);
- ``BlobStore.verify`` of the stored blob (what ``scidex-replay verify`` does per blob);
- ``BlobStore.put_file`` of bytes already stored, with no hint (read, hashed and
  copied to a temp file that is dropped without an fsync) and with ``expected=``
  the stored digest (hashed only, nothing written: what the replay engine does
  for an output that reproduced);
- a ``cp``-like copy (``shutil.copyfile``, an in-kernel copy on Linux), then the
  same copy followed by ``os.fsync``: the bound for writing the bytes durably;
- ``BlobStore.put_file`` of new bytes (``add``: read once, hashed while copied
  into the store, fsynced, linked into place).

The previous copy or blob is deleted just before each copy and each add, so
they all write into memory freed the same way. ``--idle S`` waits S seconds
before each of them. On this VM (its balloon reports free pages to the host),
filling the page cache is much slower in memory that was not freed just before:
up to ~3.5 s per GiB, whatever writes it. Time spent in ``os.fsync`` is clocked
apart, so the table shows how much of an add is syncing.

Then two different files at once in two threads (raw hashlib, verify, and add).
GB/s means 10^9 bytes per second.

    .venv/bin/python benchmarks/bench_store.py [--size-mib 1024] [--repeat 3] [--idle 0]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
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


def copy(src: Path, dest: Path, durable: bool) -> None:
    shutil.copyfile(src, dest)
    if durable:
        fd = os.open(dest, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class FsyncClock:
    """Adds up the wall time spent in ``os.fsync`` (by any thread) while installed."""

    def __init__(self) -> None:
        self.total = 0.0
        self.real = os.fsync
        self.lock = threading.Lock()

    def fsync(self, fd: int) -> None:
        t0 = time.perf_counter()
        try:
            self.real(fd)
        finally:
            with self.lock:
                self.total += time.perf_counter() - t0

    def __enter__(self) -> FsyncClock:
        os.fsync = self.fsync
        return self

    def __exit__(self, *exc: object) -> None:
        os.fsync = self.real


class Case:
    """One timed operation: its runs (wall seconds) and the fsync seconds within each."""

    def __init__(self, what: str, nbytes: int, fn: Callable[[], object], before: Callable[[], None] | None = None):
        self.what, self.nbytes, self.fn, self.before = what, nbytes, fn, before
        self.runs: list[float] = []
        self.synced: list[float] = []

    def run(self, idle: float) -> None:
        if self.before:
            self.before()
            time.sleep(idle)
        with FsyncClock() as clock:
            t0 = time.perf_counter()
            self.fn()
            self.runs.append(time.perf_counter() - t0)
        self.synced.append(clock.total)

    @property
    def seconds(self) -> float:
        return statistics.median(self.runs)

    @property
    def fsync_seconds(self) -> float:
        return statistics.median(self.synced)

    def rate(self) -> float:
        return self.nbytes / self.seconds / 1e9


def in_threads(fn, args_list) -> None:
    threads = [threading.Thread(target=fn, args=args) for args in args_list]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def rounds(cases: list[Case], repeat: int, idle: float) -> None:
    for _ in range(repeat):
        for case in cases:
            case.run(idle)


def load() -> str:
    try:
        return "load {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())
    except OSError:  # pragma: no cover
        return "load unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mib", type=int, default=1024, help="size of each test file (default 1024)")
    parser.add_argument("--repeat", type=int, default=3, help="rounds; each figure is the median (default 3)")
    parser.add_argument("--idle", type=float, default=0.0, help="seconds to wait before each copy and add (default 0)")
    args = parser.parse_args()
    size = args.size_mib << 20
    load_before = load()
    with tempfile.TemporaryDirectory(prefix="scidex-bench-store-") as tmp:
        files = [Path(tmp) / "a.bin", Path(tmp) / "b.bin"]
        for seed, f in enumerate(files):
            make_file(f, size, seed)
            warm(f)
        store = BlobStore(Path(tmp) / "blobs")
        digests = [raw_hash(f) for f in files]
        assert openssl_hash(files[0]) == digests[0]
        copy_dest = Path(tmp) / "copy.bin"

        def drop_blobs() -> None:
            for d in digests:
                store.remove(d)

        def drop_copy() -> None:
            copy_dest.unlink(missing_ok=True)

        store.put_file(files[0])
        single = [
            Case("hashlib.file_digest (baseline)", size, lambda: raw_hash(files[0])),
            Case("openssl dgst -sha256", size, lambda: openssl_hash(files[0])),
            Case("store verify (stored blob)", size, lambda: store.verify(digests[0])),
            Case("store put_file, bytes already stored", size, lambda: store.put_file(files[0])),
            Case("  the same with expected=digest (hash only)", size, lambda: store.put_file(files[0], expected=digests[0])),
            Case("cp-like copy (shutil.copyfile)", size, lambda: copy(files[0], copy_dest, False), drop_copy),
            Case("cp-like copy + fsync", size, lambda: copy(files[0], copy_dest, True), drop_copy),
            Case("store put_file, new bytes (add)", size, lambda: store.put_file(files[0]), drop_blobs),
        ]
        rounds(single, args.repeat, args.idle)
        drop_copy()
        assert store.verify(digests[0])

        for f in files:
            store.put_file(f)
        pair = [
            Case("2 files, 2 threads: hashlib.file_digest", 2 * size, lambda: in_threads(raw_hash, [(f,) for f in files])),
            Case("2 files, 2 threads: store verify", 2 * size, lambda: in_threads(store.verify, [(d,) for d in digests])),
            Case(
                "2 files, 2 threads: store put_file, new bytes",
                2 * size,
                lambda: in_threads(store.put_file, [(f,) for f in files]),
                drop_blobs,
            ),
        ]
        rounds(pair, args.repeat, args.idle)
        assert all(store.verify(d) for d in digests)

    base, _, verify, stored, hinted, cp, cp_sync, add = single
    print(
        f"{args.size_mib} MiB per file, warm page cache, median of {args.repeat} rounds, idle {args.idle:g} s "
        f"before each copy/add; {load_before} before, {load()} after; openssl: {shutil.which('openssl')}"
    )
    print(f"{'':46} {'s':>7} {'GB/s':>7} {'vs hashlib':>11} {'in fsync s':>11}")
    for case in single + pair:
        fsync = f"{case.fsync_seconds:11.3f}" if any(case.synced) else ""
        print(f"{case.what:46} {case.seconds:7.3f} {case.rate():7.2f} {case.rate() / base.rate():10.0%} {fsync}")
    ratio = {c: c.rate() / base.rate() for c in (verify, stored, hinted, add)}
    print(
        f"target: store hashing (add + verify) at least 90% of raw hashlib sha256: verify {ratio[verify]:.0%}, "
        f"add of new bytes {ratio[add]:.0%} -> {'met' if min(ratio[verify], ratio[add]) >= 0.9 else 'missed'}; "
        f"put of stored bytes {ratio[stored]:.0%} ({ratio[hinted]:.0%} with expected=)"
    )
    print(
        f"add of new bytes: {add.rate() / cp.rate():.0%} of a cp-like copy, {add.rate() / cp_sync.rate():.0%} of a "
        f"cp-like copy + fsync. Its {add.seconds:.3f} s = {add.fsync_seconds:.3f} s in fsync + "
        f"{add.seconds - add.fsync_seconds:.3f} s reading, hashing and writing the temp copy "
        f"(hashing alone {base.seconds:.3f} s; cp-like copy {cp.seconds:.3f} s, its fsync {cp_sync.fsync_seconds:.3f} s)"
    )


if __name__ == "__main__":
    main()
