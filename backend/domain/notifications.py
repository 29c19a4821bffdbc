"""Notification rules (shared/API.md "Notifications"): which reminder is due when, quiet hours, retry
backoff and the short Chinese texts. Pure Python: `now` and every fact are arguments.

Each kind is sent once per person, kind, object and window; the window names which of a kind's
moments it is (7 days or 1 day before a voucher expires, the day before or 1 h before a lesson, the
subsidy status reached), so the database's unique key is (person, kind, object, window).
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from .errors import invalid

SHANGHAI = ZoneInfo("Asia/Shanghai")

VOUCHER_EXPIRING = "voucher_expiring"
LESSON_REMINDER = "lesson_reminder"
MISSED_CHECK_IN = "missed_check_in"
ABSENCE_RISK = "absence_risk"
MAKEUP_DECIDED = "makeup_decided"
CERTIFICATE_ISSUED = "certificate_issued"
SUBSIDY_STATUS = "subsidy_status"
KINDS = (VOUCHER_EXPIRING, LESSON_REMINDER, MISSED_CHECK_IN, ABSENCE_RISK, MAKEUP_DECIDED, CERTIFICATE_ISSUED,
         SUBSIDY_STATUS)
# Kinds the institution console and the supervisor dashboard list with counts.
ESCALATIONS = (MISSED_CHECK_IN, ABSENCE_RISK)

# What a notification points at, as the API names it (stored names that differ from the API's).
API_OBJECT_TYPES = {"claim": "subsidy_claim"}

CHANNELS = ("wechat", "sms")  # the in-app inbox is the notification row itself
MAX_ATTEMPTS = 5
BACKOFF_BASE = timedelta(minutes=1)
BACKOFF_CAP = timedelta(hours=6)

DAY = timedelta(days=1)
HOUR = timedelta(hours=1)
WEEK = timedelta(days=7)


# A kind's moments before an instant, shortest lead first: the window is the first whose lead covers the
# time left, so an object first seen late gets only the nearest reminder (two at once help nobody).
VOUCHER_WINDOWS = (("1d", DAY), ("7d", WEEK))  # before an unused voucher expires
LESSON_WINDOWS = (("1h", HOUR), ("1d", DAY))  # before a lesson starts


def api_object_type(stored: str) -> str:
    """The API's name for a notification's stored object type (`claim` is `subsidy_claim`)."""
    return API_OBJECT_TYPES.get(stored, stored)


def window_for(windows: Sequence[tuple[str, timedelta]], at: datetime, now: datetime) -> str | None:
    """The window `now` falls in before `at` ("1d" a day before...), or None (too early, or already past)."""
    left = at - now
    if left <= timedelta(0):
        return None
    for key, lead in windows:
        if left <= lead:
            return key
    return None


def window_ranges(windows: Sequence[tuple[str, timedelta]], now: datetime) -> list[tuple[str, datetime, datetime]]:
    """(window, lo, hi): the instants `at` with lo < at <= hi are in that window now; the same partition as
    window_for, for a query that finds the due objects by range on an indexed column."""
    out, lo = [], now
    for key, lead in windows:
        out.append((key, lo, now + lead))
        lo = now + lead
    return out


def voucher_expiry_window(expires_at: datetime, now: datetime) -> str | None:
    """"1d" within a day of expiry, "7d" within a week, else None (expired vouchers get nothing)."""
    return window_for(VOUCHER_WINDOWS, expires_at, now)


def lesson_reminder_window(starts_at: datetime, now: datetime) -> str | None:
    """"1h" within the hour before the start, "1d" within the day before, else None."""
    return window_for(LESSON_WINDOWS, starts_at, now)


def missed_check_in_due(starts_at: datetime, ends_at: datetime, grace: timedelta, now: datetime) -> bool:
    """True from `grace` (15 min) after the start until the lesson ends: the trainee can still come or make up."""
    return starts_at + grace <= now < ends_at


@dataclass(frozen=True)
class LessonAttendance:
    """One lesson of a plan as one trainee stands: its end, hours, whether offline, and what was proven."""

    ends_at: datetime
    class_hours: Decimal
    offline: bool
    checked_in: bool  # an accepted check-in (the trainee came)
    credited_hours: Decimal  # hours credited so far (offline: check-in and check-out; online: minutes)


def absence_risk(lessons: Sequence[LessonAttendance], ratio: Decimal, now: datetime) -> str | None:
    """Why the trainee is at risk, or None: "below_bar" when even attending every remaining lesson cannot
    reach `ratio` of the plan's hours, "missed_two" when the last two ended offline lessons had no check-in."""
    total = sum((lesson.class_hours for lesson in lessons), Decimal(0))
    if total <= 0:
        return None
    reachable = sum((lesson.credited_hours if lesson.ends_at <= now else lesson.class_hours for lesson in lessons),
                    Decimal(0))
    if reachable < Decimal(ratio) * total:
        return "below_bar"
    ended = sorted((lesson for lesson in lessons if lesson.offline and lesson.ends_at <= now), key=lambda x: x.ends_at)
    if len(ended) >= 2 and not ended[-1].checked_in and not ended[-2].checked_in:
        return "missed_two"
    return None


def subsidy_window(status: str, publicity_ends_at: datetime | None, now: datetime) -> str | None:
    """The subsidy state a trainee hears about: publicity (approved, 公示 running), approved (公示 over,
    awaiting payment), disbursed or rejected; None while only submitted."""
    if status == "approved":
        return "publicity" if publicity_ends_at is not None and now < publicity_ends_at else "approved"
    if status in ("disbursed", "rejected"):
        return status
    return None


# Quiet hours ------------------------------------------------------------------------------------------

_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


def parse_hhmm(value: str, field: str) -> time:
    """"22:00" → time(22, 0); 422 validation_error naming `field` otherwise."""
    m = _HHMM.match(value or "") if isinstance(value, str) else None
    if not m:
        raise invalid("validation_error", fields={field: ["HH:MM, 00:00-23:59"]})
    return time(int(m.group(1)), int(m.group(2)))


def quiet_until(now: datetime, quiet_from: time | None, quiet_to: time | None) -> datetime | None:
    """When the quiet hours (Asia/Shanghai wall clock) around `now` end, or None if `now` is not in them.

    The window may cross midnight (22:00-07:30); equal ends mean no quiet hours.
    """
    if quiet_from is None or quiet_to is None or quiet_from == quiet_to:
        return None
    local = now.astimezone(SHANGHAI)
    t = local.time().replace(tzinfo=None)
    if quiet_from < quiet_to:
        inside = quiet_from <= t < quiet_to
        end_day = local.date()
    else:
        inside = t >= quiet_from or t < quiet_to
        end_day = local.date() + timedelta(days=1) if t >= quiet_from else local.date()
    if not inside:
        return None
    return datetime.combine(end_day, quiet_to, tzinfo=SHANGHAI).astimezone(UTC)


def retry_at(attempts: int, now: datetime) -> datetime | None:
    """When to try a channel again after `attempts` failures (1 min, 4, 16, 64, capped at 6 h), or None
    once MAX_ATTEMPTS is reached: the delivery is then recorded as failed."""
    if attempts >= MAX_ATTEMPTS:
        return None
    return now + min(BACKOFF_BASE * 4 ** max(attempts - 1, 0), BACKOFF_CAP)


# Texts ------------------------------------------------------------------------------------------------

def shanghai_time(at: datetime) -> str:
    """"12月7日 09:00" in Asia/Shanghai."""
    local = at.astimezone(SHANGHAI)
    return f"{local.month}月{local.day}日 {local:%H:%M}"


def _clip(text: str, n: int = 20) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def render(kind: str, window: str, ctx: dict) -> tuple[str, str]:
    """(title, body): short Chinese texts for one notification; `ctx` holds the object's facts."""
    if kind == VOUCHER_EXPIRING:
        left = "1天" if window == "1d" else "7天"
        return (f"培训券将在{left}内到期",
                f"您的「{_clip(ctx['batch'])}」将于{shanghai_time(ctx['expires_at'])}到期，请尽快报名参训。")
    if kind == LESSON_REMINDER:
        # The day word from the Shanghai dates: a 24-hour window holds lessons later today as well as tomorrow.
        when = "即将" if window == "1h" else _day_word(ctx["starts_at"], ctx["now"])
        where = f"，地点：{_clip(ctx['site'], 30)}" if ctx.get("site") else "（线上）"
        window_text = (f"签到时间{_hm(ctx['check_in_from'])}起" if ctx.get("check_in_from") else "")
        return (f"{when}上课：{_clip(ctx['lesson'])}",
                f"{shanghai_time(ctx['starts_at'])}开课{where}。{window_text}".rstrip("。") + "。")
    if kind == MISSED_CHECK_IN:
        return (f"未签到：{_clip(ctx['lesson'])}",
                f"课程已于{shanghai_time(ctx['starts_at'])}开始，您还没有签到。如已到场请立即签到，"
                "或当天联系机构补卡。")
    if kind == ABSENCE_RISK:
        why = ("已无法达到结业所需学时" if ctx["reason"] == "below_bar" else "已连续两次缺课")
        return (f"缺勤提醒：{_clip(ctx['plan'])}", f"您{why}，请联系培训机构。")
    if kind == MAKEUP_DECIDED:
        result = "已通过，学时已计入" if ctx["status"] == "approved" else "未通过"
        return ("补卡审核结果", f"「{_clip(ctx['lesson'])}」的补卡申请{result}。")
    if kind == CERTIFICATE_ISSUED:
        return ("培训合格证书已发放", f"「{_clip(ctx['plan'])}」证书编号{ctx['number']}，可在“证书”中查看。")
    if kind == SUBSIDY_STATUS:
        texts = {"publicity": f"补贴已审核通过，公示至{shanghai_time(ctx['publicity_ends_at'])}" if ctx.get(
                     "publicity_ends_at") else "补贴已审核通过，正在公示",
                 "approved": "补贴公示期满，等待拨付", "disbursed": "补贴已拨付",
                 "rejected": "补贴申请未通过"}
        return ("补贴进度", f"「{_clip(ctx['plan'])}」：{texts[window]}。")
    raise ValueError(f"unknown kind {kind!r}")


def _day_word(at: datetime, now: datetime) -> str:
    days = (at.astimezone(SHANGHAI).date() - now.astimezone(SHANGHAI).date()).days
    return {0: "今天", 1: "明天", 2: "后天"}.get(days, shanghai_time(at).split(" ")[0])


def _hm(at: datetime) -> str:
    return f"{at.astimezone(SHANGHAI):%H:%M}"
