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
from scidex_replay.registry.models import OPTIONAL_INDEXES, Base, include_object


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
        opts = {"compare_type": True, "compare_server_default": True, "include_object": include_object}
        ctx = MigrationContext.configure(conn, opts=opts)
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


T0 = "2024-01-01 00:00:00"


def _populate_0004(engine) -> None:
    """A step as 0004 stores it: one data input staged at ``data.csv``, one output."""
    from sqlalchemy import text

    with engine.begin() as conn:
        for aid, digest in (("a_src", "1" * 64), ("a_out", "2" * 64)):
            conn.execute(text(
                "INSERT INTO artifacts (id, content_hash, size, kind, name, created_at, metadata) "
                "VALUES (:a, :h, 1, 'csv', :a, :t, '{}')"
            ), {"a": aid, "h": digest, "t": T0})
        conn.execute(text(
            "INSERT INTO processing_steps (step_id, step_type, method, parameters, target_artifact_id, "
            "input_hash, output_hash, started_at, completed_at, name) "
            "VALUES ('s_1', 'python.call', 'mylib:clean', '{}', 'a_out', :h, :h, :t, :t, 'clean')"
        ), {"h": "2" * 64, "t": T0})
        conn.execute(text("INSERT INTO step_inputs (step_id, position, artifact_id, path) VALUES ('s_1', 0, 'a_src', 'data.csv')"))
        conn.execute(text("INSERT INTO step_outputs (step_id, position, artifact_id) VALUES ('s_1', 0, 'a_out')"))


def test_revision_0005_adds_code_roles_and_keeps_existing_inputs_as_data(engine, tmp_path):
    from sqlalchemy import text

    from scidex_replay.registry import Registry

    upgrade(engine, "0004")
    _populate_0004(engine)
    upgrade(engine)

    columns = {c["name"]: c for c in inspect(engine).get_columns("step_inputs")}
    assert {"role", "module", "root"} <= set(columns) and all(columns[c]["nullable"] for c in ("role", "module", "root"))
    with engine.connect() as conn:
        assert conn.execute(text("SELECT role, module, root, path FROM step_inputs")).all() == [(None, None, None, "data.csv")]
    step = Registry(engine, tmp_path).get_step("s_1")
    assert (step.source_artifact_ids, step.input_paths, step.code_inputs) == (("a_src",), ("data.csv",), ())
    [in_chain] = Registry(engine, tmp_path).chain("a_out")
    assert (in_chain.source_artifact_ids, in_chain.code_inputs) == (("a_src",), ())

    with engine.begin() as conn:  # a code input recorded after the upgrade
        conn.execute(text(
            "INSERT INTO step_inputs (step_id, position, artifact_id, path, role, module, root) "
            "VALUES ('s_1', 1, 'a_src', '/x/mylib.py', 'code', 'mylib', '/x')"
        ))
    [code] = Registry(engine, tmp_path).get_step("s_1").code_inputs
    assert (code.module, code.path, code.root, code.content_hash) == ("mylib", "/x/mylib.py", "/x", "1" * 64)

    cfg = migrate.alembic_config(engine)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0004")
    with engine.connect() as conn:  # 0004 would hand a code input to the function as data: it goes
        assert conn.execute(text("SELECT position, artifact_id FROM step_inputs")).all() == [(0, "a_src")]


def test_every_table_of_the_models_is_known_as_a_registry_s():
    """A table missing from migrate._OURS makes a registry created meanwhile look foreign to a
    concurrent first use (step_outputs was missing: 1 of 20 concurrent runs failed)."""
    from scidex_replay.registry.models import Base

    assert set(Base.metadata.tables) <= migrate._OURS


def _indexes(engine, table: str = "artifacts") -> set[str]:
    return {ix["name"] for ix in inspect(engine).get_indexes(table)}


def downgrade(engine, revision: str) -> None:
    cfg = migrate.alembic_config(engine)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)


def test_revision_0008_indexes_artifact_names_by_trigrams_on_postgresql_and_does_nothing_on_sqlite(engine):
    from sqlalchemy import text

    upgrade(engine, "0007")
    before = _indexes(engine)
    upgrade(engine, "0008")
    if engine.dialect.name == "sqlite":
        assert _indexes(engine) == before
    else:
        assert _indexes(engine) - before == OPTIONAL_INDEXES
        with engine.connect() as conn:
            defs = dict(conn.execute(text("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'artifacts'")).all())
        assert "USING gin (name gin_trgm_ops)" in defs["ix_artifacts_name_trgm"]
        assert "USING btree (id varchar_pattern_ops)" in defs["ix_artifacts_id_pattern"]
    downgrade(engine, "0007")
    assert _indexes(engine) == before
    upgrade(engine)
    assert diffs(engine) == []


def test_postgresql_upgrade_by_a_role_that_cannot_create_pg_trgm_goes_on_without_the_trigram_index(pg_server, tmp_path):
    """A role with CREATE on the schema (its tables) but not on the database cannot create even a
    trusted extension: the upgrade still reaches head, with one Notice, and search works."""
    import uuid

    from _pg import create_database, drop_database
    from sqlalchemy import text

    from scidex_replay.errors import Notice
    from scidex_replay.registry import Registry

    role = f"limited_{uuid.uuid4().hex[:8]}"
    url = create_database(pg_server)
    owner = create_engine(url)
    try:
        with owner.begin() as conn:
            conn.execute(text(f"CREATE ROLE {role} LOGIN"))
            conn.execute(text(f"GRANT CREATE ON SCHEMA public TO {role}"))
        limited = create_engine(url.replace("://scidex@", f"://{role}@", 1))
        try:
            with pytest.warns(Notice) as notices:
                migrate.ensure_schema(limited)
            [notice] = [str(w.message) for w in notices if "trigram" in str(w.message)]
            assert "permission denied to create extension" in notice and "\n" not in notice
            assert migrate.current_revision(limited) == migrate.HEAD
            assert _indexes(limited) & OPTIONAL_INDEXES == {"ix_artifacts_id_pattern"}
            with limited.connect() as conn:
                assert conn.scalar(text("SELECT count(*) FROM pg_extension WHERE extname = 'pg_trgm'")) == 0
            reg = Registry(limited, tmp_path)
            ids = [reg.add_artifact(f"{i}".encode(), "csv", f"Sample-{i}.csv").id for i in range(3)]
            page, total = reg.search_artifacts("AMPLE-", limit=2)
            assert ([a.id for a in page], total) == (ids[:0:-1], 3)
        finally:
            limited.dispose()
    finally:
        owner.dispose()
        drop_database(url)
        with create_engine(pg_server + "postgres", isolation_level="AUTOCOMMIT").connect() as conn:
            conn.execute(text(f"DROP ROLE IF EXISTS {role}"))


def test_postgresql_upgrade_uses_a_pg_trgm_already_installed_in_another_schema(pg_server):
    """pg_trgm created beforehand in a schema off the search path (``CREATE EXTENSION ... SCHEMA``):
    the index names its operator class there, and no second extension is asked for."""
    from _pg import create_database, drop_database
    from sqlalchemy import text

    url = create_database(pg_server)
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text('CREATE SCHEMA "Ext"'))
            conn.execute(text('CREATE EXTENSION pg_trgm SCHEMA "Ext"'))
        migrate.ensure_schema(engine)
        with engine.connect() as conn:
            indexdef = conn.scalar(text("SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_artifacts_name_trgm'"))
        assert 'USING gin (name "Ext".gin_trgm_ops)' in indexdef
    finally:
        engine.dispose()
        drop_database(url)
