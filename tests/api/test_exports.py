"""The institution's exports: roster, credited hours and the subsidy claim, with Chinese headers; money in
yuan with the fen amount kept in a machine-readable column."""
from __future__ import annotations

import csv
import io

from openpyxl import load_workbook

from tests.api import outcomes_fixtures as fx
from tests.api.outcomes_fixtures import API, complete_and_approve, error

app_config, world = fx.app_config, fx.world  # shared fixtures


def _xlsx_rows(data: bytes) -> list[list]:
    ws = load_workbook(io.BytesIO(data)).worksheets[0]
    return [[c.value for c in row] for row in ws.iter_rows()]


def test_roster_and_hours_exports(client, world):
    r = client.get(f"{API}/plans/{world.plan.id}/exports/roster", headers=world.inst_h)
    assert r.status_code == 200 and r.mimetype.endswith("spreadsheetml.sheet")
    rows = _xlsx_rows(r.data)
    assert rows[0][:3] == ["姓名", "身份证号", "性别"] and len(rows) == 7
    assert {row[0] for row in rows[1:]} == {"张三", "李四", "王五", "赵六", "钱七", "孙八"}
    assert all("*" in row[1] for row in rows[1:])          # masked, as on screen
    assert "不符合" in {row[5] for row in rows[1:]}
    r = client.get(f"{API}/plans/{world.plan.id}/exports/hours?format=csv", headers=world.inst_h)
    assert r.status_code == 200 and r.mimetype == "text/csv"
    table = list(csv.reader(io.StringIO(r.data.decode("utf-8-sig"))))
    assert table[0] == ["姓名", "线下认定课时", "线上认定课时", "合计课时"]
    by_name = {row[0]: row for row in table[1:]}
    assert by_name["王五"][3] == "12" and by_name["李四"][3] == "8"


def test_claim_export_in_yuan_with_fen_column(client, clock, world):
    r = client.get(f"{API}/plans/{world.plan.id}/exports/claim", headers=world.inst_h)
    assert r.status_code == 404 and error(r) == "not_found"
    complete_and_approve(client, clock, world)
    r = client.get(f"{API}/plans/{world.plan.id}/exports/claim", headers=world.inst_h)
    assert r.status_code == 200
    rows = _xlsx_rows(r.data)
    head = rows[0]
    assert head[:4] == ["姓名", "认定课时", "培训券码", "补贴金额（元）"] and head[-1] == "amount_fen"
    lines = {row[0]: row for row in rows[1:]}
    assert lines["张三"][3] == "300.00" and lines["张三"][-1] == 30000
    assert lines["王五"][3] == "360.00" and lines["王五"][-1] == 36000
    assert lines["合计"][-1] == 30000 + 36000 + 20000 and lines["合计"][3] == "860.00"


def test_exports_scope_and_format(client, world, staff, make_institution):
    _, other_h = staff("institution", institution=make_institution("350102"))
    assert client.get(f"{API}/plans/{world.plan.id}/exports/roster", headers=other_h).status_code in (403, 404)
    r = client.get(f"{API}/plans/{world.plan.id}/exports/roster?format=pdf", headers=world.inst_h)
    assert r.status_code == 422
    assert client.get(f"{API}/plans/{world.plan.id}/exports/roster", headers=world.sup1_h).status_code == 200
