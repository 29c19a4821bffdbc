"""identity verification: SMS binding codes, the stub SMS outbox, who enrolled a face / typed a phone

Revision ID: 6e9de0b81b8c
Revises: ec45ad6c7131
Create Date: 2026-12-06 01:16:50.622123

"""
import sqlalchemy as sa
from alembic import op

import backend.models.types  # noqa: F401  (custom column types)

# revision identifiers, used by Alembic.
revision = '6e9de0b81b8c'
down_revision = '3039f7676a24'
branch_labels = None
depends_on = None

# Faces enrolled before this revision: who did it is in the audit log (actor label "ROLE:SUBJECT").
_LAST_ENROLLER = ("(SELECT a.actor FROM audit_log a WHERE a.action = 'person.face_enroll' "
                  "AND a.object_type = 'person' AND a.object_id = CAST(persons.id AS VARCHAR(64)) "
                  "ORDER BY a.id DESC LIMIT 1)")


def upgrade():
    op.create_table('sms_outbox',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('phone', sa.String(length=11), nullable=False),
    sa.Column('text', sa.String(length=500), nullable=False),
    sa.Column('sent_at', backend.models.types.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sms_outbox'))
    )
    with op.batch_alter_table('sms_outbox', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sms_outbox_sent_at'), ['sent_at'], unique=False)

    op.create_table('sms_challenges',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('phone', sa.String(length=11), nullable=False),
    sa.Column('code_hash', sa.String(length=64), nullable=False),
    sa.Column('sent_at', backend.models.types.UTCDateTime(), nullable=False),
    sa.Column('expires_at', backend.models.types.UTCDateTime(), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('used_at', backend.models.types.UTCDateTime(), nullable=True),
    sa.CheckConstraint('attempts >= 0', name=op.f('ck_sms_challenges_attempts')),
    sa.ForeignKeyConstraint(['account_id'], ['wechat_accounts.id'],
                            name=op.f('fk_sms_challenges_account_id_wechat_accounts')),
    sa.ForeignKeyConstraint(['person_id'], ['persons.id'], name=op.f('fk_sms_challenges_person_id_persons')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sms_challenges'))
    )
    with op.batch_alter_table('sms_challenges', schema=None) as batch_op:
        batch_op.create_index('ix_sms_challenges_account_sent', ['account_id', 'sent_at'], unique=False)
        batch_op.create_index('ix_sms_challenges_person_sent', ['person_id', 'sent_at'], unique=False)

    with op.batch_alter_table('persons', schema=None) as batch_op:
        batch_op.add_column(sa.Column('face_enrolled_by', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('phone_entered_by', sa.String(length=16), nullable=True))

    # Existing phones stay "entered by staff" (NULL): binding to such a person needs the SMS code.
    op.execute(f"""UPDATE persons SET face_enrolled_by = CASE
        WHEN {_LAST_ENROLLER} LIKE 'trainee:%' THEN 'self'
        WHEN {_LAST_ENROLLER} LIKE 'institution:%' THEN 'institution'
        WHEN {_LAST_ENROLLER} LIKE 'supervisor:%' THEN 'supervisor'
        WHEN {_LAST_ENROLLER} LIKE 'admin:%' THEN 'admin'
        ELSE NULL END
        WHERE face_template_enc IS NOT NULL""")


def downgrade():
    with op.batch_alter_table('persons', schema=None) as batch_op:
        batch_op.drop_column('phone_entered_by')
        batch_op.drop_column('face_enrolled_by')

    with op.batch_alter_table('sms_challenges', schema=None) as batch_op:
        batch_op.drop_index('ix_sms_challenges_person_sent')
        batch_op.drop_index('ix_sms_challenges_account_sent')

    op.drop_table('sms_challenges')
    with op.batch_alter_table('sms_outbox', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sms_outbox_sent_at'))

    op.drop_table('sms_outbox')
