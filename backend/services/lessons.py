"""Lessons (课次): class hours, the online share, sites, and the 4-hour time-change window."""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import select

from ..domain import plans as rules
from ..domain.errors import conflict, forbidden, invalid
from ..extensions import db
from ..models import AttendanceEvent, Lesson, MakeupRequest, OnlineRecord, Site, TrainingPlan
from ..security.actor import Actor
from ..security.authz import ensure_institution, get_or_404
from . import audit
from .plans import check_hours, hour_totals, lesson_change_lead, max_online_share, plan_change_lead

_AUDITED = ("title", "mode", "starts_at", "ends_at", "class_hours", "site_id", "require_site_qr")
_FINAL = (rules.COMPLETION_SUBMITTED, rules.COMPLETED)


def plan_lessons(plan_id: int) -> list[Lesson]:
    """A plan's lessons in time order."""
    return list(db.session.execute(select(Lesson).where(Lesson.plan_id == plan_id)
                                   .order_by(Lesson.starts_at, Lesson.id)).scalars())


def load_lesson(a: Actor, lesson_id: int, lock: bool = False) -> tuple[Lesson, TrainingPlan]:
    """A lesson and its plan, if the caller may see the plan."""
    lesson = get_or_404(Lesson, lesson_id)
    plan = db.session.get(TrainingPlan, lesson.plan_id)
    if lock:
        db.session.refresh(plan, with_for_update=True)
    ensure_institution(a, plan.institution_id, plan.region_code)
    return lesson, plan


def _own_site(plan: TrainingPlan, site_id) -> Site:
    site = db.session.get(Site, site_id) if site_id is not None else None
    if site is None or site.institution_id != plan.institution_id:
        raise invalid("validation_error", field="site_id", reason="not_a_site_of_this_institution")
    return site


def _within_plan(plan: TrainingPlan, starts_at: datetime, ends_at: datetime) -> None:
    first = starts_at.astimezone(rules.SHANGHAI).date()
    last = ends_at.astimezone(rules.SHANGHAI).date()
    if first < plan.starts_on or last > plan.ends_on:
        raise invalid("validation_error", field="starts_at", reason="outside_plan_dates",
                      starts_on=plan.starts_on.isoformat(), ends_on=plan.ends_on.isoformat())


def _no_overlap(plan: TrainingPlan, starts_at: datetime, ends_at: datetime, lesson_id: int | None = None) -> None:
    # One trainee cannot sit two lessons of the same plan at once; overlapping lessons would
    # credit the same hour twice.
    stmt = select(Lesson.id).where(Lesson.plan_id == plan.id, Lesson.starts_at < ends_at,
                                   Lesson.ends_at > starts_at)
    if lesson_id is not None:
        stmt = stmt.where(Lesson.id != lesson_id)
    other = db.session.execute(stmt.limit(1)).scalar()
    if other is not None:
        raise invalid("validation_error", field="starts_at", reason="overlaps_lesson", lesson_id=other)


def _check_share(plan: TrainingPlan, mode: str, hours_delta: Decimal, now: datetime) -> None:
    """Modes must fit the delivery; the blended cap is checked when an online lesson is added or grows.

    Why not always: institutions often enter a blended plan's online theory lessons before the offline
    practice ones, and a plan with no offline hours yet is 100 % online. So the 40 % cap is enforced
    here only for an online lesson while the plan already has offline lessons (adding offline hours can
    only lower the share), and always at submit and approval (services.plans), which is the binding check.
    """
    offline, online = hour_totals(plan.id)
    if mode == "online":
        online += hours_delta
    else:
        offline += hours_delta
    enforce = plan.delivery == "blended" and mode == "online" and hours_delta > 0 and offline > 0
    check_hours(plan.delivery, offline, online, enforce_share=enforce, max_share=max_online_share(plan, now))


def create_lesson(a: Actor, plan: TrainingPlan, data: dict, now: datetime) -> Lesson:
    """Add a lesson to a plan that may still change (draft, rejected, approved before the deadline)."""
    rules.check_plan_change(plan.status, plan.starts_on, now, plan_change_lead(plan, now))
    starts_at, ends_at, mode = data["starts_at"], data["ends_at"], data["mode"]
    hours = rules.check_class_hours(starts_at, ends_at, data["class_hours"])
    _within_plan(plan, starts_at, ends_at)
    site = None
    if mode == "offline":
        site = _own_site(plan, data.get("site_id"))
    elif data.get("site_id") is not None:
        raise invalid("validation_error", field="site_id", reason="online_lessons_have_no_site")
    _check_share(plan, mode, hours, now)
    _no_overlap(plan, starts_at, ends_at)
    require_qr = data.get("require_site_qr")
    lesson = Lesson(plan_id=plan.id, title=data["title"].strip(), mode=mode, starts_at=starts_at, ends_at=ends_at,
                    class_hours=hours, site_id=site.id if site else None,
                    require_site_qr=bool(site.require_site_qr if require_qr is None and site else require_qr))
    db.session.add(lesson)
    db.session.flush()
    audit.record(a.label, "lesson.create", "lesson", lesson.id, now, after=audit.snapshot(lesson, _AUDITED))
    return lesson


def _change_times_freely(plan: TrainingPlan, lesson: Lesson, starts_at, ends_at, hours, now: datetime) -> Decimal:
    """Draft or rejected plans: any new times and hours that satisfy the lesson rules."""
    hours = rules.check_class_hours(starts_at, ends_at, hours)
    if hours != lesson.class_hours:
        _check_share(plan, lesson.mode, hours - lesson.class_hours, now)
    return hours


def _change_times_in_window(plan: TrainingPlan, lesson: Lesson, starts_at, ends_at, hours, now: datetime) -> None:
    """Submitted or approved plans: same class hours and duration, 4 h before the old and the new start."""
    if Decimal(str(hours)) != lesson.class_hours:
        raise invalid("hours_changed", field="class_hours")
    lead = lesson_change_lead(plan, now)
    rules.check_lesson_time_change(lesson.starts_at, lesson.ends_at, starts_at, ends_at, now, lead)
    if starts_at != lesson.starts_at and now > starts_at - lead:
        # The trainees need the same notice of the new time as of the old one.
        raise conflict("change_window_closed", deadline=(starts_at - lead).astimezone(rules.SHANGHAI).isoformat(),
                       reason="new_time_too_soon")


def update_lesson(a: Actor, lesson: Lesson, plan: TrainingPlan, data: dict, now: datetime) -> Lesson:
    """Change a lesson: times under the 4-hour rule (freely in a draft), site and title any time before it ends."""
    if a.role != "institution" or plan.institution_id != a.institution_id:
        raise forbidden("forbidden", institution_id=plan.institution_id)
    if plan.status in _FINAL:
        raise conflict("invalid_state", status=plan.status, action="change")
    free = plan.status in (rules.DRAFT, rules.REJECTED)
    before = audit.snapshot(lesson, _AUDITED)
    starts_at = data.get("starts_at") or lesson.starts_at
    ends_at = data.get("ends_at") or lesson.ends_at
    hours = data["class_hours"] if data.get("class_hours") is not None else lesson.class_hours
    times_touched = (starts_at, ends_at) != (lesson.starts_at, lesson.ends_at) or \
        Decimal(str(hours)) != lesson.class_hours
    if times_touched:
        if free:
            hours = _change_times_freely(plan, lesson, starts_at, ends_at, hours, now)
        else:
            _change_times_in_window(plan, lesson, starts_at, ends_at, hours, now)
            hours = lesson.class_hours
        _within_plan(plan, starts_at, ends_at)
        _no_overlap(plan, starts_at, ends_at, lesson.id)
        lesson.starts_at, lesson.ends_at, lesson.class_hours = starts_at, ends_at, Decimal(str(hours))
    site_touched = "site_id" in data or data.get("require_site_qr") is not None
    if site_touched and not free and now >= before["ends_at"]:
        # "Location any time" (source 000) means no lead time, not rewriting where a finished lesson was:
        # attendance already judged against that fence must keep meaning what it meant.
        raise conflict("change_window_closed", reason="lesson_ended")
    if "site_id" in data:
        if lesson.mode != "offline":
            raise invalid("validation_error", field="site_id", reason="online_lessons_have_no_site")
        lesson.site_id = _own_site(plan, data["site_id"]).id
    if data.get("require_site_qr") is not None:
        lesson.require_site_qr = bool(data["require_site_qr"])
    if data.get("title") is not None:
        lesson.title = data["title"].strip()
    after = audit.snapshot(lesson, _AUDITED)
    if after != before:
        db.session.flush()
        audit.record(a.label, "lesson.update", "lesson", lesson.id, now, before=before, after=after)
    return lesson


def _lesson_has_records(lesson_id: int) -> bool:
    """Whether any attendance event, make-up request or online record refers to the lesson."""
    checks = (select(AttendanceEvent.id).where(AttendanceEvent.lesson_id == lesson_id),
              select(MakeupRequest.id).where(MakeupRequest.lesson_id == lesson_id),
              select(OnlineRecord.id).where(OnlineRecord.lesson_id == lesson_id))
    return any(db.session.execute(stmt.limit(1)).first() is not None for stmt in checks)


def delete_lesson(a: Actor, lesson: Lesson, plan: TrainingPlan, now: datetime) -> Lesson:
    """Remove a lesson before it starts, as a whole-plan change (draft freely, approved until the plan's
    change deadline), when nothing was recorded against it; audited with the lesson as it was."""
    if a.role != "institution" or plan.institution_id != a.institution_id:
        raise forbidden("forbidden", institution_id=plan.institution_id)
    rules.check_lesson_removal(plan.status, plan.starts_on, lesson.starts_at, now,
                               _lesson_has_records(lesson.id), plan_change_lead(plan, now))
    lesson_id = lesson.id
    before = audit.snapshot(lesson, _AUDITED)
    if plan.status not in (rules.DRAFT, rules.REJECTED):
        # An approved plan must still fit its delivery and online share without this lesson.
        offline, online = hour_totals(plan.id)
        if lesson.mode == "online":
            online -= lesson.class_hours
        else:
            offline -= lesson.class_hours
        check_hours(plan.delivery, offline, online, enforce_share=True, max_share=max_online_share(plan, now))
    # Rows that only describe the lesson (live-stream replay, evidence caches) never exist without an
    # attendance event, which the rule above refused; the lesson row itself can go.
    db.session.delete(lesson)
    db.session.flush()
    audit.record(a.label, "lesson.delete", "lesson", lesson_id, now, before=before,
                 after={"plan_id": plan.id, "deleted": True})
    return lesson
