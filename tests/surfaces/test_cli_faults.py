"""Faults that must not lose data, through the real console script: a damaged blob re-added,
an ``--out`` that holds a manifest or cannot be written, a registry file that is not a registry,
a registry from another schema revision. Each answers with one line, never a traceback."""

from __future__ import annotations

import hashlib
import os
import sys
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


# -- --out ------------------------------------------------------------------------------

@pytest.fixture
def recorded(cli, tmp_path) -> str:
    """A one-step chain recorded with `run`; the artifact id of its output."""
    work = tmp_path / "work"
    work.mkdir()
    (work / "x.txt").write_text("abc\n")
    proc = cli("run", "-i", "x.txt", "-o", "y.txt", "--", sys.executable, "-c",
               "open('y.txt', 'w').write(open('x.txt').read().upper())", cwd=work)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.split()[0]


def run_count(registry) -> int:
    from sqlalchemy import text

    with registry.engine.connect() as conn:
        return conn.execute(text("select count(*) from replay_runs")).scalar_one()


def test_rerun_refuses_an_out_dir_that_already_holds_a_manifest_before_running(cli, recorded, registry, tmp_path):
    out = tmp_path / "m"
    assert cli("rerun-artifact", recorded, "--out", out).returncode == 0
    first = (out / "manifest.json").read_bytes()
    runs = run_count(registry)

    line = one_line_error(cli("rerun-artifact", recorded, "--out", out))
    assert str(out) in line and "manifest.json" in line
    assert (out / "manifest.json").read_bytes() == first, "the first replay's manifest is kept"
    assert run_count(registry) == runs, "nothing ran"
    assert cli("rerun-artifact", recorded, "--out", tmp_path / "m2").returncode == 0


@pytest.mark.parametrize("where", ["under-a-file", "a-file"])
def test_rerun_refuses_an_out_that_cannot_be_written_before_running(cli, recorded, registry, tmp_path, where):
    blocker = tmp_path / "plain-file"
    blocker.write_text("not a directory")
    out = blocker / "m" if where == "under-a-file" else blocker
    runs = run_count(registry)
    line = one_line_error(cli("rerun-artifact", recorded, "--out", out))
    assert str(out) in line
    assert run_count(registry) == runs, "nothing ran"
    assert blocker.read_text() == "not a directory"



# -- registry files ---------------------------------------------------------------------

def test_a_zero_byte_registry_file_is_refused_not_recreated(cli, bare_home, tmp_path):
    db = tmp_path / "registry.db"
    db.write_bytes(b"")
    line = one_line_error(cli("verify", "--db", f"sqlite:///{db}"))
    assert "empty (0-byte) file" in line
    assert db.read_bytes() == b""


@pytest.mark.sqlite_only(reason="edits the SQLite file's stamp and checks its backup")
def test_cli_refuses_a_newer_registry_and_upgrades_an_older_one_with_a_notice_and_a_backup(cli, home, db_url, tmp_path):
    from sqlalchemy import create_engine, text

    from scidex_replay.registry import migrate

    src = tmp_path / "x.txt"
    src.write_text("x")
    assert cli("add", src).returncode == 0
    engine = create_engine(db_url)

    def stamp(revision: str) -> None:
        with engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = :r"), {"r": revision})

    stamp("0099")
    line = one_line_error(cli("runs"))
    assert "0099" in line and migrate.HEAD in line

    stamp(migrate.HEAD)
    from alembic import command

    cfg = migrate.alembic_config(engine)
    with engine.begin() as conn:  # a registry as the version before this one left it
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "-1")
    older = migrate.current_revision(engine)
    assert older != migrate.HEAD
    engine.dispose()
    proc = cli("runs")
    assert proc.returncode == 0, proc.stderr
    [notice] = [line for line in proc.stderr.splitlines() if line.startswith("scidex-replay: notice: ")]
    assert f"from schema revision {older} to {migrate.HEAD}" in notice
    assert Path(db_url.removeprefix("sqlite:///") + f".bak-{older}").is_file()
    again = cli("runs")
    assert again.returncode == 0 and "notice" not in again.stderr
