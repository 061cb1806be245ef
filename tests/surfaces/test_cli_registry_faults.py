"""The registry under faults, through the real console script: concurrent first use, an explicit
``upgrade``, a database locked past the busy timeout, damaged pages, a ``--db`` that cannot be
created, names the columns cannot hold, a read-only data home, a shared home whose blob store
this user cannot write. Each answers with one line, never a traceback."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from scidex_replay.registry import migrate

CONSOLE_SCRIPT = Path(sys.executable).parent / "scidex-replay"


def one_line_error(proc, code: int = 2) -> str:
    assert proc.returncode == code, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr, proc.stderr
    [line] = [line for line in proc.stderr.splitlines() if not line.startswith("scidex-replay: notice: ")]
    assert line.startswith("scidex-replay: error: "), line
    return line


def count(url: str, table: str) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(text(f"select count(*) from {table}")).scalar_one()
    finally:
        engine.dispose()


# -- first use under concurrency -----------------------------------------------------------

def test_twenty_concurrent_runs_on_a_registry_that_does_not_exist_yet_all_land(bare_home, empty_db_url, tmp_path):
    env = {**os.environ, "SCIDEX_REPLAY_DB": empty_db_url}
    procs = []
    for i in range(20):
        work = tmp_path / f"w{i}"
        work.mkdir()
        procs.append(subprocess.Popen(
            [str(CONSOLE_SCRIPT), "run", "--stdout", "out.txt", "--", sys.executable, "-c", f"print({i})"],
            cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL,
        ))
    failed = []
    for i, proc in enumerate(procs):
        out, err = proc.communicate(timeout=300)
        if proc.returncode != 0 or "Traceback" in err:
            failed.append((i, proc.returncode, err[-300:]))
    assert not failed, f"{len(failed)} of 20 failed: {failed[:3]}"
    assert count(empty_db_url, "processing_steps") == 20
    assert count(empty_db_url, "environments") == 1


# -- upgrade ---------------------------------------------------------------------------------

def _downgrade_one(url: str) -> str:
    """Take the registry at ``url`` one revision back, as the version before this one left it."""
    from alembic import command

    engine = create_engine(url)
    try:
        cfg = migrate.alembic_config(engine)
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "-1")
        return migrate.current_revision(engine)
    finally:
        engine.dispose()


def _stamp(url: str, revision: str) -> None:
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = :r"), {"r": revision})
    finally:
        engine.dispose()


def test_upgrade_migrates_an_older_registry_says_from_which_revision_and_backs_up_sqlite(cli, db_url, databases, tmp_path):
    src = tmp_path / "x.txt"
    src.write_text("x")
    added = cli("add", src)
    assert added.returncode == 0, added.stderr
    older = _downgrade_one(db_url)
    assert older != migrate.HEAD

    proc = cli("upgrade")
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr and "notice" not in proc.stderr
    said = proc.stdout + proc.stderr
    assert f"from schema revision {older} to {migrate.HEAD}" in said, said
    engine = create_engine(db_url)
    try:
        assert migrate.current_revision(engine) == migrate.HEAD
    finally:
        engine.dispose()
    if databases.backend == "sqlite":
        backup = Path(db_url.removeprefix("sqlite:///") + f".bak-{older}")
        assert backup.is_file() and str(backup) in said
        with sqlite3.connect(backup) as conn:
            assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [(older,)]
        conn.close()
    assert cli("cat", added.stdout.strip()).stdout == "x", "the data is kept"

    again = cli("upgrade", "--db", db_url)
    assert again.returncode == 0, again.stderr
    assert f"already at schema revision {migrate.HEAD}" in again.stdout + again.stderr


def test_upgrade_refuses_a_newer_registry_in_one_line(cli, db_url):
    assert cli("verify").returncode == 0
    _stamp(db_url, "0099")
    line = one_line_error(cli("upgrade"))
    assert "0099" in line and migrate.HEAD in line
    engine = create_engine(db_url)
    try:
        assert migrate.current_revision(engine) == "0099", "left as it was"
    finally:
        engine.dispose()


@pytest.mark.sqlite_only(reason="no SQLite file there")
def test_upgrade_of_a_registry_that_does_not_exist_is_one_line_and_creates_nothing(cli, tmp_path):
    db = tmp_path / "nowhere" / "registry.db"
    line = one_line_error(cli("upgrade", "--db", f"sqlite:///{db}"))
    assert str(db) in line and "no registry" in line
    assert not db.parent.exists()


# -- SQLite: locked, damaged, not creatable ---------------------------------------------------

@pytest.mark.sqlite_only(reason="holds SQLite's exclusive lock on the file")
def test_a_registry_locked_past_the_busy_timeout_is_one_line(cli, home, db_url, tmp_path, monkeypatch):
    src = tmp_path / "x.txt"
    src.write_text("x")
    assert cli("add", src).returncode == 0
    monkeypatch.setenv("SCIDEX_REPLAY_BUSY_TIMEOUT_S", "0.5")
    holder = sqlite3.connect(db_url.removeprefix("sqlite:///"), isolation_level=None, check_same_thread=False)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        other = tmp_path / "y.txt"
        other.write_text("y")
        started = time.monotonic()
        line = one_line_error(cli("add", other))
        assert "locked" in line and "0.5 s" in line and db_url in line, line
        assert time.monotonic() - started < 20
        reading = cli("runs")  # WAL: a reader is not kept waiting by a writer
        assert reading.returncode == 0, reading.stderr
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert cli("add", other).returncode == 0, "works once the lock is gone"


@pytest.mark.sqlite_only(reason="the busy timeout is SQLite's")
def test_a_bad_busy_timeout_is_one_line(cli, monkeypatch):
    monkeypatch.setenv("SCIDEX_REPLAY_BUSY_TIMEOUT_S", "soon")
    line = one_line_error(cli("runs"))
    assert "SCIDEX_REPLAY_BUSY_TIMEOUT_S" in line and "soon" in line


@pytest.mark.sqlite_only(reason="overwrites a page of the SQLite file")
def test_a_registry_with_damaged_pages_is_one_line_naming_it(cli, home, db_url, tmp_path):
    src = tmp_path / "x.txt"
    src.write_text("x")
    artifact = cli("add", src).stdout.strip()
    db = Path(db_url.removeprefix("sqlite:///"))
    with sqlite3.connect(db) as conn:
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'artifacts'").fetchone()[0]
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    with open(db, "r+b") as fh:  # the artifacts table's root page, in the middle of the file
        fh.seek((root - 1) * page_size)
        fh.write(b"\xa5" * page_size)
    for args in (("chain", artifact), ("verify",)):
        line = one_line_error(cli(*args))
        assert f"the registry {db_url} is damaged" in line, line


@pytest.mark.sqlite_only(reason="the --db given is a SQLite path")
@pytest.mark.parametrize("where", ["/proc/scidex/registry.db", "/proc/registry.db"])
def test_a_db_that_cannot_be_created_is_one_line(cli, where):
    line = one_line_error(cli("runs", "--db", f"sqlite:///{where}"))
    assert where in line


def test_a_data_home_that_cannot_be_created_is_one_line_naming_it(cli, monkeypatch):
    monkeypatch.setenv("SCIDEX_REPLAY_HOME", "/proc/scidex-home")
    line = one_line_error(cli("runs"))
    assert "/proc/scidex-home" in line and "data home" in line


# -- names the columns cannot hold -----------------------------------------------------------

@pytest.mark.parametrize("option,limit", [("--name", 255), ("--kind", 64)])
def test_an_artifact_name_or_kind_too_long_is_one_line_on_every_backend(cli, tmp_path, option, limit):
    src = tmp_path / "x.txt"
    src.write_text("x")
    assert cli("add", src, option, "n" * limit).returncode == 0, "the limit itself fits"
    line = one_line_error(cli("add", src, option, "n" * (limit + 1)))
    assert str(limit) in line and option.lstrip("-") in line


def test_a_nul_in_a_name_is_refused_in_one_line_on_every_backend(registry, tmp_path):
    from scidex_replay.errors import BadInput

    for kwargs in ({"name": "a\x00b"}, {"kind": "t\x00t"}):
        with pytest.raises(BadInput, match="NUL") as err:
            registry.add_artifact(b"abc", **kwargs)
        assert "\n" not in str(err.value)
    assert registry.add_artifact(b"abc", name="ab").name == "ab"
    try:  # NUL inside JSON is an escape (\u0000): stored, or refused in one line
        registry.add_artifact(b"abc", name="meta", metadata={"note": "a\x00b"})
    except BadInput as exc:
        assert "\n" not in str(exc)


# -- read-only and shared homes --------------------------------------------------------------

def _read_only(cmd: list[str], home: Path) -> list[str]:
    """``cmd`` run with ``home`` read-only: a read-only bind mount in a mount namespace of its own
    (as root, which permissions do not stop), else ``home`` made read-only for this user."""
    if os.geteuid() == 0:
        import shlex

        return ["unshare", "-m", "sh", "-c", f"mount --bind -o ro {shlex.quote(str(home))} {shlex.quote(str(home))} && exec {shlex.join(cmd)}"]
    subprocess.run(["chmod", "-R", "a-w", str(home)], check=True)
    return cmd


@pytest.mark.sqlite_only(reason="the data home holds the SQLite file")
def test_a_read_only_data_home_can_still_be_read(cli, home, db_url, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    (work / "x.txt").write_text("abc\n")
    proc = cli("run", "-i", "x.txt", "-o", "y.txt", "--", sys.executable, "-c",
               "open('y.txt', 'w').write(open('x.txt').read().upper())", cwd=work)
    assert proc.returncode == 0, proc.stderr
    artifact = proc.stdout.split()[0]
    assert cli("rerun-artifact", artifact).returncode == 0
    assert not Path(db_url.removeprefix("sqlite:///") + "-shm").exists(), "closed: no -shm left to share"

    def read_only(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(_read_only([str(CONSOLE_SCRIPT), *args], home), capture_output=True, text=True,
                              stdin=subprocess.DEVNULL, timeout=60)

    try:
        for args in (("chain", artifact), ("runs",), ("runs", artifact), ("verify",), ("cat", artifact), ("step-types",)):
            proc = read_only(*args)
            assert proc.returncode == 0 and "Traceback" not in proc.stderr, (args, proc.stderr)
        assert read_only("cat", artifact).stdout == "ABC\n"
        src = tmp_path / "new.txt"
        src.write_text("new")
        line = one_line_error(read_only("add", str(src)))
        assert str(home) in line
        ran = tmp_path / "ran"  # outside the data home: writable
        proc = subprocess.run(_read_only([str(CONSOLE_SCRIPT), "run", "-o", "z.txt", "--", "sh", "-c", f"touch {ran}; echo z > z.txt"], home),
                              capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60, cwd=work)
        assert "read-only here, so a step recorded now could not be kept; nothing was run" in one_line_error(proc)
        assert not ran.exists(), "a step that could not be kept is not run"
    finally:
        subprocess.run(["chmod", "-R", "u+w", str(home)], check=True)


@pytest.mark.sqlite_only(reason="the mode of the SQLite file")
def test_a_new_registry_file_is_made_as_the_umask_says_not_private(cli, db_url):
    proc = subprocess.run(["sh", "-c", f"umask 002 && exec {CONSOLE_SCRIPT} runs"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert Path(db_url.removeprefix("sqlite:///")).stat().st_mode & 0o777 == 0o664


def test_a_blob_store_this_user_cannot_write_is_one_line_naming_it(db_url, databases, tmp_path):
    """A shared data home: the database is writable by all, ``blobs/`` only by its owner."""
    from scidex_replay.registry import Registry

    shared = Path(tempfile.mkdtemp(prefix="scidex-shared-"))
    try:
        os.chmod(shared, 0o777)
        if databases.backend == "sqlite":  # in the shared home, where the other user reaches it
            db_url = f"sqlite:///{shared / 'registry.db'}"
            Registry.open(db_url, home=shared).close()
            os.chmod(shared / "registry.db", 0o666)
        blobs = shared / "blobs"
        blobs.mkdir(mode=0o755)
        src = shared / "x.txt"
        src.write_text("x")
        os.chmod(src, 0o644)
        env = {**os.environ, "SCIDEX_REPLAY_HOME": str(shared), "SCIDEX_REPLAY_DB": db_url}
        cmd = [str(CONSOLE_SCRIPT), "add", str(src)]
        if os.geteuid() == 0:  # root writes anywhere: another user, as in a shared home
            cmd = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *cmd]
        else:
            blobs.chmod(0o555)
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL, timeout=60, cwd=shared)
        line = one_line_error(proc)
        assert str(blobs) in line, line
    finally:
        subprocess.run(["chmod", "-R", "u+w", str(shared)], check=True)
        subprocess.run(["rm", "-rf", str(shared)], check=True)
