"""Statistics overview: shape, scope, ranges and the CSV / xlsx export."""
from __future__ import annotations

import csv
import io

from openpyxl import load_workbook

from backend.services.stats import age_band
from tests.api import outcomes_fixtures as fx
from tests.api.outcomes_fixtures import API, complete_and_approve, error

app_config, world = fx.app_config, fx.world  # shared fixtures

SHAPE = {
    "vouchers": {"issued", "claimed", "used", "returned", "expired", "written_off", "written_off_fen"},
    "trainees": {"total", "by_age_band", "by_gender", "by_province"},
    "attendance": {"events", "accepted", "rejected", "by_reason", "flagged", "completion_rate"},
    "subsidy": {"approved_fen", "disbursed_fen"},
}


def test_age_bands():
    assert [age_band(a) for a in (15, 16, 24, 25, 34, 35, 44, 45, 54, 55, 60, 70)] == [
        "under_16", "16-24", "16-24", "25-34", "25-34", "35-44", "35-44", "45-54", "45-54", "55+", "55+", "55+"]


def test_overview_shape_and_defaults(client, clock, world, staff):
    w = world
    complete_and_approve(client, clock, w)
    r = client.get(f"{API}/stats/overview", headers=w.sup1_h)
    assert r.status_code == 200, r.get_json()
    data = r.get_json()
    for section, keys in SHAPE.items():
        assert keys <= set(data[section]), section
    assert data["region_code"] == "3501" and data["from"] is None and data["to"] is None
    assert data["vouchers"]["used"] == 2 and data["vouchers"]["claimed"] == 2
    assert data["trainees"]["total"] == 6
    assert data["attendance"]["completion_rate"] == 0.8333
    assert data["subsidy"] == {"approved_fen": 0, "disbursed_fen": 0, "approved_claims": 0, "disbursed_claims": 0}
    # Admins see every region: F's earlier claim in 3502 is approved there.
    _, admin_h = staff("admin")
    everything = client.get(f"{API}/stats/overview", headers=admin_h).get_json()
    assert everything["region_code"] == "" and everything["subsidy"]["approved_fen"] == 80000
    assert everything["trainees"]["total"] == 6 + 0  # the earlier plan has no roster rows


def test_scope_and_validation(client, world, staff):
    w = world
    _, far_h = staff("supervisor", region_code="3502")
    r = client.get(f"{API}/stats/overview?region_code=3501", headers=far_h)
    assert r.status_code == 403 and error(r) == "out_of_scope"
    r = client.get(f"{API}/stats/overview?region_code=35", headers=w.sup1_h)
    assert r.status_code == 403 and error(r) == "out_of_scope"
    r = client.get(f"{API}/stats/overview?region_code=350102", headers=w.sup1_h)
    assert r.status_code == 200 and r.get_json()["trainees"]["total"] == 6
    r = client.get(f"{API}/stats/overview?region_code=350103", headers=w.sup1_h)
    assert r.status_code == 200 and r.get_json()["trainees"]["total"] == 0
    for query in ("region_code=99", "region_code=35x", "from=2026-13-01", "from=2026-03-10&to=2026-03-01"):
        r = client.get(f"{API}/stats/overview?{query}", headers=w.sup1_h)
        assert r.status_code == 422, query
    assert client.get(f"{API}/stats/overview", headers=w.inst_h).status_code == 403
    assert client.get(f"{API}/stats/overview", headers=w.a_h).status_code == 403
    assert client.get(f"{API}/stats/overview").status_code == 401


def test_export_csv_and_xlsx(client, clock, world):
    w = world
    complete_and_approve(client, clock, w)
    overview = client.get(f"{API}/stats/overview?from=2026-03-01&to=2026-03-31", headers=w.sup1_h).get_json()
    r = client.get(f"{API}/stats/export?format=csv&from=2026-03-01&to=2026-03-31", headers=w.sup1_h)
    assert r.status_code == 200 and r.mimetype == "text/csv"
    assert 'filename="stats-3501.csv"' in r.headers["Content-Disposition"]
    text = r.data.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0][:2] == ["地区代码", "3501"] and rows[0][6:8] == ["region_code", "3501"]
    assert rows[1] == ["板块", "指标", "数值", "单位", "section", "metric", "value"]
    values = {(s, m): v for *_, s, m, v in rows[2:]}  # the machine columns: keys and amounts in fen
    shown = {(s, m): (label, v, unit) for label, _, v, unit, s, m, _ in rows[2:]}  # what a person reads
    assert values[("trainees", "total")] == str(overview["trainees"]["total"])
    assert values[("trainees", "by_province.福建")] == "4"
    assert shown[("trainees", "by_province.福建")] == ("参训人员", "4", "")
    assert values[("attendance", "events")] == str(overview["attendance"]["events"])
    assert values[("vouchers", "written_off_fen")] == str(overview["vouchers"]["written_off_fen"])
    money = {key: int(v) for key, v in values.items() if key[1].endswith("_fen")}
    assert money, values
    for key, fen in money.items():
        assert shown[key][1:] == (f"{fen // 100}.{fen % 100:02d}", "元"), key
    assert next(r[1] for r in rows[2:] if r[5] == "approved_fen") == "已审核补贴金额"

    r = client.get(f"{API}/stats/export?format=xlsx&from=2026-03-01&to=2026-03-31", headers=w.sup1_h)
    assert r.status_code == 200 and r.mimetype.endswith("spreadsheetml.sheet")
    ws = load_workbook(io.BytesIO(r.data)).active
    cells = {(row[4], row[5]): row[6] for row in ws.iter_rows(min_row=3, values_only=True)}
    assert cells[("trainees", "total")] == overview["trainees"]["total"]
    assert cells[("attendance", "completion_rate")] == overview["attendance"]["completion_rate"]
    r = client.get(f"{API}/stats/export?format=pdf", headers=w.sup1_h)
    assert r.status_code == 422 and error(r) == "validation_error"


def test_export_rows_read_in_chinese_with_yuan_and_keep_the_machine_columns():
    from backend.services.stats import export_rows
    data = {"vouchers": {"written_off": 3, "written_off_fen": 123456}, "trainees": {"by_gender": {"男": 2}},
            "attendance": {"completion_rate": 0.875, "by_reason": {"out_of_fence": 4}},
            "subsidy": {"approved_fen": 5}}
    rows = {r[5]: r for r in export_rows(data)}
    assert rows["written_off_fen"] == ["培训券", "已核销金额", "1234.56", "元", "vouchers", "written_off_fen", 123456]
    assert rows["approved_fen"][2:4] == ["0.05", "元"]
    assert rows["completion_rate"][2:4] == ["87.5", "%"] and rows["completion_rate"][6] == 0.875
    assert rows["by_reason.out_of_fence"][1] == "按无效原因 · 不在培训地点范围内" and "out_of_fence" not in rows[
        "by_reason.out_of_fence"][1]
    assert rows["written_off"][1:4] == ["已核销", 3, ""]
