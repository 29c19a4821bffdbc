"""A desk that once saw a voucher's permanent code cannot enrol its holder without them: enrolment needs
the trainee's live QR, unless the bureau allows the bare code for the batch (audited)."""
from __future__ import annotations

import pytest

from backend.extensions import db
from backend.models import AuditEntry, Enrollment, Voucher
from tests.api.test_vouchers import API, error, publish, sup  # noqa: F401 - publish, sup: fixtures
from tests.api.test_vouchers_use import make_plan, qr


@pytest.fixture
def desk_world(client, publish, trainee, staff, make_institution):  # noqa: F811
    """A default batch (code enrolment off), a holder, and an institution with an approved plan."""
    bid = publish(quantity=5)
    _, t = trainee(name="张三丰", code="holder")
    code = client.post(f"{API}/voucher-batches/{bid}/claims", json={}, headers=t).get_json()["code"]
    inst = make_institution("350102")
    _, inst_h = staff("institution", institution=inst)
    plan = make_plan(inst)
    return {"bid": bid, "code": code, "t": t, "inst_h": inst_h, "plan": plan}


def enrol(client, w, **body):
    return client.post(f"{API}/plans/{w['plan'].id}/enrollments", json=body, headers=w["inst_h"])


def test_the_bare_code_is_refused_and_changes_nothing(client, desk_world):
    w = desk_world
    r = enrol(client, w, voucher_code=w["code"])
    assert (r.status_code, error(r)) == (422, "voucher_token_required")
    assert db.session.query(Voucher).one().status == "claimed"
    assert db.session.query(Enrollment).count() == 0


def test_the_roster_column_is_refused_per_row(client, desk_world):
    w = desk_world
    from backend.models import Person
    person = db.session.get(Person, db.session.query(Voucher).one().person_id)
    from backend.services.persons import id_number_of
    r = client.post(f"{API}/plans/{w['plan'].id}/roster", headers=w["inst_h"], json={"trainees": [
        {"name": person.name, "id_number": id_number_of(person), "phone": "13800138000", "voucher_code": w["code"]}]})
    assert r.status_code == 200, r.get_json()
    [row] = r.get_json()["rows"]
    assert row["status"] == "error" and "voucher_token_required" in str(row)
    assert db.session.query(Voucher).one().status == "claimed"


def test_the_live_qr_enrols(client, desk_world):
    w = desk_world
    token = qr(client, w["code"], w["t"])["token"]
    r = enrol(client, w, voucher_token=token)
    assert r.status_code == 201, r.get_json()
    assert db.session.query(Voucher).one().status == "used"


@pytest.mark.parametrize("who, status", [("supervisor", 200), ("institution", 403)])
def test_the_bureau_may_allow_the_code_for_a_batch(client, desk_world, sup, who, status):  # noqa: F811
    w = desk_world
    headers = sup if who == "supervisor" else w["inst_h"]
    r = client.post(f"{API}/voucher-batches/{w['bid']}/code-enrollment", headers=headers,
                    json={"allowed": True, "reason": "本批次面向无智能手机的老年学员"})
    assert r.status_code == status, r.get_json()
    if status != 200:
        return
    assert r.get_json()["code_enrollment_allowed"] is True
    entry = db.session.query(AuditEntry).filter_by(action="voucher_batch.code_enrollment").one()
    assert entry.after == {"code_enrollment_allowed": True, "reason": "本批次面向无智能手机的老年学员"}
    assert enrol(client, w, voucher_code=w["code"]).status_code == 201
