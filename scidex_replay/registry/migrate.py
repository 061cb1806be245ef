"""Create or upgrade the schema with Alembic, cheaply when it is already current; refuse a newer one."""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, inspect, text
from sqlalchemy import exc as sa_exc

from scidex_replay.errors import Notice, RegistryUnavailable

MIGRATIONS = Path(__file__).parent / "migrations"
#: The newest revision under migrations/versions (a test keeps them in step).
HEAD = "0008"
#: Every table a registry has had at any revision (a database with others is not a registry).
_OURS = {"artifacts", "processing_steps", "step_inputs", "step_outputs", "environments", "replay_runs", "replay_results"}


def alembic_config(engine: Engine):
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False))
    return cfg


def current_revision(engine: Engine) -> str | None:
    """The Alembic revision stamped in the database, read with plain SQL (importing Alembic costs ~0.2 s)."""
    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def known_revisions() -> list[str]:
    """The revisions under migrations/versions, oldest first (read with Alembic)."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory(str(MIGRATIONS))
    return [r.revision for r in reversed(list(script.walk_revisions()))]


def backup_sqlite(engine: Engine, revision: str) -> Path | None:
    """Copy a SQLite registry file to ``<file>.bak-<revision>`` (SQLite's online backup, consistent
    under WAL); never over an earlier backup. None for an in-memory database or another backend."""
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:" or database.startswith("file:"):
        return None
    import sqlite3
    from datetime import datetime, timezone

    source = Path(database)
    backup = source.with_name(f"{source.name}.bak-{revision}")
    if backup.exists():
        backup = backup.with_name(f"{backup.name}-{datetime.now(timezone.utc).strftime('%Y%m%dT%H%M%S%fZ')}")
    try:
        src = sqlite3.connect(source)
        try:
            dst = sqlite3.connect(backup)
            try:
                src.backup(dst)
            finally:
                dst.close()
        finally:
            src.close()
    except (OSError, sqlite3.Error) as exc:
        raise RegistryUnavailable(f"cannot back up {source} to {backup} before upgrading it, so it was left as it is: {exc}") from exc
    return backup


@dataclass(frozen=True)
class SchemaChange:
    """What ``upgrade_schema`` did: the revision before (None: an empty database, created), the
    revision after (``HEAD``), where a SQLite file was backed up first (None: no backup)."""

    before: str | None
    after: str
    backup: Path | None
    url: str = ""  # the database, its password hidden (``Registry.upgrade`` fills it in)


#: The key of the PostgreSQL advisory lock held while the schema is created or upgraded.
_PG_LOCK_KEY = 0x5C1DE7_0001


@contextmanager
def migration_lock(engine: Engine) -> Iterator[None]:
    """Held by one process at a time while it creates or upgrades the schema, so that concurrent
    first uses migrate once: a ``flock`` on ``<file>.lock`` beside a SQLite file, a session-level
    ``pg_advisory_lock`` on PostgreSQL; nothing for an in-memory database or another backend.
    Raises ``RegistryUnavailable`` when the lock file cannot be made."""
    database = engine.url.database
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _PG_LOCK_KEY})
            conn.commit()
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _PG_LOCK_KEY})
                conn.commit()
        return
    if engine.dialect.name != "sqlite" or not database or database == ":memory:" or database.startswith("file:"):
        yield
        return
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock, as before
        yield
        return
    lock = Path(f"{database}.lock")
    try:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as exc:
        raise RegistryUnavailable(f"cannot create the lock file {lock} to upgrade the registry: {exc.strerror or exc}") from exc
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the flock (a lock of its own file, not the database's POSIX locks)


def ensure_schema(engine: Engine) -> None:
    """Upgrade to ``HEAD`` unless already there; refuse a database that is not a registry.

    A registry stamped with a revision this version does not know (made by a newer
    scidex-replay) is refused with ``RegistryUnavailable`` naming both revisions. One
    at an older revision is upgraded with a ``Notice`` saying so, after a SQLite file
    is backed up to ``<file>.bak-<revision>``; an empty database is created silently.
    Concurrent first uses migrate once (``migration_lock``).
    """
    change = upgrade_schema(engine)
    if change is not None and change.before is not None:
        kept = f"; the registry as it was is kept at {change.backup}" if change.backup else ""
        url = engine.url.render_as_string(hide_password=True)
        warnings.warn(f"upgrading registry {url} from schema revision {change.before} to {change.after}{kept}", Notice, stacklevel=2)


def upgrade_schema(engine: Engine) -> SchemaChange | None:
    """Create or upgrade the schema to ``HEAD``, under ``migration_lock``; None when it was
    already there. A SQLite file at an older revision is backed up first (``backup_sqlite``).

    Raises ``RegistryUnavailable`` for a newer revision (naming both), a database with tables
    that are not a registry's, or one that cannot be read or backed up; nothing is changed then.
    """
    url = engine.url.render_as_string(hide_password=True)
    try:
        revision = current_revision(engine)
        if revision == HEAD:  # the usual case: no lock, one query
            return None
        if revision is not None:  # a newer registry is refused without waiting for the lock
            _refuse_foreign(engine, url, revision)
        with migration_lock(engine):  # the tables of one being created are looked at only under it
            return _upgrade(engine, url)
    except sa_exc.SQLAlchemyError as exc:
        reason = str(exc.orig if getattr(exc, "orig", None) is not None else exc).splitlines()[0]
        raise RegistryUnavailable(f"cannot open database {url}: {reason}") from exc


def _refuse_foreign(engine: Engine, url: str, revision: str | None) -> None:
    """``RegistryUnavailable`` for a database with tables that are not a registry's, or stamped
    with a revision this version does not know (a newer one)."""
    tables = set(inspect(engine).get_table_names()) - {"alembic_version"}
    if revision is None and tables and not tables <= _OURS:
        raise RegistryUnavailable(f"{url} is not a scidex-replay registry (it has tables {', '.join(sorted(tables)[:3])})")
    if revision is not None and revision not in known_revisions():
        raise RegistryUnavailable(
            f"{url} has schema revision {revision}, newer than this scidex-replay knows "
            f"(its newest is {HEAD}): use the scidex-replay that wrote it, or a newer one"
        )


def _upgrade(engine: Engine, url: str) -> SchemaChange | None:
    revision = current_revision(engine)  # again, under the lock: another process may have migrated meanwhile
    if revision == HEAD:
        return None
    _refuse_foreign(engine, url, revision)
    backup = backup_sqlite(engine, revision) if revision is not None else None
    from alembic import command

    cfg = alembic_config(engine)
    with engine.begin() as conn:
        if engine.dialect.name == "sqlite":
            # Only now that the file is known to be ours; WAL is then a property of the file.
            conn.exec_driver_sql("PRAGMA journal_mode=WAL")
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
    return SchemaChange(revision, HEAD, backup)
