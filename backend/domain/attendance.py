"""Attendance rules: time windows, geofence, event order, credited hours, risk flags, make-up day.

Plain functions over plain values; `now` and every timestamp are timezone-aware datetimes.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from backend.domain.errors import conflict, invalid
from backend.domain.geo import distance_m
from backend.domain.plans import RUNNING_STATES

SHANGHAI = ZoneInfo("Asia/Shanghai")

CHECK_IN = "check_in"
CHECK_OUT = "check_out"
KINDS = (CHECK_IN, CHECK_OUT)
# The reason kept on an event accepted when it came and later replaced by an approved make-up (补卡) of its
# kind, because it earned nothing (an early check-out, a late check-in). It still counts as accepted then.
SUPERSEDED = "superseded"


def _require_aware(value: datetime, name: str) -> None:
    # A naive datetime would silently be read as the server's local time.
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")


@dataclass(frozen=True)
class LessonTimes:
    """When a lesson runs and how many class hours it is worth."""

    starts_at: datetime
    ends_at: datetime
    class_hours: Decimal | float

    def __post_init__(self) -> None:
        _require_aware(self.starts_at, "starts_at")
        _require_aware(self.ends_at, "ends_at")
        if self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")


@dataclass(frozen=True)
class AttendancePolicy:
    """Configurable attendance thresholds (DESIGN.md Rules); site radius comes from the site."""

    check_in_before: timedelta = timedelta(minutes=30)
    check_out_after: timedelta = timedelta(minutes=30)
    grace: timedelta = timedelta(minutes=15)
    max_accuracy_m: float = 100.0
    flag_accuracy_m: float = 50.0
    max_speed_kmh: float = 120.0
    face_max_distance: float = 0.5  # kiosk face match: largest distance accepted


DEFAULT_POLICY = AttendancePolicy()

# The policy parameters (backend/domain/policy.py) the attendance judge reads: what a kiosk manifest carries.
KIOSK_PARAMS = ("checkin_open_before_min", "checkout_close_after_min", "credit_grace_min",
                "kiosk_face_max_distance")


def policy_from_params(params, flag_accuracy_m: float = 50.0, max_speed_kmh: float = 120.0) -> AttendancePolicy:
    """The attendance thresholds of a plan's policy parameters; keys it lacks keep the built-in default
    (a kiosk's manifest carries only KIOSK_PARAMS); the risk-flag thresholds are deployment settings."""
    d = DEFAULT_POLICY

    def minutes(key: str, default: timedelta) -> timedelta:
        return timedelta(minutes=int(params[key])) if key in params else default
    return AttendancePolicy(
        check_in_before=minutes("checkin_open_before_min", d.check_in_before),
        check_out_after=minutes("checkout_close_after_min", d.check_out_after),
        grace=minutes("credit_grace_min", d.grace),
        max_accuracy_m=float(params.get("accuracy_max_m", d.max_accuracy_m)),
        flag_accuracy_m=float(flag_accuracy_m), max_speed_kmh=float(max_speed_kmh),
        face_max_distance=float(params.get("kiosk_face_max_distance", d.face_max_distance)))


@dataclass(frozen=True)
class Fix:
    """One reported position of a person (WGS-84), with the device or session it came from."""

    person_id: object
    lat: float
    lon: float
    accuracy_m: float
    at: datetime
    device_id: str | None = None


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise invalid("validation_error", field="kind")


def window(kind: str, lesson: LessonTimes,
           policy: AttendancePolicy = DEFAULT_POLICY) -> tuple[datetime, datetime]:
    """The inclusive (opens_at, closes_at) window for a check-in or check-out."""
    _check_kind(kind)
    if kind == CHECK_IN:
        return lesson.starts_at - policy.check_in_before, lesson.ends_at
    return lesson.starts_at, lesson.ends_at + policy.check_out_after


def check_window(kind: str, lesson: LessonTimes, now: datetime,
                 policy: AttendancePolicy = DEFAULT_POLICY) -> None:
    """Raise outside_time_window unless `now` lies in the kind's window (both ends inclusive)."""
    _require_aware(now, "now")
    opens_at, closes_at = window(kind, lesson, policy)
    if not (opens_at <= now <= closes_at):
        # Lesson times are shown in Shanghai time (API.md), so the details are too.
        raise invalid("outside_time_window", kind=kind,
                      opens_at=opens_at.astimezone(SHANGHAI).isoformat(),
                      closes_at=closes_at.astimezone(SHANGHAI).isoformat())


def _non_negative(value: float, field: str) -> float:
    # NaN would pass every ">" test below and slip through the fence.
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
        raise invalid("validation_error", field=field)
    value = float(value)
    if math.isnan(value) or value < 0:
        raise invalid("validation_error", field=field)
    return value


def check_fence(distance_m: float, radius_m: float, accuracy_m: float,
                policy: AttendancePolicy = DEFAULT_POLICY) -> None:
    """Raise low_accuracy (accuracy > max) or out_of_fence (distance > radius); edges accepted."""
    accuracy = _non_negative(accuracy_m, "accuracy_m")
    distance = _non_negative(distance_m, "distance_m")
    # Accuracy first: a vague fix says nothing reliable about the distance.
    if accuracy > policy.max_accuracy_m:
        raise invalid("low_accuracy", accuracy_m=accuracy_m, max_accuracy_m=policy.max_accuracy_m)
    if distance > radius_m:
        raise invalid("out_of_fence", distance_m=round(distance, 1), radius_m=radius_m)


def check_sequence(kind: str, has_check_in: bool, has_check_out: bool) -> None:
    """Raise a conflict when the event does not fit the person's check-in/out state."""
    _check_kind(kind)
    if kind == CHECK_IN:
        if has_check_in:
            raise conflict("already_checked_in")
        return
    if not has_check_in:
        raise conflict("not_checked_in")
    if has_check_out:
        raise conflict("already_checked_out")


def credited(lesson: LessonTimes, check_in_at: datetime | None, check_out_at: datetime | None,
             policy: AttendancePolicy = DEFAULT_POLICY) -> tuple[str, Decimal | float, list[str]]:
    """(status, credited_hours, flags): complete, incomplete or absent for one person and lesson."""
    zero = lesson.class_hours * 0  # keeps the caller's number type (Decimal stays Decimal)
    if check_in_at is None and check_out_at is None:
        return "absent", zero, []
    flags = []
    if check_in_at is None:
        flags.append("no_check_in")
    elif check_in_at > lesson.starts_at + policy.grace:
        flags.append("late")
    if check_out_at is None:
        flags.append("no_check_out")
    elif check_out_at < lesson.ends_at - policy.grace:
        flags.append("left_early")
    if flags:
        return "incomplete", zero, sorted(flags)
    return "complete", lesson.class_hours, []


def _impossible_speed(fix: Fix, prior_fixes: list[Fix], policy: AttendancePolicy) -> bool:
    if not prior_fixes:
        return False
    previous = max(prior_fixes, key=lambda f: f.at)
    metres = distance_m(previous.lat, previous.lon, fix.lat, fix.lon)
    seconds = (fix.at - previous.at).total_seconds()
    if seconds <= 0:
        # Moving with no time passing (or backwards in time) cannot be real travel.
        return metres > 0
    return metres / seconds * 3.6 > policy.max_speed_kmh


def risk_flags(fix: Fix, prior_fixes_same_person: list[Fix], other_trainees_fixes_same_lesson: list[Fix],
               policy: AttendancePolicy = DEFAULT_POLICY, *, kind: str | None = None,
               lesson: LessonTimes | None = None) -> list[str]:
    """Sorted warning flags for an accepted fix; these never reject (late/left_early need kind+lesson)."""
    flags = set()
    if fix.accuracy_m > policy.flag_accuracy_m:
        flags.add("low_accuracy_warn")
    others = [f for f in other_trainees_fixes_same_lesson if f.person_id != fix.person_id]
    # Real phones in one room still differ in the 6th decimal (~0.1 m); exact matches suggest spoofing.
    here = (round(fix.lat, 6), round(fix.lon, 6))
    if any((round(f.lat, 6), round(f.lon, 6)) == here for f in others):
        flags.add("identical_coordinates")
    if fix.device_id and any(f.device_id == fix.device_id for f in others):
        flags.add("shared_device")
    if _impossible_speed(fix, prior_fixes_same_person, policy):
        flags.add("impossible_speed")
    if lesson is not None and kind == CHECK_IN and fix.at > lesson.starts_at + policy.grace:
        flags.add("late")
    if lesson is not None and kind == CHECK_OUT and fix.at < lesson.ends_at - policy.grace:
        flags.add("left_early")
    return sorted(flags)


def lesson_day(starts_at: datetime) -> date:
    """The lesson's day: its Asia/Shanghai calendar date."""
    _require_aware(starts_at, "starts_at")
    return starts_at.astimezone(SHANGHAI).date()


def makeup_window_open(lesson_starts_at: datetime, now: datetime) -> bool:
    """True from the lesson's start until the end of its Asia/Shanghai day."""
    day = lesson_day(lesson_starts_at)
    return lesson_day(now) == day and lesson_starts_at <= now


def makeup_can_fix(kind: str, lesson: LessonTimes, check_in_at: datetime | None, check_out_at: datetime | None,
                   policy: AttendancePolicy = DEFAULT_POLICY) -> bool:
    """Whether a make-up of `kind` can still change the lesson's credit: the kind is missing, or its accepted
    event lies beyond the credit line (a check-in after start + grace, a check-out before end - grace: an
    early leaver's check-out earns nothing, so it is no reason to refuse the make-up)."""
    _check_kind(kind)
    if kind == CHECK_IN:
        return check_in_at is None or check_in_at > lesson.starts_at + policy.grace
    return check_out_at is None or check_out_at < lesson.ends_at - policy.grace


def check_makeup_window(lesson_starts_at: datetime, now: datetime) -> None:
    """Raise makeup_window_closed unless a make-up may be filed now (the lesson's own day)."""
    if not makeup_window_open(lesson_starts_at, now):
        raise conflict("makeup_window_closed", lesson_day=lesson_day(lesson_starts_at).isoformat())


# Attendance counts only for plans the bureau approved and that have not been closed for completion.
PLAN_STATES_TAKING_ATTENDANCE = RUNNING_STATES


def check_plan_running(plan_status: str) -> None:
    """Raise 409 plan_not_active unless the lesson's plan is approved or in progress."""
    if plan_status not in PLAN_STATES_TAKING_ATTENDANCE:
        raise conflict("plan_not_active", plan_status=plan_status)
