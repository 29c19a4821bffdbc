"""The one-time code rules as plain functions: format, state, resend window, daily cap."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from backend.domain.errors import AppError
from backend.domain.verification import (
    CodeRules,
    check_daily_cap,
    code_message,
    code_state,
    expires_at,
    new_code,
    normalize_code,
    resend_wait_s,
)

T0 = datetime(2026, 3, 1, 2, 0, tzinfo=UTC)
RULES = CodeRules()


def test_new_codes_are_six_digits():
    codes = {new_code() for _ in range(200)}
    assert all(len(c) == 6 and c.isdigit() for c in codes) and len(codes) > 150


@pytest.mark.parametrize("raw, out", [("012345", "012345"), (" 012 345 ", "012345"), ("０１２３４５", "012345")])
def test_code_format_accepted(raw, out):
    assert normalize_code(raw) == out


@pytest.mark.parametrize("raw", ["", "12345", "1234567", "12a456", "١٢٣٤٥٦", 123456, None, ["123456"]])
def test_code_format_refused(raw):
    with pytest.raises(AppError) as exc:
        normalize_code(raw)
    assert exc.value.code == "validation_error" and exc.value.status == 422


@pytest.mark.parametrize("offset_s, attempts, used, state", [
    (0, 0, False, "live"), (599, 4, False, "live"), (600, 0, False, "expired"), (10, 5, False, "too_many_attempts"),
    (700, 5, False, "too_many_attempts"), (10, 0, True, "used"),
])
def test_code_state(offset_s, attempts, used, state):
    now = T0 + timedelta(seconds=offset_s)
    assert code_state(expires_at(T0, RULES), attempts, T0 if used else None, RULES, now) == state


@pytest.mark.parametrize("last, now_s, wait", [(None, 0, 0), (0, 0, 60), (0, 20.5, 40), (0, 60, 0), (0, 300, 0)])
def test_resend_wait(last, now_s, wait):
    last_at = None if last is None else T0 + timedelta(seconds=last)
    assert resend_wait_s(last_at, RULES, T0 + timedelta(seconds=now_s)) == wait


def test_daily_cap_and_retry_after():
    sent = [T0 + timedelta(hours=h) for h in range(9)]
    check_daily_cap(sent, RULES, T0 + timedelta(hours=9))
    sent.append(T0 + timedelta(hours=9))
    with pytest.raises(AppError) as exc:
        check_daily_cap(sent, RULES, T0 + timedelta(hours=10))
    assert exc.value.status == 429 and exc.value.code == "rate_limited"
    assert exc.value.details["retry_after_s"] == 14 * 3600 and exc.value.headers["Retry-After"] == str(14 * 3600)


def test_message_names_the_code_and_lifetime():
    text = code_message("012345", 600)
    assert "012345" in text and "10分钟" in text
