"""Artifact search: the workbench lists artifacts newest first, all of them or those of one kind,
one page at a time, or those whose name holds a word; these indexes make a page one index walk
instead of a sort of the whole table, and hold the name so that matching it reads the index only.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_artifacts_created_at", "artifacts", ["created_at", "id", "name"])
    op.create_index("ix_artifacts_kind_created_at", "artifacts", ["kind", "created_at", "id", "name"])


def downgrade() -> None:
    op.drop_index("ix_artifacts_kind_created_at", table_name="artifacts")
    op.drop_index("ix_artifacts_created_at", table_name="artifacts")
