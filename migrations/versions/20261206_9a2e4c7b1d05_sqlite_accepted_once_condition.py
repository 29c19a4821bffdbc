"""SQLite: the one-accepted-per-kind unique index says `accepted = 1`, as the other attendance indexes

The same uniqueness (accepted is 0 or 1); written as SQLAlchemy writes the reads' condition, so
SQLite can also use the index to find a person's accepted events of a lesson (see 3f8a1c6d2b90).
PostgreSQL's index is unchanged.

Revision ID: 9a2e4c7b1d05
Revises: 3f8a1c6d2b90
Create Date: 2026-12-06 22:10:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '9a2e4c7b1d05'
down_revision = '3f8a1c6d2b90'
branch_labels = None
depends_on = None

NAME, COLUMNS = 'uq_attendance_accepted_once', ['lesson_id', 'person_id', 'kind']


def _recreate(condition: str) -> None:
    if op.get_bind().dialect.name != 'sqlite':
        return
    op.drop_index(NAME, table_name='attendance_events')
    op.create_index(NAME, 'attendance_events', COLUMNS, unique=True, sqlite_where=sa.text(condition))


def upgrade():
    _recreate('accepted = 1')


def downgrade():
    _recreate('accepted')
