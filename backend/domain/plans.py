"""Training-plan rules: the status machine, change windows, class hours and the online share."""
from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from backend.domain.errors import conflict, invalid
from backend.domain.subsidy import add_working_days, is_working_day

SHANGHAI = ZoneInfo("Asia/Shanghai")

DRAFT = "draft"
SUBMITTED = "submitted"
APPROVED = "approved"
REJECTED = "rejected"
IN_PROGRESS = "in_progress"
COMPLETION_SUBMITTED = "completion_submitted"
COMPLETED = "completed"
STATES = (DRAFT, SUBMITTED, APPROVED, REJECTED, IN_PROGRESS, COMPLETION_SUBMITTED, COMPLETED)
# Approved and not yet closed for completion: the plan runs (attendance, results, online records, nearby).
RUNNING_STATES = (APPROVED, IN_PROGRESS)

DELIVERIES = ("offline", "online", "blended")

# action -> (states it may start from, resulting state)
TRANSITIONS: dict[str, tuple[frozenset[str], str]] = {
    "submit": (frozenset({DRAFT, REJECTED}), SUBMITTED),
    "withdraw": (frozenset({SUBMITTED}), DRAFT),
    "approve": (frozenset({SUBMITTED}), APPROVED),
    "reject": (frozenset({SUBMITTED}), REJECTED),
    "start": (frozenset({APPROVED}), IN_PROGRESS),
    "submit_completion": (frozenset({IN_PROGRESS}), COMPLETION_SUBMITTED),
    "approve_completion": (frozenset({COMPLETION_SUBMITTED}), COMPLETED),
    # The bureau sends a completion back: the plan runs again until the institution applies anew.
    "reject_completion": (frozenset({COMPLETION_SUBMITTED}), IN_PROGRESS),
}
MIN_REASON_CHARS = 2

PLAN_CHANGE_LEAD = timedelta(days=2)   # source 000
LESSON_CHANGE_LEAD = timedelta(hours=4)  # source 000
CLASS_HOUR = timedelta(minutes=45)     # one class hour is at least 45 minutes of lesson time
MAX_ONLINE_SHARE = Decimal("0.4")      # source 002


def transition(current: str, action: str) -> str:
    """Return the status after `action`, or raise 409 invalid_state."""
    allowed = TRANSITIONS.get(action)
    if allowed is None or current not in allowed[0]:
        raise conflict("invalid_state", status=current, action=action)
    return allowed[1]


def completion_rejection(status: str, reason: str | None) -> tuple[str, str]:
    """(next status, cleaned reason) for rejecting a completion; 422 without a reason, 409 in another state."""
    cleaned = (reason or "").strip()
    if len(cleaned) < MIN_REASON_CHARS:
        raise invalid("validation_error", fields={"reason": [f"at least {MIN_REASON_CHARS} characters"]})
    return transition(status, "reject_completion"), cleaned


def _iso_shanghai(moment: datetime) -> str:
    return moment.astimezone(SHANGHAI).isoformat()


def plan_change_deadline(starts_on: date, lead: timedelta = PLAN_CHANGE_LEAD) -> datetime:
    """Last moment (UTC) for whole-plan changes after approval: 2 days before starts_on 00:00 Shanghai."""
    start = datetime.combine(starts_on, time(0), tzinfo=SHANGHAI)
    return (start - lead).astimezone(UTC)


def check_plan_change(status: str, starts_on: date, now: datetime, lead: timedelta = PLAN_CHANGE_LEAD) -> None:
    """Raise unless the plan may be edited now: draft/rejected freely, approved until the deadline."""
    if status in (DRAFT, REJECTED):
        return
    if status in (APPROVED, IN_PROGRESS):
        deadline = plan_change_deadline(starts_on, lead)
        # An in-progress plan has had a lesson start, so its window is closed whatever starts_on says.
        if status == IN_PROGRESS or now > deadline:
            raise conflict("change_window_closed", deadline=_iso_shanghai(deadline))
        return
    # submitted is under review (withdraw first); completion states are final for the plan itself.
    raise conflict("invalid_state", status=status, action="change")


def check_lesson_time_change(old_start: datetime, old_end: datetime,
                             new_start: datetime, new_end: datetime, now: datetime,
                             lead: timedelta = LESSON_CHANGE_LEAD) -> None:
    """Raise unless a lesson may move to new times: same duration, until 4 h before the old start."""
    if new_start == old_start and new_end == old_end:
        return  # a PATCH that resends unchanged times (e.g. with a site change) is no time change
    if new_end - new_start != old_end - old_start:
        raise invalid("hours_changed")
    deadline = old_start - lead
    if now > deadline:
        raise conflict("change_window_closed", deadline=_iso_shanghai(deadline))


def _as_decimal(value) -> Decimal:
    # str() first so a float such as 1.5 becomes Decimal("1.5") rather than its binary expansion.
    return value if isinstance(value, Decimal) else Decimal(str(value))


def max_class_hours(starts_at: datetime, ends_at: datetime) -> Decimal:
    """Most class hours (in halves) a lesson of this length may carry."""
    halves = int((ends_at - starts_at) * 2 // CLASS_HOUR)
    return Decimal(halves) / 2


def check_class_hours(starts_at: datetime, ends_at: datetime, class_hours) -> Decimal:
    """Validate times and class hours (positive halves, hours × 45 min ≤ duration); return the hours."""
    if ends_at <= starts_at:
        raise invalid("validation_error", field="ends_at")
    try:
        hours = _as_decimal(class_hours)
    except ArithmeticError:
        raise invalid("validation_error", field="class_hours") from None
    if not hours.is_finite() or hours <= 0 or (hours * 2) % 1 != 0:
        raise invalid("validation_error", field="class_hours")
    limit = max_class_hours(starts_at, ends_at)
    if hours > limit:
        # Details are for display only, and halves are exact in binary, so a float is safe here.
        raise invalid("class_hours_too_long", max_class_hours=float(limit))
    return hours


def check_online_share(offline_hours, online_hours, delivery: str,
                       max_share: Decimal = MAX_ONLINE_SHARE) -> None:
    """Raise unless the plan's hour totals (including the lesson being added) fit its delivery mode."""
    offline = _as_decimal(offline_hours)
    online = _as_decimal(online_hours)
    if delivery not in DELIVERIES:
        raise invalid("validation_error", field="delivery")
    if delivery == "offline" and online > 0:
        raise invalid("validation_error", field="mode")
    if delivery == "online" and offline > 0:
        raise invalid("validation_error", field="mode")
    if delivery != "blended":
        return
    total = offline + online
    # Compare by multiplication so exactly 40 % is never lost to division rounding.
    if total > 0 and online > max_share * total:
        share = (online / total).quantize(Decimal("0.0001"))
        raise invalid("online_share_exceeded", share=float(share), max_share=float(max_share))


def roster_frozen(first_lesson_start: datetime | None, now: datetime) -> bool:
    """True once the plan's first lesson has started (a plan with no lessons is never frozen)."""
    return first_lesson_start is not None and now >= first_lesson_start


def occupation_listed(occupation_code: str, listed) -> bool:
    """Whether an occupation code falls under a list of codes or code prefixes ("4-04" covers "4-04-05-01")."""
    code = (occupation_code or "").strip().upper()
    for item in listed or ():
        item = item.strip().upper()
        if code == item or code.startswith(item + "-"):
            return True
    return False


def check_online_only(delivery: str, occupation_code: str, online_only_occupations) -> None:
    """Raise 422 online_not_allowed for a pure online plan whose occupation the region does not list (000)."""
    if delivery == "online" and online_only_occupations and \
            not occupation_listed(occupation_code, online_only_occupations):
        raise invalid("online_not_allowed", occupation_code=occupation_code,
                      allowed=sorted(online_only_occupations))


def check_filing_lead(first_lesson_start: datetime | None, now: datetime, lead_working_days: int) -> None:
    """Raise 409 filing_too_late unless `now` is at least `lead_working_days` working days before the first
    lesson's day (004: 开班前5个工作日); the latest day to file is returned in the details."""
    if first_lesson_start is None:
        return
    today = now.astimezone(SHANGHAI).date()
    lesson_day = first_lesson_start.astimezone(SHANGHAI).date()
    if lead_working_days == 0:
        if now < first_lesson_start:
            return
        raise conflict("filing_too_late", first_lesson_on=lesson_day.isoformat(), lead_working_days=0)
    if add_working_days(today, lead_working_days) <= lesson_day:
        return
    # The last day to file: walk back from the lesson day over `lead` working days.
    day, left = lesson_day, lead_working_days
    while left:
        day -= timedelta(days=1)
        if is_working_day(day):
            left -= 1
    raise conflict("filing_too_late", first_lesson_on=lesson_day.isoformat(), lead_working_days=lead_working_days,
                   latest_filing_on=day.isoformat())


def registration_deadline(first_lesson_start: datetime, lead_days: int) -> datetime:
    """When joining the roster closes: the first lesson's start, or 00:00 Shanghai `lead_days` days before its
    day (003: Shanghai closes registration 3 days before opening)."""
    if lead_days <= 0:
        return first_lesson_start
    day = first_lesson_start.astimezone(SHANGHAI).date() - timedelta(days=lead_days)
    return datetime.combine(day, time(0), tzinfo=SHANGHAI).astimezone(UTC)


def check_registration_open(first_lesson_start: datetime | None, now: datetime, lead_days: int) -> None:
    """Raise 409 registration_closed inside the registration lead (the lesson itself not yet started)."""
    if first_lesson_start is None or lead_days <= 0 or now >= first_lesson_start:
        return  # no lesson yet, no lead, or already roster_frozen (checked by the caller first)
    deadline = registration_deadline(first_lesson_start, lead_days)
    if now >= deadline:
        raise conflict("registration_closed", closed_at=_iso_shanghai(deadline), lead_days=lead_days)


def check_lesson_removal(status: str, starts_on: date, lesson_starts_at: datetime, now: datetime,
                         has_attendance: bool, lead: timedelta = PLAN_CHANGE_LEAD) -> None:
    """Raise unless a lesson may be removed now: a whole-plan change (draft freely, approved until the
    plan's change deadline), the lesson not started, and nothing recorded against it yet."""
    check_plan_change(status, starts_on, now, lead)
    if has_attendance:
        raise conflict("attendance_exists", object="lesson")
    if now >= lesson_starts_at:
        raise conflict("change_window_closed", reason="lesson_started",
                       deadline=_iso_shanghai(lesson_starts_at))


# ---- change requests (变更申请): what the bureau approved changes only by its decision --------------

# What a plan was reviewed and approved as (and what vouchers were checked against): after approval a
# change to any of these needs a supervisor's decision on a change request.
REVIEWED_FIELDS = ("occupation_code", "plan_type", "delivery")
CHANGE_PENDING = "pending"
CHANGE_APPROVED = "approved"
CHANGE_REJECTED = "rejected"
CHANGE_STATES = (CHANGE_PENDING, CHANGE_APPROVED, CHANGE_REJECTED)
MAX_REASON_CHARS = 1000


def needs_review(status: str) -> bool:
    """Whether changes to REVIEWED_FIELDS of a plan in `status` need the bureau's decision (after approval)."""
    return status not in (DRAFT, REJECTED)


def changed_reviewed_fields(current: dict, requested: dict) -> list[str]:
    """The reviewed fields whose requested value differs from the current one, in REVIEWED_FIELDS order."""
    return [f for f in REVIEWED_FIELDS if f in requested and requested[f] != current.get(f)]


def change_reason(reason: str | None) -> str:
    """A cleaned reason for filing or rejecting a change request; 422 when too short or too long."""
    cleaned = (reason or "").strip()
    if not MIN_REASON_CHARS <= len(cleaned) <= MAX_REASON_CHARS:
        raise invalid("validation_error",
                      fields={"reason": [f"{MIN_REASON_CHARS}..{MAX_REASON_CHARS} characters"]})
    return cleaned


def decide_change(status: str, approve: bool) -> str:
    """The status after deciding a change request; 409 invalid_state unless it is pending."""
    if status != CHANGE_PENDING:
        raise conflict("invalid_state", status=status, action="approve" if approve else "reject")
    return CHANGE_APPROVED if approve else CHANGE_REJECTED
