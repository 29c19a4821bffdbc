"""Login (staff password, WeChat code), token refresh and the caller (`GET /me`); binding is in identity.py."""
from __future__ import annotations

import hashlib

from apiflask import APIBlueprint, Schema
from apiflask.fields import Boolean, Dict, Integer, Nested, String
from apiflask.validators import Length
from flask import current_app, request

from ..clock import now
from ..extensions import limiter
from ..security import tokens
from ..security.authz import actor, public, requires
from ..services import accounts
from .idempotency import redact_on_replay
from .identity import PersonOut

bp = APIBlueprint("auth", __name__, tag="Auth")

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


class StaffUserOut(Schema):
    id = Integer()
    role = String()
    region_code = String(allow_none=True)
    institution_id = Integer(allow_none=True)
    username = String()


class TokensOut(Schema):
    access_token = String()
    refresh_token = String()
    token_type = String()
    expires_in = Integer()
    bound = Boolean()
    person = Dict(allow_none=True, metadata={"description": "the bound person (PersonOut), or null"})
    user = Nested(StaffUserOut, metadata={"description": "staff sign-ins: the account"})


class MeOut(Schema):
    role = String()
    bound = Boolean(metadata={"description": "trainees: whether the WeChat account is bound to a person"})
    person = Dict(allow_none=True, metadata={"description": "trainees: the bound person (PersonOut), or null"})
    user = Nested(StaffUserOut, metadata={"description": "staff: the account"})


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


@bp.post("/auth/wechat")
@bp.input(WechatIn, arg_name="body")
@bp.output(TokensOut)
@bp.doc(summary="WeChat mini-program login (stub mode: openid = 'stub-' + code)")
@limiter.limit("30 per minute", key_func=_openid_key)
@limiter.limit("600 per minute", key_func=_client_ceiling)
@public
@redact_on_replay("access_token", "refresh_token")
def wechat_login(body):
    pair, person = accounts.wechat_sign_in(body["code"], current_app.config, now())
    return dict(pair, bound=person is not None, person=PersonOut().dump(person) if person else None)


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
    pair, user = accounts.staff_login(body["username"], body["password"], now())
    return dict(pair, user=user)


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
    claims, pair = tokens.rotate(body["refresh_token"], t, current_claims=accounts.current_claims)
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
    return dict(pair, user=accounts.staff_user(a))


@bp.get("/me")
@bp.output(MeOut)
@bp.doc(summary="The caller: staff user or trainee with bound person")
@requires("trainee", "institution", "supervisor", "admin")
def me():
    a = actor()
    if a.role == "trainee":
        person = accounts.bound_person(a)
        return {"role": "trainee", "bound": person is not None,
                "person": PersonOut().dump(person) if person else None}
    return {"role": a.role, "user": accounts.staff_user(a)}
