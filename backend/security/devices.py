"""Kiosk request authentication: HMAC signature over the request, a replay-proof nonce, live revocation."""
from __future__ import annotations

from datetime import timedelta

from flask import current_app, g, request
from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError

from ..clock import now
from ..domain.device_signature import check_signature
from ..domain.errors import AppError
from ..extensions import db
from ..models import Device, DeviceNonce
from ..unit_of_work import commit_side_effect
from .actor import Actor
from .crypto import vault

SECRET_CONTEXT = "devices.secret"
NONCE_TTL = timedelta(minutes=10)


def device_secret(device: Device) -> str:
    """Decrypt a device's shared secret."""
    return vault().decrypt_text(device.secret_enc, SECRET_CONTEXT)


def _unauthorized(reason: str) -> AppError:
    return AppError("unauthorized", 401, {"reason": reason})


def _remember_nonce(device_id: int, nonce: str, t) -> None:
    """Record a nonce for 10 minutes, shared by every worker (Redis when configured, else the database)."""
    redis_url = current_app.config.get("REDIS_URL")
    if redis_url:
        from ..redis_conn import redis_client
        if not redis_client(redis_url).set(f"device-nonce:{device_id}:{nonce}", 1, nx=True,
                                           ex=int(NONCE_TTL.total_seconds())):
            raise _unauthorized("nonce")
        return
    db.session.execute(delete(DeviceNonce).where(DeviceNonce.device_id == device_id,
                                                 DeviceNonce.seen_at < t - NONCE_TTL))
    db.session.add(DeviceNonce(device_id=device_id, nonce=nonce, seen_at=t))
    try:
        # Committed on its own, before the view runs: a replay must fail even if this request fails later.
        commit_side_effect("device_nonce")
    except IntegrityError:
        raise _unauthorized("nonce") from None


def device_actor() -> Actor:
    """Authenticate a signed device request; 401 on skew, bad signature, replayed nonce or revocation, 403 while pending."""
    h = request.headers
    raw_id = h.get("X-Device-Id", "")
    if not (raw_id.isdigit() and len(raw_id) <= 9):
        raise _unauthorized("device_id")
    device_id = int(raw_id)
    ts, nonce, signature = h.get("X-Timestamp", ""), h.get("X-Nonce", ""), h.get("X-Signature", "")
    device = db.session.get(Device, device_id)
    if device is None:
        raise _unauthorized("device_id")
    if device.status == "revoked":
        raise _unauthorized("device_revoked")
    t = now()
    path = request.path + (f"?{request.query_string.decode()}" if request.query_string else "")
    check_signature(device_secret(device), request.method, path, ts, nonce, request.get_data(), signature,
                    int(t.timestamp()), max_skew=current_app.config["DEVICE_MAX_SKEW_S"])
    _remember_nonce(device.id, nonce, t)
    if device.status != "active":
        # Signed by the right secret, so the kiosk is told plainly why it is refused (not a network blip).
        raise AppError("device_not_active", 403, {"status": device.status})
    actor = Actor(role="device", subject=f"d:{device.id}", device_id=device.id,
                  institution_id=device.institution_id, site_id=device.site_id)
    g.actor = actor
    g.device = device
    return actor
