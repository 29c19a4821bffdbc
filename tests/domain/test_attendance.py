"""Attendance rules at their exact edges."""
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from geographiclib.geodesic import Geodesic

from backend.domain.attendance import (
    AttendancePolicy,
    Fix,
    LessonTimes,
    check_fence,
    check_makeup_window,
    check_sequence,
    check_window,
    credited,
    lesson_day,
    makeup_can_fix,
    makeup_window_open,
    risk_flags,
)
from backend.domain.errors import AppError
from backend.domain.geo import distance_m, to_wgs84, wgs84_to_gcj02

S = timedelta(seconds=1)
M = timedelta(minutes=1)

# 09:00-11:00 Asia/Shanghai on 2025-03-10.
START = datetime(2025, 3, 10, 1, 0, tzinfo=UTC)
END = datetime(2025, 3, 10, 3, 0, tzinfo=UTC)
LESSON = LessonTimes(START, END, Decimal("2"))
POLICY = AttendancePolicy()

SITE = (26.0745, 119.2965)  # Fuzhou, WGS-84


def _raises(code, fn, *args, **kwargs):
    with pytest.raises(AppError) as exc:
        fn(*args, **kwargs)
    assert exc.value.code == code
    return exc.value


# --- time windows -----------------------------------------------------------------------

@pytest.mark.parametrize("kind, now, ok", [
    ("check_in", START - 30 * M, True),
    ("check_in", START - 30 * M - S, False),
    ("check_in", START, True),
    ("check_in", END, True),
    ("check_in", END + S, False),
    ("check_out", START, True),
    ("check_out", START - S, False),
    ("check_out", END, True),
    ("check_out", END + 30 * M, True),
    ("check_out", END + 30 * M + S, False),
])
def test_check_window(kind, now, ok):
    if ok:
        check_window(kind, LESSON, now, POLICY)
    else:
        err = _raises("outside_time_window", check_window, kind, LESSON, now, POLICY)
        assert err.status == 422
        assert err.details["kind"] == kind


@pytest.mark.parametrize("kind, opens_at, closes_at", [
    ("check_in", "2025-03-10T08:30:00+08:00", "2025-03-10T11:00:00+08:00"),
    ("check_out", "2025-03-10T09:00:00+08:00", "2025-03-10T11:30:00+08:00"),
])
def test_window_details_in_shanghai_time(kind, opens_at, closes_at):
    err = _raises("outside_time_window", check_window, kind, LESSON, END + timedelta(hours=1))
    assert err.details == {"kind": kind, "opens_at": opens_at, "closes_at": closes_at}


def test_window_unknown_kind():
    err = _raises("validation_error", check_window, "check_sideways", LESSON, START)
    assert err.details == {"field": "kind"}


# --- fence ----------------------------------------------------------------------------

@pytest.mark.parametrize("distance, radius, accuracy, code", [
    (200.0, 200, 10.0, None),
    (200.01, 200, 10.0, "out_of_fence"),
    (0.0, 200, 100.0, None),
    (0.0, 200, 100.01, "low_accuracy"),
    (500.0, 200, 150.0, "low_accuracy"),   # accuracy is judged first
    (49.99, 50, 0.0, None),
])
def test_check_fence(distance, radius, accuracy, code):
    if code is None:
        check_fence(distance, radius, accuracy, POLICY)
    else:
        _raises(code, check_fence, distance, radius, accuracy, POLICY)


def test_fence_error_details():
    err = _raises("out_of_fence", check_fence, 234.5678, 200, 10.0)
    assert err.details == {"distance_m": 234.6, "radius_m": 200}
    err = _raises("low_accuracy", check_fence, 0.0, 200, 100.01)
    assert err.details == {"accuracy_m": 100.01, "max_accuracy_m": 100.0}


@pytest.mark.parametrize("distance, accuracy, field", [
    (float("nan"), 10.0, "distance_m"),
    (-1.0, 10.0, "distance_m"),
    (10.0, float("nan"), "accuracy_m"),
    (10.0, -0.01, "accuracy_m"),
    (10.0, None, "accuracy_m"),
])
def test_fence_rejects_nonsense(distance, accuracy, field):
    assert _raises("validation_error", check_fence, distance, 200, accuracy).details == {"field": field}


@pytest.mark.parametrize("offset_m, accepted", [(199.0, True), (201.0, False)])
def test_gcj_fix_near_fence_edge(offset_m, accepted):
    """A phone reporting GCJ-02 is judged on its true WGS-84 position, not 500 m off."""
    true = Geodesic.WGS84.Direct(*SITE, 45.0, offset_m)
    reported = wgs84_to_gcj02(true["lat2"], true["lon2"])
    d = distance_m(*SITE, *to_wgs84(*reported, "gcj02"))
    assert d == pytest.approx(offset_m, abs=1.0)
    if accepted:
        check_fence(d, 200, 10.0)
    else:
        _raises("out_of_fence", check_fence, d, 200, 10.0)


# --- sequence -------------------------------------------------------------------------

@pytest.mark.parametrize("kind, has_in, has_out, code", [
    ("check_in", False, False, None),
    ("check_in", True, False, "already_checked_in"),
    ("check_in", True, True, "already_checked_in"),
    ("check_out", False, False, "not_checked_in"),
    ("check_out", True, False, None),
    ("check_out", True, True, "already_checked_out"),
])
def test_check_sequence(kind, has_in, has_out, code):
    if code is None:
        check_sequence(kind, has_in, has_out)
    else:
        assert _raises(code, check_sequence, kind, has_in, has_out).status == 409


# --- credited hours -------------------------------------------------------------------

@pytest.mark.parametrize("check_in, check_out, status, hours, flags", [
    (START - 30 * M, END, "complete", Decimal("2"), []),
    (START + 15 * M, END - 15 * M, "complete", Decimal("2"), []),
    (START + 15 * M + S, END, "incomplete", Decimal("0"), ["late"]),
    (START, END - 15 * M - S, "incomplete", Decimal("0"), ["left_early"]),
    (START + 15 * M + S, END - 15 * M - S, "incomplete", Decimal("0"), ["late", "left_early"]),
    (START, None, "incomplete", Decimal("0"), ["no_check_out"]),
    (None, END, "incomplete", Decimal("0"), ["no_check_in"]),
    (START + 20 * M, None, "incomplete", Decimal("0"), ["late", "no_check_out"]),
    (None, None, "absent", Decimal("0"), []),
])
def test_credited(check_in, check_out, status, hours, flags):
    got_status, got_hours, got_flags = credited(LESSON, check_in, check_out, POLICY)
    assert (got_status, got_hours, got_flags) == (status, hours, flags)
    assert isinstance(got_hours, Decimal)


@pytest.mark.parametrize("check_in, check_out, hours", [(START, END, 1.5), (None, None, 0.0)])
def test_credited_keeps_float_type(check_in, check_out, hours):
    _, got, _ = credited(LessonTimes(START, END, 1.5), check_in, check_out)
    assert got == hours and isinstance(got, float)


def test_lesson_times_require_aware_and_ordered():
    with pytest.raises(ValueError):
        LessonTimes(START.replace(tzinfo=None), END, Decimal("2"))
    with pytest.raises(ValueError):
        LessonTimes(END, START, Decimal("2"))


# --- risk flags -----------------------------------------------------------------------

def _fix(person="p1", lat=26.0745, lon=119.2965, acc=10.0, at=START, device="dev-1"):
    return Fix(person, lat, lon, acc, at, device)


def _point_at(metres):
    p = Geodesic.WGS84.Direct(*SITE, 90.0, metres)
    return p["lat2"], p["lon2"]


FAR_LAT, FAR_LON = _point_at(120_000)  # 120 km east of the site


@pytest.mark.parametrize("fix, prior, others, expected", [
    (_fix(), [], [], []),
    (_fix(acc=50.0), [], [], []),
    (_fix(acc=50.01), [], [], ["low_accuracy_warn"]),
    # Same coordinates to 6 decimals from another trainee; differing in the 6th decimal is fine.
    (_fix(), [], [_fix("p2", lat=26.07450004, device="dev-2")], ["identical_coordinates"]),
    (_fix(), [], [_fix("p2", lat=26.074501, device="dev-2")], []),
    (_fix(), [], [_fix("p1", device="dev-1")], []),            # own earlier fix is not "another"
    (_fix(), [], [_fix("p2", lat=26.08, device="dev-1")], ["shared_device"]),
    (_fix(device=None), [], [_fix("p2", lat=26.08, device=None)], []),
    (_fix(), [], [_fix("p2", device="dev-1")], ["identical_coordinates", "shared_device"]),
    # 120 km in one hour is exactly the limit; a second less is too fast.
    (_fix(), [_fix(lat=FAR_LAT, lon=FAR_LON, at=START - timedelta(hours=1) - S)], [], []),
    (_fix(), [_fix(lat=FAR_LAT, lon=FAR_LON, at=START - timedelta(hours=1) + S)], [], ["impossible_speed"]),
    # Only the latest prior fix counts.
    (_fix(), [_fix(lat=FAR_LAT, lon=FAR_LON, at=START - 2 * M), _fix(at=START - M)], [], []),
    (_fix(), [_fix(at=START)], [], []),                                           # same place, same time
    (_fix(), [_fix(lat=26.0746, at=START)], [], ["impossible_speed"]),           # moved, no time
    (_fix(), [_fix(lat=26.0746, at=START + M)], [], ["impossible_speed"]),       # moved, clock backwards
])
def test_risk_flags(fix, prior, others, expected):
    assert risk_flags(fix, prior, others, POLICY) == expected


@pytest.mark.parametrize("kind, at, expected", [
    ("check_in", START + 15 * M, []),
    ("check_in", START + 15 * M + S, ["late"]),
    ("check_out", END - 15 * M, []),
    ("check_out", END - 15 * M - S, ["left_early"]),
    ("check_out", START + 15 * M + S, ["left_early"]),
])
def test_risk_flags_timing(kind, at, expected):
    assert risk_flags(_fix(at=at), [], [], POLICY, kind=kind, lesson=LESSON) == expected


def test_risk_flags_sorted():
    fix = _fix(acc=80.0, at=START + 20 * M)
    others = [_fix("p2", device="dev-1")]
    prior = [_fix(lat=26.0746, at=START + 20 * M)]
    assert risk_flags(fix, prior, others, POLICY, kind="check_in", lesson=LESSON) == [
        "identical_coordinates", "impossible_speed", "late", "low_accuracy_warn", "shared_device"]


# --- lesson day and make-up -----------------------------------------------------------

@pytest.mark.parametrize("starts_at, day", [
    (datetime(2025, 3, 10, 15, 59, 59, tzinfo=UTC), date(2025, 3, 10)),
    (datetime(2025, 3, 10, 16, 0, 0, tzinfo=UTC), date(2025, 3, 11)),
    (datetime(2025, 3, 9, 23, 0, tzinfo=UTC), date(2025, 3, 10)),   # 07:00 Shanghai
])
def test_lesson_day(starts_at, day):
    assert lesson_day(starts_at) == day


@pytest.mark.parametrize("starts_at, now, ok", [
    (START, START, True),
    (START, START - S, False),                                        # not before the lesson
    (START, datetime(2025, 3, 10, 15, 59, 59, tzinfo=UTC), True),     # 23:59:59 Shanghai
    (START, datetime(2025, 3, 10, 16, 0, 0, tzinfo=UTC), False),      # 00:00:00 next day
    # 07:00 Shanghai lesson is 23:00 UTC the day before: the Shanghai date decides.
    (datetime(2025, 3, 9, 23, 0, tzinfo=UTC), datetime(2025, 3, 10, 1, 0, tzinfo=UTC), True),
])
def test_makeup_window(starts_at, now, ok):
    assert makeup_window_open(starts_at, now) is ok
    if ok:
        check_makeup_window(starts_at, now)
    else:
        err = _raises("makeup_window_closed", check_makeup_window, starts_at, now)
        assert err.status == 409
        assert err.details == {"lesson_day": lesson_day(starts_at).isoformat()}


def test_makeup_window_requires_aware_now():
    with pytest.raises(ValueError):
        makeup_window_open(START, START.replace(tzinfo=None))


@pytest.mark.parametrize("status, ok", [("draft", False), ("submitted", False), ("approved", True),
                                        ("in_progress", True), ("completion_submitted", False),
                                        ("completed", False), ("rejected", False)])
def test_check_plan_running(status, ok):
    from backend.domain.attendance import check_plan_running
    if ok:
        check_plan_running(status)
    else:
        with pytest.raises(AppError) as exc:
            check_plan_running(status)
        assert exc.value.code == "plan_not_active" and exc.value.status == 409


@pytest.mark.parametrize(("kind", "check_in", "check_out", "fixable"), [
    ("check_in", None, None, True),                      # missing
    ("check_in", START + 15 * M, None, False),            # on the credit line: counts
    ("check_in", START + 15 * M + S, None, True),         # late: earns nothing
    ("check_out", START, None, True),                     # missing
    ("check_out", START, END - 15 * M, False),            # on the credit line: counts
    ("check_out", START, END - 15 * M - S, True),         # left early: earns nothing
    ("check_out", START, END + 20 * M, False),
])
def test_makeup_can_fix_missing_or_uncredited(kind, check_in, check_out, fixable):
    assert makeup_can_fix(kind, LESSON, check_in, check_out) is fixable
