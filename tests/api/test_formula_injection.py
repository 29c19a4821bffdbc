"""Issue 13, finding 5: a name like =HYPERLINK(...) is refused where names enter, and every spreadsheet or
CSV export makes such text inert (a leading single quote, OWASP "CSV injection") for rows already stored."""
from __future__ import annotations

import csv
import io

import pytest
from openpyxl import Workbook, load_workbook

from backend.extensions import db
from backend.services import stats
from tests.api import outcomes_fixtures as fx
from tests.api.outcomes_fixtures import API, enroll, error, make_person
from tests.conftest import make_id_number

app_config, world = fx.app_config, fx.world  # shared fixtures
EVIL = '=HYPERLINK("http://x","click")'
PREFIXED = ["=1+1", "+1+1", "-1+1", "@SUM(A1)", "\t=1+1", "\r=1+1"]
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")  # OWASP's list; backend.services.spreadsheets has the same


# ---- names are validated where they enter ------------------------------------------------------

def test_binding_refuses_a_formula_name(client, trainee):
    _, headers = trainee(bind=False)
    r = client.post(f"{API}/me/identity", json={"name": EVIL, "id_number": make_id_number(seq="901")},
                    headers=headers)
    assert r.status_code == 422 and error(r) == "invalid_name", r.get_json()
    assert r.get_json()["error"]["details"] == {"field": "name", "reason": "characters"}
    en = client.post(f"{API}/me/identity", json={"name": "张\x00三", "id_number": make_id_number(seq="901")},
                     headers=dict(headers, **{"Accept-Language": "en"}))
    assert error(en) == "invalid_name" and en.get_json()["error"]["message"].startswith("Invalid name")


def test_binding_accepts_an_ethnic_minority_name_and_folds_dot_variants(client, trainee):
    _, headers = trainee(bind=False)
    r = client.post(f"{API}/me/identity", json={"name": "买买提•艾力", "id_number": make_id_number(seq="902")},
                    headers=headers)
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["name"] == "买买提·艾力"


def _roster_plan(world):
    plan = fx.make_plan(world.inst, status="draft", title="育婴员")
    return plan


def test_roster_import_refuses_formula_names_row_by_row(client, world):
    plan = _roster_plan(world)
    rows = [{"name": EVIL, "id_number": make_id_number(seq="911")},
            {"name": "+cmd|' /C calc'!A0", "id_number": make_id_number(seq="912")},
            {"name": "阿依古丽·买买提", "id_number": make_id_number(seq="913")}]
    r = client.post(f"{API}/plans/{plan.id}/roster", json={"trainees": rows}, headers=world.inst_h)
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert [row["status"] for row in body["rows"]] == ["error", "error", "ok"]
    for row in body["rows"][:2]:
        assert row["errors"][0]["code"] == "invalid_name" and row["errors"][0]["field"] == "name"
        assert row["errors"][0]["message"].startswith("姓名不合法")
    assert body["imported"] == 1


def test_roster_xlsx_import_refuses_a_formula_name(client, world):
    plan = _roster_plan(world)
    wb = Workbook()
    ws = wb.active
    ws.title = "参训名单"
    ws.append(["姓名", "身份证号"])
    ws.append([EVIL, make_id_number(seq="921")])
    ws["A2"].data_type = "s"  # text, as Excel keeps what was typed after a leading quote
    buf = io.BytesIO()
    wb.save(buf)
    r = client.post(f"{API}/plans/{plan.id}/roster", data={"file": (io.BytesIO(buf.getvalue()), "r.xlsx")},
                    headers=world.inst_h, content_type="multipart/form-data")
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["rows"][0]["errors"][0]["code"] == "invalid_name"


# ---- exports neutralise what is already stored -------------------------------------------------

@pytest.fixture
def legacy(world):
    """A person stored before names were validated (inserted directly), on the plan's roster."""
    person = make_person(EVIL, "931")
    enroll(world.plan, person.id)
    return person


def test_results_template_neutralises_a_legacy_formula_name(client, world, legacy):
    r = client.get(f"{API}/plans/{world.plan.id}/results/template.xlsx", headers=world.inst_h)
    assert r.status_code == 200
    ws = load_workbook(io.BytesIO(r.data)).active
    names = {row[0].value: row[1] for row in ws.iter_rows(min_row=2) if row[0].value is not None}
    cell = names[legacy.id]
    assert cell.value == "'" + EVIL and cell.data_type == "s"
    for row in ws.iter_rows():
        for c in row:
            assert c.data_type != "f", c.coordinate
            assert not (isinstance(c.value, str) and c.value.startswith(FORMULA_PREFIXES)), c.coordinate


def test_the_neutralised_template_imports_back(client, world, legacy):
    """The quote our template added is taken off again: the legacy trainee still matches by name."""
    r = client.get(f"{API}/plans/{world.plan.id}/results/template.xlsx", headers=world.inst_h)
    wb = load_workbook(io.BytesIO(r.data))
    ws = wb.active
    for row in ws.iter_rows(min_row=2):
        if row[0].value is not None:
            row[3].value, row[4].value = 80, "是"
    buf = io.BytesIO()
    wb.save(buf)
    r = client.post(f"{API}/plans/{world.plan.id}/results", data={"file": (io.BytesIO(buf.getvalue()), "r.xlsx")},
                    headers=world.inst_h, content_type="multipart/form-data")
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["imported"] == 7


def test_roster_template_has_no_live_formula(client, world):
    plan = _roster_plan(world)
    r = client.get(f"{API}/plans/{plan.id}/roster/template.xlsx", headers=world.inst_h)
    wb = load_workbook(io.BytesIO(r.data))
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for c in row:
                assert c.data_type != "f", (ws.title, c.coordinate)


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_stats_export_neutralises_every_text_cell(client, world, monkeypatch, fmt):
    real = stats.overview

    def overview(*a, **kw):
        data = real(*a, **kw)
        data["trainees"]["by_province"] = {text: 1 for text in PREFIXED}  # keys become metric text
        data["subsidy"]["note"] = EVIL  # and a text value
        return data

    monkeypatch.setattr(stats, "overview", overview)
    r = client.get(f"{API}/stats/export?format={fmt}", headers=world.sup1_h)
    assert r.status_code == 200
    if fmt == "csv":
        raw = r.data.decode("utf-8-sig")
        cells = [c for row in csv.reader(io.StringIO(raw)) for c in row]
        assert "'" + EVIL in cells
        assert f",{EVIL}" not in raw and f"\n{EVIL}" not in raw
    else:
        ws = load_workbook(io.BytesIO(r.data)).active
        cells = [c.value for row in ws.iter_rows() for c in row if isinstance(c.value, str)]
        assert "'" + EVIL in cells
        assert all(c.data_type != "f" for row in ws.iter_rows() for c in row)
    assert not any(c.startswith(FORMULA_PREFIXES) for c in cells), cells


@pytest.mark.parametrize("text", PREFIXED + [EVIL])
def test_helper_prefixes_each_formula_start_and_unquote_reverses_it(text):
    from backend.services import spreadsheets
    assert spreadsheets.FORMULA_PREFIXES == FORMULA_PREFIXES
    assert spreadsheets.neutralise(text) == "'" + text
    assert spreadsheets.unquote(spreadsheets.neutralise(text)) == text
    assert spreadsheets.csv_bytes([[text]]).decode("utf-8-sig").lstrip('"').startswith("'")


@pytest.mark.parametrize("text", ["张三", "3501**********1234", "'quoted already", "a=b", 42, None, 1.5])
def test_helper_leaves_other_values_alone(text):
    from backend.services import spreadsheets
    assert spreadsheets.neutralise(text) == text
    assert spreadsheets.unquote(text) == text


def test_database_row_is_untouched(world, legacy):
    """Neutralising happens on the way out; the stored name stays what it was."""
    db.session.refresh(legacy)
    assert legacy.name == EVIL
