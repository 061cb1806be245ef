"""Staging a replayed step's input: ``BlobStore.copy_out`` plus the step, against hashing the input once plus the step.

Before a replayed step runs, the engine stages each input with ``copy_out``: the
step gets a copy of the blob of its own, hashed, so that a damaged blob is caught
and a step that writes its input cannot change the store. This measures what that
costs, on a blob of random bytes (1 GiB by default) in a store made in each
directory tried, read once first so it starts in a warm page cache:

- (a) baseline: ``hashlib.file_digest`` of the blob, then the step, reading the
  blob where it lies (what a replay could not cost less than);
- (b) ``copy_out`` to a scratch dir on the same filesystem (as the engine does
  now), then the step reading that copy;
- (b0) the same with the copy made as ``copy_out`` made it before (read, hashed
  and written by Python in one pass), then the step;
- staging alone, each way ``copy_out`` can take forced in turn (``clone`` + hash,
  ``copy_file_range`` + hash, one-pass ``read``), ``n/a`` where the filesystem
  refuses it, and ``os.sendfile`` + hash (which ``copy_out`` does not use): the
  figures that set the order it tries them in.

The step is a ``python -c`` that reads its input once in 1 MiB pieces (CRC-32)
and writes an 8-character output. Every round runs each case once, in this
order, per directory, so a change in load hits them alike; each figure is the
median of ``--repeat`` rounds. The scratch copy is deleted, and the filesystems
synced, just before each staging (untimed): on a loop device the read of a fresh
clone otherwise competes with the writeback of an earlier case's copy.
``--idle S`` then waits S seconds before each staging: on this VM (see
bench_store.py) filling the page cache in memory not freed just before is much
slower, and a staged copy, or a clone once it is read, fills 1 GiB of it.

Directories: the temp dir and the repository's (here /tmp and /work), any
``--dir``, and with ``--loop xfs`` / ``--loop btrfs`` (root, mkfs.xfs or
mkfs.btrfs, loop devices) a filesystem with reflinks made for the run in an image
file, mounted by loop and removed afterwards. Then, where /dev/shm is a tmpfs,
the store in the temp dir and the scratch dir in /dev/shm: a copy across
filesystems, which the kernel refuses to make with ``copy_file_range``.

    .venv/bin/python benchmarks/bench_stage.py [--size-mib 1024] [--repeat 5] [--idle 0]
        [--dir PATH] [--loop xfs] [--loop btrfs]
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from bench_store import load, make_file, warm  # noqa: E402

from scidex_replay.store import BlobStore, blobs  # noqa: E402

STEP = """
import sys, zlib
crc, buf = 0, bytearray(1 << 20)
with open(sys.argv[1], "rb", buffering=0) as fh:
    while n := fh.readinto(buf):
        crc = zlib.crc32(memoryview(buf)[:n], crc)
with open(sys.argv[2], "w") as out:
    out.write(f"{crc:08x}")
"""


def run_step(inp: Path, out: Path) -> str:
    subprocess.run([sys.executable, "-c", STEP, str(inp), str(out)], check=True)
    return out.read_text()


def fs_of(path: Path) -> str:
    try:
        out = subprocess.run(
            ["df", "--output=fstype,source", str(path)], check=True, capture_output=True, text=True
        ).stdout.split("\n")[1].split()
        return f"{out[0]} on {out[1]}"
    except (OSError, subprocess.CalledProcessError, IndexError):
        return "filesystem unknown"


@contextlib.contextmanager
def loop_fs(kind: str, size: int) -> Iterator[Path | str]:
    """Yield the mount point of a new ``kind`` filesystem with reflinks on a loop device, or why there is none."""
    mkfs = {"xfs": ["mkfs.xfs", "-q", "-m", "reflink=1"], "btrfs": ["mkfs.btrfs", "-q"]}[kind]
    if os.geteuid() != 0 or not shutil.which(mkfs[0]):
        yield f"needs root and {mkfs[0]}"
        return
    with tempfile.TemporaryDirectory(prefix=f"scidex-bench-{kind}-") as tmp:
        image, mnt = Path(tmp) / "fs.img", Path(tmp) / "mnt"
        mnt.mkdir()
        with open(image, "wb") as fh:
            fh.truncate(3 * size + (512 << 20))
        made = subprocess.run([*mkfs, str(image)], capture_output=True, text=True)
        if made.returncode == 0:
            made = subprocess.run(["mount", "-o", "loop", str(image), str(mnt)], capture_output=True, text=True)
        if made.returncode != 0:
            yield f"could not make it: {(made.stderr or made.stdout).strip()[:200]}"
            return
        try:
            yield mnt
        finally:
            subprocess.run(["umount", str(mnt)], check=False)


class Case:
    """One timed operation, its runs in wall seconds; ``fn`` may return named parts it timed itself."""

    def __init__(
        self,
        what: str,
        fn: Callable[[], dict[str, float] | None],
        before: Callable[[], None] | None = None,
        may_refuse: bool = False,
    ):
        self.what, self.fn, self.before, self.may_refuse = what, fn, before, may_refuse
        self.runs: list[float] = []
        self.parts: dict[str, list[float]] = {}
        self.refused = ""

    def run(self) -> None:
        if self.refused:
            return
        if self.before:
            self.before()
        t0 = time.perf_counter()
        try:
            parts = self.fn()
        except OSError as exc:
            if not self.may_refuse:
                raise
            self.refused = exc.strerror or str(exc)
            return
        self.runs.append(time.perf_counter() - t0)
        for name, seconds in (parts or {}).items():
            self.parts.setdefault(name, []).append(seconds)

    @property
    def seconds(self) -> float:
        return statistics.median(self.runs)

    def part(self, name: str) -> float:
        return statistics.median(self.parts[name])


def sendfile_then_hash(src: Path, dest: Path) -> str:
    with open(src, "rb") as fh, open(dest, "w+b") as out:
        size, offset = os.fstat(fh.fileno()).st_size, 0
        while offset < size:
            offset += os.sendfile(out.fileno(), fh.fileno(), offset, size - offset)
        out.seek(0)
        return hashlib.file_digest(out, "sha256").hexdigest()


def bench_dir(
    root: Path, label: str, size: int, repeat: int, seed: int, idle: float = 0.0, scratch_root: Path | None = None
) -> dict[str, object]:
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="scidex-bench-stage-", dir=root)))
        scratch_tmp = scratch_root and Path(
            stack.enter_context(tempfile.TemporaryDirectory(prefix="scidex-bench-stage-", dir=scratch_root))
        )
        src = tmp / "input.bin"
        make_file(src, size, seed)
        store = BlobStore(tmp / "blobs")
        digest, _ = store.put_file(src)
        src.unlink()
        blob = store.path(digest)
        os.sync()  # nothing left to write back from making the blob
        warm(blob)
        scratch = (scratch_tmp or tmp) / "step"
        scratch.mkdir()
        staged, out = scratch / "input.bin", scratch / "out.txt"
        with store.open(digest) as fh, open(scratch / "probe", "w+b") as probe:
            way = blobs._stage(fh, probe)[1]
        (scratch / "probe").unlink()
        expected_out: list[str] = []

        def drop() -> None:
            staged.unlink(missing_ok=True)
            os.sync()  # no writeback of an earlier case's copy competing with this one
            time.sleep(idle)

        def step(inp: Path) -> float:
            t0 = time.perf_counter()
            got = run_step(inp, out)
            if expected_out and got != expected_out[0]:
                raise AssertionError(f"the step read other bytes: {got} != {expected_out[0]}")
            expected_out.append(got)
            return time.perf_counter() - t0

        def baseline() -> dict[str, float]:
            t0 = time.perf_counter()
            assert blobs.hash_file(blob) == digest
            hashed = time.perf_counter() - t0
            return {"hash": hashed, "step": step(blob)}

        def staged_then_step(ways: tuple[str, ...]) -> Callable[[], dict[str, float]]:
            def fn() -> dict[str, float]:
                t0 = time.perf_counter()
                if ways == blobs.STAGING:
                    got = store.copy_out(digest, staged)
                else:
                    with store.open(digest) as fh, open(staged, "w+b") as dest:
                        got = blobs._stage(fh, dest, ways)[0]
                assert got == digest
                stage = time.perf_counter() - t0
                return {"stage": stage, "step": step(staged)}

            return fn

        def stage_only(way: str) -> Callable[[], None]:
            def fn() -> None:
                with store.open(digest) as fh, open(staged, "w+b") as dest:
                    assert blobs._stage(fh, dest, (way,))[0] == digest

            return fn

        def sendfile_only() -> None:
            assert sendfile_then_hash(blob, staged) == digest

        cases = [
            Case("(a) hash the blob once + step", baseline),
            Case("(b) copy_out + step", staged_then_step(blobs.STAGING), drop),
            Case("(b0) before: one-pass copy + step", staged_then_step(("read",)), drop),
            *(Case(f"  staging alone: {way}", stage_only(way), drop, may_refuse=True) for way in blobs.STAGING),
            Case("  staging alone: sendfile (unused)", sendfile_only, drop, may_refuse=True),
        ]
        for _ in range(repeat):
            for case in cases:
                case.run()
        drop()
        assert store.verify(digest), "staging changed the stored blob"
    fs = fs_of(root) if scratch_root is None else f"{fs_of(root)} -> {fs_of(scratch_root)}"
    return {"root": label, "fs": fs, "way": way, "cases": cases}


def report(res: dict[str, object], size_mib: int) -> None:
    cases: list[Case] = res["cases"]  # type: ignore[assignment]
    base, after, before = cases[:3]
    print(f"\n{res['root']} ({res['fs']}): copy_out stages by {res['way']}")
    print(f"  {'':38} {'s':>7} {'x (a)':>6}   parts (s)")
    for case in cases:
        if case.refused:
            print(f"  {case.what:38} {'n/a':>7} {'':>6}   ({case.refused})")
            continue
        parts = ", ".join(f"{name} {case.part(name):.3f}" for name in case.parts)
        ratio = case.seconds / base.seconds if case in (after, before) else None
        print(f"  {case.what:38} {case.seconds:7.3f} {f'{ratio:.2f}x' if ratio else '':>6}   {parts}")
    r = after.seconds / base.seconds
    verdict = ("met" if r <= 1.3 else "missed") if res["way"] == "clone" else "no reflinks here: figure reported"
    print(
        f"  {size_mib} MiB input: (b)/(a) = {r:.2f}x (before: {before.seconds / base.seconds:.2f}x); "
        f"target <= 1.3x where reflinks exist: {verdict}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mib", type=int, default=1024, help="size of the input (default 1024)")
    parser.add_argument("--repeat", type=int, default=5, help="rounds; each figure is the median (default 5)")
    parser.add_argument("--idle", type=float, default=0.0, help="seconds to wait before each staging (default 0)")
    parser.add_argument("--dir", action="append", default=[], help="also measure in this directory (repeatable)")
    parser.add_argument(
        "--loop", action="append", default=[], choices=["xfs", "btrfs"],
        help="also measure on a filesystem with reflinks made on a loop device (root; repeatable)",
    )
    args = parser.parse_args()
    size = args.size_mib << 20
    load_before = load()
    dirs = [Path(tempfile.gettempdir()), Path(__file__).resolve().parent.parent, *map(Path, args.dir)]
    print(
        f"{args.size_mib} MiB input, warm page cache, median of {args.repeat} rounds, idle {args.idle:g} s before "
        f"each staging; {load_before} before; "
        f"step: python -c reading the input once (CRC-32) and writing 8 bytes"
    )
    results = []
    for i, d in enumerate(dirs):
        results.append(bench_dir(d, str(d), size, args.repeat, i, args.idle))
        report(results[-1], args.size_mib)
    for kind in args.loop:
        with loop_fs(kind, size) as mnt:
            if isinstance(mnt, str):
                print(f"\n{kind} on a loop device: skipped, {mnt}")
                continue
            results.append(bench_dir(mnt, f"{kind} on a loop device", size, args.repeat, len(results), args.idle))
            report(results[-1], args.size_mib)
    shm = Path("/dev/shm")
    if shm.is_dir() and fs_of(shm).startswith("tmpfs") and shm.stat().st_dev != dirs[0].stat().st_dev:
        results.append(
            bench_dir(dirs[0], f"{dirs[0]} -> {shm}", size, args.repeat, len(results), args.idle, scratch_root=shm)
        )
        report(results[-1], args.size_mib)
    print(f"\n{load()} after")


if __name__ == "__main__":
    main()
