"""An institution declares a plan in the console, downloads the roster template, fills it and
uploads it, and sees the result of every spreadsheet row."""
from __future__ import annotations

import io
from datetime import date, timedelta

import pytest
from openpyxl import load_workbook

from .helpers import DESK, login_staff, new_context, settled, snap, watch_errors

pytestmark = pytest.mark.browser

DEMO_PASSWORD = "demo-pass-2026"


def _valid_id(first17: str) -> str:
    from backend.domain.identity import id_check_digit
    return first17 + id_check_digit(first17)


def _fill_template(raw: bytes, rows: list[list]) -> bytes:
    """Write rows under the header row (the one starting with 姓名) of the template's first sheet."""
    wb = load_workbook(io.BytesIO(raw))
    ws = wb.worksheets[0]
    header = next(r for r in range(1, 20) if ws.cell(r, 1).value == "姓名")
    headers = [ws.cell(header, c).value for c in range(1, 6)]
    assert headers == ["姓名", "身份证号", "手机号", "人员类别", "券码"], headers
    for i, values in enumerate(rows, start=header + 1):
        for j, value in enumerate(values, start=1):
            ws.cell(i, j, value)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def test_institution_uploads_roster(browser, server, screenshots, tmp_path):
    ctx = new_context(browser, DESK)
    page = ctx.new_page()
    errors = watch_errors(page)
    login_staff(page, f"{server.url}/console/", "school", DEMO_PASSWORD)

    page.click("nav#nav a[href='#/plans']")
    settled(page, "plans")
    start = date.today() + timedelta(days=10)
    page.fill("input[name=title]", "维修电工（初级）岗前培训")
    page.fill("input[name=occupation_code]", "6-31-01-03")
    page.fill("input[name=starts_on]", start.isoformat())
    page.fill("input[name=ends_on]", (start + timedelta(days=20)).isoformat())
    page.click("#plan-form button[type=submit]")
    settled(page, "plan")
    page.click("nav.tabs a:has-text('参训名单')")
    page.wait_for_selector("#roster-form")

    with page.expect_download() as dl:
        page.click("#template")
    template = (tmp_path / "template.xlsx")
    dl.value.save_as(template)

    good = _valid_id("35010219920202" + "071")
    bad = good[:-1] + ("0" if good[-1] != "0" else "1")
    filled = tmp_path / "roster.xlsx"
    filled.write_bytes(_fill_template(template.read_bytes(), [
        ["钱七", good, "13900000007", "失业人员", None],
        ["孙八", bad, "13900000008", "失业人员", None],
    ]))
    page.set_input_files("#roster-form input[name=file]", str(filled))
    page.click("#roster-form button[type=submit]")
    table = page.locator("table.roster-results")
    table.wait_for()
    rows = table.locator("tbody tr")
    assert rows.count() == 2
    ok_row, bad_row = rows.nth(0), rows.nth(1)
    assert "成功" in ok_row.inner_text() and "row-ok" in ok_row.get_attribute("class")
    assert "失败" in bad_row.inner_text() and "身份证号" in bad_row.inner_text()
    assert int(ok_row.get_attribute("data-row")) + 1 == int(bad_row.get_attribute("data-row"))
    snap(page, screenshots, "console-roster-upload")
    assert not errors, errors
    ctx.close()
