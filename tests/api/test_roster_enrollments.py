"""Enrolment with a voucher, roster listing and edits, labour contracts, online records, and the CLI import."""
from __future__ import annotations

import io
from pathlib import Path

import pytest
from openpyxl import Workbook
from PIL import Image
from sqlalchemy import select

from backend.domain.vouchers import encode_qr_token
from backend.extensions import db
from backend.models import AuditEntry, Enrollment, OnlineRecord, TrainingPlan, Voucher
from backend.security.crypto import vault
from tests.api.plan_helpers import (
    API,
    NOW,
    add_lesson,
    err,
    login,
    make_person,
    make_plan,
    make_voucher,
    post,
    roster_world,
    sh,
    submit,
)
from tests.api.test_roster import fill, template, trainee_row
from tests.bombs import png_header


@pytest.fixture
def world(clock, staff, client, make_institution):
    return roster_world(clock, staff, client, make_institution)

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def _image(fmt: str, size=(40, 30)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, (250, 250, 250)).save(buf, fmt)
    return buf.getvalue()


PNG = _image("PNG")
JPEG = _image("JPEG")


def enrol(client, world, plan_id=None, headers=None, **body):
    return client.post(f"{API}/plans/{plan_id or world['plan']['id']}/enrollments", json=body,
                       headers=headers or world["inst_h"])


def holder(name="张三", seq=1, **voucher_kw):
    row = trainee_row(seq, name)
    person = make_person(name, row["id_number"], row["phone"])
    return person, make_voucher(person.id, **voucher_kw)


# ---- POST /plans/{id}/enrollments ------------------------------------------------------------

def test_enrol_with_voucher_code(client, world):
    person, voucher = holder()
    r = enrol(client, world, voucher_code=voucher.code)
    assert r.status_code == 201, r.get_json()
    body = r.get_json()
    assert body["person_id"] == person.id and body["voucher_code"] == voucher.code and body["eligible"] is True
    assert body["id_number_masked"] == person.id_number_masked and body["status"] == "active"
    assert db.session.get(Voucher, voucher.id).status == "used"
    r = enrol(client, world, voucher_code=voucher.code)
    assert r.status_code == 422 and err(r) == "used"
    actions = set(db.session.execute(select(AuditEntry.action)).scalars())
    assert {"voucher.use", "enrollment.create"} <= actions


def test_enrol_with_qr_token_once(client, world):
    person, voucher = holder()
    token = encode_qr_token(vault().token_key, voucher.id, person.id, int(NOW.timestamp()), ttl=60)
    r = enrol(client, world, voucher_token=token)
    assert r.status_code == 201 and r.get_json()["voucher_code"] == voucher.code
    r = enrol(client, world, voucher_token=token)
    assert r.status_code == 422 and err(r) in ("token_consumed", "used")


def test_voucher_attaches_to_an_imported_trainee(client, world):
    person, voucher = holder()
    imported = client.post(f"{API}/plans/{world['plan']['id']}/roster",
                           json={"trainees": [{"name": "张三", "id_number": trainee_row(1)["id_number"]}]},
                           headers=world["inst_h"]).get_json()
    r = enrol(client, world, voucher_code=voucher.code)
    assert r.status_code == 201 and r.get_json()["id"] == imported["rows"][0]["enrollment_id"]
    assert r.get_json()["created"] is False
    assert r.get_json()["voucher_code"] == voucher.code


def test_enrol_refusals(client, world, clock, make_institution):
    r = enrol(client, world)
    assert r.status_code == 422 and err(r) == "validation_error"
    _, elsewhere = holder("李四", 2, institution_ids=[make_institution().id])
    r = enrol(client, world, voucher_code=elsewhere.code)
    assert r.status_code == 422 and err(r) == "not_allowed_institution"
    _, other_trade = holder("王五", 3, occupation_codes=["6-18-01-01"])
    r = enrol(client, world, voucher_code=other_trade.code)
    assert r.status_code == 422 and err(r) == "occupation_not_covered"
    assert db.session.get(Voucher, other_trade.id).status == "claimed"
    _, late = holder("赵六", 4)
    clock.set(sh(10, 9))
    h = login(client, world["inst_user"])
    r = enrol(client, world, headers=h, voucher_code=late.code)
    assert r.status_code == 409 and err(r) == "roster_frozen"
    assert db.session.get(Voucher, late.id).status == "claimed"


def test_group_rule_of_the_voucher_is_compared(client, world):
    _, voucher = holder(eligibility={"groups": ["veteran"]})
    r = enrol(client, world, voucher_code=voucher.code)
    assert r.status_code == 201 and r.get_json()["eligible"] is False and r.get_json()["reasons"] == ["group"]


# ---- listing and editing ---------------------------------------------------------------------

def test_enrollments_are_paged_and_scoped(client, world, staff):
    trainees = [trainee_row(i) for i in range(1, 6)]
    client.post(f"{API}/plans/{world['plan']['id']}/roster", json={"trainees": trainees}, headers=world["inst_h"])
    r = client.get(f"{API}/plans/{world['plan']['id']}/enrollments?page=2&per_page=2", headers=world["inst_h"])
    assert r.status_code == 200 and r.headers["X-Total-Count"] == "5" and len(r.get_json()) == 2
    r = client.get(f"{API}/plans/{world['plan']['id']}/enrollments?status=withdrawn", headers=world["inst_h"])
    assert r.get_json() == [] and r.headers["X-Total-Count"] == "0"
    r = client.get(f"{API}/plans/{world['plan']['id']}/enrollments?status=x", headers=world["inst_h"])
    assert r.status_code == 422
    _, far = staff("supervisor", region_code="4401")
    assert client.get(f"{API}/plans/{world['plan']['id']}/enrollments", headers=far).status_code == 403


def test_patch_enrollment_validation(client, world, staff):
    client.post(f"{API}/plans/{world['plan']['id']}/roster", json={"trainees": [trainee_row(1)]},
                headers=world["inst_h"])
    e = db.session.execute(select(Enrollment)).scalar()
    r = client.patch(f"{API}/enrollments/{e.id}", json={"phone": "123"}, headers=world["inst_h"])
    assert r.status_code == 422 and err(r) == "invalid_phone"
    r = client.patch(f"{API}/enrollments/{e.id}", json={"groups": ["外星人"]}, headers=world["inst_h"])
    assert r.status_code == 422 and err(r) == "unknown_group"
    r = client.patch(f"{API}/enrollments/{e.id}", json={"phone": None}, headers=world["inst_h"])
    assert r.status_code == 200 and r.get_json()["phone"] is None
    r = client.patch(f"{API}/enrollments/{e.id}", json={"phone": "13900000000"}, headers=world["sup_h"])
    assert r.status_code == 403
    assert client.patch(f"{API}/enrollments/99999", json={}, headers=world["inst_h"]).status_code == 404
    assert db.session.execute(select(AuditEntry).where(AuditEntry.action == "enrollment.update")).scalar()


# ---- labour contracts (in-post plans) ----------------------------------------------------------

@pytest.fixture
def in_post(client, world):
    plan = make_plan(client, world["inst_h"], plan_type="in_post", title="电工岗位技能提升培训")
    add_lesson(client, world["inst_h"], plan["id"], site_id=world["site"])
    body = client.post(f"{API}/plans/{plan['id']}/roster", json={"trainees": [trainee_row(1), trainee_row(2)]},
                       headers=world["inst_h"]).get_json()
    return plan, [row["enrollment_id"] for row in body["rows"]], [row["person_id"] for row in body["rows"]]


def send(client, world, enrollment_id, data: bytes, name="contract.pdf", headers=None):
    # The multipart body is built here: werkzeug's test client spools large bodies to a temporary
    # file it never closes, which the warnings-as-errors setting would report.
    boundary = "----roster-test-boundary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n"
            f"Content-Type: application/octet-stream\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
    return client.post(f"{API}/enrollments/{enrollment_id}/contract", headers=headers or world["inst_h"],
                       data=body, content_type=f"multipart/form-data; boundary={boundary}")


def test_submit_needs_every_contract(app, client, world, in_post):
    plan, enrolments, people = in_post
    r = submit(client, world["inst_h"], plan['id'])
    assert r.status_code == 409 and err(r) == "contract_missing"
    assert r.get_json()["error"]["details"]["person_ids"] == sorted(people)
    r = send(client, world, enrolments[0], PDF, name="../../etc/passwd.pdf")
    assert r.status_code == 201 and r.get_json()["contract_uploaded"] is True
    r = submit(client, world["inst_h"], plan['id'])
    assert r.get_json()["error"]["details"]["person_ids"] == [people[1]]
    assert send(client, world, enrolments[1], JPEG, name="合同.jpg").status_code == 201
    assert submit(client, world["inst_h"], plan['id']).status_code == 200
    stored = db.session.get(Enrollment, enrolments[0]).contract_path
    assert stored.startswith(f"contracts/{plan['id']}/") and stored.endswith(".pdf") and "passwd" not in stored
    upload_dir = Path(app.config["UPLOAD_DIR"])
    assert (upload_dir / stored).read_bytes() == PDF
    assert "static" not in str(upload_dir)
    r = client.get(f"{API}/enrollments/{enrolments[0]}/contract", headers=world["sup_h"])
    assert r.status_code == 200 and r.mimetype == "application/pdf" and r.data == PDF


@pytest.mark.parametrize("data, status, code", [
    (PNG, 201, None),
    (JPEG, 201, None),
    # An image contract is stored, not decoded, but its header must be readable and within the pixel cap.
    (b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, 422, "invalid_image"),
    (png_header(4100, 3100), 422, "image_too_large"),
    (b"MZ\x90\x00 not a pdf", 422, "unsupported_file_type"),
    (b"<html><script>alert(1)</script>", 422, "unsupported_file_type"),
    (b"%PDF-" + b"0" * (10 * 1024 * 1024), 413, "payload_too_large"),
    (b"", 422, "validation_error"),
])
def test_contract_file_checks(client, world, in_post, data, status, code):
    _, enrolments, _ = in_post
    r = send(client, world, enrolments[0], data)
    assert r.status_code == status, r.get_json()
    if code:
        assert err(r) == code


def test_contract_exactly_10_mb_is_accepted(client, world, in_post):
    _, enrolments, _ = in_post
    assert send(client, world, enrolments[0], b"%PDF-" + b"0" * (10 * 1024 * 1024 - 5)).status_code == 201


def test_contracts_only_for_in_post_and_own(client, world, in_post, staff):
    body = client.post(f"{API}/plans/{world['plan']['id']}/roster", json={"trainees": [trainee_row(7)]},
                       headers=world["inst_h"]).get_json()
    r = send(client, world, body["rows"][0]["enrollment_id"], PDF)
    assert r.status_code == 422 and r.get_json()["error"]["details"]["reason"] == "contracts_only_for_in_post_plans"
    _, enrolments, _ = in_post
    _, other = staff("institution")
    assert send(client, world, enrolments[0], PDF, headers=other).status_code == 403
    r = client.get(f"{API}/enrollments/{enrolments[0]}/contract", headers=world["inst_h"])
    assert r.status_code == 404 and err(r) == "not_found"


# ---- online learning records -------------------------------------------------------------------

@pytest.fixture
def blended(client, world, clock):
    plan = make_plan(client, world["inst_h"], delivery="blended", online_platform="福建职业培训联盟平台")
    online = add_lesson(client, world["inst_h"], plan["id"], day=10, mode="online", hours=2, duration_min=90)
    offline = add_lesson(client, world["inst_h"], plan["id"], day=11, hours=4, site_id=world["site"])
    later = add_lesson(client, world["inst_h"], plan["id"], day=12, mode="online", hours=0.5, duration_min=45)
    rows = client.post(f"{API}/plans/{plan['id']}/roster", json={"trainees": [trainee_row(1), trainee_row(2)]},
                       headers=world["inst_h"]).get_json()["rows"]
    submit(client, world["inst_h"], plan['id'])
    post(client, f"/plans/{plan['id']}/approve", world["sup_h"])
    clock.set(sh(11, 8))
    return {"plan": plan, "online": online["id"], "offline": offline["id"], "later": later["id"],
            "people": [r["person_id"] for r in rows], "h": login(client, world["inst_user"])}


def records(client, b, payload):
    return client.post(f"{API}/plans/{b['plan']['id']}/online-records", json={"records": payload}, headers=b["h"])


def test_online_records_json(client, world, blended):
    b = blended
    first = trainee_row(1)["id_number"]
    payload = [{"id_number": first, "lesson_id": b["online"], "minutes": 80},
               {"person_id": b["people"][1], "lesson_id": b["online"], "minutes": 200},
               {"person_id": b["people"][1], "lesson_id": b["offline"], "minutes": 30},
               {"person_id": b["people"][1], "lesson_id": b["later"], "minutes": 30},
               {"id_number": trainee_row(9)["id_number"], "lesson_id": b["online"], "minutes": 10},
               {"person_id": b["people"][0], "lesson_id": b["online"], "minutes": 5},
               {"person_id": b["people"][0], "lesson_id": b["online"], "minutes": -1},
               {"id_number": "123", "lesson_id": b["online"], "minutes": 1}]
    body = records(client, b, payload).get_json()
    assert body["imported"] == 2 and body["failed"] == 6
    reasons = [[(e["code"], e.get("reason")) for e in row.get("errors", [])] for row in body["rows"]]
    assert reasons == [[], [], [("validation_error", "not_an_online_lesson_of_this_plan")],
                       [("validation_error", "lesson_not_started")], [("not_enrolled", None)],
                       [("duplicate_in_file", None)], [("validation_error", "range")],
                       [("invalid_id_number", "length")]]
    stored = {(r.person_id, r.minutes) for r in db.session.execute(select(OnlineRecord)).scalars()}
    assert stored == {(b["people"][0], 80), (b["people"][1], 200)}  # stored as reported; the hours view caps
    body = records(client, b, [{"person_id": b["people"][0], "lesson_id": b["online"], "minutes": 90}]).get_json()
    assert body["imported"] == 1
    assert db.session.execute(select(OnlineRecord.minutes).where(
        OnlineRecord.person_id == b["people"][0])).scalar() == 90  # a re-import replaces


def test_online_records_xlsx(client, world, blended):
    b = blended
    wb = Workbook()
    ws = wb.active
    ws.append(["身份证号", "课次编号", "学习时长（分钟）"])
    ws.append([trainee_row(1)["id_number"], b["online"], 60])
    ws.append([trainee_row(2)["id_number"], str(b["online"]), "75"])
    buf = io.BytesIO()
    wb.save(buf)
    r = client.post(f"{API}/plans/{b['plan']['id']}/online-records", headers=b["h"],
                    data={"file": (io.BytesIO(buf.getvalue()), "export.xlsx")}, content_type="multipart/form-data")
    assert r.status_code == 200 and r.get_json()["imported"] == 2
    assert [row["row"] for row in r.get_json()["rows"]] == [2, 3]


def test_online_records_refusals(client, world):
    r = client.post(f"{API}/plans/{world['plan']['id']}/online-records", json={"records": []}, headers=world["inst_h"])
    assert r.status_code == 409 and err(r) == "invalid_state"  # a draft plan
    plan = db.session.get(TrainingPlan, world["plan"]["id"])
    plan.status = "approved"
    db.session.commit()
    r = client.post(f"{API}/plans/{plan.id}/online-records", json={"records": []}, headers=world["inst_h"])
    assert r.status_code == 422 and r.get_json()["error"]["details"]["reason"] == "plan_has_no_online_lessons"
    r = client.post(f"{API}/plans/{plan.id}/online-records", json={}, headers=world["inst_h"])
    assert r.status_code == 422 and err(r) == "validation_error"


# ---- CLI ---------------------------------------------------------------------------------------

def test_cli_roster_import(app, client, world, tmp_path):
    path = tmp_path / "roster.xlsx"
    path.write_bytes(fill(template(client, world), [trainee_row(1, "张三"), trainee_row(2, "李四", phone="1")]))
    result = app.test_cli_runner().invoke(args=["roster", "import", str(world["plan"]["id"]), str(path)])
    assert result.exit_code == 0, result.output
    assert "导入 1 行" in result.output and "失败 1 行" in result.output
    assert "第 3 行" in result.output and "invalid_phone" in result.output
    assert db.session.execute(select(Enrollment)).scalar() is not None
    entry = db.session.execute(select(AuditEntry).where(AuditEntry.action == "roster.import")).scalar()
    assert entry.actor.startswith("admin:cli") and entry.after["source"] == "xlsx"


def test_cli_roster_import_refusals(app, world, tmp_path):
    runner = app.test_cli_runner()
    missing = runner.invoke(args=["roster", "import", "999", str(tmp_path / "none.xlsx")])
    assert missing.exit_code != 0
    bad = tmp_path / "bad.xlsx"
    bad.write_bytes(b"not a spreadsheet")
    result = runner.invoke(args=["roster", "import", str(world["plan"]["id"]), str(bad)])
    assert result.exit_code != 0 and "invalid_file" in result.output
    result = runner.invoke(args=["roster", "import", "424242", str(bad)])
    assert result.exit_code != 0 and "not_found" in result.output


def test_online_records_template_round_trip(client, world, blended):
    from openpyxl import load_workbook
    b = blended
    r = client.get(f"{API}/plans/{b['plan']['id']}/online-records/template.xlsx", headers=b["h"])
    assert r.status_code == 200
    wb = load_workbook(io.BytesIO(r.data))
    ws = wb.worksheets[0]
    assert [c.value for c in ws[1]] == ["人员编号", "姓名", "课次编号", "课次名称", "学习时长（分钟）"]
    rows = list(ws.iter_rows(min_row=2))
    assert len(rows) == 4   # two trainees × two online lessons, no offline one
    assert {row[2].value for row in rows} == {b["online"], b["later"]}
    started = [row for row in rows if row[2].value == b["online"]]
    for i, row in enumerate(started):
        row[4].value = 60 + i
    for number in sorted((row[0].row for row in rows if row[2].value == b["later"]), reverse=True):
        ws.delete_rows(number)   # not started yet: nothing to report
    buf = io.BytesIO()
    wb.save(buf)
    r = client.post(f"{API}/plans/{b['plan']['id']}/online-records", headers=b["h"],
                    data={"file": (io.BytesIO(buf.getvalue()), "filled.xlsx")}, content_type="multipart/form-data")
    assert r.status_code == 200 and r.get_json()["imported"] == 2 and r.get_json()["failed"] == 0, r.get_json()
