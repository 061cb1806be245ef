"""Code inputs: a ``python.call`` step's module source file is a step input with role ``code``,
recorded with the module's name and the ``sys.path`` root it was imported from (``path`` holds
the file's absolute path). Existing inputs are data inputs (null role) and replay as before.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("step_inputs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("role", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("module", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("root", sa.Text(), nullable=True))


def downgrade() -> None:
    op.execute("DELETE FROM step_inputs WHERE role = 'code'")  # else 0004 would hand them to the function
    with op.batch_alter_table("step_inputs", schema=None) as batch_op:
        batch_op.drop_column("root")
        batch_op.drop_column("module")
        batch_op.drop_column("role")
