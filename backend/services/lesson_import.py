"""Lessons from a spreadsheet: the lesson template (课次导入模板) and an all-or-nothing import of its rows."""
from __future__ import annotations

from datetime import datetime

from openpyxl import Workbook
from openpyxl.styles import Font, PatternFill
from openpyxl.worksheet.datavalidation import DataValidation
from sqlalchemy import select

from ..domain.errors import AppError, invalid
from ..domain.lesson_rows import parse_lesson_row
from ..extensions import db
from ..models import Site, TrainingPlan
from ..security.actor import Actor
from . import audit
from .lessons import create_lesson
from .spreadsheets import read_table, workbook_bytes

SHEET = "课次"
MAX_ROWS = 500
# field -> (template header, accepted header spellings)
COLUMNS: dict[str, tuple[str, tuple[str, ...]]] = {
    "title": ("课次名称", ("课次名称", "课程名称", "title")),
    "mode": ("方式", ("方式", "授课方式", "mode")),
    "date": ("日期", ("日期", "上课日期", "date")),
    "start": ("开始时间", ("开始时间", "start")),
    "end": ("结束时间", ("结束时间", "end")),
    "class_hours": ("课时", ("课时", "学时", "class_hours")),
    "site": ("场地", ("场地", "培训场地", "场地名称", "site")),
    "require_site_qr": ("须扫现场码", ("须扫现场码", "现场码", "require_site_qr")),
}
REQUIRED = ("title", "date", "start", "end", "class_hours")
NOTES = [
    ("列名", "填写要求", "示例"),
    ("课次名称", "必填，不超过128字", "安全用电"),
    ("方式", "线下 或 线上；不填为线下", "线下"),
    ("日期", "上课日期，格式 2026-03-10（北京时间）", "2026-03-10"),
    ("开始时间 / 结束时间", "24小时制，如 09:00、12:00", "09:00"),
    ("课时", "0.5 的整数倍；每课时不少于45分钟", "4"),
    ("场地", "线下课次必填，填本机构已登记的场地名称", "鼓楼实训基地"),
    ("须扫现场码", "是 或 否；不填按场地设置", "否"),
]


def template_bytes(plan: TrainingPlan) -> bytes:
    """The lesson template: a header row with a drop-down for 方式 and 须扫现场码, and a notes sheet."""
    wb = Workbook()
    ws = wb.active
    ws.title = SHEET
    for col, (_field, (header, _)) in enumerate(COLUMNS.items(), start=1):
        cell = ws.cell(row=1, column=col, value=header)
        cell.font, cell.fill = Font(bold=True), PatternFill("solid", fgColor="DDEBF7")
        ws.column_dimensions[cell.column_letter].width = 16
        if _field in ("date", "start", "end"):
            ws.column_dimensions[cell.column_letter].number_format = "@"
    for rule, column in ((DataValidation(type="list", formula1='"线下,线上"', allow_blank=True), "B"),
                         (DataValidation(type="list", formula1='"是,否"', allow_blank=True), "H")):
        ws.add_data_validation(rule)
        rule.add(f"{column}2:{column}{MAX_ROWS + 1}")
    ws.freeze_panes = "A2"
    notes = wb.create_sheet("填写说明")
    notes.append([f"培训方案：{plan.title}（编号 {plan.id}），{plan.starts_on.isoformat()} 至 {plan.ends_on.isoformat()}"])
    notes.append(["第一行为表头，请勿修改；从第二行起每行一个课次。任何一行有误则整表不导入。"])
    notes.append([])
    for line in NOTES:
        notes.append(list(line))
    notes.column_dimensions["A"].width, notes.column_dimensions["B"].width = 20, 48
    return workbook_bytes(wb)


def read_xlsx(data: bytes) -> list[tuple[int, dict]]:
    """Rows of an uploaded lesson sheet (sheet 课次, or the first)."""
    return read_table(data, COLUMNS, REQUIRED, MAX_ROWS, sheet=SHEET)


def _site_ids(institution_id: int) -> dict[str, int]:
    rows = db.session.execute(select(Site.id, Site.name).where(Site.institution_id == institution_id)).all()
    out = {name.strip(): sid for sid, name in rows}
    out.update({str(sid): sid for sid, _ in rows})
    return out


def import_lessons(a: Actor, plan: TrainingPlan, rows: list[tuple[int, dict]], now: datetime) -> dict:
    """Create a lesson per row; a bad row (its own fields or a lesson rule) refuses the whole sheet
    (422 invalid_rows with every row's result), so a plan never holds half a timetable."""
    if not rows:
        raise invalid("validation_error", field="file", reason="no_rows")
    sites = _site_ids(plan.institution_id)
    reports, created = [], []
    for number, raw in rows:
        data, errors = parse_lesson_row(raw, sites)
        if data is not None:
            try:
                created.append(create_lesson(a, plan, data, now))
            except AppError as err:
                d = err.details
                errors = [{"code": err.code, "field": d.get("field"), **({"reason": d["reason"]} if "reason" in d else {})}]
        reports.append({"row": number, "status": "error" if errors else "ok", "errors": errors})
    failed = sum(r["status"] == "error" for r in reports)
    if failed:
        # The lessons created above go with the request's rollback.
        raise AppError("invalid_rows", 422, {"imported": 0, "errors": failed, "rows": reports})
    audit.record(a.label, "lessons.import", "plan", plan.id, now, after={"imported": len(created)})
    return {"imported": len(created), "failed": 0, "ineligible": 0, "rows": reports}
