"""Alembic revisions stay in step with the models: upgrading an empty database, SQLite or PostgreSQL,
yields exactly them."""

from __future__ import annotations

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect

from scidex_replay.registry import migrate
from scidex_replay.registry.models import Base


@pytest.fixture
def engine(empty_db_url: str):
    """A really empty database on the backend under test (not the head-revision copy other tests get)."""
    eng = create_engine(empty_db_url)
    try:
        yield eng
    finally:
        eng.dispose()


def upgrade(engine, revision: str = "head") -> None:
    cfg = migrate.alembic_config(engine)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def diffs(engine) -> list:
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": True})
        return compare_metadata(ctx, Base.metadata)


def test_upgrading_an_empty_database_yields_exactly_the_model_tables(engine):
    upgrade(engine)
    tables = set(inspect(engine).get_table_names())
    assert tables - {"alembic_version"} == set(Base.metadata.tables)
    assert diffs(engine) == []


def test_head_constant_is_the_script_directory_head():
    script = ScriptDirectory.from_config(migrate.alembic_config(create_engine("sqlite://")))
    assert script.get_heads() == [migrate.HEAD]
    assert script.get_current_head() == migrate.HEAD


def test_ensure_schema_upgrades_an_empty_database_to_head_and_is_idempotent(engine):
    assert migrate.current_revision(engine) is None
    migrate.ensure_schema(engine)
    assert migrate.current_revision(engine) == migrate.HEAD
    migrate.ensure_schema(engine)
    assert migrate.current_revision(engine) == migrate.HEAD
    assert diffs(engine) == []


def test_downgrading_to_base_removes_every_model_table(engine):
    upgrade(engine)
    cfg = migrate.alembic_config(engine)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "base")
    assert set(inspect(engine).get_table_names()) - {"alembic_version"} == set()


def test_model_constraints_follow_the_naming_convention(engine):
    upgrade(engine)
    insp = inspect(engine)
    for table in Base.metadata.tables:
        assert insp.get_pk_constraint(table)["name"] == f"pk_{table}"
        for fk in insp.get_foreign_keys(table):
            assert fk["name"].startswith(f"fk_{table}_"), fk
