"""Training plans (培训方案): creation, edits inside the change window, and the review workflow."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import func, select

from ..clock import now as clock_now
from ..domain import plans as rules
from ..domain import vouchers as voucher_rules
from ..domain.errors import conflict, forbidden, invalid
from ..extensions import db
from ..models import Enrollment, Institution, Lesson, TrainingPlan, Voucher, VoucherBatch
from ..reads_through import ReadsThrough
from ..security.actor import Actor
from ..security.authz import ensure_institution, ensure_region, get_or_404
from . import audit, policies
from .persons import shanghai_today
from .policies import plan_params
from .scoping import scoped

PLAN_FIELDS = ("title", "occupation_code", "plan_type", "delivery", "starts_on", "ends_on", "online_platform")
_AUDITED = PLAN_FIELDS + ("status",)


# ---- the plan's policy (its region's parameters; frozen at submission) ---------------------

def plan_change_lead(plan: TrainingPlan, now: datetime) -> timedelta:
    """Whole-plan change lead time (policy plan_change_days)."""
    return timedelta(days=int(plan_params(plan, now)["plan_change_days"]))


def lesson_change_lead(plan: TrainingPlan, now: datetime) -> timedelta:
    """Lesson time-change lead time (policy lesson_change_hours)."""
    return timedelta(hours=int(plan_params(plan, now)["lesson_change_hours"]))


def max_online_share(plan: TrainingPlan, now: datetime) -> Decimal:
    """Largest online share of a blended plan's class hours (policy online_share_max_percent)."""
    return Decimal(int(plan_params(plan, now)["online_share_max_percent"])) / 100


def check_online_allowed(plan: TrainingPlan, delivery: str, occupation_code: str, now: datetime) -> None:
    """422 online_not_allowed: a pure online plan for an occupation the region's list does not name."""
    listed = plan_params(plan, now)["online_only_occupations"]
    rules.check_online_only(delivery, occupation_code, listed)


# ---- reading ------------------------------------------------------------------------------

def hour_totals(plan_id: int) -> tuple[Decimal, Decimal]:
    """(offline, online) class hours of a plan's lessons."""
    rows = db.session.execute(select(Lesson.mode, func.coalesce(func.sum(Lesson.class_hours), 0))
                              .where(Lesson.plan_id == plan_id).group_by(Lesson.mode)).all()
    totals = {mode: Decimal(str(hours)) for mode, hours in rows}
    return totals.get("offline", Decimal(0)), totals.get("online", Decimal(0))


def first_lesson_start(plan_id: int) -> datetime | None:
    """When the plan's earliest lesson starts (None without lessons)."""
    return db.session.execute(select(func.min(Lesson.starts_at)).where(Lesson.plan_id == plan_id)).scalar()


def ensure_roster_open(plan: TrainingPlan, now: datetime) -> None:
    """Raise 409 roster_frozen once the first lesson has started (server clock), or when the plan is over."""
    start = first_lesson_start(plan.id)
    if rules.roster_frozen(start, now) or plan.status in (rules.COMPLETION_SUBMITTED, rules.COMPLETED):
        raise conflict("roster_frozen", first_lesson_starts_at=start.astimezone(rules.SHANGHAI).isoformat()
                       if start else None)


def start_if_due(plan: TrainingPlan, now: datetime, actor_label: str = "system") -> bool:
    """Move an approved plan to in_progress once its first lesson has started; True when it moved."""
    if plan.status != rules.APPROVED:
        return False
    start = first_lesson_start(plan.id)
    if not rules.roster_frozen(start, now):
        return False
    plan.status = rules.transition(plan.status, "start")
    db.session.flush()
    audit.record(actor_label, "plan.start", "plan", plan.id, now,
                 before={"status": rules.APPROVED}, after={"status": plan.status})
    return True


def load_plan(a: Actor, plan_id: int, lock: bool = False) -> TrainingPlan:
    """A plan the caller may see (own institution, supervisor's region, admin); `lock` serialises writers."""
    plan = get_or_404(TrainingPlan, plan_id)
    if lock:
        # Row lock on PostgreSQL so two reviewers (or a review and an edit) never interleave;
        # SQLite already serialises writers with BEGIN IMMEDIATE.
        db.session.refresh(plan, with_for_update=True)
    ensure_institution(a, plan.institution_id, plan.region_code)
    return plan


def own_plan(a: Actor, plan_id: int, lock: bool = True) -> TrainingPlan:
    """A plan of the caller's own institution, for institution-only actions."""
    plan = load_plan(a, plan_id, lock=lock)
    if a.role != "institution" or plan.institution_id != a.institution_id:
        raise forbidden("forbidden", institution_id=plan.institution_id)
    return plan


def plans_query(a: Actor, status: str | None = None):
    """Plans visible to the caller, newest first, optionally of one status."""
    stmt = scoped(select(TrainingPlan).order_by(TrainingPlan.id.desc()), a,
                  region=TrainingPlan.region_code, institution=TrainingPlan.institution_id)
    if status:
        stmt = stmt.where(TrainingPlan.status == status)
    return stmt


def _page_figures(plan_ids: list[int]) -> tuple[dict, dict]:
    """Hours per (plan, mode) and active enrolments per plan, for many plans in two queries."""
    hours: dict = {}
    for plan_id, mode, total in db.session.execute(
            select(Lesson.plan_id, Lesson.mode, func.sum(Lesson.class_hours)).where(Lesson.plan_id.in_(plan_ids))
            .group_by(Lesson.plan_id, Lesson.mode)):
        hours[(plan_id, mode)] = Decimal(str(total))
    counts = dict(db.session.execute(
        select(Enrollment.plan_id, func.count()).where(Enrollment.plan_id.in_(plan_ids), Enrollment.status == "active")
        .group_by(Enrollment.plan_id)).all())
    return hours, counts


@dataclass(frozen=True)
class PlanFigures(ReadsThrough):
    """A plan with what its listing shows beside its columns: class hours by mode, active enrolments, the
    last moment for whole-plan changes, and (single-plan view only) its lessons. Other attributes are the
    plan's own."""

    _through = "plan"
    plan: TrainingPlan
    offline_hours: Decimal
    online_hours: Decimal
    enrolled: int
    change_deadline: datetime
    lessons: list[Lesson] | None = None


def with_figures(plan: TrainingPlan, figures: tuple | None = None,
                 lessons: list[Lesson] | None = None) -> PlanFigures:
    """The plan with its figures; `figures` = (offline hours, online hours, active enrolments) when the
    caller already has them."""
    if figures is None:
        offline, online = hour_totals(plan.id)
        enrolled = db.session.execute(select(func.count()).select_from(Enrollment).where(
            Enrollment.plan_id == plan.id, Enrollment.status == "active")).scalar()
    else:
        offline, online, enrolled = figures
    deadline = rules.plan_change_deadline(plan.starts_on, plan_change_lead(plan, clock_now()))
    return PlanFigures(plan, offline, online, enrolled, deadline, lessons)


def plans_page(stmt, page: int, per_page: int) -> tuple[list[PlanFigures], int]:
    """One page of plans with their hour totals and roster sizes, in four queries whatever the page size."""
    total = db.session.execute(select(func.count()).select_from(stmt.order_by(None).subquery())).scalar()
    plans = list(db.session.execute(stmt.limit(per_page).offset((page - 1) * per_page)).scalars())
    hours, counts = _page_figures([p.id for p in plans]) if plans else ({}, {})
    zero = Decimal(0)
    return [with_figures(p, (hours.get((p.id, "offline"), zero), hours.get((p.id, "online"), zero),
                             counts.get(p.id, 0))) for p in plans], total


# ---- writing ------------------------------------------------------------------------------

def _check_fields(values: dict) -> None:
    """Cross-field rules of a plan's own fields."""
    if values["ends_on"] < values["starts_on"]:
        raise invalid("validation_error", field="ends_on", reason="before_starts_on")
    if values["delivery"] in ("online", "blended") and not (values.get("online_platform") or "").strip():
        # Source 000: online and blended plans name the platform that records online learning.
        raise invalid("validation_error", field="online_platform", reason="required_for_online_delivery")


def create_plan(a: Actor, data: dict, now: datetime) -> TrainingPlan:
    """A draft plan of the caller's institution, starting today or later (Asia/Shanghai)."""
    inst = get_or_404(Institution, a.institution_id)
    if inst.status != "approved":
        raise forbidden("forbidden", reason="institution_suspended")
    values = {f: data.get(f) for f in PLAN_FIELDS}
    values["title"] = values["title"].strip()
    today = shanghai_today(now)
    _check_fields(values)
    if values["starts_on"] < today:
        raise invalid("validation_error", field="starts_on", reason="in_the_past")
    plan = TrainingPlan(institution_id=inst.id, region_code=inst.region_code, status=rules.DRAFT,
                        created_at=now, **values)
    check_online_allowed(plan, values["delivery"], values["occupation_code"], now)
    db.session.add(plan)
    db.session.flush()
    audit.record(a.label, "plan.create", "plan", plan.id, now, after=audit.snapshot(plan, _AUDITED))
    return plan


def _lesson_dates_within(plan_id: int, starts_on: date, ends_on: date) -> None:
    """Raise if an existing lesson would fall outside new plan dates."""
    bounds = db.session.execute(select(func.min(Lesson.starts_at), func.max(Lesson.ends_at))
                                .where(Lesson.plan_id == plan_id)).one()
    if bounds[0] is None:
        return
    first, last = (b.astimezone(rules.SHANGHAI).date() for b in bounds)
    if first < starts_on or last > ends_on:
        raise invalid("validation_error", field="starts_on", reason="lessons_outside_dates",
                      first_lesson_on=first.isoformat(), last_lesson_on=last.isoformat())


REVIEWED_FIELDS = rules.REVIEWED_FIELDS
# Where an institution asks for a change that needs review (the 409 change_requires_review points there).
CHANGE_REQUEST_ENDPOINT = "POST /api/v1/plans/{plan_id}/change-requests"


def checked_values(plan: TrainingPlan, data: dict, now: datetime, reviewed: bool = False) -> dict:
    """The plan's fields with `data` applied, every plan-edit rule checked at `now`.

    Drafts change freely, approved plans only until the change deadline (409 change_window_closed). After
    approval a change of what was reviewed (occupation, type, delivery) needs a supervisor's decision:
    409 change_requires_review unless `reviewed` (a change request being filed or approved).
    """
    lead = plan_change_lead(plan, now)
    rules.check_plan_change(plan.status, plan.starts_on, now, lead)
    values = {f: getattr(plan, f) for f in PLAN_FIELDS}
    values.update({k: v for k, v in data.items() if k in PLAN_FIELDS})
    if isinstance(values["title"], str):
        values["title"] = values["title"].strip()
    if rules.needs_review(plan.status) and not reviewed:
        # What the bureau approved and what vouchers were checked against: changing it needs a new review.
        changed = rules.changed_reviewed_fields({f: getattr(plan, f) for f in REVIEWED_FIELDS}, values)
        if changed:
            raise conflict("change_requires_review", fields=changed,
                           change_request=CHANGE_REQUEST_ENDPOINT.format(plan_id=plan.id))
    _check_fields(values)
    check_online_allowed(plan, values["delivery"], values["occupation_code"], now)
    if values["starts_on"] != plan.starts_on:
        if values["starts_on"] < shanghai_today(now):
            raise invalid("validation_error", field="starts_on", reason="in_the_past")
        # Moving an approved plan's start closer must not sneak past the window of the new date either.
        rules.check_plan_change(plan.status, values["starts_on"], now, lead)
    _lesson_dates_within(plan.id, values["starts_on"], values["ends_on"])
    if values["delivery"] != plan.delivery:
        offline, online = hour_totals(plan.id)
        check_hours(values["delivery"], offline, online, enforce_share=rules.needs_review(plan.status),
                    max_share=max_online_share(plan, now))
    if values["occupation_code"] != plan.occupation_code:
        _vouchers_cover(plan, values["occupation_code"])
    if values["plan_type"] != plan.plan_type and values["plan_type"] == "in_post" and rules.needs_review(plan.status):
        # An approved plan turning in-post needs what submission would have asked for: every contract.
        missing = _missing_contracts(plan)
        if missing:
            raise conflict("contract_missing", person_ids=missing)
    return values


def _vouchers_cover(plan: TrainingPlan, occupation_code: str) -> None:
    """409 voucher_occupation_not_covered when a voucher bound on the roster does not pay for the new occupation."""
    rows = db.session.execute(
        select(Enrollment.person_id, VoucherBatch.occupation_codes)
        .join(Voucher, Voucher.id == Enrollment.voucher_id).join(VoucherBatch, VoucherBatch.id == Voucher.batch_id)
        .where(Enrollment.plan_id == plan.id, Enrollment.status == "active")
        .order_by(Enrollment.person_id)).all()
    uncovered = [person_id for person_id, codes in rows if not voucher_rules.covers_occupation(codes, occupation_code)]
    if uncovered:
        raise conflict("voucher_occupation_not_covered", person_ids=uncovered, occupation_code=occupation_code)


def apply_values(actor_label: str, plan: TrainingPlan, values: dict, now: datetime) -> tuple[dict, dict]:
    """Set checked values on the plan; audited as plan.update when anything changed. Returns (before, after)."""
    before = audit.snapshot(plan, _AUDITED)
    for key, value in values.items():
        setattr(plan, key, value)
    after = audit.snapshot(plan, _AUDITED)
    if after != before:
        db.session.flush()
        # An approved plan stays approved: the change is inside the window the rules allow, and the
        # audit entry (before/after) is what the supervisor reviews.
        audit.record(actor_label, "plan.update", "plan", plan.id, now, before=before, after=after)
    return before, after


def update_plan(a: Actor, plan: TrainingPlan, data: dict, now: datetime) -> TrainingPlan:
    """Edit a plan: drafts freely, approved plans only until the change deadline (409 change_window_closed),
    and what was reviewed only through a change request (409 change_requires_review)."""
    apply_values(a.label, plan, checked_values(plan, data, now), now)
    return plan


def check_hours(delivery: str, offline: Decimal, online: Decimal, enforce_share: bool, max_share: Decimal) -> None:
    """Lesson modes must fit the delivery; the blended cap (policy, 40 % by default) only when `enforce_share`."""
    if enforce_share:
        rules.check_online_share(offline, online, delivery, max_share)
    else:
        # Modes still have to fit: only the share of a blended plan is left for later (a cap of 100 %).
        rules.check_online_share(offline, online, delivery, Decimal(1))


def _missing_contracts(plan: TrainingPlan) -> list[int]:
    return list(db.session.execute(select(Enrollment.person_id).where(
        Enrollment.plan_id == plan.id, Enrollment.status == "active", Enrollment.contract_path.is_(None))
        .order_by(Enrollment.person_id)).scalars())


def _transition(a: Actor, plan: TrainingPlan, action: str, now: datetime, **after_extra) -> TrainingPlan:
    before = {"status": plan.status}
    plan.status = rules.transition(plan.status, action)
    db.session.flush()
    audit.record(a.label, f"plan.{action}", "plan", plan.id, now, before=before,
                 after=dict({"status": plan.status}, **after_extra))
    return plan


def submit_plan(a: Actor, plan: TrainingPlan, now: datetime) -> TrainingPlan:
    """Send a draft (or rejected) plan for review once its lessons, roster and contracts are complete, in
    time for the filing lead; the policy in force today is recorded on the plan."""
    rules.transition(plan.status, "submit")  # state first, so a wrong-state call says so
    params = effective_now(plan, now)
    offline, online = hour_totals(plan.id)
    if offline + online == 0:
        raise invalid("no_lessons")
    # The online share is enforced here in full even though lesson creation may have deferred it.
    check_hours(plan.delivery, offline, online, enforce_share=True,
                max_share=Decimal(int(params["online_share_max_percent"])) / 100)
    rules.check_online_only(plan.delivery, plan.occupation_code, params["online_only_occupations"])
    rules.check_filing_lead(first_lesson_start(plan.id), now, int(params["filing_lead_working_days"]))
    enrolled = db.session.execute(select(func.count()).select_from(Enrollment).where(
        Enrollment.plan_id == plan.id, Enrollment.status == "active")).scalar()
    if not enrolled:
        # Sources 000 and Fujian: the roster is imported before the plan is filed.
        raise conflict("roster_empty")
    if plan.plan_type == "in_post":
        missing = _missing_contracts(plan)
        if missing:
            raise conflict("contract_missing", person_ids=missing)
    plan.submitted_at = now
    plan.reject_reason = None
    policies.snapshot(plan, now)
    return _transition(a, plan, "submit", now, policy_id=plan.policy_id)


def effective_now(plan: TrainingPlan, now: datetime) -> dict:
    """What is in force today for the plan's region (what a submission would record)."""
    return policies.effective(plan.region_code, shanghai_today(now))[0]


def withdraw_plan(a: Actor, plan: TrainingPlan, now: datetime) -> TrainingPlan:
    """Take a submitted plan back to draft before it is reviewed."""
    return _transition(a, plan, "withdraw", now)


def review_plan(a: Actor, plan: TrainingPlan, approve: bool, reason: str | None, now: datetime) -> TrainingPlan:
    """Approve or reject (with a reason) a submitted plan inside the supervisor's region."""
    ensure_region(a, plan.region_code)
    if approve:
        rules.transition(plan.status, "approve")
        offline, online = hour_totals(plan.id)
        check_hours(plan.delivery, offline, online, enforce_share=True, max_share=max_online_share(plan, now))
    else:
        reason = (reason or "").strip()
        if not reason:
            raise invalid("validation_error", field="reason", reason="required")
    plan.reviewed_by = a.user_id
    plan.reviewed_at = now
    if approve:
        return _transition(a, plan, "approve", now)
    plan.reject_reason = reason
    return _transition(a, plan, "reject", now, reason=reason)
