"""Issue 23: the incomplete multipart uploads an interrupted ``add`` leaves on S3 (moto's server),
whose parts are billed, are reported by ``verify`` and aborted by ``verify --repair`` and ``gc``,
only under the store's prefix and only once stale."""

from __future__ import annotations

import pytest

from scidex_replay.gc import collect
from scidex_replay.integrity import verify
from scidex_replay.registry import Registry


@pytest.fixture
def s3(home, s3_server, monkeypatch):
    bucket = s3_server.bucket()
    for k, v in s3_server.env(f"s3://{bucket}/blobs").items():
        monkeypatch.setenv(k, v)
    return s3_server, bucket


def _begin(fs, bucket: str, key: str, data: bytes) -> str:
    """An upload of ``key`` begun, one part sent, never completed: what a SIGINT mid-``add`` leaves."""
    upload = fs.call_s3("create_multipart_upload", Bucket=bucket, Key=key)["UploadId"]
    fs.call_s3("upload_part", Bucket=bucket, Key=key, UploadId=upload, PartNumber=1, Body=data)
    return upload


def _open_uploads(fs, bucket: str) -> list[str]:
    return sorted(u["Key"] for u in fs.call_s3("list_multipart_uploads", Bucket=bucket).get("Uploads") or ())


def _clock_just_after_they_began(fs, bucket: str, monkeypatch) -> None:
    """The store's clock ten seconds after the uploads began (moto dates every upload alike, in 2010)."""
    import types

    import scidex_replay.store.remote as remote

    began = max(u["Initiated"] for u in fs.call_s3("list_multipart_uploads", Bucket=bucket)["Uploads"]).timestamp()
    monkeypatch.setattr(remote, "time", types.SimpleNamespace(time=lambda: began + 10))


def test_verify_reports_stale_incomplete_uploads_under_the_prefix_and_repair_aborts_them(s3, monkeypatch):
    server, bucket = s3
    fs = server.filesystem()
    _begin(fs, bucket, "blobs/tmp/put-interrupted", b"x" * 1000)
    _begin(fs, bucket, "blobs2/ab/elsewhere", b"y" * 10)  # another prefix that only starts alike
    _begin(fs, bucket, "other/put-foreign", b"z" * 10)
    reg = Registry.open()
    with monkeypatch.context() as m:
        _clock_just_after_they_began(fs, bucket, m)
        assert not [p for p in verify(reg).problems if p.kind == "upload"], "an upload begun just now may be under way"
    report = verify(reg, stale_s=0)
    uploads = [p for p in report.problems if p.kind == "upload"]
    assert [(p.digest, "1000 bytes" in p.detail) for p in uploads] == [(f"{bucket}/blobs/tmp/put-interrupted", True)]
    assert report.ok, "a leftover upload loses nothing"
    assert _open_uploads(fs, bucket) == ["blobs/tmp/put-interrupted", "blobs2/ab/elsewhere", "other/put-foreign"]
    repaired = verify(reg, repair=True, stale_s=0)
    assert any("aborted the incomplete upload" in r and "1000 bytes" in r for r in repaired.repaired), repaired.repaired
    assert _open_uploads(fs, bucket) == ["blobs2/ab/elsewhere", "other/put-foreign"]
    assert not [p for p in verify(reg, stale_s=0).problems if p.kind == "upload"]


def test_gc_aborts_stale_incomplete_uploads_and_a_dry_run_only_lists_them(s3, monkeypatch, cli):
    server, bucket = s3
    fs = server.filesystem()
    _begin(fs, bucket, "blobs/tmp/put-a", b"x" * 300)
    _begin(fs, bucket, "other/put-foreign", b"z" * 10)
    reg = Registry.open()
    with monkeypatch.context() as m:
        _clock_just_after_they_began(fs, bucket, m)
        assert collect(reg, grace_s=0).uploads == (), "by default an upload younger than an hour is left alone"
    listed = cli("gc", "--dry-run", "--grace", "0")  # moto dates uploads in 2010: stale for the command
    assert listed.returncode == 0 and f"would abort the incomplete upload of {bucket}/blobs/tmp/put-a (300 bytes)" in listed.stderr, listed.stderr
    checked = cli("verify")
    assert checked.returncode == 0 and f"upload   {bucket}/blobs/tmp/put-a  incomplete" in checked.stdout, checked.stdout
    assert collect(reg, grace_s=0, dry_run=True, uploads_older_than_s=0).uploads == ((f"{bucket}/blobs/tmp/put-a", 300),)
    assert _open_uploads(fs, bucket) == ["blobs/tmp/put-a", "other/put-foreign"]
    assert collect(reg, grace_s=0, uploads_older_than_s=0).uploads == ((f"{bucket}/blobs/tmp/put-a", 300),)
    assert _open_uploads(fs, bucket) == ["other/put-foreign"]
    assert collect(reg, grace_s=0, uploads_older_than_s=0).uploads == ()
