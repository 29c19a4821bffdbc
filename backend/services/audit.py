"""Append-only audit entries, chained by hash so a gap or an edit is detectable."""
from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime

from sqlalchemy import event, text

from ..extensions import db
from ..models import AuditEntry
from ..request_id import current_request_id

GENESIS = "0" * 64


def _canonical(entry: AuditEntry) -> bytes:
    # UTC, as the column returns it: an entry hashed with a +08:00 `at` must verify after reloading.
    body = {"at": entry.at.astimezone(UTC).isoformat(), "actor": entry.actor, "action": entry.action,
            "object_type": entry.object_type, "object_id": entry.object_id,
            "before": entry.before, "after": entry.after, "request_id": entry.request_id}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode()


def entry_hash(prev_hash: str, entry: AuditEntry) -> str:
    """sha256 over the previous hash and this entry's canonical JSON."""
    return hashlib.sha256(prev_hash.encode() + _canonical(entry)).hexdigest()


def record(actor_label: str, action: str, object_type: str, object_id, now: datetime,
           before: dict | None = None, after: dict | None = None) -> AuditEntry:
    """Append one entry in the current transaction."""
    if db.engine.dialect.name == "postgresql":
        # Serialise appenders so two transactions never chain onto the same predecessor.
        db.session.execute(text("SELECT pg_advisory_xact_lock(727401)"))
    prev = db.session.execute(db.select(AuditEntry.hash).order_by(AuditEntry.id.desc()).limit(1)).scalar()
    entry = AuditEntry(at=now, actor=actor_label, action=action, object_type=object_type,
                       object_id=str(object_id), before=_jsonable(before), after=_jsonable(after),
                       request_id=current_request_id.get(),
                       prev_hash=prev or GENESIS)
    entry.hash = entry_hash(entry.prev_hash, entry)
    db.session.add(entry)
    db.session.flush()
    return entry


def _jsonable(value):
    if value is None:
        return None
    return json.loads(json.dumps(value, default=str))


def verify_chain() -> tuple[bool, int, str | None]:
    """Walk the whole log; returns (ok, entries checked, first problem)."""
    prev = GENESIS
    count = 0
    for entry in db.session.execute(db.select(AuditEntry).order_by(AuditEntry.id)).scalars():
        count += 1
        if entry.prev_hash != prev:
            return False, count, f"entry {entry.id}: chain broken (gap or reorder)"
        if entry_hash(prev, entry) != entry.hash:
            return False, count, f"entry {entry.id}: content altered"
        prev = entry.hash
    return True, count, None


def snapshot(obj, fields: tuple[str, ...]) -> dict:
    """A dict of selected attributes for before/after."""
    return {f: getattr(obj, f) for f in fields}


@event.listens_for(AuditEntry, "before_update")
@event.listens_for(AuditEntry, "before_delete")
def _refuse_change(mapper, connection, target):
    raise PermissionError("the audit log is append-only")
