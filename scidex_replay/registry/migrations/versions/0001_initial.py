"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-24
"""

from alembic import op
import sqlalchemy as sa


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('artifacts',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('content_hash', sa.String(length=64), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('kind', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('metadata', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_artifacts'))
    )
    with op.batch_alter_table('artifacts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_artifacts_content_hash'), ['content_hash'], unique=False)

    op.create_table('environments',
    sa.Column('env_hash', sa.String(length=64), nullable=False),
    sa.Column('python', sa.String(length=64), nullable=False),
    sa.Column('platform', sa.String(length=255), nullable=False),
    sa.Column('requirements_lock', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('env_hash', name=op.f('pk_environments'))
    )
    op.create_table('processing_steps',
    sa.Column('step_id', sa.String(length=32), nullable=False),
    sa.Column('step_type', sa.String(length=128), nullable=False),
    sa.Column('method', sa.Text(), nullable=False),
    sa.Column('parameters', sa.JSON(), nullable=False),
    sa.Column('target_artifact_id', sa.String(length=32), nullable=False),
    sa.Column('input_hash', sa.String(length=64), nullable=False),
    sa.Column('output_hash', sa.String(length=64), nullable=False),
    sa.Column('env_hash', sa.String(length=64), nullable=True),
    sa.Column('trace_id', sa.String(length=64), nullable=True),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('completed_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['env_hash'], ['environments.env_hash'], name=op.f('fk_processing_steps_env_hash_environments')),
    sa.ForeignKeyConstraint(['target_artifact_id'], ['artifacts.id'], name=op.f('fk_processing_steps_target_artifact_id_artifacts')),
    sa.PrimaryKeyConstraint('step_id', name=op.f('pk_processing_steps')),
    sa.UniqueConstraint('target_artifact_id', name=op.f('uq_processing_steps_target_artifact_id'))
    )
    with op.batch_alter_table('processing_steps', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_processing_steps_step_type'), ['step_type'], unique=False)

    op.create_table('replay_runs',
    sa.Column('run_id', sa.String(length=32), nullable=False),
    sa.Column('target_artifact_id', sa.String(length=32), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('parent_run_id', sa.String(length=32), nullable=True),
    sa.Column('from_step', sa.String(length=32), nullable=True),
    sa.Column('options', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('completed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('manifest', sa.JSON(), nullable=True),
    sa.ForeignKeyConstraint(['parent_run_id'], ['replay_runs.run_id'], name=op.f('fk_replay_runs_parent_run_id_replay_runs')),
    sa.ForeignKeyConstraint(['target_artifact_id'], ['artifacts.id'], name=op.f('fk_replay_runs_target_artifact_id_artifacts')),
    sa.PrimaryKeyConstraint('run_id', name=op.f('pk_replay_runs'))
    )
    with op.batch_alter_table('replay_runs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_replay_runs_target_artifact_id'), ['target_artifact_id'], unique=False)

    op.create_table('replay_results',
    sa.Column('run_id', sa.String(length=32), nullable=False),
    sa.Column('step_id', sa.String(length=32), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('output_hash_replayed', sa.String(length=64), nullable=True),
    sa.Column('ok', sa.Boolean(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('reused_from_run', sa.String(length=32), nullable=True),
    sa.Column('duration_s', sa.Double(), nullable=False),
    sa.Column('replayed_blob', sa.String(length=64), nullable=True),
    sa.Column('reuse_key', sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(['reused_from_run'], ['replay_runs.run_id'], name=op.f('fk_replay_results_reused_from_run_replay_runs')),
    sa.ForeignKeyConstraint(['run_id'], ['replay_runs.run_id'], name=op.f('fk_replay_results_run_id_replay_runs')),
    sa.ForeignKeyConstraint(['step_id'], ['processing_steps.step_id'], name=op.f('fk_replay_results_step_id_processing_steps')),
    sa.PrimaryKeyConstraint('run_id', 'step_id', name=op.f('pk_replay_results'))
    )
    with op.batch_alter_table('replay_results', schema=None) as batch_op:
        batch_op.create_index('ix_replay_results_reuse_key_ok', ['reuse_key', 'ok'], unique=False)

    op.create_table('step_inputs',
    sa.Column('step_id', sa.String(length=32), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('artifact_id', sa.String(length=32), nullable=False),
    sa.ForeignKeyConstraint(['artifact_id'], ['artifacts.id'], name=op.f('fk_step_inputs_artifact_id_artifacts')),
    sa.ForeignKeyConstraint(['step_id'], ['processing_steps.step_id'], name=op.f('fk_step_inputs_step_id_processing_steps')),
    sa.PrimaryKeyConstraint('step_id', 'position', name=op.f('pk_step_inputs'))
    )
    with op.batch_alter_table('step_inputs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_step_inputs_artifact_id'), ['artifact_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('step_inputs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_step_inputs_artifact_id'))

    op.drop_table('step_inputs')
    with op.batch_alter_table('replay_results', schema=None) as batch_op:
        batch_op.drop_index('ix_replay_results_reuse_key_ok')

    op.drop_table('replay_results')
    with op.batch_alter_table('replay_runs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_replay_runs_target_artifact_id'))

    op.drop_table('replay_runs')
    with op.batch_alter_table('processing_steps', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_processing_steps_step_type'))

    op.drop_table('processing_steps')
    op.drop_table('environments')
    with op.batch_alter_table('artifacts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_artifacts_content_hash'))

    op.drop_table('artifacts')
