"""Results import, completion, certificates and their pages."""
from __future__ import annotations

import io
from datetime import date

from openpyxl import Workbook, load_workbook
from sqlalchemy import func, select

from backend.extensions import db
from backend.models import AuditEntry, Certificate, Result, TrainingPlan
from tests.api import outcomes_fixtures as fx
from tests.api.outcomes_fixtures import (
    API,
    all_results,
    attend,
    complete_and_approve,
    enroll,
    error,
    lessons_of,
    make_person,
    make_plan,
    sh,
)
from tests.conftest import make_id_number

app_config, world = fx.app_config, fx.world  # shared fixtures


def _results_count() -> int:
    return db.session.execute(select(func.count()).select_from(Result)).scalar()


# ---- results -------------------------------------------------------------------------------

def test_bad_rows_refuse_the_whole_import(client, world):
    w = world
    stranger = make_person("路人", "099")
    rows = [{"person_id": w.a, "score": 88, "passed": True},                 # 1 ok
            {"person_id": stranger.id, "score": 70, "passed": True},         # 2 not on roster
            {"person_id": w.a, "score": 90, "passed": True},                 # 3 duplicate of 1
            {"person_id": w.b, "score": 101, "passed": True},                # 4 out of range
            {"person_id": w.d, "score": -1, "passed": False},                # 5 out of range
            {"person_id": w.e, "score": "abc", "passed": True},              # 6 not a number
            {"person_id": w.f, "score": 88.55, "passed": True},              # 7 two decimals
            {"id_number": make_id_number("350102", "19900307", "777"), "score": 60, "passed": True},  # 8
            {"id_number": "123", "score": 60, "passed": True},               # 9 invalid id
            {"score": 60, "passed": True},                                   # 10 nobody
            {"person_id": w.c, "score": 60},                                 # 11 passed missing
            "not an object"]                                                 # 12
    r = client.post(f"{API}/plans/{w.plan.id}/results", json={"results": rows}, headers=w.inst_h)
    assert r.status_code == 422 and error(r) == "invalid_rows"
    details = r.get_json()["error"]["details"]
    assert details["imported"] == 0
    by_row = {x["row"]: x for x in details["rows"]}
    assert by_row[1]["status"] == "ok"
    expected = {2: "not_on_roster", 3: "duplicate_row", 4: "score_out_of_range", 5: "score_out_of_range",
                6: "score_invalid", 7: "score_invalid", 8: "not_on_roster", 9: "invalid_id_number",
                10: "person_required", 11: "passed_required", 12: "person_required"}
    for row, code in expected.items():
        assert by_row[row]["status"] == "error" and code in by_row[row]["errors"], (row, by_row[row])
    assert by_row[3]["duplicate_of"] == 1
    assert _results_count() == 0
    assert not db.session.execute(select(AuditEntry).where(AuditEntry.action == "results.import")).first()


def test_results_by_id_number_and_reimport_updates(client, world):
    w = world
    rows = [{"id_number": make_id_number("350102", "19900307", "011"), "score": "77.5", "passed": "是"}]
    r = client.post(f"{API}/plans/{w.plan.id}/results", json={"results": rows}, headers=w.inst_h)
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["rows"][0] == {"row": 1, "status": "ok", "person_id": w.a,
                                       "id_number_masked": "3501**********011" + make_id_number(
                                           "350102", "19900307", "011")[-1]}
    rows = [{"person_id": w.a, "score": 59, "passed": False}]
    assert client.post(f"{API}/plans/{w.plan.id}/results", json={"results": rows}, headers=w.inst_h).status_code == 200
    res = db.session.execute(select(Result)).scalars().all()
    assert len(res) == 1 and str(res[0].score) == "59.0" and res[0].passed is False
    r = client.get(f"{API}/plans/{w.plan.id}/results", headers=w.sup1_h)
    assert r.status_code == 200 and r.get_json()[0]["score"] == 59


def test_results_body_state_and_scope(client, world, staff, make_institution):
    w = world
    url = f"{API}/plans/{w.plan.id}/results"
    for body in ({}, {"results": "x"}, {"results": []}):
        r = client.post(url, json=body, headers=w.inst_h)
        assert r.status_code == 422 and error(r) == "validation_error", body
    _, other_h = staff("institution", institution=make_institution("350102"))
    r = client.post(url, json={"results": all_results(w)}, headers=other_h)
    assert r.status_code == 403
    r = client.post(url, json={"results": all_results(w)}, headers=w.sup1_h)
    assert r.status_code == 403
    draft = make_plan(w.inst, status="draft", start=date(2026, 6, 1))
    r = client.post(f"{API}/plans/{draft.id}/results", json={"results": all_results(w)}, headers=w.inst_h)
    assert r.status_code == 409 and error(r) == "invalid_state"


def test_xlsx_template_and_import(client, world):
    w = world
    r = client.get(f"{API}/plans/{w.plan.id}/results/template.xlsx", headers=w.inst_h)
    assert r.status_code == 200 and r.mimetype.endswith("spreadsheetml.sheet")
    ws = load_workbook(io.BytesIO(r.data)).active
    header = [c.value for c in ws[1]][:5]
    assert header == ["学员编号", "姓名", "身份证号", "成绩", "是否合格"]
    body = list(ws.iter_rows(min_row=2, values_only=True))
    assert len(body) == 6 and all("*" in row[2] for row in body)  # masked ID numbers only
    scores = {w.a: (88, "是"), w.b: (90, "是"), w.c: (75, "是"), w.d: (40, "否"), w.e: (70, "合格"), w.f: (99, "是")}
    for i, row in enumerate(ws.iter_rows(min_row=2, max_row=7), start=2):
        pid = row[0].value
        ws.cell(row=i, column=4, value=scores[pid][0])
        ws.cell(row=i, column=5, value=scores[pid][1])
    buf = io.BytesIO()
    ws.parent.save(buf)
    r = client.post(f"{API}/plans/{w.plan.id}/results", data={"file": (io.BytesIO(buf.getvalue()), "r.xlsx")},
                    headers=w.inst_h, content_type="multipart/form-data")
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["imported"] == 6 and [x["row"] for x in r.get_json()["rows"]] == [2, 3, 4, 5, 6, 7]
    assert _results_count() == 6


def test_xlsx_errors_carry_sheet_rows(client, world):
    w = world
    wb = Workbook()
    ws = wb.active
    ws.append(["学员编号", "姓名", "成绩", "是否合格"])
    ws.append([w.a, "张三", 80, "是"])
    ws.append([None, None, None, None])          # blank rows are skipped
    ws.append([w.b, "错名", 80, "是"])            # row 4: name does not match
    ws.append([w.c, "李四", 120, "也许"])         # row 5: score and passed wrong
    buf = io.BytesIO()
    wb.save(buf)
    r = client.post(f"{API}/plans/{w.plan.id}/results", data={"file": (io.BytesIO(buf.getvalue()), "r.xlsx")},
                    headers=w.inst_h, content_type="multipart/form-data")
    assert r.status_code == 422 and error(r) == "invalid_rows"
    rows = {x["row"]: x for x in r.get_json()["error"]["details"]["rows"]}
    assert set(rows) == {2, 4, 5}
    assert rows[4]["errors"] == ["name_mismatch"]
    assert rows[5]["errors"] == ["score_out_of_range", "passed_invalid"]
    r = client.post(f"{API}/plans/{w.plan.id}/results", data={"file": (io.BytesIO(b"not a workbook"), "r.xlsx")},
                    headers=w.inst_h, content_type="multipart/form-data")
    assert r.status_code == 422 and error(r) == "invalid_file"
    wb = Workbook()
    wb.active.append(["姓名", "分数"])
    buf = io.BytesIO()
    wb.save(buf)
    r = client.post(f"{API}/plans/{w.plan.id}/results", data={"file": (io.BytesIO(buf.getvalue()), "r.xlsx")},
                    headers=w.inst_h, content_type="multipart/form-data")
    assert r.status_code == 422 and error(r) == "invalid_file"
    assert _results_count() == 0


# ---- completion ----------------------------------------------------------------------------

def test_completion_states_and_deadline(client, clock, world):
    w = world
    clock.set(sh(2026, 3, 5, 10))
    draft = make_plan(w.inst, status="draft", start=date(2026, 2, 2))
    r = client.post(f"{API}/plans/{draft.id}/completion", headers=w.inst_h)
    assert r.status_code == 409 and error(r) == "invalid_state"
    # An approved plan whose lessons are all over goes straight to completion_submitted.
    approved = make_plan(w.inst, status="approved", start=date(2026, 2, 2))
    r = client.post(f"{API}/plans/{approved.id}/completion", headers=w.inst_h)
    assert r.status_code == 200 and r.get_json()["status"] == "completion_submitted"
    r = client.post(f"{API}/plans/{approved.id}/completion", headers=w.inst_h)
    assert r.status_code == 409 and error(r) == "invalid_state"
    r = client.post(f"{API}/plans/{approved.id}/completion/approve", headers=w.inst_h)
    assert r.status_code == 403
    # Six months after the end (4 March → 4 September inclusive), then closed.
    clock.set(sh(2026, 9, 4, 23, 59))
    late = make_plan(w.inst, status="in_progress")
    assert client.post(f"{API}/plans/{late.id}/completion", headers=w.inst_h).status_code == 200
    clock.set(sh(2026, 9, 5, 0, 1))
    r = client.post(f"{API}/plans/{w.plan.id}/completion", headers=w.inst_h)
    assert r.status_code == 409 and error(r) == "application_window_closed"
    assert r.get_json()["error"]["details"]["deadline"] == "2026-09-04"
    assert db.session.get(TrainingPlan, w.plan.id).status == "in_progress"


def test_certificate_numbers_continue_across_plans(client, clock, world):
    w = world
    complete_and_approve(client, clock, w)
    second = make_plan(w.inst, start=date(2026, 3, 2))
    enroll(second, w.b)
    for lesson in lessons_of(second):
        attend(lesson, w.b)
    r = client.post(f"{API}/plans/{second.id}/results", json={"results": [{"person_id": w.b, "score": 80,
                                                                          "passed": True}]}, headers=w.inst_h)
    assert r.status_code == 200
    assert client.post(f"{API}/plans/{second.id}/completion", headers=w.inst_h).status_code == 200
    r = client.post(f"{API}/plans/{second.id}/completion/approve", headers=w.sup2_h)
    assert r.status_code == 200 and r.get_json()["certificates_issued"] == 1
    numbers = db.session.execute(select(Certificate.number).order_by(Certificate.id)).scalars().all()
    assert [int(n[10:16]) for n in numbers] == [1, 2, 3, 4, 5] and len(set(numbers)) == 5
    r = client.get(f"{API}/plans/{second.id}/certificates", headers=w.inst_h)
    assert r.status_code == 200 and [c["person_id"] for c in r.get_json()] == [w.b]


# ---- certificate pages ---------------------------------------------------------------------

def test_public_verification_and_print_pages(client, clock, world):
    w = world
    complete_and_approve(client, clock, w)
    cert = client.get(f"{API}/me/certificates", headers=w.a_h).get_json()[0]
    number = cert["number"]
    r = client.get(f"{API}/certificates/12345")
    assert r.status_code == 422 and error(r) == "invalid_certificate_number"
    unknown = number[:10] + "999999"
    from backend.domain.certificates import check_char
    r = client.get(f"{API}/certificates/{unknown + check_char(unknown)}")
    assert r.status_code == 404 and error(r) == "not_found"

    r = client.get(f"/certificates/{number}")
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and r.mimetype == "text/html" and 'lang="zh-CN"' in html
    assert "有效" in html and "张*" in html and "张三" not in html
    assert "default-src 'none'" in r.headers["Content-Security-Policy"]

    r = client.get(f"/certificates/{number}/print")
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and "<svg" in html and "培训合格证书" in html
    assert f"http://127.0.0.1:5000/certificates/{number}" in html
    assert "张*" in html and "张三" not in html
    r = client.get(cert["print_url"])
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and "张三" in html and r.headers["Cache-Control"] == "private, no-store"
    r = client.get(f"/certificates/{number}/print?sig=00000000000000000000000000000000")
    assert "张三" not in r.get_data(as_text=True)
    r = client.get("/certificates/nonsense")
    assert r.status_code == 422 and "格式不正确" in r.get_data(as_text=True)
    r = client.get(f"/certificates/{unknown + check_char(unknown)}/print")
    assert r.status_code == 404 and "未查询到" in r.get_data(as_text=True)


def test_qr_code_decodes_to_the_verification_url(app, client, clock, world):
    zxingcpp = __import__("pytest").importorskip("zxingcpp")
    from PIL import Image

    from backend.services.certificates import qr_svg
    svg = qr_svg("http://127.0.0.1:5000/certificates/35010220260000011")
    assert svg.startswith("<svg") and "<?xml" not in svg
    # Rasterise the path-based SVG's unit squares to check it really is a readable QR code.
    import re
    size = int(re.search(r'viewBox="0 0 (\d+) (\d+)"', svg).group(1))
    img = Image.new("L", (size * 8, size * 8), 255)
    for x, y in re.findall(r"M(\d+),(\d+)H", svg):
        for dx in range(8):
            for dy in range(8):
                img.putpixel((int(x) * 8 + dx, int(y) * 8 + dy), 0)
    decoded = zxingcpp.read_barcodes(img)
    assert decoded and decoded[0].text == "http://127.0.0.1:5000/certificates/35010220260000011"
