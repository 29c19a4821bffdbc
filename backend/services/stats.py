"""Statistics overview by region prefix and Shanghai date range, and its CSV / xlsx export."""
from __future__ import annotations

from collections import Counter
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal

from openpyxl import Workbook
from sqlalchemy import func, select

from ..clock import now as clock_now
from ..domain import identity
from ..domain.attendance import SHANGHAI, SUPERSEDED
from ..domain.messages import message_for
from ..domain.subsidy import completed
from ..extensions import db
from ..models import (
    AttendanceEvent,
    Enrollment,
    Lesson,
    Person,
    SubsidyClaim,
    TrainingPlan,
)
from .outcomes import completion_ratio, credited_hours_by_person, plan_class_hours
from .persons import shanghai_today
from .spreadsheets import csv_bytes, workbook_bytes

AGE_BANDS = ((16, "16-24"), (25, "25-34"), (35, "35-44"), (45, "45-54"), (55, "55+"))  # ours


def age_band(age: int) -> str:
    """The statistics band an age falls in ('under_16' below the working age)."""
    label = "under_16"
    for lower, name in AGE_BANDS:
        if age >= lower:
            label = name
    return label


def _bounds(date_from: date | None, date_to: date | None) -> tuple[datetime | None, datetime | None]:
    """UTC instants of 00:00 Shanghai on `from` and on the day after `to` (both ends inclusive as dates)."""
    start = datetime.combine(date_from, time(0), tzinfo=SHANGHAI) if date_from else None
    end = datetime.combine(date_to + timedelta(days=1), time(0), tzinfo=SHANGHAI) if date_to else None
    return start, end


def _in_range(column, start, end):
    conds = []
    if start is not None:
        conds.append(column >= start)
    if end is not None:
        conds.append(column < end)
    return conds


def _region(column, prefix: str):
    return [column.startswith(prefix)] if prefix else []


def _plans_overlapping(prefix: str, date_from: date | None, date_to: date | None) -> list:
    conds = _region(TrainingPlan.region_code, prefix)
    if date_from:
        conds.append(TrainingPlan.ends_on >= date_from)
    if date_to:
        conds.append(TrainingPlan.starts_on <= date_to)
    return conds


def vouchers_section(prefix: str, date_from: date | None, date_to: date | None, now: datetime) -> dict:
    """The voucher funnel, owned by the vouchers area (written_off_fen included)."""
    from .vouchers import voucher_funnel
    return dict(voucher_funnel(prefix, date_from, date_to, now))


def trainees_section(prefix: str, date_from: date | None, date_to: date | None, today: date) -> dict:
    """Distinct rostered persons on plans in the region running in the range, by age band, gender, province."""
    people = db.session.execute(
        select(Person.id, Person.birth_date, Person.gender, Person.household_region).distinct()
        .join(Enrollment, Enrollment.person_id == Person.id)
        .join(TrainingPlan, TrainingPlan.id == Enrollment.plan_id)
        .where(Enrollment.status == "active", *_plans_overlapping(prefix, date_from, date_to))).all()
    on = min(date_to, today) if date_to else today
    bands, genders, provinces = Counter(), Counter(), Counter()
    for _, birth, gender, household in people:
        bands[age_band(identity.age_on(birth, on))] += 1
        genders[gender] += 1
        provinces[identity.province_name(household) or household[:2]] += 1
    return {"total": len(people), "age_on": on.isoformat(), "by_age_band": dict(sorted(bands.items())),
            "by_gender": dict(sorted(genders.items())), "by_province": dict(sorted(provinces.items()))}


def attendance_section(prefix: str, date_from: date | None, date_to: date | None) -> dict:
    """Attendance events received in the range for lessons in the region, and the completion rate."""
    start, end = _bounds(date_from, date_to)
    rows = db.session.execute(
        select(AttendanceEvent.accepted, AttendanceEvent.reason, AttendanceEvent.flags)
        .join(Lesson, Lesson.id == AttendanceEvent.lesson_id)
        .join(TrainingPlan, TrainingPlan.id == Lesson.plan_id)
        .where(*_region(TrainingPlan.region_code, prefix), *_in_range(AttendanceEvent.received_at, start, end))).all()
    # An event a make-up later superseded was accepted when it came: it is not a refusal.
    rows = [(ok or reason == SUPERSEDED, reason, flags) for ok, reason, flags in rows]
    accepted = sum(1 for ok, _, _ in rows if ok)
    reasons = Counter(reason or "unknown" for ok, reason, _ in rows if not ok)
    flagged = sum(1 for ok, _, flags in rows if ok and flags)
    enrolled = done = 0
    plans = db.session.execute(select(TrainingPlan).where(
        TrainingPlan.status.in_(("completion_submitted", "completed")),
        *_plans_overlapping(prefix, date_from, date_to))).scalars().all()
    # Per plan: its class hours and the credited hours of its active roster (the same crediting the
    # subsidy uses); the roster comes with the credited hours, so no second enrolment query. Each plan
    # counts by its own policy's completion bar.
    for plan in plans:
        hours = plan_class_hours(plan.id)
        ratio = completion_ratio(plan, clock_now())
        for credited in credited_hours_by_person(plan.id).values():
            enrolled += 1
            done += completed(credited, hours, ratio)
    rate = (Decimal(done) / enrolled).quantize(Decimal("0.0001"), ROUND_HALF_UP) if enrolled else None
    return {"events": len(rows), "accepted": accepted, "rejected": len(rows) - accepted,
            "by_reason": dict(sorted(reasons.items())), "flagged": flagged,
            # A share, not money: a JSON number is what charts expect.
            "completion_rate": float(rate) if rate is not None else None,
            "completion": {"trainees": enrolled, "completed": done}}


def subsidy_section(prefix: str, date_from: date | None, date_to: date | None) -> dict:
    """Fen approved (approval in range, still approved or paid) and fen disbursed in range."""
    start, end = _bounds(date_from, date_to)
    approved = db.session.execute(
        select(func.count(SubsidyClaim.id), func.coalesce(func.sum(SubsidyClaim.total_fen), 0))
        .where(SubsidyClaim.status.in_(("approved", "disbursed")), *_region(SubsidyClaim.region_code, prefix),
               *_in_range(SubsidyClaim.approved_at, start, end))).one()
    disbursed = db.session.execute(
        select(func.count(SubsidyClaim.id), func.coalesce(func.sum(SubsidyClaim.total_fen), 0))
        .where(SubsidyClaim.status == "disbursed", *_region(SubsidyClaim.region_code, prefix),
               *_in_range(SubsidyClaim.disbursed_at, start, end))).one()
    return {"approved_fen": int(approved[1]), "disbursed_fen": int(disbursed[1]),
            "approved_claims": int(approved[0]), "disbursed_claims": int(disbursed[0])}


def overview(prefix: str, date_from: date | None, date_to: date | None, now: datetime) -> dict:
    """The whole overview, API.md shape."""
    return {"region_code": prefix, "from": date_from.isoformat() if date_from else None,
            "to": date_to.isoformat() if date_to else None,
            "vouchers": vouchers_section(prefix, date_from, date_to, now),
            "trainees": trainees_section(prefix, date_from, date_to, shanghai_today(now)),
            "attendance": attendance_section(prefix, date_from, date_to),
            "subsidy": subsidy_section(prefix, date_from, date_to)}


def flatten(data: dict) -> list[tuple[str, str, object]]:
    """(section, metric, value) rows of the overview, nested keys joined with '.'."""
    rows = []

    def walk(section, path, value):
        if isinstance(value, dict):
            for k, v in value.items():
                walk(section, f"{path}.{k}" if path else str(k), v)
        else:
            rows.append((section, path, value))

    for section in ("vouchers", "trainees", "attendance", "subsidy"):
        walk(section, "", data[section])
    return rows


# Chinese labels of the export (the machine keys stay beside them in section / metric / value).
_SECTION_LABELS = {"vouchers": "培训券", "trainees": "参训人员", "attendance": "考勤", "subsidy": "补贴"}
_METRIC_LABELS = {
    "issued": "已发放", "claimed": "已领取", "used": "已使用", "expired": "已过期", "returned": "已退回",
    "voided": "已作废", "written_off": "已核销", "written_off_fen": "已核销金额", "total": "人数", "age_on": "年龄计算日",
    "by_age_band": "按年龄段", "by_gender": "按性别", "by_province": "按户籍省份", "events": "考勤记录数",
    "accepted": "有效", "rejected": "无效", "by_reason": "按无效原因", "flagged": "带风险标记",
    "completion_rate": "结业率", "completion": "结业", "trainees": "参训人数", "completed": "已结业",
    "approved_fen": "已审核补贴金额", "disbursed_fen": "已拨付补贴金额", "approved_claims": "已审核申请数",
    "disbursed_claims": "已拨付申请数",
}
_GENDER_LABELS = {"M": "男", "F": "女", "male": "男", "female": "女"}
EXPORT_HEADER = ["板块", "指标", "数值", "单位", "section", "metric", "value"]


def _metric_label(metric: str) -> str:
    """'by_reason.outside_fence' -> '按无效原因 · 不在签到范围内' (keys without a label stay as they are)."""
    parts = metric.split(".")
    out = [_METRIC_LABELS.get(parts[0], parts[0])]
    for part in parts[1:]:
        if parts[0] == "by_reason":
            out.append(message_for(part))
        elif parts[0] == "by_gender":
            out.append(_GENDER_LABELS.get(part, part))
        else:
            out.append(_METRIC_LABELS.get(part, part))
    return " · ".join(out)


def export_rows(data: dict) -> list[list]:
    """The overview as labelled rows: Chinese section and metric, the value (amounts in yuan, a rate in
    percent) with its unit, then the machine columns section / metric / value (amounts in fen)."""
    rows = []
    for section, metric, value in flatten(data):
        shown, unit = value, ""
        if metric.endswith("_fen") and value is not None:
            shown, unit = f"{Decimal(int(value)) / 100:.2f}", "元"
        elif metric == "completion_rate" and value is not None:
            shown, unit = f"{float(value) * 100:.1f}", "%"
        rows.append([_SECTION_LABELS.get(section, section), _metric_label(metric), shown, unit,
                     section, metric, value])
    return rows


def _range_row(data: dict) -> list:
    return ["地区代码", data["region_code"] or "", "起始日期", data["from"] or "", "截止日期", data["to"] or "",
            "region_code", data["region_code"] or "", "from", data["from"] or "", "to", data["to"] or ""]


def export_csv(data: dict) -> bytes:
    """UTF-8 CSV with a BOM so Excel opens the Chinese text correctly; text cells formula-proof."""
    return csv_bytes([_range_row(data), EXPORT_HEADER] + export_rows(data))


def export_xlsx(data: dict) -> bytes:
    """The same figures as a worksheet."""
    wb = Workbook()
    ws = wb.active
    ws.title = "统计"
    ws.append(_range_row(data))
    ws.append(EXPORT_HEADER)
    for row in export_rows(data):
        ws.append(row)
    return workbook_bytes(wb)
