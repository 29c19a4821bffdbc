"""audit log: index entries by object, for an object's trail and the picker of recently audited objects

Revision ID: b7d4e2a9c1f3
Revises: a3c9e1f27b15
Create Date: 2026-12-06 15:15:00.000000

"""
from alembic import op

# revision identifiers, used by Alembic.
revision = 'b7d4e2a9c1f3'
down_revision = 'a3c9e1f27b15'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index('ix_audit_log_object', 'audit_log', ['object_type', 'object_id'], unique=False)


def downgrade():
    op.drop_index('ix_audit_log_object', table_name='audit_log')
