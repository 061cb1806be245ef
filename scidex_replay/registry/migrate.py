"""Create or upgrade the schema with Alembic, cheaply when it is already current; refuse a newer one."""

from __future__ import annotations

import warnings
from pathlib import Path

from sqlalchemy import Engine, inspect, text
from sqlalchemy import exc as sa_exc

from scidex_replay.errors import Notice, RegistryUnavailable

MIGRATIONS = Path(__file__).parent / "migrations"
#: The newest revision under migrations/versions (a test keeps them in step).
HEAD = "0006"
_OURS = {"artifacts", "processing_steps", "step_inputs", "environments", "replay_runs", "replay_results"}


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


def ensure_schema(engine: Engine) -> None:
    """Upgrade to ``HEAD`` unless already there; refuse a database that is not a registry.

    A registry stamped with a revision this version does not know (made by a newer
    scidex-replay) is refused with ``RegistryUnavailable`` naming both revisions. One
    at an older revision is upgraded with a ``Notice`` saying so, after a SQLite file
    is backed up to ``<file>.bak-<revision>``; an empty database is created silently.
    """
    url = engine.url.render_as_string(hide_password=True)
    try:
        revision = current_revision(engine)
        if revision == HEAD:
            return
        tables = set(inspect(engine).get_table_names()) - {"alembic_version"}
        if revision is None and tables and not tables <= _OURS:
            raise RegistryUnavailable(f"{url} is not a scidex-replay registry (it has tables {', '.join(sorted(tables)[:3])})")
        if revision is not None:
            if revision not in known_revisions():
                raise RegistryUnavailable(
                    f"{url} has schema revision {revision}, newer than this scidex-replay knows "
                    f"(its newest is {HEAD}): use the scidex-replay that wrote it, or a newer one"
                )
            backup = backup_sqlite(engine, revision)
            kept = f"; the registry as it was is kept at {backup}" if backup else ""
            warnings.warn(f"upgrading registry {url} from schema revision {revision} to {HEAD}{kept}", Notice, stacklevel=2)
        from alembic import command

        cfg = alembic_config(engine)
        with engine.begin() as conn:
            if engine.dialect.name == "sqlite":
                # Only now that the file is known to be ours; WAL is then a property of the file.
                conn.exec_driver_sql("PRAGMA journal_mode=WAL")
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
    except sa_exc.SQLAlchemyError as exc:
        reason = str(exc.orig if getattr(exc, "orig", None) is not None else exc).splitlines()[0]
        raise RegistryUnavailable(f"cannot open database {url}: {reason}") from exc
