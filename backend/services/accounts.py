"""Signing in and accounts: staff login (throttled, no user enumeration), WeChat sign-in, the scope claims a
token carries and their refresh, the caller behind a token, and changing one's own password (every other
session signed out)."""
from __future__ import annotations

from datetime import datetime

from werkzeug.security import check_password_hash, generate_password_hash

from ..domain.errors import AppError, invalid
from ..domain.passwords import check_new_password
from ..extensions import db
from ..models import Person, User, WechatAccount
from ..security import login_throttle, tokens
from ..security.actor import Actor, bound_person_id
from . import audit, wechat

# A dummy hash so unknown usernames cost the same time as wrong passwords (no user enumeration).
_DUMMY_HASH = "scrypt:32768:8:1$b22RYowyU30KRDda$b6f51b7450b25e94198c2199ae77858e40c9e1a50f29784e51bfffa9f0c9cc18c3ad38920a713abaa7e14fffbbf5bb58a69fd9fd759abff86a10550c1239c8a1"


def staff_claims(user: User) -> dict:
    """Scope claims carried in a staff token (region, institution)."""
    return {k: v for k, v in (("rid", user.region_code), ("iid", user.institution_id)) if v is not None}


def staff_login(username: str, password: str, now: datetime) -> tuple[dict, User]:
    """A token pair for an active staff account whose password matches (401 invalid_credentials otherwise,
    the same for an unknown username); failures count towards the login throttle (429 while it holds)."""
    login_throttle.check(username)
    user = db.session.execute(db.select(User).where(User.username == username)).scalar()
    ok = check_password_hash(user.password_hash if user else _DUMMY_HASH, password)
    if not (user and ok and user.active):
        login_throttle.failed(username)
        raise AppError("invalid_credentials", 401)
    login_throttle.succeeded(username)
    return tokens.issue_pair(f"u:{user.id}", user.role, now, staff_claims(user)), user


def wechat_sign_in(code: str, cfg: dict, now: datetime) -> tuple[dict, Person | None]:
    """A trainee token pair for the WeChat account behind `code` (created on first sign-in), and the person
    it is bound to, if any."""
    account = wechat.account_for(wechat.code_to_openid(code, cfg), now)
    extra = {"pid": account.person_id} if account.person_id else {}
    pair = tokens.issue_pair(f"w:{account.id}", "trainee", now, extra)
    return pair, db.session.get(Person, account.person_id) if account.person_id else None


def current_claims(claims: dict) -> dict:
    """Scope claims as they are now, for a refreshed pair: a deactivated or re-scoped staff account does not
    live on in old tokens, and an unbound trainee's new pair carries no person."""
    kind, _, raw_id = claims["sub"].partition(":")
    if kind == "w":
        # A supervisor may have unbound the account since: the new pair carries the binding as it is now.
        pid = db.session.execute(db.select(WechatAccount.person_id).where(WechatAccount.id == int(raw_id))).scalar()
        return {"pid": pid} if pid is not None else {}
    if kind != "u":
        return {k: v for k, v in claims.items() if k in ("pid",)}
    user = db.session.get(User, int(raw_id))
    if user is None or not user.active or user.role != claims["role"]:
        raise AppError("unauthorized", 401, {"reason": "account_disabled"})
    return staff_claims(user)


def staff_user(a: Actor) -> User | None:
    """The staff account behind the caller's token."""
    return db.session.get(User, a.user_id) if a.user_id else None


def bound_person(a: Actor) -> Person | None:
    """The person a trainee's WeChat account is bound to now (None when unbound)."""
    pid = bound_person_id(a)
    return db.session.get(Person, pid) if pid else None


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
    pair = tokens.issue_pair(subject, user.role, now, staff_claims(user))
    db.session.flush()
    audit.record(a.label, "user.password_change", "user", user.id, now, after={"sessions_revoked": True})
    return pair
