"""policies per region

Rule numbers become versioned data per region code (policies); a plan records the parameters in force
when it is submitted (policy_id, policy_params); claims carry their review and payment due dates and lines
the numbers their amount came from. Plans submitted before keep resolving to what was in force on their
submission day (the built-in defaults, as no version existed).

Revision ID: b4b61186030a
Revises: d02e8e44e40e
Create Date: 2026-12-06 02:59:57.158303

"""
import sqlalchemy as sa
from alembic import op

import backend.models.types  # noqa: F401  (custom column types)

# revision identifiers, used by Alembic.
revision = 'b4b61186030a'
down_revision = 'd02e8e44e40e'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('policies',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('region_code', sa.String(length=6), nullable=False),
    sa.Column('effective_from', sa.Date(), nullable=False),
    sa.Column('params', sa.JSON(), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.Column('created_at', backend.models.types.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['created_by'], ['users.id'], name=op.f('fk_policies_created_by_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_policies'))
    )
    with op.batch_alter_table('policies', schema=None) as batch_op:
        batch_op.create_index('ix_policies_region_effective', ['region_code', 'effective_from'], unique=False)

    with op.batch_alter_table('subsidy_claims', schema=None) as batch_op:
        batch_op.add_column(sa.Column('review_due_on', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('payment_due_on', sa.Date(), nullable=True))

    with op.batch_alter_table('subsidy_lines', schema=None) as batch_op:
        batch_op.add_column(sa.Column('basis', sa.JSON(), nullable=True))

    with op.batch_alter_table('training_plans', schema=None) as batch_op:
        batch_op.add_column(sa.Column('policy_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('policy_params', sa.JSON(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_training_plans_policy_id_policies'), 'policies', ['policy_id'], ['id'])



def downgrade():
    with op.batch_alter_table('training_plans', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_training_plans_policy_id_policies'), type_='foreignkey')
        batch_op.drop_column('policy_params')
        batch_op.drop_column('policy_id')

    with op.batch_alter_table('subsidy_lines', schema=None) as batch_op:
        batch_op.drop_column('basis')

    with op.batch_alter_table('subsidy_claims', schema=None) as batch_op:
        batch_op.drop_column('payment_due_on')
        batch_op.drop_column('review_due_on')

    with op.batch_alter_table('policies', schema=None) as batch_op:
        batch_op.drop_index('ix_policies_region_effective')

    op.drop_table('policies')
