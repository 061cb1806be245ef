"""Create or upgrade the schema with Alembic, cheaply when it is already current."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, inspect, text
from sqlalchemy import exc as sa_exc

from scidex_replay.errors import RegistryUnavailable

MIGRATIONS = Path(__file__).parent / "migrations"
#: The newest revision under migrations/versions (a test keeps them in step).
HEAD = "0005"
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


def ensure_schema(engine: Engine) -> None:
    """Upgrade to ``HEAD`` unless already there; refuse a database that is not a registry."""
    url = engine.url.render_as_string(hide_password=True)
    try:
        if current_revision(engine) == HEAD:
            return
        tables = set(inspect(engine).get_table_names()) - {"alembic_version"}
        if current_revision(engine) is None and tables and not tables <= _OURS:
            raise RegistryUnavailable(f"{url} is not a scidex-replay registry (it has tables {', '.join(sorted(tables)[:3])})")
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
