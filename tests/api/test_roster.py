"""Roster import (JSON and xlsx): row-level errors, the eligibility comparison, vouchers, freezing, query bounds."""
from __future__ import annotations

import io
from datetime import date

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import event, func, select

from backend.extensions import db
from backend.models import AuditEntry, Enrollment, Person, TrainingPlan, Voucher
from backend.services import roster as roster_service
from tests.api.plan_helpers import (
    API,
    NOW,
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
from tests.conftest import make_id_number


@pytest.fixture
def world(clock, staff, client, make_institution):
    return roster_world(clock, staff, client, make_institution)


def han_number(n: int) -> str:
    """A number in Chinese numerals: names hold letters only (backend.domain.identity.validate_name)."""
    return "".join("〇一二三四五六七八九"[int(d)] for d in str(n))


def trainee_row(seq: int, name: str | None = None, birth: str = "19900307", region: str = "350102", **over) -> dict:
    row = {"name": name or f"学员{han_number(seq)}", "id_number": make_id_number(region, birth, f"{seq % 1000:03d}"),
           "phone": f"138{seq:08d}"[:11]}
    row.update(over)
    return row


def import_json(client, world, trainees, plan_id=None, headers=None):
    pid = plan_id or world["plan"]["id"]
    return client.post(f"{API}/plans/{pid}/roster", json={"trainees": trainees}, headers=headers or world["inst_h"])


def test_json_import_creates_persons_and_enrolments(client, world):
    r = import_json(client, world, [trainee_row(1, "张三", groups=["unemployed"]),
                                    trainee_row(2, "李四", groups="农民工、退役军人"), trainee_row(3, "王五")])
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert (body["imported"], body["failed"], body["ineligible"]) == (3, 0, 0)
    assert [row["row"] for row in body["rows"]] == [1, 2, 3]
    first = body["rows"][0]
    assert first["status"] == "ok" and first["eligible"] is True and first["reasons"] == []
    assert first["id_number_masked"].startswith("3501") and "*" in first["id_number_masked"]
    listing = client.get(f"{API}/plans/{world['plan']['id']}/enrollments", headers=world["sup_h"])
    assert listing.status_code == 200 and listing.headers["X-Total-Count"] == "3"
    by_name = {e["name"]: e for e in listing.get_json()}
    assert by_name["李四"]["groups"] == ["migrant_worker", "veteran"]
    assert by_name["张三"]["phone"] == "13800000001" and by_name["张三"]["eligible"] is True
    assert client.get(f"{API}/plans/{world['plan']['id']}", headers=world["inst_h"]).get_json()["enrolled"] == 3
    entry = db.session.execute(select(AuditEntry).where(AuditEntry.action == "roster.import")).scalar()
    assert entry.after["imported"] == 3 and len(entry.after["enrollment_ids"]) == 3
    # ID numbers never leave unmasked
    assert trainee_row(1)["id_number"] not in r.get_data(as_text=True) + listing.get_data(as_text=True)


def test_row_errors_are_reported_and_not_imported(client, world):
    good = trainee_row(1)
    bad_check = trainee_row(2)
    bad_check["id_number"] = bad_check["id_number"][:17] + ("0" if bad_check["id_number"][17] != "0" else "1")
    rows = [good, bad_check, trainee_row(3, phone="12345"), trainee_row(4, groups=["外星人"]),
            dict(trainee_row(5), id_number=good["id_number"].lower()), trainee_row(6, name=" "),
            trainee_row(7, voucher_code="not-a-code"), {"name": "空", "id_number": None}]
    r = import_json(client, world, rows)
    body = r.get_json()
    codes = {row["row"]: [e["code"] for e in row.get("errors", [])] for row in body["rows"]}
    assert codes == {1: [], 2: ["invalid_id_number"], 3: ["invalid_phone"], 4: ["unknown_group"],
                     5: ["duplicate_in_file"], 6: ["validation_error"], 7: ["invalid_voucher_code"],
                     8: ["invalid_id_number"]}
    assert body["imported"] == 1 and body["failed"] == 7
    row2 = body["rows"][1]
    assert row2["status"] == "error" and row2["eligible"] is None
    assert row2["errors"][0]["reason"] == "check_digit" and row2["errors"][0]["message"] == "身份证号不合法"
    assert body["rows"][4]["errors"][0]["first_row"] == 1
    assert db.session.execute(select(func.count()).select_from(Person)).scalar() == 1


def test_row_error_messages_follow_accept_language(client, world):
    headers = dict(world["inst_h"], **{"Accept-Language": "en"})
    r = import_json(client, world, [trainee_row(1, phone="999")], headers=headers)
    assert r.get_json()["rows"][0]["errors"][0]["message"] == "Invalid mobile number"


def test_known_person_is_matched_by_id_and_name_must_agree(client, world):
    row = trainee_row(1, "张三")
    person = make_person("张三", row["id_number"])
    other = trainee_row(2, "李四")
    make_person("李思", other["id_number"])
    r = import_json(client, world, [row, other])
    body = r.get_json()
    assert body["rows"][0]["status"] == "ok" and body["rows"][0]["person_id"] == person.id
    assert body["rows"][1]["errors"][0]["code"] == "identity_mismatch"
    db.session.refresh(person)
    assert person.phone == row["phone"]  # a missing phone is filled in
    assert db.session.execute(select(func.count()).select_from(Person)).scalar() == 2


def test_already_enrolled(client, world):
    row = trainee_row(1)
    assert import_json(client, world, [row]).get_json()["imported"] == 1
    body = import_json(client, world, [row, trainee_row(2)]).get_json()
    assert body["rows"][0]["errors"][0]["code"] == "already_enrolled" and body["imported"] == 1


# ---- the eligibility comparison (比对) -------------------------------------------------------

@pytest.mark.parametrize("birth, eligible", [
    ("20100310", True),    # 16 on the plan's first day (2026-03-10)
    ("20100311", False),   # 15 that day
    ("19650311", True),    # still 60
    ("19650310", False),   # 61 that day
])
def test_working_age_on_the_plans_start(client, world, birth, eligible):
    body = import_json(client, world, [trainee_row(1, birth=birth)]).get_json()
    row = body["rows"][0]
    assert row["status"] == "ok" and row["eligible"] is eligible
    assert row["reasons"] == ([] if eligible else ["age"])
    assert body["imported"] == 1 and body["ineligible"] == (0 if eligible else 1)
    e = db.session.execute(select(Enrollment)).scalar()
    assert e.eligible is eligible and e.reasons == row["reasons"]


def test_working_age_follows_config(app, client, world):
    app.config["WORKING_AGE_MAX"] = 55
    assert import_json(client, world, [trainee_row(1, birth="19700101")]).get_json()["rows"][0]["reasons"] == ["age"]


def test_household_region_only_when_configured(app, client, world):
    xiamen = trainee_row(1, region="350203")
    assert import_json(client, world, [xiamen]).get_json()["rows"][0]["reasons"] == []
    app.config["ROSTER_HOUSEHOLD_REGIONS"] = "350100, 3503"
    body = import_json(client, world, [trainee_row(2, region="350203"), trainee_row(3, region="350102")]).get_json()
    assert [row["reasons"] for row in body["rows"]] == [["household_region"], []]


def _other_plan(inst_id, occupation="4-03-02-01", status="approved", starts=date(2026, 1, 5), ends=date(2026, 1, 20)):
    plan = TrainingPlan(institution_id=inst_id, region_code="350102", title="另一个方案", occupation_code=occupation,
                        plan_type="pre_job", delivery="offline", starts_on=starts, ends_on=ends, status=status,
                        created_at=NOW)
    db.session.add(plan)
    db.session.commit()
    return plan


@pytest.mark.parametrize("occupation, status, starts, ends, flagged", [
    ("4-03-02-01", "approved", date(2026, 1, 5), date(2026, 1, 20), True),
    ("4-03-02-01", "completed", date(2025, 3, 10), date(2025, 3, 10), True),   # ends exactly 365 days before
    ("4-03-02-01", "completed", date(2025, 3, 1), date(2025, 3, 9), False),    # ended 366 days before
    ("4-03-02-02", "approved", date(2026, 1, 5), date(2026, 1, 20), False),    # another occupation
    ("4-03-02-01", "draft", date(2026, 1, 5), date(2026, 1, 20), False),       # drafts are not live
    ("4-03-02-01", "approved", date(2026, 3, 15), date(2026, 4, 20), True),    # overlapping this plan
])
def test_duplicate_occupation_enrolment(client, world, make_institution, occupation, status, starts, ends, flagged):
    row = trainee_row(1, "张三")
    person = make_person("张三", row["id_number"])
    other = _other_plan(make_institution("350102").id, occupation, status, starts, ends)
    db.session.add(Enrollment(plan_id=other.id, person_id=person.id, status="active", eligible=True, reasons=[],
                              groups=[], created_at=NOW))
    db.session.commit()
    reasons = import_json(client, world, [row]).get_json()["rows"][0]["reasons"]
    assert reasons == (["duplicate_occupation_enrolment"] if flagged else [])


# ---- vouchers in the roster ------------------------------------------------------------------

def test_voucher_rows_use_the_holders_voucher(client, world):
    holder_row = trainee_row(1, "张三")
    holder = make_person("张三", holder_row["id_number"])
    voucher = make_voucher(holder.id)
    stranger_row = trainee_row(2, "李四")
    stranger = make_person("李四", stranger_row["id_number"])
    other_voucher = make_voucher(stranger.id)
    wrong_trade = make_voucher(make_person("王五", trainee_row(3)["id_number"]).id, occupation_codes=["6-18-01-01"])
    rows = [dict(holder_row, voucher_code=voucher.code.lower().replace("-", " ")),
            dict(trainee_row(4, "赵六"), voucher_code=other_voucher.code),                    # not theirs, new person
            dict(trainee_row(3, "王五"), voucher_code=wrong_trade.code),
            dict(trainee_row(5), voucher_code="0000-0000-0000-0000-0")]
    body = import_json(client, world, rows).get_json()
    codes = [[e["code"] for e in row.get("errors", [])] for row in body["rows"]]
    assert codes == [[], ["voucher_holder_mismatch"], ["occupation_not_covered"], ["voucher_not_found"]]
    db.session.refresh(voucher)
    db.session.refresh(wrong_trade)
    assert voucher.status == "used" and wrong_trade.status == "claimed"
    e = db.session.execute(select(Enrollment).where(Enrollment.person_id == holder.id)).scalar()
    assert e.voucher_id == voucher.id
    listing = client.get(f"{API}/plans/{world['plan']['id']}/enrollments", headers=world["inst_h"]).get_json()
    assert listing[0]["voucher_code"] == voucher.code
    # a failed voucher row leaves no trace: the new person of row 2 was not created
    assert db.session.execute(select(Person).where(Person.name == "赵六")).scalar() is None


def test_voucher_group_rule_feeds_the_comparison(client, world):
    row = trainee_row(1, "张三")
    holder = make_person("张三", row["id_number"])
    voucher = make_voucher(holder.id, eligibility={"groups": ["unemployed"]})
    body = import_json(client, world, [dict(row, voucher_code=voucher.code)]).get_json()
    assert body["rows"][0]["status"] == "ok" and body["rows"][0]["reasons"] == ["group"]
    e = db.session.execute(select(Enrollment)).scalar()
    r = client.patch(f"{API}/enrollments/{e.id}", json={"groups": ["失业人员"]}, headers=world["inst_h"])
    assert r.status_code == 200 and r.get_json()["eligible"] is True and r.get_json()["reasons"] == []


# ---- when the roster may change --------------------------------------------------------------

def test_roster_frozen_once_the_first_lesson_started(client, world, clock):
    assert import_json(client, world, [trainee_row(1)]).status_code == 200
    plan_id = world["plan"]["id"]
    submit(client, world["inst_h"], plan_id)
    post(client, f"/plans/{plan_id}/approve", world["sup_h"])
    clock.set(sh(10, 8, 59, ))
    h = login(client, world["inst_user"])
    assert import_json(client, world, [trainee_row(2)], headers=h).status_code == 200
    clock.set(sh(10, 9, 0))
    h = login(client, world["inst_user"])
    r = import_json(client, world, [trainee_row(3)], headers=h)
    assert r.status_code == 409 and err(r) == "roster_frozen"
    assert r.get_json()["error"]["details"]["first_lesson_starts_at"] == "2026-03-10T09:00:00+08:00"
    # non-ID fields still change
    e = db.session.execute(select(Enrollment).order_by(Enrollment.id)).scalars().first()
    r = client.patch(f"{API}/enrollments/{e.id}", json={"phone": "+86 139-0000-0000", "groups": "失业人员"},
                     headers=h)
    assert r.status_code == 200 and r.get_json()["phone"] == "13900000000"
    assert r.get_json()["groups"] == ["unemployed"]


def test_roster_open_while_submitted_closed_when_finished(client, world):
    plan_id = world["plan"]["id"]
    submit(client, world["inst_h"], plan_id)
    assert import_json(client, world, [trainee_row(1)]).status_code == 200
    plan = db.session.get(TrainingPlan, plan_id)
    plan.status = "completed"
    db.session.commit()
    r = import_json(client, world, [trainee_row(2)])
    assert r.status_code == 409 and err(r) == "roster_frozen"


def test_roster_import_scope(client, world, staff):
    _, other = staff("institution")
    assert import_json(client, world, [trainee_row(1)], headers=other).status_code == 403
    r = import_json(client, world, [trainee_row(1)], headers=world["sup_h"])
    assert r.status_code == 403 and err(r) == "forbidden"
    r = client.post(f"{API}/plans/{world['plan']['id']}/roster", json={}, headers=world["inst_h"])
    assert r.status_code == 422 and err(r) == "validation_error"


def test_too_many_rows(client, world, monkeypatch):
    monkeypatch.setattr(roster_service, "MAX_ROWS", 2)
    r = import_json(client, world, [trainee_row(i) for i in range(1, 4)])
    assert r.status_code == 422 and err(r) == "too_many_rows"


def test_import_costs_a_bounded_number_of_queries(client, world):
    """Twice the rows (two chunks more) must not mean twice the queries."""
    def count(trainees, plan_id):
        seen = []

        def before(conn, cursor, statement, params, context, executemany):
            seen.append(statement)
        event.listen(db.engine, "before_cursor_execute", before)
        try:
            r = client.post(f"{API}/plans/{plan_id}/roster", json={"trainees": trainees}, headers=world["inst_h"])
        finally:
            event.remove(db.engine, "before_cursor_execute", before)
        assert r.status_code == 200 and r.get_json()["imported"] == len(trainees)
        return len(seen)

    second = make_plan(client, world["inst_h"])
    small = count([trainee_row(i, birth="19900101") for i in range(1, 501)], world["plan"]["id"])
    large = count([trainee_row(i, birth="19910101") for i in range(1, 1001)] +
                  [trainee_row(i, birth="19920101") for i in range(1, 501)], second["id"])
    assert large <= small + 20, (small, large)  # 3x the rows, a handful more queries (per chunk, not per row)
    assert large < 80


# ---- xlsx ------------------------------------------------------------------------------------

def template(client, world) -> bytes:
    r = client.get(f"{API}/plans/{world['plan']['id']}/roster/template.xlsx", headers=world["inst_h"])
    assert r.status_code == 200
    assert r.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert "attachment" in r.headers["Content-Disposition"]
    return r.data


def fill(data: bytes, rows) -> bytes:
    wb = load_workbook(io.BytesIO(data))
    ws = wb["参训名单"]
    for i, row in enumerate(rows, start=2):
        for col, key in enumerate(("name", "id_number", "phone", "groups", "voucher_code"), start=1):
            value = row.get(key)
            ws.cell(row=i, column=col, value=", ".join(value) if isinstance(value, list) else value)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def upload(client, world, data: bytes, name="roster.xlsx"):
    return client.post(f"{API}/plans/{world['plan']['id']}/roster", headers=world["inst_h"],
                       data={"file": (io.BytesIO(data), name)}, content_type="multipart/form-data")


def test_template_has_headers_notes_and_text_id_column(client, world):
    wb = load_workbook(io.BytesIO(template(client, world)))
    assert wb.sheetnames == ["参训名单", "填写说明"]
    ws = wb["参训名单"]
    assert [c.value for c in ws[1]] == ["姓名", "身份证号", "手机号", "人员类别", "券码"]
    assert ws["B2"].number_format == "@" and ws["B5000"].number_format == "@" and ws["C2"].number_format == "@"
    notes = "\n".join(str(c.value) for row in wb["填写说明"].iter_rows() for c in row if c.value)
    for word in ("姓名", "身份证号", "手机号", "人员类别", "券码", "文本格式", "失业人员", "中式烹调师"):
        assert word in notes


def test_template_filled_by_openpyxl_imports_like_json(client, world):
    rows = [trainee_row(1, "张三", groups=["失业人员"]), trainee_row(2, "李四", birth="20120101"),
            trainee_row(3, "王五", phone="abc")]
    body = upload(client, world, fill(template(client, world), rows)).get_json()
    assert [row["row"] for row in body["rows"]] == [2, 3, 4]  # the spreadsheet's own row numbers
    assert [row["status"] for row in body["rows"]] == ["ok", "ok", "error"]
    assert body["rows"][1]["reasons"] == ["age"] and body["rows"][2]["errors"][0]["code"] == "invalid_phone"
    entry = db.session.execute(select(AuditEntry).where(AuditEntry.action == "roster.import")).scalar()
    assert entry.after["source"] == "xlsx"


def test_id_stored_as_a_number_is_explained(client, world):
    wb = Workbook()
    ws = wb.active
    ws.append(["序号", "姓名", "身份证号", "手机号"])  # another column order and an extra column
    idn = trainee_row(1)["id_number"]
    ws.append([1, "张三", int(idn[:17] + "0") if idn[17] == "X" else int(idn), 13800000001])
    ws.append([2, "李四", trainee_row(2)["id_number"], "13800000002"])
    ws.append([None, None, None, None])
    buf = io.BytesIO()
    wb.save(buf)
    body = upload(client, world, buf.getvalue()).get_json()
    assert len(body["rows"]) == 2
    first = body["rows"][0]
    if first["status"] == "error":  # an 18-digit int survives openpyxl, Excel would have mangled it
        assert first["errors"][0]["reason"] == "stored_as_number"
    assert body["rows"][1]["status"] == "ok"


@pytest.mark.parametrize("data, reason", [(b"name,id\n", "not_xlsx"), (b"\xd0\xcf\x11\xe0" + b"0" * 100, "xls_not_supported"),
                                          (b"PK\x03\x04garbage", "unreadable")])
def test_unreadable_files(client, world, data, reason):
    r = upload(client, world, data)
    assert r.status_code == 422 and err(r) == "invalid_file"
    assert r.get_json()["error"]["details"]["reason"] == reason


def test_sheet_without_the_columns(client, world):
    wb = Workbook()
    wb.active.append(["foo", "bar"])
    buf = io.BytesIO()
    wb.save(buf)
    r = upload(client, world, buf.getvalue())
    assert r.status_code == 422 and r.get_json()["error"]["details"]["reason"] == "missing_columns"


def test_voucher_column_from_xlsx(client, world):
    row = trainee_row(1, "张三")
    voucher = make_voucher(make_person("张三", row["id_number"]).id)
    body = upload(client, world, fill(template(client, world), [dict(row, voucher_code=voucher.code)])).get_json()
    assert body["rows"][0]["status"] == "ok"
    assert db.session.get(Voucher, voucher.id).status == "used"
