"""face crops: uncompressed and inline in the face_evidence row on PostgreSQL (no TOAST for 5-8 KB crops)

Revision ID: 7c41d2a9e5b3
Revises: d5e0266c36d9
Create Date: 2026-12-06 07:50:00

"""
from alembic import op

# revision identifiers, used by Alembic.
revision = '7c41d2a9e5b3'
down_revision = 'd5e0266c36d9'
branch_labels = None
depends_on = None


def upgrade():
    # Storage parameters only: rows already stored are rewritten lazily, nothing to convert.
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("ALTER TABLE face_evidence ALTER COLUMN crop_enc SET STORAGE EXTERNAL")
    op.execute("ALTER TABLE face_evidence SET (toast_tuple_target = 8160)")


def downgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("ALTER TABLE face_evidence ALTER COLUMN crop_enc SET STORAGE EXTENDED")
    op.execute("ALTER TABLE face_evidence RESET (toast_tuple_target)")
