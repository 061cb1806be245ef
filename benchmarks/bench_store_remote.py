"""The shared store (``RemoteBlobStore`` on S3) against raw s3fs, and its cache against the local store.

On moto's S3 server on 127.0.0.1 (``tests/_s3.py``, the one the tests start), through the same s3fs
client, on ``--files`` files of ``--size-mib`` random MiB each, every round running each of these once
in this order (the median of ``--repeat`` rounds is shown):

- raw upload: ``fs.put_file(local, key)`` of each file;
- store upload: ``RemoteBlobStore.put_file`` of the same files under a new prefix (hashed, then
  uploaded under its sha256 key and checked: what ``run``/``add`` do);
- raw download: ``fs.get_file(key, local)``;
- store download, cold cache: ``copy_out`` from a store with an empty cache (downloaded to the
  destination while hashed, then copied into the cache in the kernel: what a replay on a new
  machine does);
- cache hit: ``copy_out`` again (no network) against the local ``BlobStore.copy_out`` of the same
  bytes (the default store).

Throughput ratios are store / raw (target >= 0.8 for uploads and downloads) and cache hit / local.
Each store's s3fs client is set up before its rows are timed, as the raw one is (it made the
bucket): botocore builds a client once per process, whatever the bytes (``client set-up``, shown).

    .venv/bin/python benchmarks/bench_store_remote.py [--files 4] [--size-mib 64] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from _s3 import s3_server  # noqa: E402

from scidex_replay.store import BlobStore  # noqa: E402
from scidex_replay.store.remote import RemoteBlobStore  # noqa: E402


NOTHING = "0" * 64  # a key no blob has: asking for it sets a store's client up


def clock(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=4)
    ap.add_argument("--size-mib", type=int, default=64)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    total = args.files * args.size_mib * (1 << 20)
    rows: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-store-remote-") as tmp, s3_server() as server:
        tmp = Path(tmp)
        files = []
        for i in range(args.files):
            f = tmp / f"f{i}.bin"
            f.write_bytes(os.urandom(args.size_mib << 20))
            files.append(f)
        bucket = server.bucket()
        fs = server.filesystem()
        local = BlobStore(tmp / "local")
        digests = [local.put_file(f)[0] for f in files]
        for r in range(args.repeat):
            raw = f"{bucket}/raw-{r}"
            store = RemoteBlobStore(f"s3://{bucket}/store-{r}", server.options, tmp / f"cache-w{r}")
            rows.setdefault("client set-up (once per process)", []).append(clock(lambda: store.has(NOTHING)))
            rows.setdefault("raw upload (s3fs put_file)", []).append(clock(lambda: [fs.put_file(str(f), f"{raw}/{f.name}") for f in files]))
            rows.setdefault("store upload (put_file)", []).append(clock(lambda: [store.put_file(f) for f in files]))
            out = tmp / "out"
            out.mkdir(exist_ok=True)
            rows.setdefault("raw download (s3fs get_file)", []).append(clock(lambda: [fs.get_file(f"{raw}/{f.name}", str(out / f.name)) for f in files]))
            cold = RemoteBlobStore(f"s3://{bucket}/store-{r}", server.options, tmp / f"cache-r{r}-{uuid.uuid4().hex[:6]}")
            cold.has(NOTHING)
            rows.setdefault("store download, cold cache (copy_out)", []).append(clock(lambda: [cold.copy_out(d, out / d) for d in digests]))
            rows.setdefault("cache hit (copy_out)", []).append(clock(lambda: [cold.copy_out(d, out / d) for d in digests]))
            rows.setdefault("local store (copy_out)", []).append(clock(lambda: [local.copy_out(d, out / d) for d in digests]))
            for d in digests:
                assert cold.copy_out(d, out / d) == d
    med = {k: statistics.median(v) for k, v in rows.items()}
    print(f"{args.files} files x {args.size_mib} MiB ({total / 1e6:.0f} MB), median of {args.repeat}")
    print(f"{'':40} {'s':>7} {'MB/s':>8}")
    for k, v in med.items():
        print(f"{k:40} {v:7.3f} {total / v / 1e6:8.0f}" if k != "client set-up (once per process)" else f"{k:40} {v:7.3f}")
    up = med["raw upload (s3fs put_file)"] / med["store upload (put_file)"]
    down = med["raw download (s3fs get_file)"] / med["store download, cold cache (copy_out)"]
    hit = med["local store (copy_out)"] / med["cache hit (copy_out)"]
    print(f"upload throughput, store / raw s3fs:   {up:.2f}x (target >= 0.8)")
    print(f"download throughput, store / raw s3fs: {down:.2f}x (target >= 0.8)")
    print(f"cache hit / local store:               {hit:.2f}x")


if __name__ == "__main__":
    main()
