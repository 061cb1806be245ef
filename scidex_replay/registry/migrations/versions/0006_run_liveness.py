"""Run liveness: which process runs a replay (``pid``, ``host``) and when it was last seen alive
(``heartbeat_at``), so that a run whose process died (kill -9, an OOM kill, a lost machine) is
shown ``interrupted`` instead of ``running`` forever; and the env_hash of the replaying
interpreter (``env_hash``), for the manifest of a run that did not live to write it. Existing runs have none: a ``running`` one
among them can only be a dead first-wave run, and is read as interrupted.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("replay_runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("pid", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("host", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("env_hash", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("replay_runs", schema=None) as batch_op:
        batch_op.drop_column("env_hash")
        batch_op.drop_column("heartbeat_at")
        batch_op.drop_column("host")
        batch_op.drop_column("pid")
