"""Artifact search on PostgreSQL: a trigram index on the name, so that ``name ILIKE '%word%'``
(the workbench's search box) is a bitmap index scan instead of reading every name, and an index
on the id for ``LIKE 'prefix%'`` whatever the database's collation, so that the search's
``id LIKE 'q%' OR name ILIKE '%q%'`` can be a BitmapOr of the two. SQLite: nothing (its search
reads revision 0007's covering indexes).

The trigram index needs the ``pg_trgm`` extension (PostgreSQL's contrib, in Debian's
``postgresql`` package; trusted since PostgreSQL 13, so a role with CREATE on the database may
create it). When it is missing and cannot be created, the upgrade goes on without the index and
says so in one ``Notice``: search works, only slower on large registries. Neither index is in
the models (``models.OPTIONAL_INDEXES``): they exist on PostgreSQL only, the trigram one maybe.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import warnings

from alembic import op
from sqlalchemy import exc as sa_exc
from sqlalchemy import text

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

NAME_TRIGRAMS = "ix_artifacts_name_trgm"
ID_PATTERN = "ix_artifacts_id_pattern"


def _trgm_schema(conn) -> str | None:
    """The schema pg_trgm is installed in (quoted if need be), creating it if it is not; None
    (and a ``Notice``) when it cannot be created."""
    find = text("SELECT extnamespace::regnamespace::text FROM pg_extension WHERE extname = 'pg_trgm'")
    schema = conn.scalar(find)
    if schema is not None:
        return schema
    try:
        with conn.begin_nested():  # a failure rolls back to here, not the whole upgrade
            conn.execute(text("CREATE EXTENSION IF NOT EXISTS pg_trgm"))
    except sa_exc.DBAPIError as exc:
        from scidex_replay.errors import Notice

        reason = str(exc.orig if exc.orig is not None else exc).splitlines()[0]
        warnings.warn(
            f"artifact search has no trigram index on this PostgreSQL database ({reason}): it works, "
            f"but reads every name; to add it: CREATE EXTENSION pg_trgm; CREATE INDEX {NAME_TRIGRAMS} "
            "ON artifacts USING gin (name gin_trgm_ops)",
            Notice,
            stacklevel=2,
        )
        return None
    return conn.scalar(find)


def upgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name != "postgresql":
        return
    op.create_index(ID_PATTERN, "artifacts", ["id"], postgresql_ops={"id": "varchar_pattern_ops"})
    schema = _trgm_schema(conn)
    if schema is not None:
        op.execute(f"CREATE INDEX {NAME_TRIGRAMS} ON artifacts USING gin (name {schema}.gin_trgm_ops)")


def downgrade() -> None:
    """Drops the indexes; the extension stays (something else may use it)."""
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f"DROP INDEX IF EXISTS {NAME_TRIGRAMS}")
    op.drop_index(ID_PATTERN, table_name="artifacts")
