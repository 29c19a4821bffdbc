"""Credited hours: offline lessons by proven attendance (domain `credited`), online lessons by minutes.

Only accepted events count, from any source (phone, kiosk, approved make-up). The subsidy and
completion code reads `plan_credited_hours`; the attendance views read the per-lesson detail.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from sqlalchemy import select

from ..clock import now as clock_now
from ..domain import attendance as rules
from ..domain import trust
from ..extensions import db
from ..models import AttendanceEvent, Enrollment, Lesson, OnlineRecord, Person, TrustFlag
from .attendance import event_time
from .trust_flags import held_event_ids

ZERO = Decimal("0")
# One class hour is 45 minutes of lesson time (DESIGN.md).
MINUTES_PER_CLASS_HOUR = 45


@dataclass
class Presence:
    """One person's accepted check-in/out in one lesson, with where they came from."""

    check_in_at: datetime | None = None
    check_out_at: datetime | None = None
    sources: set = field(default_factory=set)
    flags: set = field(default_factory=set)
    held_at: dict = field(default_factory=dict)  # kind -> time of an event whose hours are held


def online_hours(class_hours: Decimal, minutes: int) -> Decimal:
    """min(class hours, minutes / 45) rounded down to half an hour."""
    halves = Decimal(max(0, int(minutes)) * 2 // MINUTES_PER_CLASS_HOUR) / 2
    return min(Decimal(class_hours), halves)


def presences(lesson_ids: list[int]) -> dict[tuple[int, int], Presence]:
    """Accepted attendance per (lesson_id, person_id) for the given lessons.

    An event whose face the server's re-verification did not confirm is held: it does not count
    (its flag still shows) until the completion review accepts the trainee.
    """
    out: dict[tuple[int, int], Presence] = defaultdict(Presence)
    if not lesson_ids:
        return out
    a = AttendanceEvent
    rows = db.session.execute(
        select(a.id, a.lesson_id, a.person_id, a.kind, a.source, a.captured_at, a.received_at, a.flags)
        .where(a.lesson_id.in_(lesson_ids), a.accepted)).all()
    held = held_event_ids(lesson_ids)
    # Flags raised after the event was stored (a burst partner, a failed re-verification) show too.
    for lesson_id, person_id, code in db.session.execute(select(TrustFlag.lesson_id, TrustFlag.person_id, TrustFlag.code)
                                                         .where(TrustFlag.lesson_id.in_(lesson_ids))):
        out[(lesson_id, person_id)].flags.add(code)
    for row in rows:
        p = out[(row.lesson_id, row.person_id)]
        at = event_time(row.source, row.captured_at, row.received_at)
        if row.id in held:
            p.flags.update((trust.FACE_RECHECK_FAILED, "held"))
            p.held_at[row.kind] = at
            p.sources.add(row.source)
            continue
        if row.kind == rules.CHECK_IN:
            p.check_in_at = at
        else:
            p.check_out_at = at
        p.sources.add(row.source)
        p.flags.update(row.flags or [])
    return out


def lesson_times(lesson: Lesson) -> rules.LessonTimes:
    """The domain view of a lesson."""
    return rules.LessonTimes(lesson.starts_at, lesson.ends_at, Decimal(lesson.class_hours))


def credit(lesson: Lesson, presence: Presence | None, pol: rules.AttendancePolicy) -> tuple[str, Decimal, list]:
    """(status, credited hours, flags) of one person in one offline lesson."""
    p = presence or Presence()
    return rules.credited(lesson_times(lesson), p.check_in_at, p.check_out_at, pol)


def roster(plan_id: int) -> list:
    """(id, name) of the active enrolled persons of a plan."""
    return db.session.execute(
        select(Person.id, Person.name).join(Enrollment, Enrollment.person_id == Person.id)
        .where(Enrollment.plan_id == plan_id, Enrollment.status == "active").order_by(Person.id)).all()


def plan_hours(plan_id: int) -> list[dict]:
    """Per enrolled trainee: offline, online and total credited hours (Decimal)."""
    from ..models import TrainingPlan
    from .policies import plan_params
    # Crediting reads the plan's policy alone (the grace around start and end); the deployment's risk-flag
    # thresholds play no part in it, as in make-up approval.
    pol = rules.policy_from_params(plan_params(db.session.get(TrainingPlan, plan_id), clock_now()))
    lessons = db.session.execute(select(Lesson).where(Lesson.plan_id == plan_id)).scalars().all()
    offline = [x for x in lessons if x.mode == "offline"]
    online = {x.id: x for x in lessons if x.mode == "online"}
    seen = presences([x.id for x in offline])
    minutes = defaultdict(int)
    if online:
        for row in db.session.execute(select(OnlineRecord.lesson_id, OnlineRecord.person_id, OnlineRecord.minutes)
                                      .where(OnlineRecord.lesson_id.in_(list(online)))):
            minutes[(row.lesson_id, row.person_id)] = row.minutes
    out = []
    for person in roster(plan_id):
        off, by_source = ZERO, defaultdict(lambda: ZERO)
        for lesson in offline:
            presence = seen.get((lesson.id, person.id))
            got = credit(lesson, presence, pol)[1]
            if got:
                off += got
                # A lesson proven by two ways (kiosk check-in, make-up check-out) counts under both together.
                by_source["+".join(sorted(presence.sources)) or "unknown"] += got
        on = sum((online_hours(lesson.class_hours, minutes.get((lid, person.id), 0))
                  for lid, lesson in online.items()), ZERO)
        if on:
            by_source["online"] += on
        out.append({"person_id": person.id, "name": person.name, "offline_hours": Decimal(off),
                    "online_hours": Decimal(on), "total_hours": Decimal(off + on), "by_source": dict(by_source)})
    return out


def plan_credited_hours(plan_id: int) -> dict[int, Decimal]:
    """Total credited class hours per enrolled person of a plan (for completion and subsidy)."""
    return {row["person_id"]: row["total_hours"] for row in plan_hours(plan_id)}


def number(value: Decimal) -> float:
    """Hours and scores as JSON numbers, like the attendance views (they carry one decimal; never money)."""
    return float(value)
