"""plan change requests: what an approved plan was reviewed as changes only by a supervisor's decision

Revision ID: a3c9e1f27b15
Revises: 5b2e8c1f0a97
Create Date: 2026-12-06 14:00:00

At most one pending request per plan, by a partial unique index (SQLite and PostgreSQL).
"""
import sqlalchemy as sa
from alembic import op

import backend.models.types

# revision identifiers, used by Alembic.
revision = 'a3c9e1f27b15'
down_revision = '5b2e8c1f0a97'
branch_labels = None
depends_on = None

_PENDING = sa.text("status = 'pending'")


def upgrade():
    op.create_table('plan_change_requests',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('plan_id', sa.Integer(), nullable=False),
    sa.Column('requested_fields', sa.JSON(), nullable=False),
    sa.Column('before_fields', sa.JSON(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('requested_by', sa.Integer(), nullable=False),
    sa.Column('requested_at', backend.models.types.UTCDateTime(), nullable=False),
    sa.Column('decided_by', sa.Integer(), nullable=True),
    sa.Column('decided_at', backend.models.types.UTCDateTime(), nullable=True),
    sa.Column('decision_reason', sa.Text(), nullable=True),
    sa.CheckConstraint("status IN ('pending','approved','rejected')", name=op.f('ck_plan_change_requests_status')),
    sa.CheckConstraint("status = 'pending' OR (decided_by IS NOT NULL AND decided_at IS NOT NULL)",
                       name=op.f('ck_plan_change_requests_decided')),
    sa.ForeignKeyConstraint(['plan_id'], ['training_plans.id'], name=op.f('fk_plan_change_requests_plan_id_training_plans')),
    sa.ForeignKeyConstraint(['requested_by'], ['users.id'], name=op.f('fk_plan_change_requests_requested_by_users')),
    sa.ForeignKeyConstraint(['decided_by'], ['users.id'], name=op.f('fk_plan_change_requests_decided_by_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_plan_change_requests'))
    )
    with op.batch_alter_table('plan_change_requests', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_plan_change_requests_plan_id'), ['plan_id'], unique=False)
        batch_op.create_index('uq_plan_change_requests_pending', ['plan_id'], unique=True,
                              sqlite_where=_PENDING, postgresql_where=_PENDING)


def downgrade():
    with op.batch_alter_table('plan_change_requests', schema=None) as batch_op:
        batch_op.drop_index('uq_plan_change_requests_pending', sqlite_where=_PENDING, postgresql_where=_PENDING)
        batch_op.drop_index(batch_op.f('ix_plan_change_requests_plan_id'))
    op.drop_table('plan_change_requests')
