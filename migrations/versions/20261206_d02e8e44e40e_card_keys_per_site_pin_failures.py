"""card keys per site, PIN failures

Kiosk card keys become scrypt(ID number, the site's salt): each site gets a random salt now, and keys are
computed into card_keys by the worker (old HMAC keys of the device secret are simply not served any more).
PINs are checked by the server only: persons.pin_failures counts wrong ones towards the lock.

Revision ID: d02e8e44e40e
Revises: d9de63964cd3
Create Date: 2026-12-06 02:04:50.108608

"""
import os

import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = 'd02e8e44e40e'
down_revision = 'd9de63964cd3'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('card_keys',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('site_id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('card_key', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['person_id'], ['persons.id'], name=op.f('fk_card_keys_person_id_persons')),
    sa.ForeignKeyConstraint(['site_id'], ['sites.id'], name=op.f('fk_card_keys_site_id_sites')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_card_keys')),
    sa.UniqueConstraint('site_id', 'person_id', name=op.f('uq_card_keys_site_id_person_id'))
    )
    with op.batch_alter_table('card_keys', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_card_keys_person_id'), ['person_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_card_keys_site_id'), ['site_id'], unique=False)

    with op.batch_alter_table('persons', schema=None) as batch_op:
        batch_op.add_column(sa.Column('pin_failures', sa.Integer(), server_default='0', nullable=False))

    with op.batch_alter_table('sites', schema=None) as batch_op:
        batch_op.add_column(sa.Column('card_salt', sa.LargeBinary(length=16), nullable=True))
    conn = op.get_bind()
    for (site_id,) in conn.execute(sa.text("SELECT id FROM sites")).all():
        conn.execute(sa.text("UPDATE sites SET card_salt = :s WHERE id = :i"), {"s": os.urandom(16), "i": site_id})
    with op.batch_alter_table('sites', schema=None) as batch_op:
        batch_op.alter_column('card_salt', existing_type=sa.LargeBinary(length=16), nullable=False)



def downgrade():
    with op.batch_alter_table('sites', schema=None) as batch_op:
        batch_op.drop_column('card_salt')

    with op.batch_alter_table('persons', schema=None) as batch_op:
        batch_op.drop_column('pin_failures')

    with op.batch_alter_table('card_keys', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_card_keys_site_id'))
        batch_op.drop_index(batch_op.f('ix_card_keys_person_id'))

    op.drop_table('card_keys')
