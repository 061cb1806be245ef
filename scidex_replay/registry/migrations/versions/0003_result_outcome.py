"""replay_results.outcome: a step's outcome in its own column, ``reason`` the words only; ``ok`` null
for a step that was not checked; run statuses ``succeeded`` -> ``reproduced`` and ``failed`` ->
``differs`` where every step ran. Reuse looks results up by (reuse_key, outcome).

The backfill reads the first wave's reason strings (``"output-differs: replayed …"``) once, here;
nothing reads an outcome out of words after this revision.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import re

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# The outcome codes of revision 0002's reason strings ("code" or "code: words").
CODES = ("reproduced", "output-differs", "input-differs", "failed", "unreplayable", "skipped", "frozen", "reused", "forked")
NOT_RUN = ("failed", "unreplayable", "skipped")
_CODE = re.compile(r"([a-z][a-z-]*)(?::\s*)?(.*)", re.S)

results = sa.table(
    "replay_results",
    sa.column("run_id", sa.String),
    sa.column("step_id", sa.String),
    sa.column("outcome", sa.String),
    sa.column("ok", sa.Boolean),
    sa.column("reason", sa.Text),
)
runs = sa.table("replay_runs", sa.column("run_id", sa.String), sa.column("status", sa.String))


def split_reason(reason: str) -> tuple[str, str]:
    """``"output-differs: replayed 1a…"`` -> ``("output-differs", "replayed 1a…")``; an unknown code is ``failed``."""
    match = _CODE.fullmatch(reason)
    if match and match.group(1) in CODES:
        return match.group(1), match.group(2).strip()
    return "failed", reason


def upgrade() -> None:
    with op.batch_alter_table("replay_results", schema=None) as batch_op:
        batch_op.add_column(sa.Column("outcome", sa.String(length=16), nullable=True))
        batch_op.alter_column("ok", existing_type=sa.Boolean(), nullable=True)
        batch_op.drop_index("ix_replay_results_reuse_key_ok")
    conn = op.get_bind()
    rows = conn.execute(sa.select(results.c.run_id, results.c.step_id, results.c.reason)).all()
    updates = [dict(zip(("r", "s", "o", "w"), (run_id, step_id, *split_reason(reason)))) for run_id, step_id, reason in rows]
    if updates:
        conn.execute(
            results.update()
            .where(results.c.run_id == sa.bindparam("r"), results.c.step_id == sa.bindparam("s"))
            .values(outcome=sa.bindparam("o"), reason=sa.bindparam("w")),
            updates,
        )
    conn.execute(results.update().where(results.c.outcome == "frozen").values(ok=None))
    not_run = sa.select(results.c.run_id).where(results.c.outcome.in_(NOT_RUN))
    conn.execute(runs.update().where(runs.c.status == "succeeded").values(status="reproduced"))
    conn.execute(runs.update().where(runs.c.status == "failed", runs.c.run_id.not_in(not_run)).values(status="differs"))
    with op.batch_alter_table("replay_results", schema=None) as batch_op:
        batch_op.alter_column("outcome", existing_type=sa.String(length=16), nullable=False)
        batch_op.create_index("ix_replay_results_reuse_key_outcome", ["reuse_key", "outcome"], unique=False)


def downgrade() -> None:
    conn = op.get_bind()
    conn.execute(runs.update().where(runs.c.status == "reproduced").values(status="succeeded"))
    conn.execute(runs.update().where(runs.c.status == "differs").values(status="failed"))
    rows = conn.execute(sa.select(results.c.run_id, results.c.step_id, results.c.outcome, results.c.reason)).all()
    updates = [{"r": run_id, "s": step_id, "w": f"{code}: {words}" if words else code} for run_id, step_id, code, words in rows]
    if updates:
        conn.execute(
            results.update()
            .where(results.c.run_id == sa.bindparam("r"), results.c.step_id == sa.bindparam("s"))
            .values(reason=sa.bindparam("w")),
            updates,
        )
    conn.execute(results.update().where(results.c.ok.is_(None)).values(ok=False))
    with op.batch_alter_table("replay_results", schema=None) as batch_op:
        batch_op.drop_index("ix_replay_results_reuse_key_outcome")
        batch_op.create_index("ix_replay_results_reuse_key_ok", ["reuse_key", "ok"], unique=False)
        batch_op.alter_column("ok", existing_type=sa.Boolean(), nullable=False)
        batch_op.drop_column("outcome")
