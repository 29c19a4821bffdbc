"""Rules of the institution's corrections: removing a lesson or a roster row, a new staff password, and a
row of the lesson-import template."""
from __future__ import annotations

from datetime import UTC, date, datetime, time

import pytest

from backend.domain.errors import AppError
from backend.domain.lesson_rows import parse_lesson_row
from backend.domain.passwords import check_new_password
from backend.domain.plans import SHANGHAI, check_lesson_removal
from backend.domain.roster import check_enrollment_removal

STARTS_ON = date(2026, 3, 10)
LESSON = datetime(2026, 3, 10, 1, 0, tzinfo=UTC)      # 09:00 Shanghai on the first day
EARLY = datetime(2026, 3, 1, 2, 0, tzinfo=UTC)
AFTER_DEADLINE = datetime(2026, 3, 8, 1, 0, tzinfo=UTC)  # the change deadline was 03-08 00:00 Shanghai


def _code(fn, *args) -> str | None:
    try:
        fn(*args)
    except AppError as err:
        return err.code
    return None


@pytest.mark.parametrize("status,now,records,expected", [
    ("draft", EARLY, False, None),
    ("rejected", AFTER_DEADLINE, False, None),               # drafts change freely ...
    ("draft", LESSON, False, "change_window_closed"),        # ... but not a lesson that has started
    ("draft", EARLY, True, "attendance_exists"),
    ("approved", EARLY, False, None),
    ("approved", AFTER_DEADLINE, False, "change_window_closed"),
    ("in_progress", EARLY, False, "change_window_closed"),
    ("submitted", EARLY, False, "invalid_state"),
    ("completed", EARLY, False, "invalid_state"),
])
def test_lesson_removal(status, now, records, expected):
    assert _code(check_lesson_removal, status, STARTS_ON, LESSON, now, records) == expected


@pytest.mark.parametrize("plan_status,row_status,frozen,records,expected", [
    ("draft", "active", False, False, None),
    ("submitted", "active", False, False, None),
    ("approved", "active", False, False, None),
    ("approved", "active", True, False, "roster_frozen"),
    ("in_progress", "active", False, False, "invalid_state"),
    ("completed", "active", False, False, "invalid_state"),
    ("draft", "withdrawn", False, False, "invalid_state"),
    ("approved", "active", False, True, "attendance_exists"),
])
def test_enrollment_removal(plan_status, row_status, frozen, records, expected):
    assert _code(check_enrollment_removal, plan_status, row_status, frozen, records) == expected


@pytest.mark.parametrize("new,reason", [
    ("Xin-mima-2026", None),
    ("short-1A", "too_short"),
    ("demo-pass-2026", "same_as_old"),
    ("school-2026-ok", "contains_username"),
    ("abababababab", "too_repetitive"),
    ("onlylowercaseletters", "too_simple"),
    ("Password123", "too_common"),
])
def test_new_password(new, reason):
    try:
        check_new_password(new, "school", "demo-pass-2026")
    except AppError as err:
        assert err.code == "weak_password" and err.details["field"] == "new_password"
        assert err.details["reason"] == reason
    else:
        assert reason is None


def test_lesson_row_parsed_in_shanghai_time():
    data, errors = parse_lesson_row({"title": " 电工基础 ", "mode": "线下", "date": datetime(2026, 3, 11),
                                     "start": time(9, 0), "end": "12:00", "class_hours": 4.0, "site": "鼓楼实训基地",
                                     "require_site_qr": "是"}, {"鼓楼实训基地": 7})
    assert errors == []
    assert data["starts_at"] == datetime(2026, 3, 11, 9, 0, tzinfo=SHANGHAI) and data["site_id"] == 7
    assert data["title"] == "电工基础" and data["require_site_qr"] is True and data["mode"] == "offline"
    data, errors = parse_lesson_row({"title": "线上理论", "mode": "线上", "date": "2026年3月12日", "start": 0.375,
                                     "end": "11:00", "class_hours": "2"}, {})
    assert errors == [] and data["site_id"] is None and data["require_site_qr"] is None
    assert data["starts_at"].hour == 9 and data["mode"] == "online"


def test_lesson_row_errors_name_their_fields():
    _data, errors = parse_lesson_row({"title": "", "mode": "远程", "date": "2026-02-30", "start": "25:00",
                                      "end": None, "class_hours": 30, "require_site_qr": "maybe"}, {})
    assert {e["field"] for e in errors} == {"title", "mode", "date", "start", "end", "class_hours",
                                            "require_site_qr"}
    _data, errors = parse_lesson_row({"title": "实操", "date": "2026-03-11", "start": "09:00", "end": "12:00",
                                      "class_hours": 4, "site": "别处"}, {"鼓楼实训基地": 7})
    assert errors == [{"code": "validation_error", "field": "site", "reason": "unknown_site"}]
