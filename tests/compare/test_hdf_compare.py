"""The hdf5 and netcdf comparators on files written by h5py and netCDF4, and a replay through the CLI."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import h5py
import netCDF4
import numpy as np
import pytest

from scidex_replay.compare import hdf
from scidex_replay.compare.base import Tolerance
from scidex_replay.compare.registry import compare_files

PY = sys.executable
#: /work/shared/cases/03-hdf5-h5py/to_h5.py (h5py#1919): a CSV column as an HDF5 dataset
TO_H5 = '''\
import sys, csv
import numpy as np
import h5py

src, dst = sys.argv[1], sys.argv[2]
track = len(sys.argv) > 3 and sys.argv[3] == "1"
vals = [float(r["v"]) for r in csv.DictReader(open(src))]
with h5py.File(dst, "w", track_order=True) as f:
    g = f.create_group("run", track_order=True)
    g.create_dataset("v", data=np.asarray(vals), track_times=track)
    g.attrs["n"] = len(vals)
'''


def write_h5(path: Path, values, *, track: bool = True, extra=None) -> Path:
    with h5py.File(path, "w", track_order=True) as f:
        g = f.create_group("run", track_order=True)
        g.create_dataset("v", data=np.asarray(values), track_times=track)
        g.attrs["n"] = len(values)
        if extra:
            extra(f)
    return path


def compare(a: Path, b: Path, tolerance: Tolerance = Tolerance()):
    return compare_files(a, b, name=a.name, tolerance=tolerance)


@pytest.fixture(scope="module")
def tracked(tmp_path_factory):
    """The same data written twice with track_times, a second apart (h5py#1919)."""
    d = tmp_path_factory.mktemp("h5")
    values = np.linspace(0.0, 1.0, 100)
    a = write_h5(d / "a.h5", values)
    time.sleep(1.1)
    b = write_h5(d / "b.h5", values)
    assert a.read_bytes() != b.read_bytes()
    return d, values, a, b


def test_track_times_only_is_equivalent_and_names_the_object_whose_header_times_differ(tracked):
    _, _, a, b = tracked
    c = compare(a, b)
    assert c.comparator == "hdf5" and c.equivalent and c.kinds == ["metadata"]
    assert c.summary == "equivalent: data and attributes equal; object header times differ (track_times): /run/v"
    (d,) = c.differences
    assert d.where == "/run/v" and d.detail.startswith("object header times differ (track_times): ctime ")
    assert c.metrics == {"datasets_compared": 1, "datasets_differ": 0, "header_times_differ": ["/run/v"]}


def test_a_changed_value_is_content_with_its_index_and_max_differences(tracked):
    d, values, a, _ = tracked
    changed = values.copy()
    changed[17] += 0.25
    changed[40] *= 1 + 1e-12  # within the default tolerance, still counted
    c = compare(a, write_h5(d / "changed.h5", changed))
    assert not c.equivalent and c.kinds == ["metadata", "content"]
    assert c.summary == "content differs: dataset /run/v max abs diff 0.25 (index 17), 2 of 100 elements"
    m = c.metrics["datasets"]["/run/v"]
    assert m["changed"] == 2 and m["beyond_tolerance"] == 1
    assert m["max_abs_diff"] == pytest.approx(0.25) and m["max_abs_at"] == "index 17"
    assert m["max_rel_diff"] == pytest.approx(0.25 / values[17]) and m["max_rel_at"] == "index 17"


def test_float_noise_within_tolerance_is_numeric_and_beyond_a_declared_one_is_content(tracked):
    d, values, a, _ = tracked
    noisy = values.copy()
    noisy[3] += 1.7e-12
    b = write_h5(d / "noisy.h5", noisy)
    c = compare(a, b)
    assert c.equivalent and c.kinds == ["metadata", "numeric"]
    assert c.summary.startswith("equivalent: dataset /run/v max abs diff 1.7e-12 (index 3) within tolerance, 1 of 100 elements")
    strict = compare(a, b, Tolerance(rtol=0.0, atol=1e-13, declared=True))
    assert not strict.equivalent and strict.metrics["datasets"]["/run/v"]["beyond_tolerance"] == 1


def test_structure_and_attributes_are_content_but_history_is_metadata(tmp_path):
    a = write_h5(tmp_path / "a.h5", [1.0, 2.0], track=False, extra=lambda f: f.attrs.update(history="made Mon 09:00", units="K"))
    b = write_h5(tmp_path / "b.h5", [1.0, 2.0], track=False,
                 extra=lambda f: (f.attrs.update(history="made Tue 10:00", units="degC"), f.create_dataset("extra", data=[1])))
    c = compare(a, b)
    by_where = {d.where: (d.kind.value, d.detail) for d in c.differences}
    assert by_where == {
        "/extra": ("content", "dataset added by the replay"),
        "/ attribute 'history'": ("metadata", "'made Mon 09:00' → 'made Tue 10:00'"),
        "/ attribute 'units'": ("content", "'K' → 'degC'"),
    }
    assert c.summary == "content differs: /extra: dataset added by the replay (and 1 more difference)"
    only_history = write_h5(tmp_path / "h.h5", [1.0, 2.0], track=False, extra=lambda f: f.attrs.update(history="made Wed", units="K"))
    c = compare(a, only_history)
    assert c.equivalent and c.kinds == ["metadata"]
    assert c.summary == "equivalent: data equal; time/history attributes differ (/ attribute 'history')"


def test_a_chunked_dataset_is_compared_slab_by_slab(tmp_path, monkeypatch):
    monkeypatch.setattr(hdf, "BLOCK", 64)  # 10 slabs of 8 rows (whole chunks) for 80 rows of 8
    data = np.arange(640.0).reshape(80, 8)
    changed = data.copy()
    changed[75, 6] = -1.0
    changed[2, 1] += 0.5
    def write(path, values):
        with h5py.File(path, "w") as f:
            f.create_dataset("grid", data=values, chunks=(4, 8), compression="gzip")
        return path
    c = compare(write(tmp_path / "a.h5", data), write(tmp_path / "b.h5", changed))
    assert list(hdf.blocks_of((80, 8), (4, 8)))[:2] == [(slice(0, 8), 0), (slice(8, 16), 64)]
    m = c.metrics["datasets"]["/grid"]
    assert m["changed"] == 2 and m["max_abs_diff"] == 607.0 and m["max_abs_at"] == "index (75, 6)"
    assert m["max_rel_at"] == "index (75, 6)"


def test_netcdf4_files_written_twice_differ_only_in_history(tmp_path):
    def write(path, history, bump=0.0):
        with netCDF4.Dataset(path, "w", format="NETCDF4") as d:
            d.createDimension("t", None)
            d.createDimension("x", 3)
            v = d.createVariable("v", "f8", ("t", "x"))
            v[0:2] = np.arange(6.0).reshape(2, 3) + bump
            v.units = "K"
            d.history = history
            d.createVariable("t", "f8", ("t",))[:] = [0.0, 1.0]
        return path
    a, b = write(tmp_path / "a.nc", "made at 1"), write(tmp_path / "b.nc", "made at 2")
    c = compare(a, b)
    # sniffed as HDF5 whatever the name; DIMENSION_LIST references compare by the paths they name
    assert c.comparator == "hdf5" and c.equivalent and c.kinds == ["metadata"]
    assert [(d.where, d.detail) for d in c.differences] == [("/ attribute 'history'", "'made at 1' → 'made at 2'")]
    c = compare(a, write(tmp_path / "c.nc", "made at 1", bump=0.5))
    assert not c.equivalent and c.metrics["datasets"]["/v"]["changed"] == 6 and c.metrics["max_abs_diff"] == 0.5


def write_classic(path: Path, history: str, bump: float = 0.0, fmt: str = "NETCDF3_CLASSIC") -> Path:
    with netCDF4.Dataset(path, "w", format=fmt) as d:
        d.createDimension("t", None)
        d.createDimension("x", 3)
        v = d.createVariable("v", "f8", ("t", "x"))
        data = np.arange(6.0).reshape(2, 3)
        data[1, 2] += bump
        v[0:2] = data
        v.units = "K"
        d.history = history
        d.createVariable("t", "f8", ("t",))[:] = [0.0, 1.0]
    return path


def test_netcdf_classic_history_is_metadata_and_a_value_is_content(tmp_path):
    a = write_classic(tmp_path / "a.nc", "made at 1")
    assert a.read_bytes()[:4] == b"CDF\x01"
    c = compare(a, write_classic(tmp_path / "b.nc", "made at 2"))
    assert c.comparator == "netcdf" and c.equivalent and c.kinds == ["metadata"]
    assert c.summary == "equivalent: data equal; time/history attributes differ (/ attribute 'history')"
    c = compare(a, write_classic(tmp_path / "c.nc", "made at 1", bump=0.5))
    assert not c.equivalent and c.kinds == ["content"]
    assert c.summary == "content differs: variable /v max abs diff 0.5 (index (1, 2)), 1 of 6 elements"
    assert c.metrics["variables"]["/v"]["max_rel_diff"] == pytest.approx(0.1)
    c = compare(a, write_classic(tmp_path / "d.nc", "made at 1", fmt="NETCDF3_64BIT_OFFSET"))
    assert c.equivalent and [(d.where, d.detail) for d in c.differences] == [("file", "format NETCDF3_CLASSIC → NETCDF3_64BIT_OFFSET")]


@pytest.mark.parametrize("maker", ["hdf5", "netcdf"])
def test_a_truncated_file_falls_back_to_bytes(tmp_path, maker):
    if maker == "hdf5":
        a = write_h5(tmp_path / "a.h5", np.arange(1000.0), track=False)
    else:
        a = write_classic(tmp_path / "a.nc", "made")
    cut = tmp_path / f"cut{a.suffix}"
    cut.write_bytes(a.read_bytes()[:100])  # within the superblock / the header
    c = compare(a, cut)
    assert c.comparator == "bytes" and c.metrics["comparator_unavailable"] == maker
    assert not c.equivalent and f"the {maker} comparator could not read it" in c.summary


def test_case_03_track_times_replays_equivalent_through_the_cli(cli, tmp_path):
    """/work/shared/cases/03-hdf5-h5py: recorded with track_times, replayed a second later."""
    (tmp_path / "to_h5.py").write_text(TO_H5)
    (tmp_path / "readings.csv").write_text("v\n" + "".join(f"{x / 8}\n" for x in range(40)))
    ran = cli("run", "-i", "to_h5.py", "-i", "readings.csv", "-o", "tracked.h5", "--", PY, "{in0}", "{in1}", "{out}", "1")
    assert ran.returncode == 0, ran.stderr
    target = ran.stdout.strip()
    time.sleep(1.1)

    proc = cli("rerun-artifact", target, "--out", tmp_path / "m")

    assert proc.returncode == 1, proc.stderr  # equivalent is not ok unless accepted
    (step,) = json.loads((tmp_path / "m" / "manifest.json").read_text())["steps"]
    assert step["outcome"] == "equivalent"
    comparison = step["comparison"]
    assert comparison["comparator"] == "hdf5" and comparison["equivalent"] is True
    assert comparison["summary"] == "equivalent: data and attributes equal; object header times differ (track_times): /run/v"
    assert {d["kind"] for d in comparison["differences"]} == {"metadata"}
    accepted = cli("rerun-artifact", target, "--accept", "equivalent", "--out", tmp_path / "m2")
    assert accepted.returncode == 0, accepted.stderr


TO_NC = '''\
import sys, csv, time
import numpy as np
import netCDF4

vals = [float(r["v"]) for r in csv.DictReader(open(sys.argv[1]))]
with netCDF4.Dataset(sys.argv[2], "w", format="NETCDF3_CLASSIC") as d:
    d.createDimension("t", len(vals))
    v = d.createVariable("v", "f8", ("t",))
    v[:] = np.asarray(vals)
    v.units = "K"
    d.history = time.ctime() + ": to_nc.py"  # the CF convention: when and what made the file
'''


def test_a_netcdf_step_with_a_history_stamp_replays_equivalent_through_the_cli(cli, tmp_path):
    (tmp_path / "to_nc.py").write_text(TO_NC)
    (tmp_path / "readings.csv").write_text("v\n" + "".join(f"{x / 8}\n" for x in range(40)))
    ran = cli("run", "-i", "to_nc.py", "-i", "readings.csv", "-o", "readings.nc", "--", PY, "{in0}", "{in1}", "{out}")
    assert ran.returncode == 0, ran.stderr
    time.sleep(1.1)

    proc = cli("rerun-artifact", ran.stdout.strip(), "--out", tmp_path / "m")

    assert proc.returncode == 1, proc.stderr
    (step,) = json.loads((tmp_path / "m" / "manifest.json").read_text())["steps"]
    assert step["outcome"] == "equivalent"
    comparison = step["comparison"]
    assert comparison["comparator"] == "netcdf" and comparison["equivalent"] is True
    assert comparison["summary"] == "equivalent: data equal; time/history attributes differ (/ attribute 'history')"
    assert [d["kind"] for d in comparison["differences"]] == ["metadata"]


def test_an_hdf5_file_behind_a_user_block_is_sniffed_whatever_its_name(tmp_path):
    def write(path, value):
        with h5py.File(path, "w", userblock_size=1024) as f:  # the signature then sits at byte 1024
            f.create_dataset("x", data=[1.0, value])
        return path
    a, b = write(tmp_path / "a.bin", 2.0), write(tmp_path / "b.bin", 2.5)
    assert a.read_bytes()[1024:1032] == hdf.SIGNATURE
    c = compare(a, b)
    assert c.comparator == "hdf5" and c.summary == "content differs: dataset /x max abs diff 0.5 (index 1), 1 of 2 elements"
