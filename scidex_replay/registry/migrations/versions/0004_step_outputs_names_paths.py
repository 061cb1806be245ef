"""Steps as they are written: several outputs (``step_outputs``), a name, and where each input is
staged and each output read in the step's working directory; every output's replayed digest.

Existing steps keep their single output (backfilled as position 0 with no path) and their
``in{N}-{name}`` staging (no input path), so they replay byte for byte as before.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "step_outputs",
        sa.Column("step_id", sa.String(length=32), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("artifact_id", sa.String(length=32), nullable=False),
        sa.Column("path", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["artifact_id"], ["artifacts.id"], name=op.f("fk_step_outputs_artifact_id_artifacts")),
        sa.ForeignKeyConstraint(["step_id"], ["processing_steps.step_id"], name=op.f("fk_step_outputs_step_id_processing_steps")),
        sa.PrimaryKeyConstraint("step_id", "position", name=op.f("pk_step_outputs")),
        sa.UniqueConstraint("artifact_id", name=op.f("uq_step_outputs_artifact_id")),
    )
    op.execute(
        "INSERT INTO step_outputs (step_id, position, artifact_id, path) "
        "SELECT step_id, 0, target_artifact_id, NULL FROM processing_steps"
    )
    with op.batch_alter_table("processing_steps", schema=None) as batch_op:
        batch_op.add_column(sa.Column("name", sa.String(length=64), nullable=True))
    with op.batch_alter_table("step_inputs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("path", sa.Text(), nullable=True))
    with op.batch_alter_table("replay_results", schema=None) as batch_op:
        batch_op.add_column(sa.Column("outputs_replayed", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("replay_results", schema=None) as batch_op:
        batch_op.drop_column("outputs_replayed")
    with op.batch_alter_table("step_inputs", schema=None) as batch_op:
        batch_op.drop_column("path")
    with op.batch_alter_table("processing_steps", schema=None) as batch_op:
        batch_op.drop_column("name")
    op.drop_table("step_outputs")
