"""check-in path: index each person's accepted fixes by time; live events lose the unused region index

Revision ID: 5c1e7d9a04b2
Revises: 8082daa465e5
Create Date: 2026-11-23 19:40:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '5c1e7d9a04b2'
down_revision = '8082daa465e5'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('attendance_events', schema=None) as batch_op:
        batch_op.create_index('ix_attendance_person_fixes', ['person_id', 'received_at'], unique=False,
                              sqlite_where=sa.text('accepted = 1 AND lat IS NOT NULL'),
                              postgresql_where=sa.text('accepted AND lat IS NOT NULL'))
    with op.batch_alter_table('live_events', schema=None) as batch_op:
        batch_op.drop_index('ix_live_events_region_code')


def downgrade():
    with op.batch_alter_table('live_events', schema=None) as batch_op:
        batch_op.create_index('ix_live_events_region_code', ['region_code'], unique=False)
    with op.batch_alter_table('attendance_events', schema=None) as batch_op:
        batch_op.drop_index('ix_attendance_person_fixes', sqlite_where=sa.text('accepted = 1 AND lat IS NOT NULL'),
                            postgresql_where=sa.text('accepted AND lat IS NOT NULL'))
