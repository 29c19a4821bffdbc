"""Plan change requests (变更申请): after approval, what a plan was reviewed as (occupation, type, delivery)
changes only by a decision of a supervisor of its region.

The institution files the fields it wants changed with a reason; every plan-edit rule is checked then
(backend/services/plans.checked_values) and again, at the decision's `now`, when a supervisor approves,
so nothing that became false meanwhile (the change window, the lessons' online share, a voucher on the
roster that does not pay for the new occupation) slips through. The plan changes only on approval, so
the subsidy (computed from the plan's occupation at completion) follows an approved change only.
"""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from ..domain import plans as rules
from ..domain.errors import conflict, invalid, not_found
from ..extensions import db
from ..models import PlanChangeRequest, TrainingPlan
from ..security.actor import Actor
from ..security.authz import ensure_region, get_or_404
from . import audit
from . import plans as plan_service
from .scoping import scoped

_DATE_FIELDS = ("starts_on", "ends_on")


def _jsonable(values: dict) -> dict:
    return {k: v.isoformat() if isinstance(v, date) else v for k, v in values.items()}


def _parsed(stored: dict) -> dict:
    """Stored requested fields back as plan values (dates as date)."""
    return {k: date.fromisoformat(v) if k in _DATE_FIELDS and isinstance(v, str) else v for k, v in stored.items()}


def pending_of(plan_id: int) -> PlanChangeRequest | None:
    """The plan's pending change request, if any."""
    return db.session.execute(select(PlanChangeRequest).where(
        PlanChangeRequest.plan_id == plan_id, PlanChangeRequest.status == rules.CHANGE_PENDING)).scalar()


def file_request(a: Actor, plan: TrainingPlan, fields: dict, reason: str | None,
                 now: datetime) -> PlanChangeRequest:
    """Ask the bureau for a change of an approved plan that needs review (the caller owns the plan, locked)."""
    reason = rules.change_reason(reason)
    if not rules.needs_review(plan.status):
        # A draft or rejected plan is edited directly (PATCH); a submitted one is withdrawn first.
        raise conflict("invalid_state", status=plan.status, action="change_request")
    values = plan_service.checked_values(plan, fields, now, reviewed=True)
    changed = rules.changed_reviewed_fields({f: getattr(plan, f) for f in rules.REVIEWED_FIELDS}, values)
    if not changed:
        raise invalid("no_review_needed", fields=sorted(fields), reviewed_fields=list(rules.REVIEWED_FIELDS))
    pending = pending_of(plan.id)
    if pending is not None:
        raise conflict("change_request_pending", change_request_id=pending.id)
    requested = {f: values[f] for f in plan_service.PLAN_FIELDS if values[f] != getattr(plan, f)}
    req = PlanChangeRequest(plan_id=plan.id, requested_fields=_jsonable(requested),
                            before_fields=_jsonable({f: getattr(plan, f) for f in requested}), reason=reason,
                            status=rules.CHANGE_PENDING, requested_by=a.user_id, requested_at=now)
    db.session.add(req)
    db.session.flush()  # the partial unique index refuses a second pending request of a racing writer
    audit.record(a.label, "plan_change.request", "plan_change_request", req.id, now,
                 after={"plan_id": plan.id, "fields": req.requested_fields, "before": req.before_fields,
                        "reason": reason})
    return req


def load_request(plan: TrainingPlan, request_id: int) -> PlanChangeRequest:
    """A change request of this plan (404 when it belongs to another plan)."""
    req = get_or_404(PlanChangeRequest, request_id)
    if req.plan_id != plan.id:
        raise not_found("not_found", object="plan_change_requests", id=request_id)
    return req


def decide(a: Actor, plan: TrainingPlan, req: PlanChangeRequest, approve: bool, reason: str | None,
           now: datetime) -> PlanChangeRequest:
    """Approve (the fields are applied after every plan rule is checked again at `now`) or reject with a
    reason; by a supervisor of the plan's region (the plan is locked by the caller). Both are audited."""
    ensure_region(a, plan.region_code)
    status = rules.decide_change(req.status, approve)
    if approve:
        cleaned = (reason or "").strip()
        if len(cleaned) > rules.MAX_REASON_CHARS:
            raise invalid("validation_error", fields={"reason": [f"at most {rules.MAX_REASON_CHARS} characters"]})
        if not rules.needs_review(plan.status):
            raise conflict("invalid_state", status=plan.status, action="change_request")
        values = plan_service.checked_values(plan, _parsed(req.requested_fields), now, reviewed=True)
        before, after = plan_service.apply_values(a.label, plan, values, now)
        reason = cleaned or None
    else:
        reason = rules.change_reason(reason)
        before, after = None, None
    req.status, req.decided_by, req.decided_at, req.decision_reason = status, a.user_id, now, reason
    db.session.flush()
    audit.record(a.label, f"plan_change.{'approve' if approve else 'reject'}", "plan_change_request", req.id, now,
                 before={"status": rules.CHANGE_PENDING},
                 after={"status": status, "plan_id": plan.id, "reason": reason, "fields": req.requested_fields,
                        **({"plan_before": before, "plan_after": after} if approve else {})})
    return req


def plan_requests(plan_id: int) -> list[PlanChangeRequest]:
    """A plan's change requests, newest first."""
    return list(db.session.execute(select(PlanChangeRequest).where(PlanChangeRequest.plan_id == plan_id)
                                   .order_by(PlanChangeRequest.id.desc())).scalars())


def requests_stmt(a: Actor, status: str | None = None):
    """Change requests the caller may see (the supervisor's region, the institution's own), oldest first."""
    stmt = (select(PlanChangeRequest).join(TrainingPlan, TrainingPlan.id == PlanChangeRequest.plan_id)
            .options(selectinload(PlanChangeRequest.plan))
            .order_by(PlanChangeRequest.requested_at, PlanChangeRequest.id))
    stmt = scoped(stmt, a, region=TrainingPlan.region_code, institution=TrainingPlan.institution_id)
    if status:
        stmt = stmt.where(PlanChangeRequest.status == status)
    return stmt
