"""JWT access/refresh tokens (HS256 pinned) with rotation and reuse detection."""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import jwt
from flask import current_app
from sqlalchemy import update

from ..config import key_bytes
from ..domain.errors import AppError
from ..extensions import db
from ..models import RefreshToken
from ..unit_of_work import commit_side_effect

ALGORITHM = "HS256"
ACCESS_AUD = "peixunquan-api"
REFRESH_AUD = "peixunquan-refresh"
REQUIRED = ["exp", "iat", "sub", "aud", "iss", "jti", "role"]
LEEWAY_S = 30


def _key() -> bytes:
    return key_bytes(current_app.config["SECRET_KEY"])


def _encode(claims: dict) -> str:
    return jwt.encode(claims, _key(), algorithm=ALGORITHM)


def issue_pair(subject: str, role: str, now: datetime, extra: dict | None = None, family: str | None = None) -> dict:
    """A new access + refresh token; the refresh token is recorded so it can be rotated once."""
    cfg = current_app.config
    base = {"sub": subject, "role": role, "iss": cfg["JWT_ISSUER"], "iat": int(now.timestamp()), **(extra or {})}
    access = dict(base, aud=ACCESS_AUD, jti=uuid.uuid4().hex,
                  exp=int((now + timedelta(minutes=cfg["ACCESS_TOKEN_MINUTES"])).timestamp()))
    family = family or uuid.uuid4().hex
    refresh_exp = now + timedelta(days=cfg["REFRESH_TOKEN_DAYS"])
    refresh = dict(base, aud=REFRESH_AUD, jti=uuid.uuid4().hex, fam=family, exp=int(refresh_exp.timestamp()))
    db.session.add(RefreshToken(jti=refresh["jti"], family=family, subject=subject, expires_at=refresh_exp))
    return {"access_token": _encode(access), "refresh_token": _encode(refresh), "token_type": "Bearer",
            "expires_in": cfg["ACCESS_TOKEN_MINUTES"] * 60}


def decode(token: str, audience: str, now: datetime) -> dict:
    """Verify signature, algorithm, audience, issuer and required claims against the server clock."""
    try:
        claims = jwt.decode(token, _key(), algorithms=[ALGORITHM], audience=audience,
                            issuer=current_app.config["JWT_ISSUER"], leeway=LEEWAY_S,
                            options={"require": REQUIRED, "verify_exp": False, "verify_iat": False})
    except jwt.PyJWTError as exc:
        raise AppError("unauthorized", 401, {"reason": "invalid_token"}) from exc
    # exp/iat are checked here against the injected clock (the server's), not the library's wall clock.
    if claims["exp"] + LEEWAY_S < now.timestamp():
        raise AppError("unauthorized", 401, {"reason": "token_expired"})
    if claims["iat"] - LEEWAY_S > now.timestamp():
        raise AppError("unauthorized", 401, {"reason": "token_not_yet_valid"})
    return claims


def verified_family(token: object) -> str | None:
    """The family of a refresh token this server signed (expired or spent alike), else None.

    Rate limits key on it: only a token whose signature verifies can spend a session's budget.
    """
    if not isinstance(token, str) or len(token) > 4096:
        return None
    try:
        claims = jwt.decode(token, _key(), algorithms=[ALGORITHM], audience=REFRESH_AUD,
                            issuer=current_app.config["JWT_ISSUER"],
                            options={"require": [*REQUIRED, "fam"], "verify_exp": False, "verify_iat": False})
    except jwt.PyJWTError:
        return None
    return str(claims["fam"])


def revoke(refresh_token: str, now: datetime) -> str:
    """Revoke the whole family of a refresh token (logout); idempotent. 401 when not one of ours.

    An expired or already rotated token still names its family: logging out with it ends the session.
    """
    family = verified_family(refresh_token)
    if family is None:
        raise AppError("unauthorized", 401, {"reason": "invalid_token"})
    db.session.execute(update(RefreshToken)
                       .where(RefreshToken.family == family, RefreshToken.revoked_at.is_(None))
                       .values(revoked_at=now))
    return family


def rotate(refresh_token: str, now: datetime, current_claims=None) -> tuple[dict, dict]:
    """Spend a refresh token once and return (claims, new pair); a second use revokes the family.

    `current_claims(claims)` returns the scope claims to put in the new pair as the account stands
    now (or raises to refuse); without it the old token's claims are carried over.
    """
    claims = decode(refresh_token, REFRESH_AUD, now)
    row = db.session.execute(
        update(RefreshToken)
        .where(RefreshToken.jti == claims["jti"], RefreshToken.used_at.is_(None), RefreshToken.revoked_at.is_(None))
        .values(used_at=now)
    )
    if row.rowcount != 1:
        db.session.execute(update(RefreshToken).where(RefreshToken.family == claims.get("fam"))
                           .values(revoked_at=now))
        commit_side_effect("refresh_revocation")
        raise AppError("token_reused", 401)
    if current_claims is not None:
        try:
            extra = current_claims(claims)
        except AppError:
            db.session.execute(update(RefreshToken).where(RefreshToken.family == claims.get("fam"))
                               .values(revoked_at=now))
            commit_side_effect("refresh_revocation")
            raise
    else:
        extra = {k: v for k, v in claims.items() if k in ("rid", "iid", "pid")}
    return claims, issue_pair(claims["sub"], claims["role"], now, extra, family=claims.get("fam"))


def revoke_family_of(subject: str, now: datetime) -> None:
    """Revoke every refresh token of a subject (logout everywhere)."""
    db.session.execute(update(RefreshToken).where(RefreshToken.subject == subject).values(revoked_at=now))
