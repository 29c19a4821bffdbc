"""Idempotency-Key for creating POSTs: a repeat returns the first response, scoped to the caller."""
from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable

from flask import Response, current_app, g, request
from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError

from ..clock import now
from ..domain.errors import AppError
from ..extensions import db
from ..models import IdempotencyRecord
from ..services.housekeeping import KEEP
from ..unit_of_work import commit_side_effect

log = logging.getLogger(__name__)
HEADER = "Idempotency-Key"


def redact_on_replay(*fields: str) -> Callable:
    """Mark a view whose response fields must never be kept in the replay cache (secrets, tokens).

    A repeat of the key gets the first response with those fields set to null and
    `Idempotent-Redacted` naming them: what is shown once stays shown once.
    """
    def deco(view: Callable) -> Callable:
        view._replay_redact = tuple(fields)  # type: ignore[attr-defined]
        return view
    return deco


def _redacted_fields() -> tuple[str, ...]:
    view = current_app.view_functions.get(request.endpoint) if request.endpoint else None
    return tuple(getattr(view, "_replay_redact", ()))


def _stored_body(response: Response, fields: tuple[str, ...]) -> str:
    text = response.get_data(as_text=True)
    if not fields:
        return text
    try:
        body = json.loads(text)
    except ValueError:
        return text
    if isinstance(body, dict):
        for name in fields:
            if name in body:
                body[name] = None
    return json.dumps(body, ensure_ascii=False)


def _scope() -> str:
    """The caller as authenticated by gate(): its subject, or the client address for public calls."""
    actor = g.get("actor")
    if actor is not None:
        return "sub:" + actor.subject
    return "addr:" + (request.remote_addr or "-")


def before_request():
    """Replay, refuse, or mark the start of an idempotent POST."""
    key = request.headers.get(HEADER)
    if request.method != "POST" or not key or not request.path.startswith("/api/"):
        return None
    if len(key) > 128:
        raise AppError("validation_error", 422, {"fields": {HEADER: ["too long"]}})
    digest = hashlib.sha256(request.method.encode() + request.path.encode() + b"\n" + request.get_data()).hexdigest()
    scope = _scope()
    t = now()
    db.session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.created_at < t - KEEP))
    rec = db.session.execute(db.select(IdempotencyRecord).where(
        IdempotencyRecord.scope == scope, IdempotencyRecord.key == key)).scalar()
    if rec is None:
        rec = IdempotencyRecord(scope=scope, key=key, request_hash=digest, state="running", created_at=t)
        db.session.add(rec)
        try:
            commit_side_effect("idempotency_claim")
        except IntegrityError:
            raise AppError("request_in_progress", 409) from None
        g.idempotency_id = rec.id
        return None
    commit_side_effect("idempotency_claim")  # the expired keys' deletion
    if rec.request_hash != digest:
        raise AppError("idempotency_key_reused", 422)
    if rec.state != "done":
        raise AppError("request_in_progress", 409)
    headers = {"Idempotent-Replayed": "true"}
    if _redacted_fields():
        headers["Idempotent-Redacted"] = ",".join(_redacted_fields())
    return Response(rec.body, status=rec.status_code, mimetype="application/json", headers=headers)


def after_request(response: Response) -> Response:
    """Store the first response (or forget the key after a server error so a retry may run)."""
    rec_id = g.pop("idempotency_id", None)
    if rec_id is None:
        return response
    try:
        db.session.rollback()
        rec = db.session.get(IdempotencyRecord, rec_id)
        if rec is not None:
            if response.status_code >= 500 or response.status_code in (401, 429):
                db.session.delete(rec)
            else:
                rec.state, rec.status_code = "done", response.status_code
                rec.body = _stored_body(response, _redacted_fields())
            commit_side_effect("idempotency_result")
    except Exception:  # noqa: BLE001 — the primary response must still reach the client
        db.session.rollback()
        log.exception("could not store idempotent response")
    return response
