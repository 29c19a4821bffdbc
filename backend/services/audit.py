"""Append-only audit entries, chained by hash so a gap or an edit is detectable."""
from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime

from sqlalchemy import Select, event, select, text

from ..domain.errors import forbidden, not_found
from ..extensions import db
from ..models import (
    AuditEntry,
    Certificate,
    Device,
    Institution,
    PlanChangeRequest,
    SubsidyClaim,
    TrainingPlan,
    Voucher,
    VoucherBatch,
)
from ..request_id import current_request_id
from ..security.actor import Actor
from ..security.authz import ensure_region

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


# object_type in the audit log → how to find the region a supervisor must cover
# (a select of the region column, joined as needed, filtered on the object's id below).
_REGION_OF = {
    "plan": (select(TrainingPlan.region_code), TrainingPlan.id),
    "training_plan": (select(TrainingPlan.region_code), TrainingPlan.id),
    "subsidy_claim": (select(SubsidyClaim.region_code), SubsidyClaim.id),
    "voucher_batch": (select(VoucherBatch.region_code), VoucherBatch.id),
    "institution": (select(Institution.region_code), Institution.id),
    "voucher": (select(VoucherBatch.region_code).join(Voucher, Voucher.batch_id == VoucherBatch.id), Voucher.id),
    "certificate": (select(TrainingPlan.region_code).join(Certificate, Certificate.plan_id == TrainingPlan.id),
                    Certificate.id),
    "plan_change_request": (select(TrainingPlan.region_code).join(
        PlanChangeRequest, PlanChangeRequest.plan_id == TrainingPlan.id), PlanChangeRequest.id),
    "device": (select(Institution.region_code).join(Device, Device.institution_id == Institution.id), Device.id),
}


def trail(a: Actor, object_type: str | None, object_id: str | None, action: str | None) -> Select:
    """The audit entries `a` may read, oldest first, filtered by object and action (a select to page through).

    Admins read the whole log; supervisors read the trail of one object inside their region (403
    filter_by_object without one they can place, 404 when it does not exist, 403 out_of_scope elsewhere).
    """
    stmt = select(AuditEntry).order_by(AuditEntry.id)
    if a.role == "supervisor":
        known = _REGION_OF.get(object_type or "")
        # ASCII digits only: str.isdigit() also accepts "²", which int() then refuses (a 500).
        if not (known and object_id and object_id.isascii() and object_id.isdigit()):
            raise forbidden("forbidden", reason="filter_by_object", object_types=sorted(_REGION_OF))
        region = db.session.execute(known[0].where(known[1] == int(object_id))).scalar()
        if region is None:
            raise not_found("not_found", object=object_type, id=object_id)
        ensure_region(a, region)
    if object_type:
        stmt = stmt.where(AuditEntry.object_type == object_type)
    if object_id:
        stmt = stmt.where(AuditEntry.object_id == object_id)
    if action:
        stmt = stmt.where(AuditEntry.action == action)
    return stmt
