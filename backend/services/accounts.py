"""Staff accounts: changing one's own password (every other session signed out)."""
from __future__ import annotations

from datetime import datetime

from werkzeug.security import check_password_hash, generate_password_hash

from ..domain.errors import AppError, invalid
from ..domain.passwords import check_new_password
from ..extensions import db
from ..models import User
from ..security import tokens
from ..security.actor import Actor
from . import audit


def change_password(a: Actor, old_password: str, new_password: str, now: datetime) -> dict:
    """Check the current password and the new one's strength, store it, revoke every refresh token of the
    account and return a fresh token pair for the session that asked (all other sessions end)."""
    user = db.session.get(User, a.user_id) if a.user_id else None
    if user is None or not user.active:
        raise AppError("unauthorized", 401, {"reason": "account_disabled"})
    if not check_password_hash(user.password_hash, old_password):
        raise invalid("wrong_password", field="old_password")
    check_new_password(new_password, user.username, old_password)
    user.password_hash = generate_password_hash(new_password)
    subject = f"u:{user.id}"
    tokens.revoke_family_of(subject, now)
    claims = {k: v for k, v in (("rid", user.region_code), ("iid", user.institution_id)) if v is not None}
    pair = tokens.issue_pair(subject, user.role, now, claims)
    db.session.flush()
    audit.record(a.label, "user.password_change", "user", user.id, now, after={"sessions_revoked": True})
    return pair
