"""make-up photos: difference hashes of the sign sheet and the panorama (reused-photo flag)

Revision ID: 5b2e8c1f0a97
Revises: 7c41d2a9e5b3
Create Date: 2026-12-06 09:10:00

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '5b2e8c1f0a97'
down_revision = '7c41d2a9e5b3'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('makeup_requests', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sign_sheet_hash', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('panorama_hash', sa.String(length=16), nullable=True))


def downgrade():
    with op.batch_alter_table('makeup_requests', schema=None) as batch_op:
        batch_op.drop_column('panorama_hash')
        batch_op.drop_column('sign_sheet_hash')
