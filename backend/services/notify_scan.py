"""Finding due notifications from the data (backend/domain/notifications.py) and queuing each once.

Every kind is one bounded, set-based pass: a query over an indexed time range (vouchers expiring,
lessons starting or running, decisions of the last days) that leaves out what was already queued, then
one multi-row INSERT ... ON CONFLICT DO NOTHING on the unique (person, kind, object, window). So any
number of workers running the scan at once, or a scan repeated after a crash, queue each message once:
the database, not a Python check, decides. No query runs per row.
"""
from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import and_, exists, func, literal, or_, select
from sqlalchemy.dialects import postgresql, sqlite

from ..domain import notifications as rules
from ..domain.attendance import CHECK_IN
from ..extensions import db
from ..models import (
    AttendanceEvent,
    Certificate,
    Enrollment,
    Lesson,
    MakeupRequest,
    Notification,
    OnlineRecord,
    Site,
    SubsidyClaim,
    SubsidyLine,
    TrainingPlan,
    Voucher,
    VoucherBatch,
)
from .attendance import policy
from .hours import credit, online_hours, presences

ACTIVE_PLANS = ("approved", "in_progress")
# How far back the event-like kinds look: a worker down for longer than this loses nothing that matters
# more than the noise of a message about something weeks old.
DECISION_LOOKBACK = timedelta(days=7)
CERTIFICATE_LOOKBACK_DAYS = 30
SUBSIDY_LOOKBACK = timedelta(days=30)
ABSENCE_LOOKBACK = timedelta(days=2)
# Lessons are shorter than this, so running lessons are found by an index range on starts_at.
LONGEST_LESSON = timedelta(days=1)
INSERT_CHUNK = 1000
UNIQUE_KEY = ("person_id", "kind", "object_type", "object_id", "window_key")


def queue_due(now: datetime, cfg) -> dict[str, int]:
    """Queue every kind that is due at `now`; returns the rows offered per kind (duplicates are dropped)."""
    from .policies import builtin
    defaults = builtin(cfg)
    counts = {
        rules.VOUCHER_EXPIRING: _voucher_expiring(now),
        rules.LESSON_REMINDER: _lesson_reminders(now, cfg, defaults),
        rules.MISSED_CHECK_IN: _missed_check_ins(now, cfg, defaults),
        rules.ABSENCE_RISK: _absence_risks(now, cfg, defaults),
        rules.MAKEUP_DECIDED: _makeups_decided(now),
        rules.CERTIFICATE_ISSUED: _certificates_issued(now),
        rules.SUBSIDY_STATUS: _subsidy_statuses(now),
    }
    return counts


def insert_once(rows: list[dict]) -> None:
    """INSERT the notifications, skipping any whose (person, kind, object, window) exists (SQLite, PostgreSQL)."""
    if not rows:
        return
    table = Notification.__table__
    dialect = db.session.get_bind().dialect.name
    make = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = make(table).on_conflict_do_nothing(index_elements=list(UNIQUE_KEY))
    for i in range(0, len(rows), INSERT_CHUNK):
        db.session.execute(stmt, rows[i:i + INSERT_CHUNK])


def _row(now, person_id, kind, object_type, object_id, window, ctx, **extra) -> dict:
    title, body = rules.render(kind, window, ctx)
    return {"person_id": person_id, "kind": kind, "object_type": object_type, "object_id": object_id,
            "window_key": window, "title": title, "body": body, "plan_id": extra.get("plan_id"),
            "institution_id": extra.get("institution_id"), "region_code": extra.get("region_code"),
            "details": extra.get("details") or {}, "created_at": now, "read_at": None, "routed_at": None}


def _not_queued(kind: str, object_type: str, object_id, person_id, window) -> object:
    """SQL: no notification of this kind, object and window exists for the person yet."""
    n = Notification
    return ~exists().where(n.person_id == person_id, n.kind == kind, n.object_type == object_type,
                           n.object_id == object_id, n.window_key == window)


def _voucher_expiring(now: datetime) -> int:
    rows = []
    for window, lo, hi in rules.window_ranges(rules.VOUCHER_WINDOWS, now):
        found = db.session.execute(
            select(Voucher.id, Voucher.person_id, Voucher.expires_at, VoucherBatch.name)
            .join(VoucherBatch, VoucherBatch.id == Voucher.batch_id)
            .where(Voucher.status == "claimed", Voucher.expires_at > lo, Voucher.expires_at <= hi,
                   _not_queued(rules.VOUCHER_EXPIRING, "voucher", Voucher.id, Voucher.person_id, literal(window)))
            .order_by(Voucher.id))
        for v in found:
            rows.append(_row(now, v.person_id, rules.VOUCHER_EXPIRING, "voucher", v.id, window,
                             {"batch": v.name, "expires_at": v.expires_at}))
    insert_once(rows)
    return len(rows)


def _lesson_people(where, *extra_cols):
    """Active enrolments of active plans joined with their lessons (and the site, if any)."""
    return (select(Lesson.id, Lesson.title, Lesson.starts_at, Lesson.ends_at, Lesson.mode, Lesson.plan_id,
                   Enrollment.person_id, Site.name.label("site"), TrainingPlan.institution_id,
                   TrainingPlan.region_code, TrainingPlan.policy_params, *extra_cols)
            .join(TrainingPlan, TrainingPlan.id == Lesson.plan_id)
            .join(Enrollment, and_(Enrollment.plan_id == Lesson.plan_id, Enrollment.status == "active"))
            .outerjoin(Site, Site.id == Lesson.site_id)
            .where(TrainingPlan.status.in_(ACTIVE_PLANS), *where)
            # One order for every worker: concurrent inserts of the same rows then wait, never deadlock.
            .order_by(Lesson.id, Enrollment.person_id))


def _policy(cfg, params, defaults):
    return policy(cfg, params or defaults)


def _lesson_reminders(now: datetime, cfg, defaults: dict) -> int:
    rows = []
    for window, lo, hi in rules.window_ranges(rules.LESSON_WINDOWS, now):
        found = db.session.execute(_lesson_people(
            [Lesson.starts_at > lo, Lesson.starts_at <= hi,
             _not_queued(rules.LESSON_REMINDER, "lesson", Lesson.id, Enrollment.person_id, literal(window))]))
        for r in found:
            pol = _policy(cfg, r.policy_params, defaults)
            ctx = {"lesson": r.title, "starts_at": r.starts_at, "now": now, "site": r.site if r.mode == "offline" else None,
                   "check_in_from": r.starts_at - pol.check_in_before if r.mode == "offline" else None}
            rows.append(_row(now, r.person_id, rules.LESSON_REMINDER, "lesson", r.id, window, ctx,
                             plan_id=r.plan_id, details={"push_until": r.starts_at.isoformat()}))
    insert_once(rows)
    return len(rows)


def _missed_check_ins(now: datetime, cfg, defaults: dict) -> int:
    checked_in = exists().where(AttendanceEvent.lesson_id == Lesson.id, AttendanceEvent.person_id == Enrollment.person_id,
                                AttendanceEvent.kind == CHECK_IN, AttendanceEvent.accepted)
    found = db.session.execute(_lesson_people(
        [Lesson.mode == "offline", Lesson.starts_at > now - LONGEST_LESSON, Lesson.starts_at <= now,
         Lesson.ends_at > now, ~checked_in,
         _not_queued(rules.MISSED_CHECK_IN, "lesson", Lesson.id, Enrollment.person_id, literal(""))]))
    rows = []
    for r in found:
        if not rules.missed_check_in_due(r.starts_at, r.ends_at, _policy(cfg, r.policy_params, defaults).grace, now):
            continue
        rows.append(_row(now, r.person_id, rules.MISSED_CHECK_IN, "lesson", r.id, "",
                         {"lesson": r.title, "starts_at": r.starts_at}, plan_id=r.plan_id,
                         institution_id=r.institution_id, region_code=r.region_code,
                         details={"push_until": r.ends_at.isoformat(), "lesson_id": r.id}))
    insert_once(rows)
    return len(rows)


def _absence_risks(now: datetime, cfg, defaults: dict) -> int:
    """Plans whose lessons ended lately: a handful of queries for all of them together, then the rule per trainee."""
    recent = select(Lesson.plan_id).where(Lesson.ends_at > now - ABSENCE_LOOKBACK, Lesson.ends_at <= now)
    plans = db.session.execute(select(TrainingPlan).where(TrainingPlan.status.in_(ACTIVE_PLANS),
                                                          TrainingPlan.id.in_(recent))).scalars().all()
    if not plans:
        return 0
    plan_ids = [p.id for p in plans]
    lessons = db.session.execute(select(Lesson).where(Lesson.plan_id.in_(plan_ids))).scalars().all()
    by_plan = defaultdict(list)
    for lesson in lessons:
        by_plan[lesson.plan_id].append(lesson)
    seen = presences([x.id for x in lessons if x.mode == "offline" and x.ends_at <= now])
    minutes = {(r.lesson_id, r.person_id): r.minutes for r in db.session.execute(
        select(OnlineRecord.lesson_id, OnlineRecord.person_id, OnlineRecord.minutes)
        .where(OnlineRecord.plan_id.in_(plan_ids)))}
    roster = defaultdict(list)
    for plan_id, person_id in db.session.execute(select(Enrollment.plan_id, Enrollment.person_id).where(
            Enrollment.plan_id.in_(plan_ids), Enrollment.status == "active")):
        roster[plan_id].append(person_id)
    done = set(db.session.execute(select(Notification.person_id, Notification.object_id).where(
        Notification.kind == rules.ABSENCE_RISK, Notification.object_type == "plan",
        Notification.object_id.in_(plan_ids))))
    rows = []
    for plan in plans:
        params = plan.policy_params or defaults
        pol = policy(cfg, params)
        ratio = Decimal(int(params["completion_min_percent"])) / 100
        for person_id in roster[plan.id]:
            if (person_id, plan.id) in done:
                continue
            reason = rules.absence_risk([_standing(lesson, person_id, seen, minutes, pol, now)
                                         for lesson in by_plan[plan.id]], ratio, now)
            if reason:
                rows.append(_row(now, person_id, rules.ABSENCE_RISK, "plan", plan.id, "",
                                 {"plan": plan.title, "reason": reason}, plan_id=plan.id,
                                 institution_id=plan.institution_id, region_code=plan.region_code,
                                 details={"reason": reason}))
    insert_once(rows)
    return len(rows)


def _standing(lesson, person_id, seen, minutes, pol, now) -> rules.LessonAttendance:
    if lesson.mode == "online":
        hours = online_hours(lesson.class_hours, minutes.get((lesson.id, person_id), 0))
        return rules.LessonAttendance(lesson.ends_at, Decimal(lesson.class_hours), False, hours > 0, hours)
    presence = seen.get((lesson.id, person_id)) if lesson.ends_at <= now else None
    hours = credit(lesson, presence, pol)[1] if presence else Decimal(0)
    return rules.LessonAttendance(lesson.ends_at, Decimal(lesson.class_hours), True,
                                  bool(presence and presence.check_in_at), Decimal(hours))


def _makeups_decided(now: datetime) -> int:
    m = MakeupRequest
    found = db.session.execute(
        select(m.id, m.person_id, m.status, Lesson.title, Lesson.plan_id).join(Lesson, Lesson.id == m.lesson_id)
        .where(m.status.in_(("approved", "rejected")), m.decided_at > now - DECISION_LOOKBACK, m.decided_at <= now,
               _not_queued(rules.MAKEUP_DECIDED, "makeup", m.id, m.person_id, literal(""))))
    rows = [_row(now, r.person_id, rules.MAKEUP_DECIDED, "makeup", r.id, "", {"lesson": r.title, "status": r.status},
                 plan_id=r.plan_id) for r in found]
    insert_once(rows)
    return len(rows)


def _certificates_issued(now: datetime) -> int:
    c = Certificate
    today = now.astimezone(rules.SHANGHAI).date()
    since = today - timedelta(days=CERTIFICATE_LOOKBACK_DAYS)
    found = db.session.execute(
        select(c.id, c.person_id, c.number, c.plan_id, TrainingPlan.title).join(TrainingPlan, TrainingPlan.id == c.plan_id)
        .where(c.revoked_at.is_(None), c.issued_on >= since, c.issued_on <= today,
               _not_queued(rules.CERTIFICATE_ISSUED, "certificate", c.id, c.person_id, literal(""))))
    rows = [_row(now, r.person_id, rules.CERTIFICATE_ISSUED, "certificate", r.id, "",
                 {"plan": r.title, "number": r.number}, plan_id=r.plan_id) for r in found]
    insert_once(rows)
    return len(rows)


def _subsidy_statuses(now: datetime) -> int:
    s = SubsidyClaim
    current = or_(s.status == "approved",
                  and_(s.status == "disbursed", s.disbursed_at > now - SUBSIDY_LOOKBACK),
                  and_(s.status == "rejected", func.coalesce(s.approved_at, s.created_at) > now - SUBSIDY_LOOKBACK))
    found = db.session.execute(
        select(s.id, s.status, s.publicity_ends_at, s.plan_id, TrainingPlan.title, SubsidyLine.person_id)
        .join(TrainingPlan, TrainingPlan.id == s.plan_id).join(SubsidyLine, SubsidyLine.claim_id == s.id)
        .where(current).distinct()).all()
    if not found:
        return 0
    done = set(db.session.execute(select(Notification.person_id, Notification.object_id, Notification.window_key).where(
        Notification.kind == rules.SUBSIDY_STATUS, Notification.object_type == "claim",
        Notification.object_id.in_({r.id for r in found}))))
    rows = []
    for r in found:
        window = rules.subsidy_window(r.status, r.publicity_ends_at, now)
        if window is None or (r.person_id, r.id, window) in done:
            continue
        rows.append(_row(now, r.person_id, rules.SUBSIDY_STATUS, "claim", r.id, window,
                         {"plan": r.title, "publicity_ends_at": r.publicity_ends_at}, plan_id=r.plan_id))
    insert_once(rows)
    return len(rows)
