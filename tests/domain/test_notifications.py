"""Notification rules as plain functions: windows, missed check-in, absence risk, subsidy states, quiet hours,
backoff and the texts (Asia/Shanghai times)."""
from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

import pytest

from backend.domain import notifications as rules
from backend.domain.errors import AppError

SH = rules.SHANGHAI
NOW = datetime(2026, 3, 1, 2, 0, tzinfo=UTC)  # 10:00 Shanghai


@pytest.mark.parametrize(("left", "window"), [
    (timedelta(days=8), None), (timedelta(days=7), "7d"), (timedelta(days=2), "7d"), (timedelta(hours=25), "7d"),
    (timedelta(days=1), "1d"), (timedelta(minutes=1), "1d"), (timedelta(0), None), (timedelta(hours=-1), None)])
def test_voucher_expiry_window(left, window):
    assert rules.voucher_expiry_window(NOW + left, NOW) == window


@pytest.mark.parametrize(("left", "window"), [
    (timedelta(hours=25), None), (timedelta(hours=24), "1d"), (timedelta(minutes=61), "1d"),
    (timedelta(minutes=60), "1h"), (timedelta(minutes=5), "1h"), (timedelta(0), None)])
def test_lesson_reminder_window(left, window):
    assert rules.lesson_reminder_window(NOW + left, NOW) == window


def test_window_ranges_partition_the_same_way_as_window_for():
    ranges = rules.window_ranges(rules.VOUCHER_WINDOWS, NOW)
    assert ranges == [("1d", NOW, NOW + timedelta(days=1)), ("7d", NOW + timedelta(days=1), NOW + timedelta(days=7))]
    for minutes in range(-60, 60 * 24 * 8, 37):
        at = NOW + timedelta(minutes=minutes)
        inside = [key for key, lo, hi in ranges if lo < at <= hi]
        assert inside == ([rules.voucher_expiry_window(at, NOW)] if rules.voucher_expiry_window(at, NOW) else [])


def test_missed_check_in_due_from_grace_until_the_end():
    start, end, grace = NOW, NOW + timedelta(hours=3), timedelta(minutes=15)
    assert not rules.missed_check_in_due(start, end, grace, start + timedelta(minutes=14))
    assert rules.missed_check_in_due(start, end, grace, start + timedelta(minutes=15))
    assert rules.missed_check_in_due(start, end, grace, end - timedelta(seconds=1))
    assert not rules.missed_check_in_due(start, end, grace, end)


def _lesson(day: int, credited: int, checked_in: bool, offline: bool = True, hours: int = 4):
    return rules.LessonAttendance(NOW + timedelta(days=day), Decimal(hours), offline, checked_in, Decimal(credited))


def test_absence_risk_below_bar_once_the_bar_is_out_of_reach():
    # 5 × 4 h = 20 h, bar 80 % = 16 h: one missed lesson leaves exactly 16 reachable, two leave 12.
    one_missed = [_lesson(-2, 0, False), _lesson(-1, 4, True), _lesson(1, 0, False), _lesson(2, 0, False),
                  _lesson(3, 0, False)]
    assert rules.absence_risk(one_missed, Decimal("0.8"), NOW) is None
    two_missed = [_lesson(-3, 0, False), _lesson(-2, 4, True), _lesson(-1, 0, True), _lesson(2, 0, False),
                  _lesson(3, 0, False)]
    assert rules.absence_risk(two_missed, Decimal("0.8"), NOW) == "below_bar"


def test_absence_risk_two_missed_in_a_row_even_with_the_bar_reachable():
    lessons = [_lesson(-2, 0, False, hours=1), _lesson(-1, 0, False, hours=1)] + [_lesson(d, 0, False, hours=10)
                                                                                for d in range(1, 5)]
    assert rules.absence_risk(lessons, Decimal("0.8"), NOW) == "missed_two"
    # Came to the last one (even if not credited): not two in a row.
    lessons[1] = _lesson(-1, 0, True, hours=1)
    assert rules.absence_risk(lessons, Decimal("0.8"), NOW) is None
    # Online lessons do not count as missed lessons in a row.
    assert rules.absence_risk([_lesson(-2, 0, False, offline=False, hours=1), _lesson(-1, 0, False, hours=1)]
                              + [_lesson(d, 0, False, hours=10) for d in range(1, 5)], Decimal("0.8"), NOW) is None


def test_absence_risk_needs_hours():
    assert rules.absence_risk([], Decimal("0.8"), NOW) is None


@pytest.mark.parametrize(("status", "ends", "window"), [
    ("submitted", None, None), ("approved", NOW + timedelta(days=1), "publicity"),
    ("approved", NOW, "approved"), ("approved", None, "approved"), ("disbursed", None, "disbursed"),
    ("rejected", None, "rejected")])
def test_subsidy_window(status, ends, window):
    assert rules.subsidy_window(status, ends, NOW) == window


def _sh(h, m=0, day=1):
    return datetime(2026, 3, day, h, m, tzinfo=SH)


@pytest.mark.parametrize(("at", "until"), [
    (_sh(21, 59), None), (_sh(22, 0), _sh(7, 30, day=2)), (_sh(23, 59), _sh(7, 30, day=2)),
    (_sh(0, 10), _sh(7, 30)), (_sh(7, 29), _sh(7, 30)), (_sh(7, 30), None), (_sh(12), None)])
def test_quiet_hours_across_midnight(at, until):
    got = rules.quiet_until(at.astimezone(UTC), time(22), time(7, 30))
    assert got == (until.astimezone(UTC) if until else None)


def test_quiet_hours_within_a_day_and_none():
    assert rules.quiet_until(_sh(12, 30).astimezone(UTC), time(12), time(14)) == _sh(14).astimezone(UTC)
    assert rules.quiet_until(_sh(14).astimezone(UTC), time(12), time(14)) is None
    assert rules.quiet_until(_sh(12, 30).astimezone(UTC), time(12), time(12)) is None
    assert rules.quiet_until(_sh(12, 30).astimezone(UTC), None, None) is None


@pytest.mark.parametrize("bad", ["24:00", "7:30", "07:60", "", "0730", None, 730])
def test_parse_hhmm_refuses_bad_times(bad):
    with pytest.raises(AppError) as exc:
        rules.parse_hhmm(bad, "quiet_hours.from")
    assert exc.value.code == "validation_error" and "quiet_hours.from" in exc.value.details["fields"]


def test_retry_backoff_grows_then_gives_up():
    delays = [rules.retry_at(n, NOW) - NOW for n in range(1, rules.MAX_ATTEMPTS)]
    assert delays == [timedelta(minutes=1), timedelta(minutes=4), timedelta(minutes=16), timedelta(minutes=64)]
    assert rules.retry_at(rules.MAX_ATTEMPTS, NOW) is None


def test_texts_are_short_chinese_with_shanghai_times():
    start = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)  # 09:00 Shanghai
    ctx = {"lesson": "电工基础", "starts_at": start, "site": "鼓楼实训基地", "check_in_from": start - timedelta(minutes=30)}
    title, body = rules.render(rules.LESSON_REMINDER, "1d", dict(ctx, now=start - timedelta(hours=20)))
    assert title == "明天上课：电工基础"
    assert body == "3月2日 09:00开课，地点：鼓楼实训基地。签到时间08:30起。"
    # 20:00 the evening before is "tomorrow"; 00:30 the same night is already "today" in Shanghai.
    assert rules.render(rules.LESSON_REMINDER, "1d", dict(ctx, now=datetime(2026, 3, 1, 16, 30, tzinfo=UTC)))[
        0] == "今天上课：电工基础"
    assert rules.render(rules.LESSON_REMINDER, "1h", dict(ctx, now=start - timedelta(minutes=20)))[0] == "即将上课：电工基础"
    assert rules.render(rules.LESSON_REMINDER, "1d", dict(ctx, site=None, check_in_from=None, now=NOW))[1] == \
        "3月2日 09:00开课（线上）。"
    title, body = rules.render(rules.VOUCHER_EXPIRING, "1d", {"batch": "电工券", "expires_at": start})
    assert "1天" in title and "3月2日 09:00" in body
    for kind, window, ctx in [
            (rules.MISSED_CHECK_IN, "", {"lesson": "电工基础", "starts_at": start}),
            (rules.ABSENCE_RISK, "", {"plan": "电工培训", "reason": "missed_two"}),
            (rules.MAKEUP_DECIDED, "", {"lesson": "电工基础", "status": "rejected"}),
            (rules.CERTIFICATE_ISSUED, "", {"plan": "电工培训", "number": "C-1"}),
            (rules.SUBSIDY_STATUS, "publicity", {"plan": "电工培训", "publicity_ends_at": start})]:
        title, body = rules.render(kind, window, ctx)
        assert len(title) <= 20 and len(body) <= 80, (title, body)
    with pytest.raises(ValueError):
        rules.render("nope", "", {})
