"""Assessment results (成绩): all-or-nothing import from JSON or the Excel template, and the trainee's
lifelong training archive (终身职业技能培训电子档案)."""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal, InvalidOperation

from openpyxl import Workbook
from openpyxl.styles import Font
from sqlalchemy import select

from ..domain import identity
from ..domain import plans as plan_rules
from ..domain.errors import AppError, conflict, invalid
from ..domain.occupations import occupation_name
from ..domain.subsidy import completed
from ..extensions import db
from ..models import Certificate, Enrollment, Evaluation, Institution, Person, Result, TrainingPlan
from ..security.actor import Actor
from ..security.authz import ensure_institution, get_or_404
from . import audit, outcomes, spreadsheets
from .hours import number
from .persons import find_by_id_number, shanghai_today

# Results are recorded while the plan runs or once its lessons are over, never after completion is applied for.
OPEN_STATES = plan_rules.RUNNING_STATES
HEADERS = {"person_id": "学员编号", "name": "姓名", "id_number": "身份证号", "score": "成绩", "passed": "是否合格"}
# field -> (template header, accepted header spellings), for spreadsheets.read_table
COLUMNS = {key: (label, (label,)) for key, label in HEADERS.items()}
_TRUE = {"是", "合格", "通过", "true", "yes", "y", "1"}
_FALSE = {"否", "不合格", "未通过", "false", "no", "n", "0"}
MAX_ROWS = 5000


def _parse_score(raw) -> tuple[Decimal | None, str | None]:
    if raw is None or raw == "" or isinstance(raw, bool):
        return None, "score_invalid" if isinstance(raw, bool) else "score_required"
    try:
        # str() first: a float from a spreadsheet cell becomes its shortest decimal form, not a binary expansion.
        score = Decimal(str(raw).strip())
    except InvalidOperation:
        return None, "score_invalid"
    if not score.is_finite():
        return None, "score_invalid"
    if not Decimal(0) <= score <= Decimal(100):
        return None, "score_out_of_range"
    if score != score.quantize(Decimal("0.1")):
        return None, "score_invalid"  # one decimal place at most, as stored
    return score.quantize(Decimal("0.1")), None


def _parse_passed(raw) -> tuple[bool | None, str | None]:
    if isinstance(raw, bool):
        return raw, None
    text = str(raw if raw is not None else "").strip().lower()
    if text in _TRUE:
        return True, None
    if text in _FALSE:
        return False, None
    return None, "passed_required" if not text else "passed_invalid"


def _roster(plan_id: int) -> dict[int, Person]:
    rows = db.session.execute(select(Person).join(Enrollment, Enrollment.person_id == Person.id).where(
        Enrollment.plan_id == plan_id, Enrollment.status == "active")).scalars()
    return {p.id: p for p in rows}


def _resolve_person(raw: dict, roster: dict[int, Person], today) -> tuple[Person | None, list[str]]:
    pid_raw, id_raw = raw.get("person_id"), raw.get("id_number")
    id_text = str(id_raw).strip() if id_raw not in (None, "") else ""
    if "*" in id_text:
        id_text = ""  # the template shows masked numbers for reference only; 学员编号 identifies the row
    person = None
    if pid_raw not in (None, ""):
        try:
            pid = int(str(pid_raw).strip())
        except ValueError:
            return None, ["person_id_invalid"]
        person = roster.get(pid)
        if person is None:
            return None, ["not_on_roster"]
    if id_text:
        try:
            number = identity.validate_id_number(id_text, today)
        except AppError:
            return None, ["invalid_id_number"]
        found = find_by_id_number(number)
        if person is not None and (found is None or found.id != person.id):
            return None, ["person_mismatch"]
        if found is None or found.id not in roster:
            return None, ["not_on_roster"]
        person = found
    if person is None:
        return None, ["person_required"]
    return person, []


def validate_rows(plan_id: int, rows: list[tuple[int, dict]], now: datetime) -> tuple[list[dict], list[tuple]]:
    """Check every row; returns (row reports, [(person, score, passed)]) — the second only if all are good."""
    roster = _roster(plan_id)
    today = shanghai_today(now)
    reports, good, seen = [], [], {}
    for row_no, raw in rows:
        person, errors = _resolve_person(raw, roster, today)
        # unquote: a name our template neutralised ("'=..." for a legacy name) still matches the person.
        name = spreadsheets.unquote(str(raw.get("name") or "").strip())
        if person is not None and name and name != person.name:
            errors.append("name_mismatch")
        score, err = _parse_score(raw.get("score"))
        errors += [err] if err else []
        passed, err = _parse_passed(raw.get("passed"))
        errors += [err] if err else []
        report = {"row": row_no, "status": "ok", "person_id": person.id if person else None,
                  "id_number_masked": person.id_number_masked if person else None}
        if person is not None and person.id in seen:
            errors.append("duplicate_row")
            report["duplicate_of"] = seen[person.id]
        elif person is not None:
            seen[person.id] = row_no
        if errors:
            report.update(status="error", errors=errors)
        else:
            good.append((person, score, passed))
        reports.append(report)
    return reports, good if len(good) == len(rows) else []


def _plan_for_results(a: Actor, plan_id: int) -> TrainingPlan:
    plan = get_or_404(TrainingPlan, plan_id)
    ensure_institution(a, plan.institution_id)
    if plan.status not in OPEN_STATES:
        raise conflict("invalid_state", status=plan.status, action="record_results")
    return plan


def import_results(a: Actor, plan_id: int, rows: list[tuple[int, dict]], now: datetime) -> dict:
    """Record results for the plan; any bad row refuses the whole import (422 invalid_rows)."""
    plan = _plan_for_results(a, plan_id)
    if not rows:
        raise invalid("validation_error", fields={"results": ["at least one row"]})
    if len(rows) > MAX_ROWS:
        raise invalid("validation_error", fields={"results": [f"at most {MAX_ROWS} rows"]})
    reports, good = validate_rows(plan.id, rows, now)
    if not good:
        raise AppError("invalid_rows", 422, {"imported": 0,
                                              "errors": sum(r["status"] == "error" for r in reports),
                                              "rows": reports})
    existing = {r.person_id: r for r in db.session.execute(
        select(Result).where(Result.plan_id == plan.id)).scalars()}
    for person, score, passed in good:
        result = existing.get(person.id)
        if result is None:
            db.session.add(Result(plan_id=plan.id, person_id=person.id, score=score, passed=passed, recorded_at=now))
        else:
            result.score, result.passed, result.recorded_at = score, passed, now
    db.session.flush()
    audit.record(a.label, "results.import", "plan", plan.id, now,
                 after={"imported": len(good), "passed": sum(1 for _, _, p in good if p),
                        "updated": sum(1 for p, _, _ in good if p.id in existing)})
    return {"imported": len(good), "rows": reports}


def json_rows(items: list) -> list[tuple[int, dict]]:
    """JSON rows numbered from 1; anything that is not an object is reported as a bad row."""
    return [(i, item if isinstance(item, dict) else {}) for i, item in enumerate(items, start=1)]


def xlsx_rows(data: bytes) -> list[tuple[int, dict]]:
    """Rows of an uploaded results sheet keyed by the template's Chinese headers, with sheet row numbers.

    Size, zip and row limits are spreadsheets.read_table's: at most MAX_ROWS data rows.
    """
    return spreadsheets.read_table(data, COLUMNS, ("score", "passed"), MAX_ROWS, one_of=("person_id", "id_number"))


def template_xlsx(a: Actor, plan_id: int) -> bytes:
    """The results sheet prefilled with the roster (学员编号, name, masked ID number)."""
    plan = get_or_404(TrainingPlan, plan_id)
    ensure_institution(a, plan.institution_id)
    wb = Workbook()
    ws = wb.active
    ws.title = "成绩"
    ws.append([HEADERS[k] for k in ("person_id", "name", "id_number", "score", "passed")])
    for cell in ws[1]:
        cell.font = Font(bold=True)
    results = {r.person_id: r for r in db.session.execute(select(Result).where(Result.plan_id == plan.id)).scalars()}
    for person in sorted(_roster(plan.id).values(), key=lambda p: p.id):
        r = results.get(person.id)
        ws.append([person.id, person.name, person.id_number_masked,
                   str(r.score) if r else None, ("是" if r.passed else "否") if r else None])
    for col, width in zip("ABCDE", (10, 12, 22, 8, 10), strict=True):
        ws.column_dimensions[col].width = width
    ws.cell(row=1, column=7, value="说明：成绩 0–100（最多一位小数）；是否合格 填 是/否；以学员编号识别学员。")
    return spreadsheets.workbook_bytes(wb)


def plan_results(a: Actor, plan_id: int) -> list[dict]:
    """The plan's recorded results (institution or region supervisor)."""
    plan = get_or_404(TrainingPlan, plan_id)
    ensure_institution(a, plan.institution_id, plan.region_code)
    rows = db.session.execute(select(Result, Person).join(Person, Person.id == Result.person_id)
                              .where(Result.plan_id == plan.id).order_by(Result.id)).all()
    return [{"person_id": p.id, "name": p.name, "id_number_masked": p.id_number_masked, "score": number(r.score),
             "passed": r.passed, "recorded_at": r.recorded_at.isoformat()} for r, p in rows]


def trainee_archive(person_id: int, now: datetime) -> dict:
    """Every plan the person was rostered on, with credited hours, result, certificate and subsidy lines."""
    from . import subsidy
    person = db.session.get(Person, person_id)
    rows = db.session.execute(
        select(Enrollment, TrainingPlan, Institution).join(TrainingPlan, TrainingPlan.id == Enrollment.plan_id)
        .join(Institution, Institution.id == TrainingPlan.institution_id)
        .where(Enrollment.person_id == person_id).order_by(TrainingPlan.starts_on.desc(), TrainingPlan.id)).all()
    lines_by_plan: dict[int, list] = {}
    for line in subsidy.my_subsidies(person_id, now):
        lines_by_plan.setdefault(line["plan_id"], []).append(line)
    plans, total_hours = [], Decimal(0)
    for enrollment, plan, inst in rows:
        ratio = outcomes.completion_ratio(plan, now)
        plan_hours = outcomes.plan_class_hours(plan.id)
        credited = outcomes.credited_hours_by_person(plan.id).get(person_id, Decimal(0))
        total_hours += credited
        result = db.session.execute(select(Result).where(Result.plan_id == plan.id,
                                                         Result.person_id == person_id)).scalar()
        cert = db.session.execute(select(Certificate).where(Certificate.plan_id == plan.id,
                                                            Certificate.person_id == person_id)).scalar()
        evaluated = db.session.execute(select(Evaluation.id).where(Evaluation.plan_id == plan.id,
                                                                   Evaluation.person_id == person_id)).scalar()
        plans.append({
            "plan_id": plan.id, "title": plan.title, "occupation_code": plan.occupation_code,
            "occupation_name": occupation_name(plan.occupation_code),
            "plan_type": plan.plan_type, "delivery": plan.delivery, "institution_id": inst.id,
            "institution": inst.name, "starts_on": plan.starts_on.isoformat(), "ends_on": plan.ends_on.isoformat(),
            "plan_status": plan.status, "enrollment_status": enrollment.status,
            "plan_hours": number(plan_hours), "credited_hours": number(credited),
            "completed": completed(credited, plan_hours, ratio),
            "result": {"score": number(result.score), "passed": result.passed} if result else None,
            "certificate": cert,  # the Certificate (or None): the api dumps it
            "subsidies": lines_by_plan.get(plan.id, []), "evaluated": evaluated is not None})
    paid = sum(line["amount_fen"] for lines in lines_by_plan.values() for line in lines
               if line["status"] == "disbursed")
    return {"person": {"id": person.id, "name": person.name, "id_number_masked": person.id_number_masked},
            "plans": plans, "certificates": sum(1 for p in plans if p["certificate"]),
            "credited_hours_total": number(total_hours),
            "subsidy_disbursed_fen": paid}
