"""Online learning records (线上学习记录): minutes per trainee per online lesson, from the platform's export.

Stored as reported; the hours view caps each record at its lesson's class hours. A re-import of the
same trainee and lesson replaces the earlier minutes (platform exports are cumulative).
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from ..domain import identity
from ..domain import plans as plan_rules
from ..domain.errors import AppError, conflict, invalid
from ..extensions import db
from ..models import Enrollment, Lesson, OnlineRecord, Person, TrainingPlan
from ..security.actor import Actor
from ..security.crypto import vault
from . import audit
from .persons import shanghai_today
from .spreadsheets import cell_text, read_table

MAX_ROWS = 50000
MAX_MINUTES = 24 * 60
CHUNK = 500
OPEN_STATES = plan_rules.RUNNING_STATES

# field -> (template header, accepted header spellings)
COLUMNS: dict[str, tuple[str, tuple[str, ...]]] = {
    "id_number": ("身份证号", ("身份证号", "身份证号码", "公民身份号码", "id_number")),
    "person_id": ("人员编号", ("人员编号", "person_id")),
    "lesson_id": ("课次编号", ("课次编号", "课次ID", "课程编号", "lesson_id")),
    "minutes": ("学习时长（分钟）", ("学习时长", "学习分钟数", "时长", "minutes")),
}
REQUIRED = ("lesson_id", "minutes")


def read_xlsx(data: bytes) -> list[tuple[int, dict]]:
    """Rows of a platform export saved as xlsx (columns 身份证号 or 人员编号, 课次编号, 学习时长（分钟）)."""
    return read_table(data, COLUMNS, REQUIRED, MAX_ROWS)


def _int(value) -> int | None:
    text = cell_text(value)
    if text is None:
        return None
    try:
        return int(text)
    except ValueError:
        return None


def _err(code: str, field: str, **details) -> dict:
    return {"code": code, "field": field, **details}


def import_records(a: Actor, plan: TrainingPlan, raw_rows: list[tuple[int, dict]], now: datetime) -> dict:
    """Store (row number, {id_number|person_id, lesson_id, minutes}) rows; row-level results."""
    if plan.status not in OPEN_STATES:
        raise conflict("invalid_state", status=plan.status, action="online_records")
    if len(raw_rows) > MAX_ROWS:
        raise AppError("too_many_rows", 422, {"max_rows": MAX_ROWS})
    lessons = {lsn.id: lsn for lsn in db.session.execute(select(Lesson).where(
        Lesson.plan_id == plan.id, Lesson.mode == "online")).scalars()}
    if not lessons:
        raise invalid("validation_error", field="lesson_id", reason="plan_has_no_online_lessons")
    enrolled = set(db.session.execute(select(Enrollment.person_id).where(
        Enrollment.plan_id == plan.id, Enrollment.status == "active")).scalars())
    today = shanghai_today(now)
    v = vault()
    rows = []
    for number, raw in raw_rows:
        errors: list[dict] = []
        lesson_id, minutes = _int(raw.get("lesson_id")), _int(raw.get("minutes"))
        lesson = lessons.get(lesson_id)
        if lesson is None:
            errors.append(_err("validation_error", "lesson_id", reason="not_an_online_lesson_of_this_plan"))
        elif lesson.starts_at > now:
            errors.append(_err("validation_error", "lesson_id", reason="lesson_not_started"))
        if minutes is None or not 0 <= minutes <= MAX_MINUTES:
            errors.append(_err("validation_error", "minutes", reason="range", max=MAX_MINUTES))
        person_id, index = _int(raw.get("person_id")), None
        if person_id is None:
            try:
                index = v.blind_index(identity.validate_id_number(cell_text(raw.get("id_number")) or "", today))
            except AppError as err:
                errors.append(_err("invalid_id_number", "id_number", reason=err.details.get("reason")))
        rows.append({"row": number, "lesson_id": lesson_id, "minutes": minutes, "person_id": person_id,
                     "index": index, "errors": errors})
    indexes = [r["index"] for r in rows if r["index"] and not r["errors"]]
    by_index: dict[str, int] = {}
    for start in range(0, len(indexes), CHUNK):
        by_index.update(db.session.execute(select(Person.id_number_index, Person.id).where(
            Person.id_number_index.in_(indexes[start:start + CHUNK]))).all())
    existing = {(rec.lesson_id, rec.person_id): rec for rec in db.session.execute(
        select(OnlineRecord).where(OnlineRecord.plan_id == plan.id)).scalars()}
    seen: dict[tuple[int, int], int] = {}
    for r in rows:
        if r["errors"]:
            continue
        pid = r["person_id"] if r["person_id"] is not None else by_index.get(r["index"])
        if pid is None or pid not in enrolled:
            r["errors"].append(_err("not_enrolled", "id_number" if r["index"] else "person_id"))
            continue
        key = (r["lesson_id"], pid)
        if key in seen:
            r["errors"].append(_err("duplicate_in_file", "lesson_id", first_row=seen[key]))
            continue
        seen[key] = r["row"]
        record = existing.get(key)
        if record is None:
            db.session.add(OnlineRecord(plan_id=plan.id, lesson_id=key[0], person_id=pid, minutes=r["minutes"],
                                        imported_at=now))
        else:
            record.minutes, record.imported_at = r["minutes"], now
        r["person_id"] = pid
    db.session.flush()
    imported = sum(1 for r in rows if not r["errors"])
    if imported:
        audit.record(a.label, "online_records.import", "plan", plan.id, now,
                     after={"imported": imported, "failed": len(rows) - imported})
    return {"imported": imported, "failed": len(rows) - imported,
            "rows": [{"row": r["row"], "status": "error" if r["errors"] else "ok",
                      **({"errors": r["errors"]} if r["errors"] else {"person_id": r["person_id"],
                                                                      "lesson_id": r["lesson_id"]})}
                     for r in rows]}


def template_bytes(plan: TrainingPlan) -> bytes:
    """A sheet to fill in by hand when the platform has no export: one row per active trainee and online
    lesson (人员编号, 姓名, 课次编号, 课次名称) with 学习时长（分钟） to fill in (0 for none)."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    from .spreadsheets import workbook_bytes
    wb = Workbook()
    ws = wb.active
    ws.title = "线上学习记录"
    ws.append(["人员编号", "姓名", "课次编号", "课次名称", "学习时长（分钟）"])
    for cell in ws[1]:
        cell.font = Font(bold=True)
    lessons = db.session.execute(select(Lesson).where(Lesson.plan_id == plan.id, Lesson.mode == "online")
                                 .order_by(Lesson.starts_at, Lesson.id)).scalars().all()
    people = db.session.execute(select(Person.id, Person.name).join(Enrollment, Enrollment.person_id == Person.id)
                                .where(Enrollment.plan_id == plan.id, Enrollment.status == "active")
                                .order_by(Person.id)).all()
    for lesson in lessons:
        for person_id, name in people:
            ws.append([person_id, name, lesson.id, lesson.title, None])
    for letter, width in (("A", 10), ("B", 12), ("C", 10), ("D", 30), ("E", 18)):
        ws.column_dimensions[letter].width = width
    return workbook_bytes(wb)
