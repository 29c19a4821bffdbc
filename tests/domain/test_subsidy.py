from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from backend.domain import subsidy as s
from backend.domain.errors import AppError

US = timedelta(microseconds=1)


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


# ---- completion -----------------------------------------------------------------

@pytest.mark.parametrize("credited, plan, ratio, expected", [
    (Decimal("32"), 40, s.COMPLETION_RATIO, True),          # exactly 80 %
    (Decimal("31.5"), 40, s.COMPLETION_RATIO, False),
    (Decimal("40"), 40, s.COMPLETION_RATIO, True),
    (Decimal("12"), Decimal("15"), s.COMPLETION_RATIO, True),  # 12 / 15 = 80 % exactly
    (Decimal("11.5"), Decimal("15"), s.COMPLETION_RATIO, False),
    (0, 0, s.COMPLETION_RATIO, False),
    (Decimal("30"), 40, Decimal("0.75"), True),
    (Decimal("30"), 40, 0.75, True),
])
def test_completed(credited, plan, ratio, expected):
    assert s.completed(credited, plan, ratio) is expected


# ---- amount -------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, expected", [
    ({"credited_hours": Decimal("20")}, (60000, False, "hours")),
    ({"credited_hours": Decimal("20.5")}, (61500, False, "hours")),
    # 68326.5 floors to 68326
    ({"credited_hours": Decimal("20.5"), "rate_fen_per_hour": 3333}, (68326, False, "hours")),
    ({"credited_hours": Decimal("20"), "voucher_face_value_fen": 50000}, (50000, True, "voucher")),
    # a tie between voucher and hours reports hours
    ({"credited_hours": Decimal("20"), "voucher_face_value_fen": 60000}, (60000, False, "hours")),
    ({"credited_hours": Decimal("20"), "voucher_face_value_fen": 80000}, (60000, False, "hours")),
    ({"credited_hours": Decimal("40")}, (100000, True, "annual_cap")),   # 120000 by hours, cap 100000
    ({"credited_hours": Decimal("20"), "already_paid_this_year_fen": 40000}, (60000, False, "hours")),
    ({"credited_hours": Decimal("20"), "already_paid_this_year_fen": 40001}, (59999, True, "annual_cap")),
    ({"credited_hours": Decimal("20"), "voucher_face_value_fen": 30000,
      "already_paid_this_year_fen": 70000}, (30000, True, "voucher")),   # voucher ties the cap → voucher
    ({"credited_hours": Decimal("20"), "voucher_face_value_fen": 50000,
      "already_paid_this_year_fen": 80000}, (20000, True, "annual_cap")),
    ({"credited_hours": Decimal("20"), "already_paid_this_year_fen": 100000}, (0, True, "annual_cap")),
    ({"credited_hours": Decimal("20"), "already_paid_this_year_fen": 120000}, (0, True, "annual_cap")),
    ({"credited_hours": Decimal("20"), "cap_fen": 50000}, (50000, True, "annual_cap")),
    ({"credited_hours": Decimal("0")}, (0, False, "hours")),
])
def test_subsidy_amount(kwargs, expected):
    result = s.subsidy_amount(**kwargs)
    assert result == expected
    assert type(result[0]) is int


# ---- year and application deadline ----------------------------------------------------

@pytest.mark.parametrize("at, year", [
    (utc(2025, 12, 31, 15, 59, 59), 2025),
    (utc(2025, 12, 31, 16, 0), 2026),      # 00:00 1 Jan in Shanghai
    (utc(2026, 12, 31, 16, 0) - US, 2026),
])
def test_subsidy_year(at, year):
    assert s.subsidy_year(at) == year


def test_naive_datetime_is_refused():
    with pytest.raises(ValueError):
        s.subsidy_year(datetime(2026, 1, 1))


@pytest.mark.parametrize("ends_on, deadline", [
    (date(2026, 3, 15), date(2026, 9, 15)),
    (date(2026, 8, 31), date(2027, 2, 28)),   # clamped to month end
    (date(2027, 8, 31), date(2028, 2, 29)),   # leap year
    (date(2026, 7, 31), date(2027, 1, 31)),   # across the year
    (date(2026, 12, 1), date(2027, 6, 1)),
])
def test_application_deadline(ends_on, deadline):
    assert s.application_deadline(ends_on) == deadline


# Deadline 2026-09-15 (Shanghai) lasts until 2026-09-15T16:00Z.
@pytest.mark.parametrize("now, ok", [
    (utc(2026, 3, 15, 12, 0), True),
    (utc(2026, 9, 15, 16, 0) - US, True),
    (utc(2026, 9, 15, 16, 0), False),
    (utc(2026, 10, 1), False),
])
def test_check_application_deadline(now, ok):
    if ok:
        s.check_application_deadline(date(2026, 3, 15), now)
        return
    with pytest.raises(AppError) as e:
        s.check_application_deadline(date(2026, 3, 15), now)
    assert (e.value.code, e.value.status) == ("application_window_closed", 409)
    assert e.value.details == {"deadline": "2026-09-15"}


# ---- working days and publicity --------------------------------------------------------
# Official 2026 calendar (chinese_calendar data): Mid-autumn 25–27 Sep, National Day 1–7 Oct,
# make-up working days Sun 20 Sep and Sat 10 Oct.

@pytest.mark.parametrize("day, working", [
    (date(2026, 9, 20), True),    # Sunday make-up day
    (date(2026, 9, 25), False),   # Friday, Mid-autumn
    (date(2026, 10, 1), False),
    (date(2026, 10, 7), False),
    (date(2026, 10, 8), True),
    (date(2026, 10, 10), True),   # Saturday make-up day
    (date(2026, 10, 11), False),
    (date(2035, 1, 6), False),    # outside the package's years: weekends only (Saturday)
    (date(2035, 1, 8), True),     # Monday
    (date(2035, 1, 1), True),     # New Year unknown that far ahead: treated as a weekday
])
def test_is_working_day(day, working):
    assert s.is_working_day(day) is working


@pytest.mark.parametrize("start, n, expected", [
    (date(2026, 9, 30), 0, date(2026, 9, 30)),
    (date(2026, 9, 30), 1, date(2026, 10, 8)),    # the whole holiday is skipped
    (date(2026, 9, 30), 3, date(2026, 10, 10)),   # Saturday make-up day counts
    (date(2026, 9, 30), 5, date(2026, 10, 13)),   # Sunday 11 Oct does not
    (date(2026, 9, 18), 1, date(2026, 9, 20)),    # Sunday make-up day counts
    (date(2026, 9, 23), 2, date(2026, 9, 28)),    # 24 Thu, then 25–27 off
    (date(2035, 1, 5), 1, date(2035, 1, 8)),      # fallback: Fri → Mon
])
def test_add_working_days(start, n, expected):
    assert s.add_working_days(start, n) == expected


def test_add_working_days_refuses_negative():
    with pytest.raises(ValueError):
        s.add_working_days(date(2026, 1, 5), -1)


@pytest.mark.parametrize("approved_at, ends_at", [
    # Approved Wed 30 Sep (Shanghai): 8, 9, 10 (Sat make-up), 12, 13 Oct → ends 00:00 14 Oct Shanghai.
    (utc(2026, 9, 30, 2, 0), utc(2026, 10, 13, 16, 0)),
    # 01:00 Shanghai on 30 Sep is still 29 Sep in UTC: the Shanghai approval day is what counts.
    (utc(2026, 9, 29, 17, 0), utc(2026, 10, 13, 16, 0)),
    # 23:59 Shanghai on 29 Sep: approval day 29 Sep → 30 Sep, 8, 9, 10, 12 Oct.
    (utc(2026, 9, 29, 15, 59), utc(2026, 10, 12, 16, 0)),
    # Approved Fri 18 Sep: Sun 20 (make-up), 21, 22, 23, 24 Sep → ends 00:00 25 Sep.
    (utc(2026, 9, 18, 8, 0), utc(2026, 9, 24, 16, 0)),
    # An ordinary week: approved Mon 9 Mar 2026 → 10–13 Mar, 16 Mar → ends 00:00 17 Mar.
    (utc(2026, 3, 9, 1, 0), utc(2026, 3, 16, 16, 0)),
])
def test_publicity_ends_at(approved_at, ends_at):
    assert s.publicity_ends_at(approved_at) == ends_at


ENDS = utc(2026, 10, 13, 16, 0)


@pytest.mark.parametrize("approver, payer, now, error", [
    (1, 2, ENDS, None),                           # exactly when publicity ends
    (1, 2, ENDS + timedelta(days=1), None),
    (1, 2, ENDS - US, "publicity_period"),
    (1, 1, ENDS + timedelta(days=1), "same_approver"),
    (1, 1, ENDS - US, "same_approver"),           # the two-person rule is reported first
])
def test_check_disburse(approver, payer, now, error):
    if error is None:
        s.check_disburse(approver, payer, ENDS, now)
        return
    with pytest.raises(AppError) as e:
        s.check_disburse(approver, payer, ENDS, now)
    assert (e.value.code, e.value.status) == (error, 409)
    if error == "publicity_period":
        assert e.value.details == {"ends_at": "2026-10-14T00:00:00+08:00"}


@pytest.mark.parametrize("approver, payer, approver_creator, payer_creator, same", [
    (1, 2, None, None, False),
    (1, 1, None, None, True),
    (1, 2, None, 1, True),          # the approver made the payer's account
    (1, 2, 2, None, True),          # the payer made the approver's account
    (1, 2, 9, 9, False),            # both made by the same admin: independent people
    (1, 2, 3, 4, False),
    (None, 2, None, None, False),   # nobody approved yet: no pairing to judge
])
def test_same_party(approver, payer, approver_creator, payer_creator, same):
    assert s.same_party(approver, payer, approver_creator, payer_creator) is same
    if same:
        with pytest.raises(AppError) as e:
            s.check_disburse(approver, payer, ENDS, ENDS, approver_created_by=approver_creator,
                             disburser_created_by=payer_creator)
        assert (e.value.code, e.value.status) == ("same_approver", 409)


@pytest.mark.parametrize("now, open_objections, error", [
    (ENDS, 0, None),
    (ENDS, 1, "objection_open"),                  # publicity over, one objection still open
    (ENDS + timedelta(days=30), 2, "objection_open"),
    (ENDS - US, 1, "publicity_period"),           # the period is reported before the objection
])
def test_open_objections_hold_the_payout(now, open_objections, error):
    if error is None:
        s.check_disburse(1, 2, ENDS, now, open_objections)
        return
    with pytest.raises(AppError) as e:
        s.check_disburse(1, 2, ENDS, now, open_objections)
    assert (e.value.code, e.value.status) == (error, 409)
    if error == "objection_open":
        assert e.value.details == {"open": open_objections}


@pytest.mark.parametrize("objections, revoked, error", [
    (0, 0, None),
    (0, 1, "certificate_revoked"),
    (1, 1, "objection_open"),                     # an open objection is reported first
])
def test_revoked_certificates_stop_the_payout(objections, revoked, error):
    if error is None:
        s.check_disburse(1, 2, ENDS, ENDS, objections, revoked)
        return
    with pytest.raises(AppError) as e:
        s.check_disburse(1, 2, ENDS, ENDS, objections, revoked)
    assert (e.value.code, e.value.status) == (error, 409)
