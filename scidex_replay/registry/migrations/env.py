"""Alembic environment: runs on the connection ``migrate.ensure_schema`` hands over,
or on ``sqlalchemy.url`` when invoked from the ``alembic`` command line."""

from alembic import context
from sqlalchemy import engine_from_config, pool

from scidex_replay.registry.models import Base, include_object

config = context.config
target_metadata = Base.metadata


def run_migrations(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        include_object=include_object,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    run_migrations(connection)
else:
    engine = engine_from_config(config.get_section(config.config_ini_section, {}), prefix="sqlalchemy.", poolclass=pool.NullPool)
    with engine.connect() as conn:
        run_migrations(conn)
