"""staff accounts record their creator

Revision ID: 46c19a609b48
Revises: e71d18cc960e
Create Date: 2026-12-06 01:40:00

The two-person rule on disbursement treats an account and the account that created it as one
party. Accounts made before this column existed get their creator back from the audit log
(`user.create` entries name the acting account as `<role>:u:<id>`), so a second supervisor a
supervisor created earlier cannot disburse what its creator approved.
"""
import re

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '46c19a609b48'
down_revision = 'e71d18cc960e'
branch_labels = None
depends_on = None

_ACTOR = re.compile(r"^(?:admin|supervisor|institution):u:(\d+)$")


def upgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('created_by', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_users_created_by_users'), 'users', ['created_by'], ['id'])
    conn = op.get_bind()
    users = {row[0] for row in conn.execute(sa.text("SELECT id FROM users"))}
    for actor, object_id in conn.execute(sa.text(
            "SELECT actor, object_id FROM audit_log WHERE action = 'user.create' AND object_type = 'user'")):
        match = _ACTOR.match(actor or "")
        if not match or not str(object_id).isdigit():
            continue
        creator, user_id = int(match.group(1)), int(object_id)
        if creator in users and user_id in users and creator != user_id:
            conn.execute(sa.text("UPDATE users SET created_by = :c WHERE id = :u AND created_by IS NULL"),
                         {"c": creator, "u": user_id})


def downgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_users_created_by_users'), type_='foreignkey')
        batch_op.drop_column('created_by')
