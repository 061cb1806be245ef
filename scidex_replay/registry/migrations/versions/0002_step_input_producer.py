"""step_inputs.producer_step_id: the step that produced each input, for a one-probe chain walk;
an index on artifacts.size, for adding a file already registered without writing it.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("artifacts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_artifacts_size"), ["size"], unique=False)
    with op.batch_alter_table("step_inputs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("producer_step_id", sa.String(length=32), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_step_inputs_producer_step_id_processing_steps"),
            "processing_steps",
            ["producer_step_id"],
            ["step_id"],
        )
        batch_op.create_index("ix_step_inputs_walk", ["step_id", "producer_step_id"], unique=False)
    # Every artifact has at most one producer (processing_steps.target_artifact_id is unique).
    op.execute(
        "UPDATE step_inputs SET producer_step_id = "
        "(SELECT p.step_id FROM processing_steps p WHERE p.target_artifact_id = step_inputs.artifact_id)"
    )


def downgrade() -> None:
    with op.batch_alter_table("step_inputs", schema=None) as batch_op:
        batch_op.drop_index("ix_step_inputs_walk")
        batch_op.drop_constraint(batch_op.f("fk_step_inputs_producer_step_id_processing_steps"), type_="foreignkey")
        batch_op.drop_column("producer_step_id")
    with op.batch_alter_table("artifacts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_artifacts_size"))
