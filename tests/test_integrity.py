"""`scidex-replay verify`: reports corrupt, missing and orphan blobs; repairs only when asked."""

from __future__ import annotations

import json
import os

import _steps
from scidex_replay.integrity import STALE_S, verify
from scidex_replay.recording import record_call
from scidex_replay.surfaces.cli import main


def _flip(path) -> None:
    os.chmod(path, 0o644)
    data = bytearray(path.read_bytes())
    data[0] ^= 0xFF
    path.write_bytes(bytes(data))


def _world(registry):
    raw = registry.add_artifact(b"payload\n", name="raw.txt")
    out = record_call(registry, _steps.shout, inputs=[raw.id], output="out.txt")
    return raw, out


def test_an_intact_store_verifies(registry, capsys):
    _world(registry)
    assert main(["verify"]) == 0
    assert "ok" in capsys.readouterr().err


def test_corrupt_truncated_and_missing_blobs_are_reported_without_repair(registry, capsys):
    raw, out = _world(registry)
    other = registry.add_artifact(b"third\n", name="third.txt")
    _flip(registry.store.path(raw.content_hash))
    truncated = registry.store.path(out.content_hash)
    os.chmod(truncated, 0o644)
    truncated.write_bytes(truncated.read_bytes()[:2])
    registry.store.path(other.content_hash).unlink()
    before = sorted(p.name for p in registry.store.root.rglob("*"))

    assert main(["verify", "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    kinds = {p["digest"]: p["kind"] for p in report["problems"]}
    assert kinds == {raw.content_hash: "corrupt", out.content_hash: "corrupt", other.content_hash: "missing"}
    assert report["repaired"] == []
    assert sorted(p.name for p in registry.store.root.rglob("*")) == before, "verify alone changes nothing"


def test_repair_quarantines_corrupt_blobs_and_removes_stale_temp_files(registry, capsys):
    raw, _ = _world(registry)
    _flip(registry.store.path(raw.content_hash))
    tmp = registry.store.root / "tmp"
    tmp.mkdir(exist_ok=True)
    stale, fresh = tmp / "put-stale", tmp / "put-fresh"
    stale.write_bytes(b"partial")
    fresh.write_bytes(b"being written")
    old = stale.stat().st_mtime - STALE_S - 10
    os.utime(stale, (old, old))

    assert main(["verify", "--repair"]) == 1
    assert not registry.store.path(raw.content_hash).exists()
    assert (registry.home / "quarantine" / raw.content_hash).exists(), "corrupt bytes are kept aside, not deleted"
    assert not stale.exists() and fresh.exists(), "a temp file that may belong to a write in progress is kept"
    capsys.readouterr()
    assert main(["verify", "--json"]) == 1
    kinds = {p["kind"] for p in json.loads(capsys.readouterr().out)["problems"]}
    assert kinds == {"missing"}, "after repair the artifact's bytes are reported missing, never served corrupt"


def test_an_unreferenced_blob_is_reported_as_orphan_but_is_not_a_failure(registry):
    _world(registry)
    digest, _ = registry.store.put_bytes(b"nobody points here")
    report = verify(registry)
    assert report.ok
    assert [(p.kind, p.digest) for p in report.problems] == [("orphan", digest)]



def test_a_corrupt_blob_names_each_of_its_users_once(registry, cli, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    ran = cli("run", "-o", "a.txt", "-o", "b.txt", "--", "sh", "-c", "echo one > a.txt; echo two > b.txt", cwd=work)
    assert ran.returncode == 0, ran.stderr
    first = ran.stdout.split()[0]
    # a run of a step of two outputs: its result references the first by replayed_blob and both by outputs_replayed
    assert cli("rerun-artifact", first).returncode == 0
    _flip(registry.store.path(registry.get_artifact(first).content_hash))
    proc = cli("verify", "--json")
    assert proc.returncode == 1, proc.stderr
    (problem,) = [p for p in json.loads(proc.stdout)["problems"] if p["kind"] == "corrupt"]
    users = problem["detail"].split("used by ", 1)[1].split(", ")
    assert first in users and any(u.startswith("run:") for u in users), users
    assert len(users) == len(set(users)), users
