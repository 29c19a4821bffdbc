"""Login (staff password, WeChat code), token refresh and the caller (`GET /me`); binding is in identity.py."""
from __future__ import annotations

from apiflask import APIBlueprint, Schema
from apiflask.fields import Boolean, Dict, Integer, String
from apiflask.validators import Length
from flask import current_app, request
from werkzeug.security import check_password_hash

from ..clock import now
from ..domain.errors import AppError
from ..extensions import db, limiter
from ..models import User, WechatAccount
from ..security import tokens
from ..security.actor import bound_person_id
from ..security.authz import actor, public, requires
from ..services import persons, wechat
from ..services.idempotency import redact_on_replay

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


class TokensOut(Schema):
    access_token = String()
    refresh_token = String()
    token_type = String()
    expires_in = Integer()
    bound = Boolean()
    person = Dict(allow_none=True)
    user = Dict()


def _username_key() -> str:
    data = request.get_json(silent=True) or {}
    return "login:" + str(data.get("username", ""))[:64].lower()


def _openid_key() -> str:
    data = request.get_json(silent=True) or {}
    return "wechat:" + str(data.get("code", ""))[:128]


def _client_ceiling() -> str:
    return "addr:" + (request.remote_addr or "unknown")


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
    account = db.session.execute(db.select(WechatAccount).where(WechatAccount.openid == openid)).scalar()
    if account is None:
        account = WechatAccount(openid=openid, created_at=t)
        db.session.add(account)
        db.session.flush()
    extra = {"pid": account.person_id} if account.person_id else {}
    pair = tokens.issue_pair(f"w:{account.id}", "trainee", t, extra)
    person = None
    if account.person_id:
        from ..models import Person
        person = persons.person_view(db.session.get(Person, account.person_id), owner=True)
    return dict(pair, bound=account.person_id is not None, person=person)


@bp.post("/auth/login")
@bp.input(LoginIn, arg_name="body")
@bp.output(TokensOut)
@bp.doc(summary="Staff login; failed attempts per username are rate limited")
@limiter.limit("5 per minute", key_func=_username_key, deduct_when=lambda r: r.status_code == 401)
@limiter.limit("600 per minute", key_func=_client_ceiling)
@public
@redact_on_replay("access_token", "refresh_token")
def login(body):
    user = db.session.execute(db.select(User).where(User.username == body["username"])).scalar()
    ok = check_password_hash(user.password_hash if user else _DUMMY_HASH, body["password"])
    if not (user and ok and user.active):
        raise AppError("invalid_credentials", 401)
    pair = tokens.issue_pair(f"u:{user.id}", user.role, now(), staff_claims(user))
    return dict(pair, user=staff_user_view(user))


@bp.post("/auth/refresh")
@bp.input(RefreshIn, arg_name="body")
@bp.output(TokensOut)
@bp.doc(summary="Rotate a refresh token; reusing an old one revokes the whole family")
@limiter.limit("60 per minute", key_func=_client_ceiling)
@public
@redact_on_replay("access_token", "refresh_token")
def refresh(body):
    t = now()
    claims, pair = tokens.rotate(body["refresh_token"], t, current_claims=_current_claims)
    return pair


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
        from ..models import Person
        pid = bound_person_id(a)
        person = db.session.get(Person, pid) if pid else None
        return {"role": "trainee", "bound": person is not None,
                "person": persons.person_view(person, owner=True) if person else None}
    return {"role": a.role, "user": staff_user_view(db.session.get(User, a.user_id))}
