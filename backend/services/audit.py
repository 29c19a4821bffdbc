"""Append-only audit entries, chained by hash so a gap or an edit is detectable."""
from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime

from sqlalchemy import Select, event, select, text

from ..domain.errors import forbidden, not_found
from ..extensions import db
from ..models import AuditEntry
from ..request_id import current_request_id
from ..security.actor import Actor
from . import audit_scope

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


def trail(a: Actor, object_type: str | None, object_id: str | None, action: str | None) -> Select:
    """The audit entries `a` may read, oldest first, filtered by object and action (a select to page through).

    Admins read the whole log; supervisors read the trail of one object inside their region (403
    filter_by_object without one they can place, 404 when it does not exist, 403 out_of_scope elsewhere).
    An object type is matched under its old names too (`plan` also finds `training_plan` entries); a
    certificate may be named by its number.
    """
    stmt = select(AuditEntry).order_by(AuditEntry.id)
    object_id = audit_scope.resolve_id(object_type, object_id)
    if a.role == "supervisor":
        known = audit_scope.canonical(object_type or "") in audit_scope.SCOPES
        if not (known and object_id):
            raise forbidden("forbidden", reason="filter_by_object", object_types=audit_scope.TYPES)
        regions = audit_scope.regions_of(object_type, [object_id]).get(object_id)
        if not regions:
            raise not_found("not_found", object=object_type, id=object_id)
        if not audit_scope.covers(a.region_code, object_type, regions):
            raise forbidden("out_of_scope", region_code=sorted(regions)[0])
    if object_type:
        stmt = stmt.where(audit_scope.type_filter(object_type))
    if object_id:
        stmt = stmt.where(AuditEntry.object_id == object_id)
    if action:
        stmt = stmt.where(AuditEntry.action == action)
    return stmt


def recent(a: Actor, object_type: str | None, limit: int = 50) -> list[dict]:
    """The objects whose trail changed last that `a` may read (supervisors: their region's)."""
    if object_type and audit_scope.canonical(object_type) not in audit_scope.SCOPES and a.role != "admin":
        raise forbidden("forbidden", reason="filter_by_object", object_types=audit_scope.TYPES)
    return audit_scope.recent_objects(a.region_code if a.role == "supervisor" else None, object_type, limit)
