"""trust: face evidence, flags raised after arrival, shared faces, completion decisions

(Who enrolled each face template, persons.face_enrolled_by, comes with the identity migration after this.)

Revision ID: 3039f7676a24
Revises: 46c19a609b48
Create Date: 2026-12-06 01:24:50.014474

"""
import sqlalchemy as sa
from alembic import op

import backend.models.types  # noqa: F401  (custom column types)


# revision identifiers, used by Alembic.
revision = '3039f7676a24'
down_revision = '46c19a609b48'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('face_matches',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('other_person_id', sa.Integer(), nullable=False),
    sa.Column('distance', sa.Float(), nullable=False),
    sa.Column('found_at', backend.models.types.UTCDateTime(), nullable=False),
    sa.CheckConstraint('person_id <> other_person_id', name=op.f('ck_face_matches_distinct')),
    sa.ForeignKeyConstraint(['other_person_id'], ['persons.id'], name=op.f('fk_face_matches_other_person_id_persons')),
    sa.ForeignKeyConstraint(['person_id'], ['persons.id'], name=op.f('fk_face_matches_person_id_persons')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_face_matches')),
    sa.UniqueConstraint('person_id', 'other_person_id', name=op.f('uq_face_matches_person_id_other_person_id'))
    )
    with op.batch_alter_table('face_matches', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_face_matches_person_id'), ['person_id'], unique=False)

    op.create_table('completion_decisions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('plan_id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('accept', sa.Boolean(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('flags', sa.JSON(), nullable=False),
    sa.Column('decided_by', sa.Integer(), nullable=False),
    sa.Column('decided_at', backend.models.types.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['decided_by'], ['users.id'], name=op.f('fk_completion_decisions_decided_by_users')),
    sa.ForeignKeyConstraint(['person_id'], ['persons.id'], name=op.f('fk_completion_decisions_person_id_persons')),
    sa.ForeignKeyConstraint(['plan_id'], ['training_plans.id'], name=op.f('fk_completion_decisions_plan_id_training_plans')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_completion_decisions')),
    sa.UniqueConstraint('plan_id', 'person_id', name=op.f('uq_completion_decisions_plan_id_person_id'))
    )
    with op.batch_alter_table('completion_decisions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_completion_decisions_plan_id'), ['plan_id'], unique=False)

    op.create_table('face_evidence',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('attendance_event_id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('lesson_id', sa.Integer(), nullable=False),
    sa.Column('device_id', sa.Integer(), nullable=False),
    sa.Column('kiosk_distance', sa.Float(), nullable=True),
    sa.Column('crop_enc', sa.LargeBinary(), nullable=True),
    sa.Column('state', sa.String(length=12), nullable=False),
    sa.Column('server_distance', sa.Float(), nullable=True),
    sa.Column('lease_until', backend.models.types.UTCDateTime(), nullable=True),
    sa.Column('created_at', backend.models.types.UTCDateTime(), nullable=False),
    sa.Column('checked_at', backend.models.types.UTCDateTime(), nullable=True),
    sa.Column('purged_at', backend.models.types.UTCDateTime(), nullable=True),
    sa.CheckConstraint("state IN ('stored','due','passed','failed','unreadable')", name=op.f('ck_face_evidence_state')),
    sa.ForeignKeyConstraint(['attendance_event_id'], ['attendance_events.id'], name=op.f('fk_face_evidence_attendance_event_id_attendance_events')),
    sa.ForeignKeyConstraint(['device_id'], ['devices.id'], name=op.f('fk_face_evidence_device_id_devices')),
    sa.ForeignKeyConstraint(['lesson_id'], ['lessons.id'], name=op.f('fk_face_evidence_lesson_id_lessons')),
    sa.ForeignKeyConstraint(['person_id'], ['persons.id'], name=op.f('fk_face_evidence_person_id_persons')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_face_evidence')),
    sa.UniqueConstraint('attendance_event_id', name=op.f('uq_face_evidence_attendance_event_id'))
    )
    with op.batch_alter_table('face_evidence', schema=None) as batch_op:
        batch_op.create_index('ix_face_evidence_due', ['id'], unique=False, sqlite_where=sa.text("state = 'due'"), postgresql_where=sa.text("state = 'due'"))
        batch_op.create_index(batch_op.f('ix_face_evidence_lesson_id'), ['lesson_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_face_evidence_person_id'), ['person_id'], unique=False)

    op.create_table('trust_flags',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('attendance_event_id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('lesson_id', sa.Integer(), nullable=False),
    sa.Column('detail', sa.JSON(), nullable=False),
    sa.Column('created_at', backend.models.types.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['attendance_event_id'], ['attendance_events.id'], name=op.f('fk_trust_flags_attendance_event_id_attendance_events')),
    sa.ForeignKeyConstraint(['lesson_id'], ['lessons.id'], name=op.f('fk_trust_flags_lesson_id_lessons')),
    sa.ForeignKeyConstraint(['person_id'], ['persons.id'], name=op.f('fk_trust_flags_person_id_persons')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_trust_flags')),
    sa.UniqueConstraint('attendance_event_id', 'code', name=op.f('uq_trust_flags_attendance_event_id_code'))
    )
    with op.batch_alter_table('trust_flags', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_trust_flags_lesson_id'), ['lesson_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_trust_flags_person_id'), ['person_id'], unique=False)



def downgrade():
    with op.batch_alter_table('trust_flags', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_trust_flags_person_id'))
        batch_op.drop_index(batch_op.f('ix_trust_flags_lesson_id'))

    op.drop_table('trust_flags')
    with op.batch_alter_table('face_evidence', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_face_evidence_person_id'))
        batch_op.drop_index(batch_op.f('ix_face_evidence_lesson_id'))
        batch_op.drop_index('ix_face_evidence_due', sqlite_where=sa.text("state = 'due'"), postgresql_where=sa.text("state = 'due'"))

    op.drop_table('face_evidence')
    with op.batch_alter_table('completion_decisions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_completion_decisions_plan_id'))

    op.drop_table('completion_decisions')
    with op.batch_alter_table('face_matches', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_face_matches_person_id'))

    op.drop_table('face_matches')
