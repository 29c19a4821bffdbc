"""The voucher at the desk: rotating QR (decoded by zxing-cpp), verification, use for an enrolment,
write-off, voiding, and the statistics funnel."""
from __future__ import annotations

import io
from datetime import date, timedelta

import pytest
import zxingcpp
from PIL import Image
from sqlalchemy import select

from backend.domain.errors import AppError
from backend.extensions import db
from backend.models import AuditEntry, ConsumedToken, SubsidyClaim, SubsidyLine, TrainingPlan, User, Voucher
from backend.security.actor import Actor
from backend.services import voucher_use
from backend.services.vouchers import voucher_funnel
from tests.api.test_vouchers import API, T0, error, publish, relogin, sup  # noqa: F401 - publish, sup: fixtures


@pytest.fixture
def holder(client, publish, trainee):  # noqa: F811
    """A published batch and a trainee holding one of its vouchers: (batch_id, code, headers).

    The batch accepts the bare code for enrolment, so the refusal tables can use codes; the default
    (live QR only) has its own tests in test_voucher_code_enrollment.py."""
    bid = publish(quantity=5, code_enrollment_allowed=True)
    _, t = trainee(name="张三丰", code="holder")
    r = client.post(f"{API}/voucher-batches/{bid}/claims", json={}, headers=t)
    assert r.status_code == 201
    return bid, r.get_json()["code"], t


def qr(client, code, headers):
    r = client.get(f"{API}/me/vouchers/{code}/qr", headers=headers)
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def make_plan(inst, occupation="4-01-02-01") -> TrainingPlan:
    plan = TrainingPlan(institution_id=inst.id, region_code=inst.region_code, title="电工培训", occupation_code=occupation,
                        plan_type="pre_job", delivery="offline", starts_on=date(2025, 4, 1), ends_on=date(2025, 4, 30),
                        status="approved", created_at=T0)
    db.session.add(plan)
    db.session.commit()
    return plan


def desk(inst) -> Actor:
    return Actor(role="institution", subject="u:desk", user_id=None, institution_id=inst.id,
                 region_code=inst.region_code)


def test_qr_token_json_png_svg(client, holder):
    _, code, t = holder
    body = qr(client, code, t)
    assert body["refresh_after_s"] == 30 and body["code"] == code
    assert body["expires_at"] == (T0 + timedelta(seconds=60)).isoformat()
    assert len(body["token"]) <= 48 and body["token"].isalnum() and body["token"].isupper()

    r = client.get(f"{API}/me/vouchers/{code}/qr?format=png", headers=t)
    assert r.status_code == 200 and r.mimetype == "image/png"
    assert r.headers["Cache-Control"] == "no-store"
    decoded = zxingcpp.read_barcodes(Image.open(io.BytesIO(r.data)))
    assert len(decoded) == 1 and decoded[0].format == zxingcpp.BarcodeFormat.QRCode
    token = decoded[0].text
    # The image carries a fresh token (new nonce) that verifies like the JSON one.
    assert len(token) == len(body["token"]) and token != body["token"]
    r = client.get(f"{API}/me/vouchers/{code}/qr?format=svg", headers=t)
    assert r.status_code == 200 and r.mimetype == "image/svg+xml" and b"<svg" in r.data
    r = client.get(f"{API}/me/vouchers/{code}/qr?format=gif", headers=t)
    assert r.status_code == 422 and error(r) == "validation_error"


def test_png_token_verifies_at_the_desk(client, holder, staff, make_institution):
    _, code, t = holder
    r = client.get(f"{API}/me/vouchers/{code}/qr?format=png", headers=t)
    token = zxingcpp.read_barcodes(Image.open(io.BytesIO(r.data)))[0].text
    _, desk_h = staff("institution", institution=make_institution("350102"))
    r = client.post(f"{API}/vouchers/verify", json={"token": token}, headers=desk_h)
    assert r.status_code == 200 and r.get_json()["valid"] is True


def test_verify_reports_validity_holder_and_usability(client, clock, holder, staff, make_institution, publish):  # noqa: F811
    bid, code, t = holder
    token = qr(client, code, t)["token"]
    _, here = staff("institution", institution=make_institution("350102"))
    r = client.post(f"{API}/vouchers/verify", json={"token": token}, headers=here)
    assert r.status_code == 200, r.get_json()
    out = r.get_json()
    assert out["valid"] is True and out["usable_here"] is True and out.get("reason") is None
    assert out["voucher"]["code"] == code and out["voucher"]["status"] == "claimed"
    assert out["voucher"]["batch"]["face_value_fen"] == 150000
    assert out["voucher"]["holder"]["name_masked"] == "张**"
    assert "*" in out["voucher"]["holder"]["id_number_masked"]

    _, xiamen = staff("institution", institution=make_institution("350203"))
    out = client.post(f"{API}/vouchers/verify", json={"code": code}, headers=xiamen).get_json()
    assert out["valid"] is True and out["usable_here"] is False and out["reason"] == "not_allowed_institution"

    bad = token[:-2] + ("AA" if token[-2:] != "AA" else "BB")
    assert client.post(f"{API}/vouchers/verify", json={"token": bad}, headers=here).get_json() == {
        "valid": False, "reason": "token_invalid", "usable_here": False}
    out = client.post(f"{API}/vouchers/verify", json={"code": "0000-0000-0000-0000-0"}, headers=here).get_json()
    assert out["valid"] is False and out["reason"] == "not_found"
    r = client.post(f"{API}/vouchers/verify", json={"code": "hello"}, headers=here)
    assert r.status_code == 422 and "code" in r.get_json()["error"]["details"]["fields"]
    r = client.post(f"{API}/vouchers/verify", json={}, headers=here)
    assert r.status_code == 422 and error(r) == "validation_error"
    assert client.post(f"{API}/vouchers/verify", json={"code": code}, headers=t).status_code == 403

    clock.advance(seconds=60)
    out = client.post(f"{API}/vouchers/verify", json={"token": token}, headers=here).get_json()
    assert out == {"valid": False, "reason": "token_expired", "usable_here": False}

    t = relogin(client, "holder")
    client.post(f"{API}/me/vouchers/{code}/return", headers=t)
    out = client.post(f"{API}/vouchers/verify", json={"code": code}, headers=here).get_json()
    assert out["valid"] is False and out["reason"] == "returned" and out["voucher"]["status"] == "returned"
    r = client.get(f"{API}/me/vouchers/{code}/qr", headers=t)
    assert r.status_code == 409 and error(r) == "returned"


def test_verify_institution_list_batch(client, publish, trainee, staff, make_institution):  # noqa: F811
    listed, unlisted = make_institution("350102"), make_institution("350103")
    bid = publish(institution_ids=[listed.id])
    _, t = trainee()
    code = client.post(f"{API}/voucher-batches/{bid}/claims", json={}, headers=t).get_json()["code"]
    _, h1 = staff("institution", institution=listed)
    _, h2 = staff("institution", institution=unlisted)
    assert client.post(f"{API}/vouchers/verify", json={"code": code}, headers=h1).get_json()["usable_here"] is True
    out = client.post(f"{API}/vouchers/verify", json={"code": code}, headers=h2).get_json()
    assert out["usable_here"] is False and out["reason"] == "not_allowed_institution"


def test_use_voucher_consumes_the_token_once(client, holder, make_institution):
    _, code, t = holder
    inst = make_institution("350102")
    plan = make_plan(inst)
    token = qr(client, code, t)["token"]
    voucher = voucher_use.use_voucher(desk(inst), plan, token, T0)
    db.session.commit()
    assert voucher.status == "used" and voucher.used_at == T0
    assert db.session.execute(select(ConsumedToken.voucher_id)).scalars().all() == [voucher.id]
    db.session.commit()
    with pytest.raises(AppError) as exc:
        voucher_use.use_voucher(desk(inst), plan, token, T0)
    db.session.rollback()
    assert (exc.value.code, exc.value.status) == ("used", 422)

    # Even if the voucher went back to claimed (an enrolment undone), the same token cannot enrol again.
    voucher.status = "claimed"
    db.session.commit()
    with pytest.raises(AppError) as exc:
        voucher_use.use_voucher(desk(inst), plan, token, T0)
    db.session.rollback()
    assert exc.value.code == "token_consumed"
    # A fresh token does.
    assert voucher_use.use_voucher(desk(inst), plan, qr(client, code, t)["token"], T0).status == "used"
    db.session.commit()
    out = client.post(f"{API}/vouchers/verify", json={"code": code},
                      headers=_desk_headers(client, inst)).get_json()
    assert out["valid"] is False and out["reason"] == "used"


def _desk_headers(client, inst):
    from werkzeug.security import generate_password_hash
    user = User(username=f"desk{inst.id}", password_hash=generate_password_hash("password-123", method="pbkdf2:sha256:1000"),
                role="institution", region_code=inst.region_code, institution_id=inst.id, created_at=T0)
    db.session.add(user)
    db.session.commit()
    r = client.post(f"{API}/auth/login", json={"username": user.username, "password": "password-123"})
    return {"Authorization": "Bearer " + r.get_json()["access_token"]}


@pytest.mark.parametrize("case, expected", [
    ("occupation", "occupation_not_covered"),
    ("institution", "not_allowed_institution"),
    ("expired_token", "token_expired"),
    ("garbage", "token_invalid"),
    ("expired_voucher", "expired"),
])
def test_use_voucher_refusals(client, holder, make_institution, case, expected):
    _, code, t = holder
    inst = make_institution("350102")
    plan = make_plan(inst, occupation="6-99-99-99" if case == "occupation" else "4-01-02-01")
    if case == "institution":
        plan = make_plan(make_institution("350203"))
        inst = db.session.get(type(inst), plan.institution_id)
    value, when = code, T0
    if case == "expired_token":
        value, when = qr(client, code, t)["token"], T0 + timedelta(seconds=61)
    elif case == "garbage":
        value = "NOT A TOKEN"
    elif case == "expired_voucher":
        when = T0 + timedelta(days=91)
    with pytest.raises(AppError) as exc:
        voucher_use.use_voucher(desk(inst), plan, value, when)
    db.session.rollback()
    assert (exc.value.code, exc.value.status) == (expected, 422)
    assert db.session.execute(select(Voucher.status)).scalar() == "claimed"
    assert db.session.execute(select(ConsumedToken.id)).first() is None
    db.session.commit()


def test_other_institution_cannot_use_for_a_foreign_plan(holder, make_institution):
    _, code, _ = holder
    plan = make_plan(make_institution("350102"))
    with pytest.raises(AppError) as exc:
        voucher_use.use_voucher(desk(make_institution("350102")), plan, code, T0)
    db.session.rollback()
    assert exc.value.status == 403


def test_write_off_void_and_funnel(client, clock, sup, holder, trainee, make_institution):  # noqa: F811
    bid, code, t = holder
    inst = make_institution("350102")
    plan = make_plan(inst)
    voucher = voucher_use.use_voucher(desk(inst), plan, code, T0)
    db.session.commit()
    claim = SubsidyClaim(plan_id=plan.id, institution_id=inst.id, region_code=inst.region_code, status="disbursed",
                         total_fen=90000, created_at=T0)
    db.session.add(claim)
    db.session.flush()
    db.session.add(SubsidyLine(claim_id=claim.id, person_id=voucher.person_id, credited_hours=30, voucher_id=voucher.id,
                               amount_fen=90000, payee="institution", year=2025))
    assert voucher_use.write_off_vouchers([voucher.id], "supervisor:u:9", T0 + timedelta(days=40)) == [code]
    assert voucher_use.write_off_vouchers([voucher.id], "supervisor:u:9", T0 + timedelta(days=40)) == []
    db.session.commit()
    out = client.post(f"{API}/vouchers/verify", json={"code": code}, headers=_desk_headers(client, inst)).get_json()
    assert out["reason"] == "written_off"

    # Three more people: one returns, one expires, one is voided.
    codes = {}
    for name in ("甲", "乙", "丙"):
        _, h = trainee(name="李" + name, code="c" + str(len(codes)))
        codes[name] = (client.post(f"{API}/voucher-batches/{bid}/claims", json={}, headers=h).get_json()["code"], h)
    client.post(f"{API}/me/vouchers/{codes['甲'][0]}/return", headers=codes["甲"][1])
    r = client.post(f"{API}/vouchers/{codes['丙'][0]}/void", json={"reason": "冒领"}, headers=sup)
    assert r.status_code == 200 and r.get_json() == {"status": "voided"}
    r = client.post(f"{API}/vouchers/{codes['丙'][0]}/void", json={"reason": "冒领"}, headers=sup)
    assert r.status_code == 409 and error(r) == "invalid_state"

    later = T0 + timedelta(days=95)
    funnel = voucher_funnel("3501", None, None, now=later)
    assert funnel == {"issued": 5, "claimed": 4, "used": 1, "returned": 1, "expired": 1, "written_off": 1,
                      "written_off_fen": 90000, "voided": 1}
    assert voucher_funnel("3502", None, None, now=later)["issued"] == 0
    march = voucher_funnel("35", date(2025, 3, 1), date(2025, 3, 31), now=later)
    assert (march["issued"], march["claimed"], march["expired"], march["written_off"]) == (5, 4, 0, 0)
    june = voucher_funnel(None, date(2025, 6, 1), date(2025, 6, 30), now=later)
    assert (june["issued"], june["claimed"], june["expired"]) == (0, 0, 1)
    db.session.commit()
    actions = set(db.session.execute(select(AuditEntry.action)).scalars())
    db.session.commit()
    assert {"voucher.use", "voucher.write_off", "voucher.void", "voucher.return"} <= actions
