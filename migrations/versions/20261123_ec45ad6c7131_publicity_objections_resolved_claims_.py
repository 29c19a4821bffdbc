"""publicity objections resolved, claims rejected with a reason, certificates revoked with a reason

Revision ID: ec45ad6c7131
Revises: 5c1e7d9a04b2
Create Date: 2026-11-23 20:32:46.467256

"""
import sqlalchemy as sa
from alembic import op

import backend.models.types  # noqa: F401  (custom column types)

# revision identifiers, used by Alembic.
revision = 'ec45ad6c7131'
down_revision = '5c1e7d9a04b2'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('publicity_objections', schema=None) as batch_op:
        batch_op.add_column(sa.Column('status', sa.String(length=12), server_default='open', nullable=False))
        batch_op.add_column(sa.Column('resolved_by', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('resolved_at', backend.models.types.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('resolution', sa.Text(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_publicity_objections_resolved_by_users'), 'users', ['resolved_by'], ['id'])
        batch_op.create_check_constraint(batch_op.f('ck_publicity_objections_status'),
                                         "status IN ('open','upheld','dismissed')")

    with op.batch_alter_table('subsidy_claims', schema=None) as batch_op:
        batch_op.add_column(sa.Column('rejected_reason', sa.Text(), nullable=True))

    with op.batch_alter_table('certificates', schema=None) as batch_op:
        batch_op.add_column(sa.Column('revoked_by', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('revoked_reason', sa.Text(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_certificates_revoked_by_users'), 'users', ['revoked_by'], ['id'])



def downgrade():
    with op.batch_alter_table('certificates', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_certificates_revoked_by_users'), type_='foreignkey')
        batch_op.drop_column('revoked_reason')
        batch_op.drop_column('revoked_by')

    with op.batch_alter_table('subsidy_claims', schema=None) as batch_op:
        batch_op.drop_column('rejected_reason')

    with op.batch_alter_table('publicity_objections', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_publicity_objections_status'), type_='check')
        batch_op.drop_constraint(batch_op.f('fk_publicity_objections_resolved_by_users'), type_='foreignkey')
        batch_op.drop_column('resolution')
        batch_op.drop_column('resolved_at')
        batch_op.drop_column('resolved_by')
        batch_op.drop_column('status')

