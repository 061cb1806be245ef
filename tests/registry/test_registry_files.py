"""Opening a registry never loses one: a file that is not a registry is refused, not recreated;
a newer schema is refused naming both revisions; an older one is upgraded with a notice, a
SQLite file backed up first."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from scidex_replay.errors import Notice, RegistryUnavailable
from scidex_replay.registry import Registry, migrate


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def test_a_zero_byte_file_is_refused_and_left_as_it_is(tmp_path):
    db = tmp_path / "registry.db"
    db.write_bytes(b"")
    with pytest.raises(RegistryUnavailable, match="empty .0-byte. file, not a scidex-replay registry") as err:
        Registry.open(sqlite_url(db), home=tmp_path / "home")
    assert "\n" not in str(err.value)
    assert db.read_bytes() == b""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["home", "registry.db"]


def test_an_absent_file_becomes_a_registry_and_never_exists_empty(tmp_path):
    db = tmp_path / "sub" / "registry.db"
    Registry.open(sqlite_url(db), home=tmp_path / "home").close()
    assert db.read_bytes()[:16] == b"SQLite format 3\x00"
    Registry.open(sqlite_url(db), home=tmp_path / "home").close()
    assert sorted(p.name for p in db.parent.iterdir() if not p.name.startswith("registry.db")) == []


def _stamp(url: str, revision: str) -> None:
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = :r"), {"r": revision})
    finally:
        engine.dispose()


def test_a_registry_from_a_newer_schema_is_refused_naming_both_revisions(db_url, tmp_path):
    Registry.open(db_url, home=tmp_path / "home").close()
    _stamp(db_url, "0099")
    with pytest.raises(RegistryUnavailable) as err:
        Registry.open(db_url, home=tmp_path / "home")
    message = str(err.value)
    assert "0099" in message and migrate.HEAD in message and "newer" in message and "\n" not in message


def _at_0004(engine) -> None:
    from alembic import command

    cfg = migrate.alembic_config(engine)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0004")


def test_an_older_registry_is_upgraded_with_a_notice(empty_db_url, tmp_path):
    engine = create_engine(empty_db_url)
    _at_0004(engine)
    engine.dispose()
    with pytest.warns(Notice, match=f"from schema revision 0004 to {migrate.HEAD}"):
        Registry.open(empty_db_url, home=tmp_path / "home").close()
    engine = create_engine(empty_db_url)
    try:
        assert migrate.current_revision(engine) == migrate.HEAD
    finally:
        engine.dispose()


@pytest.mark.sqlite_only(reason="the backup is a copy of the SQLite file")
def test_an_older_sqlite_registry_is_backed_up_before_it_is_upgraded(empty_db_url, tmp_path):
    engine = create_engine(empty_db_url)
    _at_0004(engine)
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO artifacts (id, content_hash, size, kind, name, created_at, metadata) "
            "VALUES ('a_old', :h, 1, 'txt', 'old.txt', '2024-01-01 00:00:00', '{}')"
        ), {"h": "1" * 64})
    engine.dispose()
    db = Path(empty_db_url.removeprefix("sqlite:///"))
    with pytest.warns(Notice, match="kept at .*registry.db.bak-0004"):
        with Registry.open(empty_db_url, home=tmp_path / "home") as reg:
            assert reg.get_artifact("a_old").name == "old.txt"
    backup = db.with_name("registry.db.bak-0004")
    with sqlite3.connect(backup) as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [("0004",)]
        assert conn.execute("SELECT id FROM artifacts").fetchall() == [("a_old",)]
    conn.close()


def test_a_registry_at_head_opens_without_a_notice(db_url, tmp_path, recwarn):
    Registry.open(db_url, home=tmp_path / "home").close()
    Registry.open(db_url, home=tmp_path / "home").close()
    assert not [w for w in recwarn if issubclass(w.category, Notice)]
