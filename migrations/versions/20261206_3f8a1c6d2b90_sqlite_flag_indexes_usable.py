"""SQLite: the identical-coordinates and shared-device indexes made usable by the check-in's read

Their partial-index condition was `accepted`, but SQLAlchemy writes the read's condition as
`accepted = 1` on SQLite, and SQLite only uses a partial index when the query's terms imply its
condition as written: every check-in scanned all of its lesson's events instead (bench/README.md,
"Check-in throughput", 2026-12-06). PostgreSQL's indexes are unchanged.

Revision ID: 3f8a1c6d2b90
Revises: b7d4e2a9c1f3
Create Date: 2026-12-06 21:30:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '3f8a1c6d2b90'
down_revision = 'b7d4e2a9c1f3'
branch_labels = None
depends_on = None

INDEXES = {'ix_attendance_lesson_lat': ['lesson_id', 'lat'],
           'ix_attendance_lesson_session': ['lesson_id', 'session_key']}


def _recreate(condition: str) -> None:
    if op.get_bind().dialect.name != 'sqlite':
        return
    for name, columns in INDEXES.items():
        op.drop_index(name, table_name='attendance_events')
        op.create_index(name, 'attendance_events', columns, unique=False, sqlite_where=sa.text(condition))


def upgrade():
    _recreate('accepted = 1')


def downgrade():
    _recreate('accepted')
