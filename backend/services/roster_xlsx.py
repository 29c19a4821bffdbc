"""The roster Excel template (参训名单模板) and its columns; reading uploads is backend.services.spreadsheets."""
from __future__ import annotations

import functools

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation

from ..domain.roster import TARGET_GROUPS
from .spreadsheets import workbook_bytes

ROSTER_SHEET = "参训名单"
NOTES_SHEET = "填写说明"
TEXT = "@"  # Excel's "Text" number format: an 18-digit ID stays a string instead of 3.50102E+17
TEMPLATE_TEXT_ROWS = 5001  # rows pre-formatted as text (header + 5,000 trainees)

# field -> (template header, accepted header spellings)
ROSTER_COLUMNS: dict[str, tuple[str, tuple[str, ...]]] = {
    "name": ("姓名", ("姓名", "name")),
    "id_number": ("身份证号", ("身份证号", "身份证号码", "公民身份号码", "id_number")),
    "phone": ("手机号", ("手机号", "手机号码", "联系电话", "phone")),
    "groups": ("人员类别", ("人员类别", "人员类型", "groups")),
    "voucher_code": ("券码", ("券码", "培训券码", "培训券编号", "voucher_code")),
}
ROSTER_REQUIRED = ("name", "id_number")
_TEXT_FIELDS = ("id_number", "phone", "voucher_code")
_NOTES = [
    ("列名", "是否必填", "填写要求", "示例"),
    ("姓名", "必填", "与身份证一致的姓名；系统按身份证号匹配已有人员，姓名不一致的行不导入", "张三"),
    ("身份证号", "必填", "18位居民身份证号，末位X大小写均可；本列已设为文本格式，请勿改为数字，"
                    "否则Excel会把号码变成科学计数法并丢失末几位", "350102199003071234"),
    ("手机号", "选填", "11位大陆手机号，可带+86", "13800138000"),
    ("人员类别", "选填", "重点群体类别，可填多个，用顿号、逗号或空格分隔；可选值见下表", "失业人员、农民工"),
    ("券码", "选填", "学员已领取的电子培训券券码（XXXX-XXXX-XXXX-XXXX-X）；填写后导入时即核销为已使用，"
                  "券须属于该学员且适用于本机构和本工种", "ABCD-EFGH-JKMN-PQRS-T"),
]


@functools.lru_cache(maxsize=64)  # ~1 s to build (5,000 pre-formatted rows); only the notes' title varies
def template_bytes(plan_title: str, plan_id: int) -> bytes:
    """The roster template: one data sheet with Chinese headers (ID columns as text) and a notes sheet."""
    wb = Workbook()
    ws = wb.active
    ws.title = ROSTER_SHEET
    header_font, fill = Font(bold=True), PatternFill("solid", fgColor="DDEBF7")
    for col, (field, (header, _)) in enumerate(ROSTER_COLUMNS.items(), start=1):
        cell = ws.cell(row=1, column=col, value=header)
        cell.font, cell.fill = header_font, fill
        letter = get_column_letter(col)
        ws.column_dimensions[letter].width = {"id_number": 24, "voucher_code": 26, "groups": 22}.get(field, 14)
        if field in _TEXT_FIELDS:
            # Column style for rows beyond the pre-formatted ones, and the cells themselves, because
            # Excel and LibreOffice honour a cell's own format before the column's.
            ws.column_dimensions[letter].number_format = TEXT
            for row in range(2, TEMPLATE_TEXT_ROWS + 1):
                ws.cell(row=row, column=col).number_format = TEXT
    ws.freeze_panes = "A2"
    id_rule = DataValidation(type="textLength", operator="equal", formula1="18", allow_blank=True,
                             showErrorMessage=True, errorTitle="身份证号", error="身份证号应为18位")
    ws.add_data_validation(id_rule)
    id_rule.add(f"B2:B{TEMPLATE_TEXT_ROWS}")
    notes = wb.create_sheet(NOTES_SHEET)
    notes.append([f"培训方案：{plan_title}（编号 {plan_id}）"])
    notes.append(["第一行为表头，请勿修改或删除；从第二行起每行一名学员。只读取“参训名单”工作表。"])
    notes.append([])
    for line in _NOTES:
        notes.append(list(line))
    for cell in notes[4]:
        cell.font = header_font
    notes.append([])
    notes.append(["人员类别可选值", "代码"])
    notes[notes.max_row][0].font = header_font
    for code, label in TARGET_GROUPS.items():
        notes.append([label, code])
    for letter, width in (("A", 18), ("B", 12), ("C", 70), ("D", 26)):
        notes.column_dimensions[letter].width = width
    for row in notes.iter_rows():
        for cell in row:
            cell.alignment = Alignment(wrap_text=True, vertical="top")
    return workbook_bytes(wb)
