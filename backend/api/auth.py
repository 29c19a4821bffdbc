"""Login (staff password, WeChat code), token refresh and the caller (`GET /me`); binding is in identity.py."""
from __future__ import annotations

import hashlib

from apiflask import APIBlueprint, Schema
from apiflask.fields import Boolean, Dict, Integer, String
from apiflask.validators import Length
from flask import current_app, request
from werkzeug.security import check_password_hash

from ..clock import now
from ..domain.errors import AppError
from ..extensions import db, limiter
from ..models import Person, User, WechatAccount
from ..security import login_throttle, tokens
from ..security.actor import bound_person_id
from ..security.authz import actor, public, requires
from ..services import accounts, wechat
from .idempotency import redact_on_replay
from .identity import PersonOut

bp = APIBlueprint("auth", __name__, tag="Auth")

# A dummy hash so unknown usernames cost the same time as wrong passwords (no user enumeration).
_DUMMY_HASH = "scrypt:32768:8:1$b22RYowyU30KRDda$b6f51b7450b25e94198c2199ae77858e40c9e1a50f29784e51bfffa9f0c9cc18c3ad38920a713abaa7e14fffbbf5bb58a69fd9fd759abff86a10550c1239c8a1"


class WechatIn(Schema):
    code = String(required=True, validate=Length(min=1, max=128))


class LoginIn(Schema):
    username = String(required=True, validate=Length(min=1, max=64))
    password = String(required=True, validate=Length(min=1, max=256))


class RefreshIn(Schema):
    refresh_token = String(required=True, validate=Length(min=10, max=4096))


class PasswordIn(Schema):
    old_password = String(required=True, validate=Length(min=1, max=256))
    new_password = String(required=True, validate=Length(min=1, max=256),
                          metadata={"description": "at least 10 characters of two kinds (letters, digits, symbols), "
                                                   "not containing the username, not the old password"})


class LogoutOut(Schema):
    logged_out = Boolean()


class TokensOut(Schema):
    access_token = String()
    refresh_token = String()
    token_type = String()
    expires_in = Integer()
    bound = Boolean()
    person = Dict(allow_none=True, metadata={"description": "the bound person (PersonOut), or null"})
    user = Dict()


def _username() -> str:
    data = request.get_json(silent=True) or {}
    return str(data.get("username", ""))[:64].lower()


def _username_address_key() -> str:
    # The username *and* the address: one address guessing is slowed without locking the account
    # for everyone else (the right password from another address still works).
    return f"login:{_username()}:{request.remote_addr or 'unknown'}"


def _login_failed(response) -> bool:
    return response.status_code == 401


def _openid_key() -> str:
    data = request.get_json(silent=True) or {}
    return "wechat:" + str(data.get("code", ""))[:128]


def _client_ceiling() -> str:
    return "addr:" + (request.remote_addr or "unknown")


def _presented_family() -> str | None:
    """The family of the refresh token in the body, when its signature verifies."""
    data = request.get_json(silent=True) or {}
    return tokens.verified_family(data.get("refresh_token"))


def _family_key() -> str:
    return f"refresh-family:{_presented_family()}"


def _junk_key() -> str:
    return "refresh-junk:" + (request.remote_addr or "unknown")


def _session_key() -> str:
    """The presented access token (hashed): password changes are limited per signed-in session."""
    bearer = request.headers.get("Authorization", "")
    return "password:" + hashlib.sha256(bearer.encode("utf-8", "replace")).hexdigest()[:32]


def _limit(name: str):
    """A limit string from the config, read per request (tests and deployments tune them)."""
    return lambda: current_app.config[name]


# Refresh and logout are limited per session (the verified token family), never per address: behind a
# load balancer or a carrier NAT one address is many people. Tokens whose signature does not verify get
# their own per-address ceiling, so junk cannot spend a real session's budget.
_per_family = limiter.shared_limit(_limit("REFRESH_LIMIT_PER_FAMILY"), scope="refresh-family",
                                   key_func=_family_key, exempt_when=lambda: _presented_family() is None)
_per_junk_address = limiter.shared_limit(_limit("REFRESH_JUNK_LIMIT_PER_ADDRESS"), scope="refresh-junk",
                                         key_func=_junk_key, exempt_when=lambda: _presented_family() is not None)


def staff_user_view(user: User) -> dict:
    """The `user` object of the login response."""
    return {"id": user.id, "role": user.role, "region_code": user.region_code,
            "institution_id": user.institution_id, "username": user.username}


def staff_claims(user: User) -> dict:
    """Scope claims carried in a staff token."""
    return {k: v for k, v in (("rid", user.region_code), ("iid", user.institution_id)) if v is not None}


@bp.post("/auth/wechat")
@bp.input(WechatIn, arg_name="body")
@bp.output(TokensOut)
@bp.doc(summary="WeChat mini-program login (stub mode: openid = 'stub-' + code)")
@limiter.limit("30 per minute", key_func=_openid_key)
@limiter.limit("600 per minute", key_func=_client_ceiling)
@public
@redact_on_replay("access_token", "refresh_token")
def wechat_login(body):
    t = now()
    openid = wechat.code_to_openid(body["code"], current_app.config)
    account = wechat.account_for(openid, t)
    extra = {"pid": account.person_id} if account.person_id else {}
    pair = tokens.issue_pair(f"w:{account.id}", "trainee", t, extra)
    person = None
    if account.person_id:
        person = PersonOut().dump(db.session.get(Person, account.person_id))
    return dict(pair, bound=account.person_id is not None, person=person)


@bp.post("/auth/login")
@bp.input(LoginIn, arg_name="body")
@bp.output(TokensOut)
@bp.doc(summary="Staff login; failed attempts per username are rate limited",
        description="Failed passwords are limited per username and client address (429 rate_limited with "
                    "Retry-After after 5 in a minute, 20 in an hour); failures for one username from all "
                    "addresses together lead to a short exponential back-off (at most 5 minutes) except at "
                    "addresses the account signed in from lately.",
        responses={401: "invalid_credentials", 429: "rate_limited (Retry-After)"})
@limiter.limit(_limit("LOGIN_FAILURES_PER_ADDRESS"), key_func=_username_address_key, deduct_when=_login_failed)
@limiter.limit("600 per minute", key_func=_client_ceiling)
@public
@redact_on_replay("access_token", "refresh_token")
def login(body):
    login_throttle.check(body["username"])
    user = db.session.execute(db.select(User).where(User.username == body["username"])).scalar()
    ok = check_password_hash(user.password_hash if user else _DUMMY_HASH, body["password"])
    if not (user and ok and user.active):
        login_throttle.failed(body["username"])
        raise AppError("invalid_credentials", 401)
    login_throttle.succeeded(body["username"])
    pair = tokens.issue_pair(f"u:{user.id}", user.role, now(), staff_claims(user))
    return dict(pair, user=staff_user_view(user))


@bp.post("/auth/refresh")
@bp.input(RefreshIn, arg_name="body")
@bp.output(TokensOut)
@bp.doc(summary="Rotate a refresh token; reusing an old one revokes the whole family",
        description="Rate limited per session (the token's family), not per client address.",
        responses={401: "unauthorized / token_reused", 429: "rate_limited (Retry-After)"})
@_per_family
@_per_junk_address
@public
@redact_on_replay("access_token", "refresh_token")
def refresh(body):
    t = now()
    claims, pair = tokens.rotate(body["refresh_token"], t, current_claims=_current_claims)
    return pair


@bp.post("/auth/logout")
@bp.input(RefreshIn, arg_name="body")
@bp.output(LogoutOut)
@bp.doc(summary="Sign out: the refresh token's whole family is revoked on the server",
        description="Idempotent: a token already rotated, revoked or expired still ends its session and "
                    "answers 200. The access token in hand keeps working until it expires (at most "
                    "ACCESS_TOKEN_MINUTES); clients drop it. 401 when the token is not one this server signed.",
        responses={401: "unauthorized (not a refresh token of this server)", 429: "rate_limited"})
@_per_family
@_per_junk_address
@public
def logout(body):
    """Revoke the presented refresh token's session (its whole family) on the server."""
    tokens.revoke(body["refresh_token"], now())
    return {"logged_out": True}


@bp.post("/auth/password")
@bp.input(PasswordIn, arg_name="body")
@bp.output(TokensOut)
@bp.doc(summary="Change one's own staff password; every other session is signed out",
        description="Checks the current password (422 wrong_password, field old_password) and the new one's "
                    "strength (422 weak_password with details.reason). All refresh tokens of the account are "
                    "revoked; the answer carries a new token pair for the caller. Access tokens already handed "
                    "out lapse within ACCESS_TOKEN_MINUTES.",
        responses={422: "wrong_password / weak_password / validation_error", 429: "rate_limited"})
@limiter.limit("10 per minute", key_func=_session_key)
@requires("institution", "supervisor", "admin")
@redact_on_replay("access_token", "refresh_token")
def change_password(body):
    """Change the caller's password and rotate the caller onto a new session."""
    a = actor()
    pair = accounts.change_password(a, body["old_password"], body["new_password"], now())
    return dict(pair, user=staff_user_view(db.session.get(User, a.user_id)))


def _current_claims(claims: dict) -> dict:
    """Scope claims as they are now: a deactivated or re-scoped staff account does not live on in old tokens."""
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


@bp.get("/me")
@bp.doc(summary="The caller: staff user or trainee with bound person")
@requires("trainee", "institution", "supervisor", "admin")
def me():
    a = actor()
    if a.role == "trainee":
        pid = bound_person_id(a)
        person = db.session.get(Person, pid) if pid else None
        return {"role": "trainee", "bound": person is not None,
                "person": PersonOut().dump(person) if person else None}
    return {"role": a.role, "user": staff_user_view(db.session.get(User, a.user_id))}
