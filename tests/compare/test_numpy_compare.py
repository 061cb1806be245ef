"""The numpy comparator on .npy and .npz files written by numpy (and zipfile), and a replay through the CLI."""

from __future__ import annotations

import io
import json
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

from scidex_replay.compare import arrays
from scidex_replay.compare.arrays import NumpyComparator
from scidex_replay.compare.base import Tolerance
from scidex_replay.compare.binary import BytesComparator
from scidex_replay.compare.registry import HEAD_BYTES, Comparators, compare_files

PY = sys.executable


def save(path: Path, array: np.ndarray) -> Path:
    np.save(path, array)
    return path


def compare(a: Path, b: Path, tolerance: Tolerance = Tolerance(), name: str | None = None):
    return compare_files(a, b, name=name or a.name, tolerance=tolerance)


def grid() -> np.ndarray:
    return np.arange(1.0, 13.0).reshape(3, 4)


def test_a_changed_element_is_content_with_its_index_and_max_differences(tmp_path):
    a = save(tmp_path / "a.npy", grid())
    changed = grid()
    changed[1, 2] += 0.25
    changed[2, 3] *= 1 + 1e-12
    c = compare(a, save(tmp_path / "b.npy", changed))
    assert c.comparator == "numpy" and not c.equivalent and c.kinds == ["content"]
    assert c.summary == "content differs: values max abs diff 0.25 (index (1, 2)), 2 of 12 elements"
    m = c.metrics
    assert (m["shape_live"], m["dtype_live"], m["elements"], m["changed"], m["beyond_tolerance"]) == ([3, 4], "float64", 12, 2, 1)
    assert m["max_abs_diff"] == 0.25 and m["max_abs_at"] == "index (1, 2)"
    assert m["max_rel_diff"] == pytest.approx(0.25 / 7.0) and m["max_rel_at"] == "index (1, 2)"


def test_noise_within_tolerance_is_numeric(tmp_path):
    noisy = grid()
    noisy[0, 1] *= 1 + 1e-12
    c = compare(save(tmp_path / "a.npy", grid()), save(tmp_path / "b.npy", noisy))
    assert c.equivalent and c.kinds == ["numeric"]
    assert c.summary == f"equivalent: values max abs diff {abs(noisy[0, 1] - 2.0):.6g} (index (0, 1)) within tolerance, 1 of 12 elements"
    assert c.metrics["beyond_tolerance"] == 0 and c.metrics["max_rel_diff"] == pytest.approx(1e-12, rel=1e-3)


def test_shape_and_dtype_changes_are_content(tmp_path):
    a = save(tmp_path / "a.npy", grid())
    c = compare(a, save(tmp_path / "b.npy", grid().reshape(4, 3)))
    assert not c.equivalent and c.summary == "content differs: array: shape (3, 4) → (4, 3)"
    c = compare(a, save(tmp_path / "c.npy", grid().astype(np.float32)))
    assert not c.equivalent and c.summary == "content differs: array: dtype float64 → float32"
    assert c.metrics["changed"] == 0  # the values themselves (1..12) are equal after the cast


def test_the_same_values_in_fortran_order_are_metadata(tmp_path):
    c = compare(save(tmp_path / "a.npy", grid()), save(tmp_path / "b.npy", np.asfortranarray(grid())))
    assert c.equivalent and c.kinds == ["metadata"]
    assert c.summary == "equivalent: values equal; only array: .npy memory order C → Fortran"


def test_a_large_array_is_compared_block_by_block_from_a_memory_map(tmp_path, monkeypatch):
    monkeypatch.setattr(arrays, "BLOCK", 1000)
    data = np.arange(100_000, dtype=np.float64).reshape(100, 1000)
    changed = data.copy()
    changed[97, 999] = 0.0
    changed[3, 4] += 1e-3
    seen = []
    real = arrays._mmap_blocks
    monkeypatch.setattr(arrays, "_mmap_blocks", lambda a, f: (seen.append(type(a).__name__), real(a, f))[1])
    c = compare(save(tmp_path / "a.npy", data), save(tmp_path / "b.npy", changed))
    assert seen == ["memmap", "memmap"]
    assert c.metrics["changed"] == 2 and c.metrics["max_abs_diff"] == 97999.0 and c.metrics["max_abs_at"] == "index (97, 999)"


def npz(path: Path, members: dict[str, np.ndarray], when: tuple[int, ...], compression: int = zipfile.ZIP_STORED) -> Path:
    """An .npz as a script writes it with ``ZipFile.writestr``, which stamps each member with the clock."""
    with zipfile.ZipFile(path, "w", compression) as zf:
        for name, array in members.items():
            buf = io.BytesIO()
            np.save(buf, array)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=when)
            info.compress_type = compression
            zf.writestr(info, buf.getvalue())
    return path


def test_npz_members_with_other_times_are_equivalent_metadata(tmp_path):
    members = {"x": grid(), "y": np.arange(5)}
    a = npz(tmp_path / "a.npz", members, (2026, 11, 29, 9, 0, 0))
    b = npz(tmp_path / "b.npz", members, (2026, 11, 29, 9, 0, 4))
    c = compare(a, b)
    assert c.comparator == "numpy" and c.equivalent and c.kinds == ["metadata"]
    assert c.summary == "equivalent: values equal; only zip member times differ (2 members)"
    assert [(d.where, d.detail) for d in c.differences] == [
        ("zip member times", "2 member(s) with another modification time: x.npy, y.npy")
    ]
    assert c.metrics == {"members_live": 2, "members_replayed": 2, "members_times_differ": 2}


def test_npz_member_values_and_members_are_content(tmp_path):
    when = (2026, 11, 29, 9, 0, 0)
    a = npz(tmp_path / "a.npz", {"x": grid(), "y": np.arange(5)}, when)
    changed = grid()
    changed[2, 0] = -9.0
    b = npz(tmp_path / "b.npz", {"x": changed, "y": np.arange(5)}, when, zipfile.ZIP_DEFLATED)
    c = compare(a, b)
    assert not c.equivalent and c.kinds == ["metadata", "content"]
    assert c.summary == "content differs: member 'x.npy' max abs diff 18 (index (2, 0)), 1 of 12 elements"
    x = c.metrics["members"]["x.npy"]
    assert x["max_abs_diff"] == 18.0 and x["max_abs_at"] == "index (2, 0)" and x["max_rel_diff"] == 2.0
    assert "y.npy" not in c.metrics["members"]  # same CRC: not read
    c = compare(a, npz(tmp_path / "c.npz", {"x": grid(), "y": np.arange(5), "z": np.ones(2)}, when))
    assert not c.equivalent and c.summary == "content differs: member z.npy: added by the replay"


def test_an_npz_is_chosen_before_the_zip_container():
    class ZipComparator:  # what the zip family comparator looks like to the registry
        name, extensions, priority = "zip", (".zip", ".npz"), 10

        def sniff(self, head: bytes, name: str) -> bool:
            return head.startswith(b"PK\x03\x04")

        def compare(self, live, replayed, *, name, tolerance):
            raise NotImplementedError

    registry = Comparators([BytesComparator(), ZipComparator(), NumpyComparator()])
    buf = io.BytesIO()
    np.savez(buf, x=grid())
    head = buf.getvalue()[:HEAD_BYTES]
    assert registry.choose(head, "blob").name == "numpy"  # its first member is x.npy
    plain = io.BytesIO()
    with zipfile.ZipFile(plain, "w") as zf:
        zf.writestr("notes.txt", "hi")
    assert registry.choose(plain.getvalue(), "notes.zip").name == "zip"
    assert registry.choose(plain.getvalue(), "data.npz").name == "numpy"


def test_a_truncated_npy_falls_back_to_bytes(tmp_path):
    a = save(tmp_path / "a.npy", np.arange(1000.0))
    cut = tmp_path / "cut.npy"
    cut.write_bytes(a.read_bytes()[:2000])
    c = compare(a, cut)
    assert c.comparator == "bytes" and c.metrics["comparator_unavailable"] == "numpy"
    assert not c.equivalent and "the numpy comparator could not read it" in c.summary


STAMPED = '''\
import io, sys, zipfile
import numpy as np
values = np.loadtxt(sys.argv[1], skiprows=1)
with zipfile.ZipFile(sys.argv[2], "w") as zf:  # writestr stamps each member with the clock
    for name, array in (("values", values), ("cumsum", np.cumsum(values))):
        buf = io.BytesIO()
        np.save(buf, array)
        zf.writestr(name + ".npy", buf.getvalue())
'''


def test_an_npz_step_stamped_by_zipfile_replays_equivalent_through_the_cli(cli, tmp_path):
    (tmp_path / "pack.py").write_text(STAMPED)
    (tmp_path / "readings.csv").write_text("v\n" + "".join(f"{x / 8}\n" for x in range(40)))
    ran = cli("run", "-i", "pack.py", "-i", "readings.csv", "-o", "arrays.npz", "--", PY, "{in0}", "{in1}", "{out}")
    assert ran.returncode == 0, ran.stderr
    time.sleep(2.1)  # zip times have a resolution of two seconds

    proc = cli("rerun-artifact", ran.stdout.strip(), "--out", tmp_path / "m")

    assert proc.returncode == 1, proc.stderr
    (step,) = json.loads((tmp_path / "m" / "manifest.json").read_text())["steps"]
    assert step["outcome"] == "equivalent"
    comparison = step["comparison"]
    assert comparison["comparator"] == "numpy" and comparison["equivalent"] is True
    assert comparison["summary"] == "equivalent: values equal; only zip member times differ (2 members)"
    assert comparison["metrics"]["members_times_differ"] == 2
