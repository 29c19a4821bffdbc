"""kiosk activation and online spans

Devices gain a `pending` state (no events until a supervisor of the region activates them), who
created and activated them, and the spans of time each was heard from (for the late_upload flag).
Kiosks already active stay active (activated_by stays empty: registered before activation existed).

Revision ID: e71d18cc960e
Revises: ec45ad6c7131
Create Date: 2026-12-06 01:12:33.397198

"""
import sqlalchemy as sa
from alembic import op

import backend.models.types  # noqa: F401  (custom column types)


# revision identifiers, used by Alembic.
revision = 'e71d18cc960e'
down_revision = 'ec45ad6c7131'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('device_online_spans',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('device_id', sa.Integer(), nullable=False),
    sa.Column('first_at', backend.models.types.UTCDateTime(), nullable=False),
    sa.Column('last_at', backend.models.types.UTCDateTime(), nullable=False),
    sa.CheckConstraint('last_at >= first_at', name=op.f('ck_device_online_spans_order')),
    sa.ForeignKeyConstraint(['device_id'], ['devices.id'], name=op.f('fk_device_online_spans_device_id_devices')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_device_online_spans'))
    )
    with op.batch_alter_table('device_online_spans', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_device_online_spans_device_id'), ['device_id'], unique=False)

    with op.batch_alter_table('devices', schema=None) as batch_op:
        batch_op.add_column(sa.Column('created_by', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('activated_by', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('activated_at', backend.models.types.UTCDateTime(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_devices_activated_by_users'), 'users', ['activated_by'], ['id'])
        batch_op.create_foreign_key(batch_op.f('fk_devices_created_by_users'), 'users', ['created_by'], ['id'])
        batch_op.drop_constraint(batch_op.f('ck_devices_status'), type_='check')
        batch_op.create_check_constraint(batch_op.f('ck_devices_status'), "status IN ('pending','active','revoked')")


def downgrade():
    # A device nobody activated must not become active by going back a version.
    op.execute("UPDATE devices SET status = 'revoked' WHERE status = 'pending'")
    with op.batch_alter_table('devices', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_devices_status'), type_='check')
        batch_op.create_check_constraint(batch_op.f('ck_devices_status'), "status IN ('active','revoked')")
        batch_op.drop_constraint(batch_op.f('fk_devices_created_by_users'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_devices_activated_by_users'), type_='foreignkey')
        batch_op.drop_column('activated_at')
        batch_op.drop_column('activated_by')
        batch_op.drop_column('created_by')

    with op.batch_alter_table('device_online_spans', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_device_online_spans_device_id'))

    op.drop_table('device_online_spans')
