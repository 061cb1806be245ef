"""Real analysis outputs reproduce byte for byte across processes whose environments differ.

Each chain is recorded and replayed through the real CLI in separate processes,
the parent environment of the replay having another TZ, locale and hash seed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).parent / "scripts"
CLI = str(Path(sys.executable).with_name("scidex-replay"))


def _cli(args, env, check=True):
    proc = subprocess.run([CLI, *args], env=env, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(f"{args[0]} exit {proc.returncode}: {proc.stderr[-2000:]}")
    return proc


@pytest.fixture
def envs(tmp_path, db_url):
    base = {k: v for k, v in os.environ.items() if not k.startswith(("SCIDEX_", "PYTHONHASHSEED", "TZ", "LC_", "LANG"))}
    base.update(SCIDEX_REPLAY_HOME=str(tmp_path / "home"), SCIDEX_REPLAY_DB=db_url)
    record = dict(base, TZ="America/New_York", PYTHONHASHSEED="random", LANG="en_US.UTF-8")
    replay = dict(base, TZ="Asia/Tokyo", PYTHONHASHSEED="12345", LC_ALL="C")
    return record, replay


def _run_step(env, script, inputs, output, cwd):
    args = ["run", "-i", str(SCRIPTS / script)]
    for i in inputs:
        args += ["-i", i]
    placeholders = [f"{{in{k}}}" for k in range(1, len(inputs) + 1)]
    args += ["-o", str(cwd / output), "--", sys.executable, "{in0}", *placeholders, "{out}"]
    return _cli(args, env).stdout.strip()


def test_csv_parquet_png_svg_and_kmeans_reproduce_byte_for_byte_in_subprocesses(envs, tmp_path):
    record, replay = envs
    data = _run_step(record, "make_data.py", [], "data.csv", tmp_path)
    outputs = [
        _run_step(record, "to_parquet.py", [data], "data.parquet", tmp_path),
        _run_step(record, "plot.py", [data], "plot.png", tmp_path),
        _run_step(record, "plot.py", [data], "plot.svg", tmp_path),
        _run_step(record, "kmeans.py", [data], "labels.npy", tmp_path),
    ]
    target = _run_step(record, "digest.py", outputs, "digests.txt", tmp_path)
    out = tmp_path / "m"
    proc = _cli(["rerun-artifact", target, "--executor", "subprocess", "--out", str(out)], replay, check=False)
    manifest = json.loads((out / "manifest.json").read_text())
    assert proc.returncode == 0, [s["reason"] for s in manifest["steps"]]
    assert len(manifest["steps"]) == 6
    for step in manifest["steps"]:
        assert step["output_hash_replayed"] == step["output_hash_live"], step["reason"]
    assert b"<svg" in (tmp_path / "plot.svg").read_bytes()
    assert (tmp_path / "plot.png").read_bytes().startswith(b"\x89PNG")


def test_gzip_header_mtime_is_caught_and_named_by_the_gzip_comparator(envs, tmp_path):
    record, replay = envs
    (tmp_path / "x.txt").write_text("payload\n" * 100)
    target = _run_step(record, "gz.py", [str(tmp_path / "x.txt")], "x.txt.gz", tmp_path)
    import time

    time.sleep(1.1)  # gzip stores whole seconds
    proc = _cli(["rerun-artifact", target, "--diff", "--json"], replay, check=False)
    assert proc.returncode == 1  # equivalent is not ok unless accepted
    step = json.loads(proc.stdout)["steps"][0]
    assert step["outcome"] == "equivalent"  # the bytes differ, the payload does not (issue 18)
    assert step["comparison"]["summary"] == "equivalent: only gzip header mtime differs"
    assert step["diff"]["first_difference_offset"] == 4  # the 4-byte mtime field of the gzip header
