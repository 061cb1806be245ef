"""Faults that must not lose data, through the real console script: a damaged blob re-added,
an ``--out`` that holds a manifest or cannot be written, a registry file that is not a registry,
a registry from another schema revision. Each answers with one line, never a traceback."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest


def one_line_error(proc) -> str:
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr
    [line] = proc.stderr.splitlines()
    assert line.startswith("scidex-replay: error: ")
    return line


def test_add_repairs_a_damaged_blob_from_the_original_file_and_keeps_the_damaged_bytes(cli, home, tmp_path):
    data = b"x,y\n" + b"1,2\n" * 5000
    src = tmp_path / "data.csv"
    src.write_bytes(data)
    first = cli("add", src)
    assert first.returncode == 0, first.stderr
    digest = hashlib.sha256(data).hexdigest()
    blob = home / "blobs" / digest[:2] / digest[2:]
    os.chmod(blob, 0o644)
    blob.write_bytes(data[:-1] + b"!")  # same size, other bytes

    again = cli("add", src)
    assert again.returncode == 0, again.stderr
    assert again.stdout == first.stdout, "the same artifact"
    [notice] = [line for line in again.stderr.splitlines() if "notice" in line]
    assert notice.startswith("scidex-replay: notice: blob ") and "damaged" in notice
    assert blob.read_bytes() == data
    [kept] = (home / "blobs" / "quarantine").iterdir()
    assert kept.read_bytes() == data[:-1] + b"!" and str(kept) in notice
    assert cli("verify").returncode == 0
