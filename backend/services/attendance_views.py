"""Read views of attendance: a lesson's roster with credit, a trainee's day, supervisors' live board."""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from sqlalchemy import func, select

from ..clock import now as clock_now
from ..domain import attendance as rules
from ..domain import trust
from ..extensions import db
from ..models import AttendanceEvent, Enrollment, Lesson, Site, TrainingPlan, TrustFlag, WechatAccount
from ..reads_through import ReadsThrough
from . import hours
from .attendance import policy
from .scoping import region_condition


@dataclass(frozen=True)
class TraineeAttendance:
    """One enrolled trainee in one lesson: check-in/out (a held event shows with its time), credit, flags."""
    person_id: int
    name: str
    bound: bool
    check_in_at: datetime | None
    check_out_at: datetime | None
    credited_hours: Decimal
    status: str
    sources: list[str]
    flags: list[str]
    positions: list  # rows of lesson_positions
    # What a make-up (补卡) could still fix: a missing kind, or one that earns nothing (a late check-in, an
    # early check-out). Empty: nothing to make up.
    makeup_kinds: list[str]


@dataclass(frozen=True)
class LessonAttendance:
    lesson: Lesson
    trainees: list[TraineeAttendance]


def lesson_attendance(lesson: Lesson, cfg) -> LessonAttendance:
    """GET /lessons/{id}/attendance: the lesson and every enrolled trainee with check-in/out, credit and flags
    (the api dumps both)."""
    pol = plan_policy(db.session.get(TrainingPlan, lesson.plan_id), cfg)
    seen = hours.presences([lesson.id])
    positions = lesson_positions(lesson.id)
    roster = hours.roster(lesson.plan_id)
    bound = bound_person_ids([person.id for person in roster])
    trainees = []
    for person in roster:
        presence = seen.get((lesson.id, person.id))
        if lesson.mode == "offline":
            status, credited, credit_flags = hours.credit(lesson, presence, pol)
        else:
            status, credited, credit_flags = "absent", hours.ZERO, []
        p = presence or hours.Presence()
        # A held event happened (it is shown with its time) but does not count: `held`, not "missing".
        missing = {"no_check_in": rules.CHECK_IN, "no_check_out": rules.CHECK_OUT}
        credit_flags = [f for f in credit_flags if missing.get(f) not in p.held_at]
        trainees.append(TraineeAttendance(
            person_id=person.id, name=person.name, bound=person.id in bound,
            check_in_at=p.check_in_at or p.held_at.get(rules.CHECK_IN),
            check_out_at=p.check_out_at or p.held_at.get(rules.CHECK_OUT),
            credited_hours=credited, status=status, sources=sorted(p.sources),
            flags=sorted(set(credit_flags) | p.flags), positions=positions.get(person.id, []),
            makeup_kinds=[k for k in rules.KINDS if lesson.mode == "offline" and rules.makeup_can_fix(
                k, hours.lesson_times(lesson), p.check_in_at, p.check_out_at, pol)]))
    return LessonAttendance(lesson, trainees)


def bound_person_ids(person_ids: list[int]) -> set[int]:
    """Which of these people have a WeChat account bound (the phone client signs in as them)."""
    if not person_ids:
        return set()
    return set(db.session.execute(select(WechatAccount.person_id).where(
        WechatAccount.person_id.in_(person_ids))).scalars())


def lesson_positions(lesson_id: int) -> dict[int, list]:
    """Every phone fix sent for a lesson (accepted or refused), WGS-84, per person: the dashboard's fence plot.
    Rows with kind, lat, lon, accuracy_m, distance_m, accepted, reason and received_at."""
    a = AttendanceEvent
    out: dict[int, list] = defaultdict(list)
    for ev in db.session.execute(
            select(a.person_id, a.kind, a.lat, a.lon, a.accuracy_m, a.distance_m, a.accepted, a.reason, a.received_at)
            .where(a.lesson_id == lesson_id, a.source == "mobile", a.lat.is_not(None), a.lon.is_not(None))
            .order_by(a.received_at, a.id)):
        out[ev.person_id].append(ev)
    return out


def shanghai_day_bounds(day: date) -> tuple[datetime, datetime]:
    """[start, end) of an Asia/Shanghai calendar day as aware datetimes."""
    start = datetime.combine(day, time(0), rules.SHANGHAI)
    return start, start + timedelta(days=1)


@dataclass(frozen=True)
class Window:
    opens_at: datetime
    closes_at: datetime


@dataclass(frozen=True)
class OfflineDay:
    """What an offline lesson adds to the trainee's day: credit so far, the windows and the credit lines."""
    status: str
    credited_hours: Decimal
    check_in_window: Window
    check_out_window: Window
    # The credit lines (rules.credited): a check-in after the first or a check-out before the second leaves the
    # lesson incomplete (0 hours), which the client says before an early check-out.
    check_in_credit_until: datetime
    check_out_credit_from: datetime


@dataclass(frozen=True)
class MyLesson(ReadsThrough):
    """One of the trainee's lessons on a day with own check-in/out state; the Lesson's attributes read through
    (the api dumps it as a lesson with the rest beside it). `offline` is None for an online lesson."""

    _through = "lesson"
    lesson: Lesson
    plan_title: str
    check_in_at: datetime | None
    check_out_at: datetime | None
    flags: list[str]
    offline: OfflineDay | None


def my_lessons(person_id: int, day: date, cfg) -> list[MyLesson]:
    """GET /me/lessons: the trainee's lessons on a Shanghai day with own check-in/out state."""
    start, end = shanghai_day_bounds(day)
    rows = db.session.execute(
        select(Lesson, Site, TrainingPlan.title.label("plan_title"))
        .join(TrainingPlan, TrainingPlan.id == Lesson.plan_id)
        .join(Enrollment, (Enrollment.plan_id == Lesson.plan_id) & (Enrollment.person_id == person_id)
              & (Enrollment.status == "active"))
        .outerjoin(Site, Site.id == Lesson.site_id)
        .where(Lesson.starts_at >= start, Lesson.starts_at < end).order_by(Lesson.starts_at, Lesson.id)).all()
    lesson_ids = [r.Lesson.id for r in rows]
    seen = {}
    if lesson_ids:
        a = AttendanceEvent
        for ev in db.session.execute(
                select(a.lesson_id, a.kind, a.source, a.captured_at, a.received_at, a.flags)
                .where(a.person_id == person_id, a.lesson_id.in_(lesson_ids), a.accepted)):
            seen.setdefault(ev.lesson_id, hours.Presence())
            at = hours.event_time(ev.source, ev.captured_at, ev.received_at)
            if ev.kind == rules.CHECK_IN:
                seen[ev.lesson_id].check_in_at = at
            else:
                seen[ev.lesson_id].check_out_at = at
            seen[ev.lesson_id].sources.add(ev.source)
            seen[ev.lesson_id].flags.update(ev.flags or [])
    pols: dict[int, object] = {}
    out = []
    for r in rows:
        lesson = r.Lesson  # r.Site: loaded for lesson.site
        if lesson.plan_id not in pols:
            pols[lesson.plan_id] = plan_policy(db.session.get(TrainingPlan, lesson.plan_id), cfg)
        pol = pols[lesson.plan_id]
        p = seen.get(lesson.id, hours.Presence())
        offline = None
        if lesson.mode == "offline":
            times = hours.lesson_times(lesson)
            status, credited, _flags = rules.credited(times, p.check_in_at, p.check_out_at, pol)
            in_window = Window(*rules.window(rules.CHECK_IN, times, pol))
            out_window = Window(*rules.window(rules.CHECK_OUT, times, pol))
            offline = OfflineDay(status, credited, in_window, out_window,
                                 times.starts_at + pol.grace, times.ends_at - pol.grace)
        out.append(MyLesson(lesson, r.plan_title, p.check_in_at, p.check_out_at, sorted(p.flags), offline))
    return out


def plan_policy(plan: TrainingPlan, cfg):
    """The attendance thresholds of one plan's policy."""
    from .policies import plan_params
    return policy(cfg, plan_params(plan, clock_now()))


@dataclass(frozen=True)
class LiveLesson:
    """An offline lesson in session now, with its attendance counts so far (GET /live/lessons)."""
    lesson: Lesson
    site: str | None
    expected: int
    checked_in: int
    checked_out: int
    flagged: int
    rejected: int


def live_lessons(scope: str | None, now: datetime, cfg) -> list[LiveLesson]:
    """GET /live/lessons: offline lessons whose attendance windows are open now, in the scope (the national
    windows pick the lessons; regions rarely open check-in earlier)."""
    pol = policy(cfg)
    stmt = (select(Lesson, Site.name.label("site_name"))
            .join(TrainingPlan, TrainingPlan.id == Lesson.plan_id)
            .outerjoin(Site, Site.id == Lesson.site_id)
            .where(Lesson.mode == "offline", Lesson.starts_at <= now + pol.check_in_before,
                   Lesson.ends_at >= now - pol.check_out_after)
            .order_by(Lesson.starts_at, Lesson.id))
    stmt = stmt.where(region_condition(TrainingPlan.region_code, scope))
    rows = db.session.execute(stmt).all()
    if not rows:
        return []
    ids = [r.Lesson.id for r in rows]
    plan_ids = {r.Lesson.plan_id for r in rows}
    expected = dict(db.session.execute(
        select(Enrollment.plan_id, func.count()).where(Enrollment.plan_id.in_(plan_ids),
                                                       Enrollment.status == "active")
        .group_by(Enrollment.plan_id)).all())
    counts = defaultdict(lambda: {"check_in": 0, "check_out": 0, "flagged": set(), "rejected": 0})
    a = AttendanceEvent
    for ev in db.session.execute(select(a.lesson_id, a.person_id, a.kind, a.accepted, a.flags)
                                 .where(a.lesson_id.in_(ids))):
        c = counts[ev.lesson_id]
        if ev.accepted:
            c[ev.kind] += 1
            if any(f not in trust.INFORMATIONAL for f in ev.flags or ()):
                c["flagged"].add(ev.person_id)
        else:
            c["rejected"] += 1
    # Flags raised after the events arrived (a failed re-verification, a burst partner) count too.
    for lesson_id, person_id, code in db.session.execute(select(TrustFlag.lesson_id, TrustFlag.person_id,
                                                                TrustFlag.code).where(TrustFlag.lesson_id.in_(ids))):
        if trust.is_blocking(code):
            counts[lesson_id]["flagged"].add(person_id)
    out = []
    for r in rows:
        lesson, c = r.Lesson, counts[r.Lesson.id]
        out.append(LiveLesson(lesson, r.site_name, expected.get(lesson.plan_id, 0), c["check_in"], c["check_out"],
                              len(c["flagged"]), c["rejected"]))
    return out
