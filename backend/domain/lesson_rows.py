"""Lesson rows of the lesson-import template (课次导入模板): one spreadsheet row to the fields of a new lesson."""
from __future__ import annotations

import re
from datetime import date, datetime, time

from backend.domain.plans import SHANGHAI

MODES = {"线下": "offline", "offline": "offline", "面授": "offline", "线上": "online", "online": "online",
         "网络": "online"}
YES = {"是", "需要", "y", "yes", "true", "1", "√"}
NO = {"否", "不需要", "n", "no", "false", "0", ""}
_DATE = re.compile(r"^(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?$")
_TIME = re.compile(r"^(\d{1,2})[:：](\d{2})(?::\d{2})?$")


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _date(value) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    m = _DATE.match(_text(value))
    if not m:
        return None
    try:
        return date(int(m[1]), int(m[2]), int(m[3]))
    except ValueError:
        return None


def _time(value) -> time | None:
    if isinstance(value, datetime):
        return value.time()
    if isinstance(value, time):
        return value
    if isinstance(value, float) and 0 <= value < 1:   # an Excel time typed as a fraction of a day
        minutes = round(value * 24 * 60)
        return time(minutes // 60, minutes % 60)
    m = _TIME.match(_text(value))
    if not m or int(m[1]) > 23 or int(m[2]) > 59:
        return None
    return time(int(m[1]), int(m[2]))


def parse_lesson_row(raw: dict, site_ids: dict[str, int]) -> tuple[dict | None, list[dict]]:
    """(lesson fields for create_lesson, errors) of one row; `site_ids` maps a site's name (and its id as text)
    to its id. Errors are {code: validation_error, field, reason}."""
    errors: list[dict] = []

    def bad(field: str, reason: str) -> None:
        errors.append({"code": "validation_error", "field": field, "reason": reason})

    title = _text(raw.get("title"))
    if not title or len(title) > 128:
        bad("title", "required" if not title else "too_long")
    mode = MODES.get(_text(raw.get("mode")).lower() or "线下")
    if mode is None:
        bad("mode", "not_offline_or_online")
    day = _date(raw.get("date"))
    if day is None:
        bad("date", "not_a_date")
    start, end = _time(raw.get("start")), _time(raw.get("end"))
    if start is None:
        bad("start", "not_a_time")
    if end is None:
        bad("end", "not_a_time")
    try:
        hours = float(_text(raw.get("class_hours")))
    except ValueError:
        hours = None
    if hours is None or not (0.5 <= hours <= 24):
        bad("class_hours", "not_a_number_0_5_to_24")
    site_name = _text(raw.get("site"))
    site_id = None
    if mode == "offline":
        site_id = site_ids.get(site_name)
        if site_id is None:
            bad("site", "unknown_site" if site_name else "required_for_offline")
    qr_text = _text(raw.get("require_site_qr")).lower()
    if qr_text not in YES and qr_text not in NO:
        bad("require_site_qr", "yes_or_no")
    if errors:
        return None, errors
    return {"title": title, "mode": mode,
            "starts_at": datetime.combine(day, start, tzinfo=SHANGHAI),
            "ends_at": datetime.combine(day, end, tzinfo=SHANGHAI),
            "class_hours": hours, "site_id": site_id,
            "require_site_qr": (qr_text in YES) if qr_text else None}, []
