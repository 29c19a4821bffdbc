"""The institution's exports: a plan's roster, its credited hours and its subsidy claim, as xlsx or CSV with
Chinese headers. Money is shown in yuan with a machine-readable fen column beside it (`*_fen`)."""
from __future__ import annotations

from decimal import Decimal

from openpyxl import Workbook
from sqlalchemy import select

from ..domain.errors import invalid, not_found
from ..domain.roster import TARGET_GROUPS
from ..extensions import db
from ..models import SubsidyClaim, TrainingPlan
from . import hours as hour_service
from .enrollments import enrollments_page
from .spreadsheets import XLSX_MIME, csv_bytes, workbook_bytes
from .subsidy import claim_line_rows, explain

FORMATS = ("xlsx", "csv")
REASONS = {"age": "年龄不符合要求", "group": "不属于面向的人员类别", "household_region": "户籍地不在范围内",
           "duplicate_occupation_enrolment": "一年内已参加同一职业（工种）培训"}
CLAIM_STATUS = {"submitted": "待审核", "approved": "公示中", "disbursed": "已拨付", "rejected": "已驳回"}


def yuan(fen: int | None) -> str:
    """Fen as a yuan amount with two decimals ("1234.50"); exact, no float."""
    if fen is None:
        return ""
    return str((Decimal(int(fen)) / 100).quantize(Decimal("0.01")))


def _hours(value) -> str:
    return format(Decimal(str(value)).normalize(), "f")


def roster_table(plan: TrainingPlan, cfg) -> list[list]:
    """The active roster: header row first; ID numbers masked as on screen."""
    items, _total = enrollments_page(plan, 1, 100_000, "active")
    rows = [["姓名", "身份证号", "性别", "手机号", "人员类别", "比对结果", "不符合原因", "培训券码", "劳动合同"]]
    for e in items:
        rows.append([e.person.name, e.person.id_number_masked, "女" if e.person.gender == "female" else "男",
                     e.phone or "", "、".join(TARGET_GROUPS.get(g, g) for g in e.groups or ()),
                     "符合" if e.eligible else "不符合", "；".join(REASONS.get(r, r) for r in e.reasons or ()),
                     e.voucher.code if e.voucher else "", "已上传" if e.contract_path is not None else "未上传"])
    return rows


def hours_table(plan: TrainingPlan, cfg) -> list[list]:
    """Credited class hours per trainee (offline proven attendance, online minutes, total)."""
    rows = [["姓名", "线下认定课时", "线上认定课时", "合计课时"]]
    for r in hour_service.plan_hours(plan.id):
        rows.append([r["name"], _hours(r["offline_hours"]), _hours(r["online_hours"]), _hours(r["total_hours"])])
    return rows


def claim_table(plan: TrainingPlan, cfg) -> list[list]:
    """The plan's subsidy claim, one line per trainee: amounts in yuan plus amount_fen for machines."""
    claim = db.session.execute(select(SubsidyClaim).where(SubsidyClaim.plan_id == plan.id)
                               .order_by(SubsidyClaim.id.desc())).scalars().first()
    if claim is None:
        raise not_found("not_found", object="subsidy_claim")
    rows = [["姓名", "认定课时", "培训券码", "补贴金额（元）", "是否封顶", "计算说明", "状态", "amount_fen"]]
    for line, name, code in claim_line_rows(claim.id):
        rows.append([name, _hours(line.credited_hours), code or "", yuan(line.amount_fen), "是" if line.capped else "否",
                     explain(line.basis) or "", CLAIM_STATUS.get(claim.status, claim.status), line.amount_fen])
    rows.append(["合计", "", "", yuan(claim.total_fen), "", "", "", claim.total_fen])
    return rows


TABLES = {"roster": ("参训名单", roster_table), "hours": ("学时", hours_table), "claim": ("补贴申请", claim_table)}


def export(plan: TrainingPlan, kind: str, fmt: str, cfg) -> tuple[bytes, str, str]:
    """(bytes, mime type, file extension) of one export of a plan; `cfg` holds the attendance settings."""
    if fmt not in FORMATS:
        raise invalid("validation_error", fields={"format": ["xlsx or csv"]})
    title, build = TABLES[kind]
    rows = build(plan, cfg)
    if fmt == "csv":
        return csv_bytes(rows), "text/csv; charset=utf-8", "csv"
    wb = Workbook()
    ws = wb.active
    ws.title = title
    for row in rows:
        ws.append(row)
    return workbook_bytes(wb), XLSX_MIME, "xlsx"
