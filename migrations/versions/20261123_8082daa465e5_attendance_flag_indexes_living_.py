"""attendance flag indexes, living allowance days

Revision ID: 8082daa465e5
Revises: 232f355bba9a
Create Date: 2026-11-23 18:07:09.424030

"""
from alembic import op
import sqlalchemy as sa

import backend.models.types  # noqa: F401  (custom column types)


# revision identifiers, used by Alembic.
revision = '8082daa465e5'
down_revision = '232f355bba9a'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('attendance_events', schema=None) as batch_op:
        batch_op.create_index('ix_attendance_lesson_lat', ['lesson_id', 'lat'], unique=False, sqlite_where=sa.text('accepted'), postgresql_where=sa.text('accepted'))
        batch_op.create_index('ix_attendance_lesson_session', ['lesson_id', 'session_key'], unique=False, sqlite_where=sa.text('accepted'), postgresql_where=sa.text('accepted'))

    with op.batch_alter_table('subsidy_lines', schema=None) as batch_op:
        batch_op.add_column(sa.Column('attended_days', sa.Integer(), nullable=True))



def downgrade():
    with op.batch_alter_table('subsidy_lines', schema=None) as batch_op:
        batch_op.drop_column('attended_days')

    with op.batch_alter_table('attendance_events', schema=None) as batch_op:
        batch_op.drop_index('ix_attendance_lesson_session', sqlite_where=sa.text('accepted'), postgresql_where=sa.text('accepted'))
        batch_op.drop_index('ix_attendance_lesson_lat', sqlite_where=sa.text('accepted'), postgresql_where=sa.text('accepted'))

