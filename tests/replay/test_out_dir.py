"""``--out`` is checked by the engine before a run is created, for every surface alike: a
directory that already holds a manifest.json, or one that cannot be written, is ``BadInput``."""

from __future__ import annotations

import errno
import tempfile

import pytest

from scidex_replay.errors import BadInput
from scidex_replay.replay import ReplayOptions, rerun_artifact


def test_a_replay_never_replaces_the_manifest_in_its_out_dir(rec, reg, tmp_path):
    target = rec.tagged("A", [rec.source("r")])
    out = tmp_path / "m"
    assert rerun_artifact(target, registry=reg, out=out).ok
    first = (out / "manifest.json").read_bytes()
    before = len(reg.runs(target))
    with pytest.raises(BadInput, match="already holds a manifest.json"):
        rerun_artifact(target, registry=reg, out=out)
    assert (out / "manifest.json").read_bytes() == first
    assert len(reg.runs(target)) == before, "refused before a run was created"


def test_an_out_dir_that_cannot_be_written_is_refused_before_the_run(rec, reg, tmp_path, monkeypatch):
    target = rec.tagged("A", [rec.source("r")])
    before = len(reg.runs(target))

    def denied(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(tempfile, "TemporaryFile", denied)
    with pytest.raises(BadInput, match="cannot write in .*Permission denied"):
        rerun_artifact(target, registry=reg, out=tmp_path / "new" / "m")
    assert len(reg.runs(target)) == before


def test_check_out_accepts_an_absent_or_empty_directory_and_no_out(tmp_path):
    ReplayOptions().check_out()
    ReplayOptions.of(out=tmp_path / "a" / "b").check_out()
    (tmp_path / "empty").mkdir()
    ReplayOptions.of(out=tmp_path / "empty").check_out()
    assert not (tmp_path / "a").exists(), "checking creates nothing"
    assert list((tmp_path / "empty").iterdir()) == []

