"""Who is calling: resolved once per request from the bearer token or the device signature."""
from __future__ import annotations

from dataclasses import dataclass

from flask import g, request

from ..clock import now
from ..domain.errors import AppError
from ..extensions import db
from ..models import WechatAccount
from .tokens import ACCESS_AUD, decode

ROLES = ("trainee", "institution", "supervisor", "admin", "device")


@dataclass
class Actor:
    """The authenticated caller and the scope it acts in."""

    role: str
    subject: str
    user_id: int | None = None
    account_id: int | None = None
    person_id: int | None = None
    region_code: str | None = None
    institution_id: int | None = None
    device_id: int | None = None
    site_id: int | None = None
    session_key: str | None = None

    @property
    def rate_key(self) -> str:
        """Rate limits count per account, not per address."""
        return f"actor:{self.subject}"

    @property
    def label(self) -> str:
        """How the audit log names this actor."""
        return f"{self.role}:{self.subject}"


def bearer_actor() -> Actor:
    """Resolve the caller from `Authorization: Bearer`; 401 when absent or invalid."""
    header = request.headers.get("Authorization", "")
    if not header.startswith("Bearer "):
        raise AppError("unauthorized", 401, {"reason": "missing_token"}, headers={"WWW-Authenticate": "Bearer"})
    claims = decode(header[7:].strip(), ACCESS_AUD, now())
    role, sub = claims["role"], claims["sub"]
    if role not in ROLES or role == "device":
        raise AppError("unauthorized", 401, {"reason": "invalid_token"})
    kind, _, raw_id = sub.partition(":")
    actor = Actor(role=role, subject=sub, session_key=claims.get("sid"))
    if role == "trainee":
        actor.account_id = int(raw_id)
        actor.person_id = claims.get("pid")
        if actor.person_id is None:
            # Bound after the token was issued: look the binding up.
            actor.person_id = db.session.execute(
                db.select(WechatAccount.person_id).where(WechatAccount.id == actor.account_id)).scalar()
        # A supervisor's unbind reaches a `pid` claim within one access-token lifetime (refresh reads the
        # binding afresh); endpoints that set credentials or show the person check with bound_person_id().
    else:
        actor.user_id = int(raw_id)
        actor.region_code = claims.get("rid")
        actor.institution_id = claims.get("iid")
    g.actor = actor
    return actor


def bound_person_id(actor: Actor) -> int | None:
    """The person the trainee's account is bound to right now (the database, not the token's claim)."""
    if actor.account_id is None:
        return None
    pid = db.session.execute(db.select(WechatAccount.person_id).where(WechatAccount.id == actor.account_id)).scalar()
    actor.person_id = pid
    return pid
