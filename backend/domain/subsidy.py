"""Completion and subsidy rules: the 80 % bar, amounts in fen, deadlines, publicity, two-person payout."""
from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_FLOOR, Decimal
from zoneinfo import ZoneInfo

import chinese_calendar

from backend.domain.errors import conflict

SHANGHAI = ZoneInfo("Asia/Shanghai")

COMPLETION_RATIO = Decimal("0.8")   # source 000, 002
RATE_FEN_PER_HOUR = 3000            # source 004
ANNUAL_CAP_FEN = 100000             # source 003
APPLICATION_MONTHS = 6              # source 004
PUBLICITY_WORKING_DAYS = 5          # source 002, 004


def _dec(value) -> Decimal:
    # str() first so a float such as 0.8 becomes Decimal("0.8") rather than its binary expansion.
    return value if isinstance(value, Decimal) else Decimal(str(value))


def _shanghai(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("timezone-aware datetime required")
    return moment.astimezone(SHANGHAI)


def completed(credited_hours, plan_hours, ratio=COMPLETION_RATIO) -> bool:
    """True when credited hours reach ratio (80 %) of the plan's class hours; no plan hours → False."""
    plan = _dec(plan_hours)
    return plan > 0 and _dec(credited_hours) >= _dec(ratio) * plan


def subsidy_amount(credited_hours, rate_fen_per_hour: int = RATE_FEN_PER_HOUR,
                   voucher_face_value_fen: int | None = None, cap_fen: int = ANNUAL_CAP_FEN,
                   already_paid_this_year_fen: int = 0) -> tuple[int, bool, str]:
    """Return (amount_fen, capped, limited_by): min(voucher value, rate × hours floored, cap left this year).

    limited_by is "hours", "voucher" or "annual_cap" (ties go in that order); capped means the amount
    is below what the hours alone would earn.
    """
    by_hours = int((_dec(rate_fen_per_hour) * _dec(credited_hours)).to_integral_value(ROUND_FLOOR))
    limits = [("hours", max(0, by_hours))]
    if voucher_face_value_fen is not None:
        limits.append(("voucher", max(0, voucher_face_value_fen)))
    # A person already over the cap (e.g. after a cap change) gets nothing, never a negative line.
    limits.append(("annual_cap", max(0, cap_fen - already_paid_this_year_fen)))
    amount = min(value for _, value in limits)
    limited_by = next(name for name, value in limits if value == amount)
    return amount, limited_by != "hours", limited_by


def standard_for(occupation_code: str, standards: dict) -> tuple[str, int] | None:
    """The project standard (fen per trainee) of an occupation: its own code or the longest listed prefix."""
    code = (occupation_code or "").strip().upper()
    best = None
    for key, fen in (standards or {}).items():
        k = key.strip().upper()
        if (code == k or code.startswith(k + "-")) and (best is None or len(k) > len(best[0])):
            best = (key, int(fen))
    return best


def ratio_for(groups, ratios: dict) -> tuple[int, str | None]:
    """The share of the standard for a person (003): the highest listed ratio among their groups, else 100."""
    listed = [(int(ratios[g]), g) for g in (groups or ()) if g in (ratios or {})]
    if not listed:
        return 100, None
    percent, group = max(listed)
    return percent, group


def policy_amount(credited_hours, groups, occupation_code: str, params: dict, voucher_face_value_fen: int | None,
                  already_paid_this_year_fen: int) -> tuple[int, bool, str, dict]:
    """(amount_fen, capped, limited_by, basis) under a region's policy (shared/DESIGN.md, 003 and 004).

    amount = min(voucher face value, the policy's amount, what is left of the annual cap); the policy's amount
    is a project standard × the person's ratio where the policy has a standard for the occupation, else the
    hourly rate × credited hours. `basis` carries the numbers used, for the explanation on the claim.
    """
    standard = standard_for(occupation_code, params.get("subsidy_standards_fen") or {})
    cap = int(params["annual_cap_fen"])
    if standard is not None:
        percent, group = ratio_for(groups, params.get("subsidy_ratio_percent") or {})
        raw = standard[1] * percent // 100
        basis = {"kind": "standard", "occupation_code": standard[0], "standard_fen": standard[1],
                 "ratio_percent": percent, "ratio_group": group}
        first = "standard"
    else:
        rate = int(params["subsidy_rate_fen_per_hour"])
        raw = int((_dec(rate) * _dec(credited_hours)).to_integral_value(ROUND_FLOOR))
        basis = {"kind": "hours", "rate_fen_per_hour": rate, "credited_hours": float(_dec(credited_hours))}
        first = "hours"
    limits = [(first, max(0, raw))]
    if voucher_face_value_fen is not None:
        limits.append(("voucher", max(0, voucher_face_value_fen)))
    limits.append(("annual_cap", max(0, cap - already_paid_this_year_fen)))
    amount = min(value for _, value in limits)
    limited_by = next(name for name, value in limits if value == amount)
    basis.update(policy_fen=max(0, raw), voucher_face_value_fen=voucher_face_value_fen, annual_cap_fen=cap,
                 cap_left_fen=max(0, cap - already_paid_this_year_fen), amount_fen=amount)
    return amount, limited_by != first, limited_by, basis


def subsidy_year(at: datetime) -> int:
    """The Asia/Shanghai calendar year of a moment: the year whose annual cap a payment counts against."""
    return _shanghai(at).year


def add_months(day: date, months: int) -> date:
    """The same day `months` calendar months later, clamped to month end (31 Aug + 6 → 28/29 Feb)."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def application_deadline(plan_ends_on: date, months: int = APPLICATION_MONTHS) -> date:
    """Last Shanghai date on which a subsidy application for the plan is accepted."""
    return add_months(plan_ends_on, months)


def check_application_deadline(plan_ends_on: date, now: datetime, months: int = APPLICATION_MONTHS) -> None:
    """Raise 409 application_window_closed once the Shanghai date is past end + months (last day counts)."""
    deadline = application_deadline(plan_ends_on, months)
    if _shanghai(now).date() > deadline:
        raise conflict("application_window_closed", deadline=deadline.isoformat())


def is_working_day(day: date) -> bool:
    """Official mainland working day (holidays, make-up days); weekends-only outside the package's years."""
    try:
        return chinese_calendar.is_workday(day)
    except NotImplementedError:
        # The package only knows published years; a weekday guess beats refusing to compute.
        return day.weekday() < 5


def add_working_days(start: date, n: int) -> date:
    """The n-th working day after start (start itself never counts; n = 0 returns start)."""
    if n < 0:
        raise ValueError("n must not be negative")
    day = start
    while n:
        day += timedelta(days=1)
        if is_working_day(day):
            n -= 1
    return day


def publicity_ends_at(approved_at: datetime, working_days: int = PUBLICITY_WORKING_DAYS) -> datetime:
    """End of publicity (公示), UTC: 00:00 Shanghai after the n-th working day following the approval day."""
    last = add_working_days(_shanghai(approved_at).date(), working_days)
    return datetime.combine(last + timedelta(days=1), time(0), tzinfo=SHANGHAI).astimezone(UTC)


def same_party(approved_by, disbursing_user, approver_created_by=None, disburser_created_by=None) -> bool:
    """Whether approver and disburser are one party: the same account, or one made the other's account.

    A supervisor who could create a second account would otherwise pass the two-person rule alone;
    the accounts' creators are compared both ways (an admin's own puppet supervisor included).
    """
    if approved_by is None or disbursing_user is None:
        return False
    return (approved_by == disbursing_user or disburser_created_by == approved_by
            or approver_created_by == disbursing_user)


def check_disburse(approved_by, disbursing_user, publicity_ends_at: datetime, now: datetime,
                   open_objections: int = 0, revoked_certificates: int = 0, *,
                   approver_created_by=None, disburser_created_by=None) -> None:
    """Raise unless a second, independent supervisor disburses after publicity with no objection left open.

    409 same_approver (see `same_party`) / publicity_period / objection_open / certificate_revoked: an objection raised
    during 公示 holds the money until a supervisor dismisses it (or upholds it, which sends the claim
    back for review); a certificate on the claim revoked since approval stops it (reject the claim).
    """
    if same_party(approved_by, disbursing_user, approver_created_by, disburser_created_by):
        raise conflict("same_approver")
    if now < publicity_ends_at:
        raise conflict("publicity_period", ends_at=_shanghai(publicity_ends_at).isoformat())
    if open_objections:
        raise conflict("objection_open", open=open_objections)
    if revoked_certificates:
        raise conflict("certificate_revoked", revoked=revoked_certificates)
