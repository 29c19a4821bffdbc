"""voucher batches allow code enrollment

Revision ID: d9de63964cd3
Revises: 6e9de0b81b8c
Create Date: 2026-12-06 02:01:21

Enrolment with the bare voucher code is off for every batch, existing ones included: a desk that saw a
code once could otherwise enrol its holder without them. The bureau turns it on per batch (audited).
"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = 'd9de63964cd3'
down_revision = '6e9de0b81b8c'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('voucher_batches', schema=None) as batch_op:
        batch_op.add_column(sa.Column('code_enrollment_allowed', sa.Boolean(), server_default='0', nullable=False))


def downgrade():
    with op.batch_alter_table('voucher_batches', schema=None) as batch_op:
        batch_op.drop_column('code_enrollment_allowed')
