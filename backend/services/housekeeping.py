"""Operational rows past their use: idempotency records after their replay window, device nonces after
their replay window. Requests already trim them as they go; this catches what quiet periods leave."""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete

from ..extensions import db
from ..models import DeviceNonce, IdempotencyRecord
from ..security.devices import NONCE_TTL

# How long an Idempotency-Key's first response is replayed (backend/api/idempotency.py).
KEEP = timedelta(hours=24)


def purge_expired(now: datetime) -> dict:
    """Delete idempotency records older than their 24 h window and nonces older than theirs; returns counts."""
    idempotency = db.session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.created_at < now - KEEP))
    nonces = db.session.execute(delete(DeviceNonce).where(DeviceNonce.seen_at < now - NONCE_TTL))
    return {"idempotency_records": idempotency.rowcount, "device_nonces": nonces.rowcount}
