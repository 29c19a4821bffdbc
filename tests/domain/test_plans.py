from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from backend.domain import plans
from backend.domain.errors import AppError


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


# ---- status machine -------------------------------------------------------

@pytest.mark.parametrize("current, action, expected", [
    ("draft", "submit", "submitted"),
    ("rejected", "submit", "submitted"),
    ("submitted", "withdraw", "draft"),
    ("submitted", "approve", "approved"),
    ("submitted", "reject", "rejected"),
    ("approved", "start", "in_progress"),
    ("in_progress", "submit_completion", "completion_submitted"),
    ("completion_submitted", "approve_completion", "completed"),
])
def test_transition_allowed(current, action, expected):
    assert plans.transition(current, action) == expected


@pytest.mark.parametrize("current, action", [
    ("draft", "approve"),
    ("draft", "withdraw"),
    ("approved", "withdraw"),
    ("approved", "submit"),
    ("rejected", "approve"),
    ("submitted", "submit"),
    ("submitted", "start"),
    ("approved", "submit_completion"),
    ("in_progress", "approve_completion"),
    ("completed", "submit"),
    ("completed", "approve_completion"),
    ("draft", "no_such_action"),
])
def test_transition_refused(current, action):
    with pytest.raises(AppError) as e:
        plans.transition(current, action)
    assert (e.value.code, e.value.status) == ("invalid_state", 409)
    assert e.value.details == {"status": current, "action": action}


# ---- whole-plan change window ----------------------------------------------
# starts_on 2026-03-10 → 00:00 Shanghai = 2026-03-09T16:00Z; deadline 2 days earlier = 2026-03-07T16:00Z.
STARTS_ON = date(2026, 3, 10)
DEADLINE = utc(2026, 3, 7, 16, 0)


def test_plan_change_deadline_is_two_days_before_shanghai_midnight():
    assert plans.plan_change_deadline(STARTS_ON) == DEADLINE


@pytest.mark.parametrize("status, now", [
    ("draft", DEADLINE + timedelta(days=30)),
    ("rejected", DEADLINE + timedelta(days=30)),
    ("approved", DEADLINE - timedelta(days=1)),
    ("approved", DEADLINE),  # exactly 2 days before is still allowed
])
def test_plan_change_allowed(status, now):
    plans.check_plan_change(status, STARTS_ON, now)


@pytest.mark.parametrize("status, now", [
    ("approved", DEADLINE + timedelta(microseconds=1)),
    ("approved", DEADLINE + timedelta(days=3)),
    ("in_progress", DEADLINE - timedelta(days=1)),
])
def test_plan_change_window_closed(status, now):
    with pytest.raises(AppError) as e:
        plans.check_plan_change(status, STARTS_ON, now)
    assert (e.value.code, e.value.status) == ("change_window_closed", 409)
    assert e.value.details == {"deadline": "2026-03-08T00:00:00+08:00"}


@pytest.mark.parametrize("status", ["submitted", "completion_submitted", "completed"])
def test_plan_change_refused_by_state(status):
    with pytest.raises(AppError) as e:
        plans.check_plan_change(status, STARTS_ON, DEADLINE - timedelta(days=10))
    assert (e.value.code, e.value.status) == ("invalid_state", 409)


# ---- lesson time change -----------------------------------------------------
OLD_START = utc(2026, 3, 10, 1, 0)   # 09:00 Shanghai
OLD_END = utc(2026, 3, 10, 4, 0)


@pytest.mark.parametrize("shift, now", [
    (timedelta(days=1), OLD_START - timedelta(hours=5)),
    (timedelta(days=1), OLD_START - timedelta(hours=4)),  # exactly 4 h before is allowed
    (timedelta(hours=-2), OLD_START - timedelta(hours=4)),
    (timedelta(0), OLD_START + timedelta(hours=1)),  # unchanged times: not a change at all
])
def test_lesson_time_change_allowed(shift, now):
    plans.check_lesson_time_change(OLD_START, OLD_END, OLD_START + shift, OLD_END + shift, now)


@pytest.mark.parametrize("now", [
    OLD_START - timedelta(hours=4) + timedelta(microseconds=1),
    OLD_START,
])
def test_lesson_time_change_window_closed(now):
    with pytest.raises(AppError) as e:
        plans.check_lesson_time_change(OLD_START, OLD_END, OLD_START + timedelta(days=1),
                                       OLD_END + timedelta(days=1), now)
    assert (e.value.code, e.value.status) == ("change_window_closed", 409)
    assert e.value.details == {"deadline": "2026-03-10T05:00:00+08:00"}


@pytest.mark.parametrize("new_end_delta", [timedelta(minutes=1), timedelta(minutes=-1)])
def test_lesson_time_change_must_keep_duration(new_end_delta):
    with pytest.raises(AppError) as e:
        plans.check_lesson_time_change(OLD_START, OLD_END, OLD_START + timedelta(days=1),
                                       OLD_END + timedelta(days=1) + new_end_delta,
                                       OLD_START - timedelta(days=2))
    assert (e.value.code, e.value.status) == ("hours_changed", 422)


# ---- class hours --------------------------------------------------------------
START = utc(2026, 3, 10, 1, 0)


@pytest.mark.parametrize("minutes, class_hours, expected", [
    (45, 1, Decimal(1)),
    (90, 2, Decimal(2)),          # exactly 2 × 45 min
    (68, "1.5", Decimal("1.5")),  # 1.5 × 45 = 67.5 min
    (180, Decimal("0.5"), Decimal("0.5")),
    (180, 1.5, Decimal("1.5")),   # a float becomes its decimal text, not its binary expansion
])
def test_class_hours_ok(minutes, class_hours, expected):
    assert plans.check_class_hours(START, START + timedelta(minutes=minutes), class_hours) == expected


@pytest.mark.parametrize("minutes, class_hours, max_hours", [
    (44, 1, 0.5),
    (89, 2, 1.5),
    (67, Decimal("1.5"), 1.0),
    (20, Decimal("0.5"), 0.0),
])
def test_class_hours_too_long(minutes, class_hours, max_hours):
    with pytest.raises(AppError) as e:
        plans.check_class_hours(START, START + timedelta(minutes=minutes), class_hours)
    assert (e.value.code, e.value.status) == ("class_hours_too_long", 422)
    assert e.value.details == {"max_class_hours": max_hours}


@pytest.mark.parametrize("end_minutes, class_hours, field", [
    (0, 1, "ends_at"),
    (-45, 1, "ends_at"),
    (90, 0, "class_hours"),
    (90, -1, "class_hours"),
    (90, Decimal("0.25"), "class_hours"),
    (90, "abc", "class_hours"),
    (90, "NaN", "class_hours"),
])
def test_class_hours_validation(end_minutes, class_hours, field):
    with pytest.raises(AppError) as e:
        plans.check_class_hours(START, START + timedelta(minutes=end_minutes), class_hours)
    assert (e.value.code, e.value.details) == ("validation_error", {"field": field})


# ---- online share -------------------------------------------------------------

@pytest.mark.parametrize("offline, online, delivery", [
    (60, 40, "blended"),        # exactly 40 %
    (Decimal("1.5"), Decimal("1"), "blended"),  # 1 / 2.5 = 40 %
    (100, 0, "blended"),
    (0, 0, "blended"),
    (10, 0, "offline"),
    (0, 10, "online"),
])
def test_online_share_ok(offline, online, delivery):
    plans.check_online_share(offline, online, delivery)


@pytest.mark.parametrize("offline, online, share", [
    (Decimal("59.5"), Decimal("40.5"), 0.405),
    (0, 1, 1.0),
    (2, Decimal("1.5"), 0.4286),
])
def test_online_share_exceeded(offline, online, share):
    with pytest.raises(AppError) as e:
        plans.check_online_share(offline, online, "blended")
    assert (e.value.code, e.value.status) == ("online_share_exceeded", 422)
    assert e.value.details == {"share": share, "max_share": 0.4}


def test_online_share_custom_maximum():
    plans.check_online_share(50, 50, "blended", max_share=Decimal("0.5"))


@pytest.mark.parametrize("offline, online, delivery, field", [
    (10, Decimal("0.5"), "offline", "mode"),
    (Decimal("0.5"), 10, "online", "mode"),
    (10, 0, "hybrid", "delivery"),
])
def test_online_share_mode_mismatch(offline, online, delivery, field):
    with pytest.raises(AppError) as e:
        plans.check_online_share(offline, online, delivery)
    assert (e.value.code, e.value.details) == ("validation_error", {"field": field})


# ---- roster freeze ------------------------------------------------------------

@pytest.mark.parametrize("first_start, now, frozen", [
    (START, START - timedelta(microseconds=1), False),
    (START, START, True),
    (START, START + timedelta(days=1), True),
    (None, START, False),
])
def test_roster_frozen(first_start, now, frozen):
    assert plans.roster_frozen(first_start, now) is frozen


# ---- configurable lead times (PLAN_CHANGE_DAYS, LESSON_CHANGE_HOURS) ----------------------------

@pytest.mark.parametrize("now, closed", [(utc(2026, 3, 4, 16, 0), False), (utc(2026, 3, 4, 16, 0, 1), True)])
def test_plan_change_lead_is_a_parameter(now, closed):
    lead = timedelta(days=5)
    assert plans.plan_change_deadline(STARTS_ON, lead) == utc(2026, 3, 4, 16, 0)
    if closed:
        with pytest.raises(AppError) as e:
            plans.check_plan_change("approved", STARTS_ON, now, lead)
        assert e.value.code == "change_window_closed"
    else:
        plans.check_plan_change("approved", STARTS_ON, now, lead)


@pytest.mark.parametrize("now, closed", [(utc(2026, 3, 9, 1, 0), False), (utc(2026, 3, 9, 1, 0, 1), True)])
def test_lesson_change_lead_is_a_parameter(now, closed):
    start, end = utc(2026, 3, 10, 1, 0), utc(2026, 3, 10, 4, 0)
    move = timedelta(hours=2)
    args = (start, end, start + move, end + move, now, timedelta(hours=24))
    if closed:
        with pytest.raises(AppError) as e:
            plans.check_lesson_time_change(*args)
        assert e.value.code == "change_window_closed"
    else:
        plans.check_lesson_time_change(*args)


@pytest.mark.parametrize("status", [s for s in plans.STATES if s != plans.COMPLETION_SUBMITTED])
def test_completion_rejection_only_from_completion_submitted(status):
    with pytest.raises(AppError) as err:
        plans.completion_rejection(status, "成绩与签到不符")
    assert err.value.status == 409 and err.value.code == "invalid_state"


@pytest.mark.parametrize("reason", [None, "", "   ", "否", " 否 "])
def test_completion_rejection_needs_a_reason(reason):
    with pytest.raises(AppError) as err:
        plans.completion_rejection(plans.COMPLETION_SUBMITTED, reason)
    assert err.value.status == 422 and "reason" in err.value.details["fields"]


def test_completion_rejection_sends_the_plan_back_to_run():
    assert plans.completion_rejection(plans.COMPLETION_SUBMITTED, "  请补录成绩 ") == (plans.IN_PROGRESS, "请补录成绩")
