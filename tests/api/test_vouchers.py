"""Voucher batches and claims over HTTP: define, validate, publish, list, claim, return, expire."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, text

from backend.extensions import db
from backend.models import AuditEntry, DirectedRecipient, Voucher, VoucherBatch
from tests.conftest import auth, make_id_number

T0 = datetime(2025, 3, 10, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
API = "/api/v1"
_GOOD = make_id_number(seq="002")
BAD_CHECK_DIGIT = _GOOD[:17] + ("1" if _GOOD[17] == "0" else "0")


def batch_body(**overrides) -> dict:
    """A valid batch definition for the Fuzhou bureau; override any field."""
    body = {"name": "2025年福州市职业技能培训券", "region_code": "3501", "occupation_codes": ["4-01-02-01"],
            "institution_ids": None,
            "eligibility": {"groups": None, "age_min": 16, "age_max": 60, "household_regions": None},
            "directed_id_numbers": None, "quantity": 10, "face_value_fen": 150000,
            "claim_starts_at": (T0 - timedelta(days=1)).isoformat(),
            "claim_ends_at": (T0 + timedelta(days=30)).isoformat(),
            "valid_days": 90, "funding_source": "就业补助资金", "claim_requires_face": False}
    body.update(overrides)
    return body


@pytest.fixture
def sup(clock, staff):
    """The clock at T0 and a Fuzhou supervisor's headers."""
    clock.set(T0)
    return staff("supervisor", region_code="3501")[1]


@pytest.fixture
def publish(client, sup):
    """Factory: create and publish a batch, returning its id."""
    def make(**overrides):
        r = client.post(f"{API}/voucher-batches", json=batch_body(**overrides), headers=sup)
        assert r.status_code == 201, r.get_json()
        r = client.post(f"{API}/voucher-batches/{r.get_json()['id']}/publish", headers=sup)
        assert r.status_code == 200, r.get_json()
        return r.get_json()["id"]
    return make


def relogin(client, code: str) -> dict:
    """A fresh access token for a trainee after the clock moved past the old one's life."""
    r = client.post(f"{API}/auth/wechat", json={"code": code})
    assert r.status_code == 200
    return auth(r.get_json()["access_token"])


def count(model) -> int:
    n = db.session.execute(select(func.count()).select_from(model)).scalar()
    db.session.commit()  # SQLite: release the write lock BEGIN IMMEDIATE took for this read
    return n


def error(r) -> str:
    return r.get_json()["error"]["code"]


# ---- defining batches ----------------------------------------------------------------------------------

def test_create_and_publish_batch_is_audited(client, sup):
    r = client.post(f"{API}/voucher-batches", json=batch_body(), headers=sup)
    assert r.status_code == 201, r.get_json()
    batch = r.get_json()
    assert batch["status"] == "draft" and batch["remaining"] == 10 and batch["quantity"] == 10
    r = client.post(f"{API}/voucher-batches/{batch['id']}/publish", headers=sup)
    assert r.status_code == 200 and r.get_json()["status"] == "published"
    r = client.post(f"{API}/voucher-batches/{batch['id']}/publish", headers=sup)
    assert r.status_code == 409 and error(r) == "invalid_state"
    actions = db.session.execute(select(AuditEntry.action).where(
        AuditEntry.object_type == "voucher_batch", AuditEntry.object_id == str(batch["id"]))).scalars().all()
    db.session.commit()
    assert actions == ["voucher_batch.create", "voucher_batch.published"]


@pytest.mark.parametrize("overrides, field", [
    ({"claim_ends_at": (T0 - timedelta(days=2)).isoformat()}, "claim_ends_at"),
    ({"quantity": 0}, "quantity"),
    ({"quantity": "ten"}, "quantity"),
    ({"quantity": 2.5}, "quantity"),
    ({"occupation_codes": []}, "occupation_codes"),
    ({"occupation_codes": ["  "]}, "occupation_codes"),
    ({"institution_ids": [999999]}, "institution_ids"),
    ({"directed_id_numbers": [make_id_number(seq="001"), BAD_CHECK_DIGIT]}, "directed_id_numbers"),
    ({"directed_id_numbers": []}, "directed_id_numbers"),
    ({"claim_starts_at": "2025-03-01T10:00:00"}, "claim_starts_at"),  # naive: no offset
    ({"eligibility": {"age_min": 40, "age_max": 30}}, "eligibility.age_max"),
    ({"eligibility": {"household_regions": ["99"]}}, "eligibility.household_regions"),
    ({"eligibility": "everyone"}, "eligibility"),
    ({"face_value_fen": -1}, "face_value_fen"),
    ({"valid_days": 0}, "valid_days"),
    ({"name": "   "}, "name"),
    ({"region_code": "35x1"}, "region_code"),
])
def test_bad_batch_is_422_with_field_details_and_writes_nothing(client, sup, overrides, field):
    r = client.post(f"{API}/voucher-batches", json=batch_body(**overrides), headers=sup)
    assert r.status_code == 422, r.get_json()
    assert error(r) == "validation_error"
    assert field in r.get_json()["error"]["details"]["fields"]
    assert count(VoucherBatch) == 0 and count(DirectedRecipient) == 0
    assert db.session.execute(select(AuditEntry.id).where(AuditEntry.object_type == "voucher_batch")).first() is None
    db.session.commit()


def test_directed_list_errors_name_the_bad_entries(client, sup):
    good = make_id_number(seq="001")
    r = client.post(f"{API}/voucher-batches", json=batch_body(directed_id_numbers=[good, "12345", good]), headers=sup)
    assert r.status_code == 422
    assert r.get_json()["error"]["details"]["fields"]["directed_id_numbers"] == {"1": ["invalid_id_number: length"]}


def test_region_outside_scope_and_wrong_roles_are_refused(client, sup, staff, trainee, make_institution):
    r = client.post(f"{API}/voucher-batches", json=batch_body(region_code="3502"), headers=sup)
    assert r.status_code == 403 and error(r) == "out_of_scope"
    xiamen = make_institution("350203")
    r = client.post(f"{API}/voucher-batches", json=batch_body(institution_ids=[xiamen.id]), headers=sup)
    assert r.status_code == 422 and "institution_ids" in r.get_json()["error"]["details"]["fields"]
    _, t = trainee()
    assert client.post(f"{API}/voucher-batches", json=batch_body(), headers=t).status_code == 403
    _, inst = staff("institution")
    assert client.post(f"{API}/voucher-batches", json=batch_body(), headers=inst).status_code == 403
    assert count(VoucherBatch) == 0


def test_publish_out_of_scope_is_403(client, sup, staff):
    bid = client.post(f"{API}/voucher-batches", json=batch_body(), headers=sup).get_json()["id"]
    _, xiamen_sup = staff("supervisor", region_code="3502")
    r = client.post(f"{API}/voucher-batches/{bid}/publish", headers=xiamen_sup)
    assert r.status_code == 403 and error(r) == "out_of_scope"
    assert client.post(f"{API}/voucher-batches/999/publish", headers=sup).status_code == 404


def test_directed_list_is_stored_as_blind_indexes_only(app, client, sup, publish, trainee):
    from backend.security.crypto import vault
    listed = make_id_number(seq="011")
    bid = publish(directed_id_numbers=[listed, listed.lower()])
    rows = db.session.execute(select(DirectedRecipient.id_number_index).where(
        DirectedRecipient.batch_id == bid)).scalars().all()
    raw = db.session.execute(text("SELECT * FROM voucher_batches")).all() + \
        db.session.execute(text("SELECT * FROM directed_recipients")).all()
    db.session.commit()
    assert rows == [vault().blind_index(listed)]
    assert listed not in repr(raw) and listed[:17] not in repr(raw)

    _, outsider = trainee(name="李四", id_number=make_id_number(seq="012"))
    listing = client.get(f"{API}/voucher-batches", headers=outsider).get_json()
    assert listing[0]["eligible"] is False and listing[0]["ineligible_reasons"] == ["not_directed"]
    r = client.post(f"{API}/voucher-batches/{bid}/claims", json={}, headers=outsider)
    assert r.status_code == 403 and error(r) == "not_eligible"
    assert r.get_json()["error"]["details"]["reasons"] == ["not_directed"]

    _, insider = trainee(name="王五", id_number=listed)
    assert client.get(f"{API}/voucher-batches", headers=insider).get_json()[0]["eligible"] is True
    r = client.post(f"{API}/voucher-batches/{bid}/claims", json={}, headers=insider)
    assert r.status_code == 201, r.get_json()


# ---- listing -------------------------------------------------------------------------------------------

def test_trainee_sees_open_published_batches_with_eligibility(client, sup, publish, trainee):
    open_id = publish(name="开放")
    publish(name="未开始", claim_starts_at=(T0 + timedelta(days=1)).isoformat())
    publish(name="已结束", claim_starts_at=(T0 - timedelta(days=9)).isoformat(),
            claim_ends_at=(T0 - timedelta(days=1)).isoformat())
    client.post(f"{API}/voucher-batches", json=batch_body(name="草稿"), headers=sup)
    graduates = publish(name="高校毕业生", eligibility={"groups": ["graduate"]})
    young = publish(name="青年", eligibility={"age_max": 30}, quantity=3)

    _, t = trainee()
    r = client.get(f"{API}/voucher-batches", headers=t)
    assert r.status_code == 200 and r.headers["X-Total-Count"] == "3"
    by_id = {b["id"]: b for b in r.get_json()}
    assert set(by_id) == {open_id, graduates, young}
    assert by_id[open_id]["eligible"] is True and by_id[open_id]["ineligible_reasons"] == []
    assert by_id[graduates]["ineligible_reasons"] == ["group"]
    assert by_id[young]["ineligible_reasons"] == ["age"] and by_id[young]["remaining"] == 3
    r = client.post(f"{API}/voucher-batches/{young}/claims", json={}, headers=t)
    assert r.status_code == 403 and r.get_json()["error"]["details"]["reasons"] == ["age"]

    _, unbound = trainee(bind=False)
    listing = client.get(f"{API}/voucher-batches", headers=unbound).get_json()
    assert all(b["ineligible_reasons"] == ["identity_not_bound"] for b in listing)


def test_supervisor_sees_own_region_in_all_states(client, sup, publish, staff):
    publish()
    client.post(f"{API}/voucher-batches", json=batch_body(name="草稿"), headers=sup)
    r = client.get(f"{API}/voucher-batches", headers=sup)
    assert r.status_code == 200 and sorted(b["status"] for b in r.get_json()) == ["draft", "published"]
    _, xiamen = staff("supervisor", region_code="3502")
    assert client.get(f"{API}/voucher-batches", headers=xiamen).get_json() == []


# ---- claim, return, expiry -----------------------------------------------------------------------------

def test_claim_rules(client, publish, trainee):
    bid = publish(quantity=2)
    _, unbound = trainee(bind=False)
    r = client.post(f"{API}/voucher-batches/{bid}/claims", json={}, headers=unbound)
    assert r.status_code == 403 and error(r) == "identity_not_bound"

    _, t = trainee()
    r = client.post(f"{API}/voucher-batches/{bid}/claims", headers=t)  # no body at all is fine
    assert r.status_code == 201, r.get_json()
    v = r.get_json()
    assert v["status"] == "claimed" and v["batch_id"] == bid
    assert datetime.fromisoformat(v["expires_at"]) == T0 + timedelta(days=90)
    r = client.post(f"{API}/voucher-batches/{bid}/claims", json={}, headers=t)
    assert r.status_code == 409 and error(r) == "already_claimed"

    _, t2 = trainee(name="李四")
    assert client.post(f"{API}/voucher-batches/{bid}/claims", json={}, headers=t2).status_code == 201
    _, t3 = trainee(name="王五")
    r = client.post(f"{API}/voucher-batches/{bid}/claims", json={}, headers=t3)
    assert r.status_code == 409 and error(r) == "sold_out"
    assert client.get(f"{API}/voucher-batches", headers=t3).get_json()[0]["remaining"] == 0
    assert client.post(f"{API}/voucher-batches/999/claims", json={}, headers=t3).status_code == 404


def test_claim_window(client, clock, publish, trainee):
    later = publish(claim_starts_at=(T0 + timedelta(hours=1)).isoformat())
    _, t = trainee(code="window")
    r = client.post(f"{API}/voucher-batches/{later}/claims", json={}, headers=t)
    assert r.status_code == 409 and error(r) == "claim_window_closed"
    clock.advance(hours=1)
    t = relogin(client, "window")
    assert client.post(f"{API}/voucher-batches/{later}/claims", json={}, headers=t).status_code == 201


def test_closed_batch_refuses_claims(client, sup, publish, trainee):
    bid = publish()
    assert client.post(f"{API}/voucher-batches/{bid}/close", headers=sup).get_json()["status"] == "closed"
    _, t = trainee()
    r = client.post(f"{API}/voucher-batches/{bid}/claims", json={}, headers=t)
    assert r.status_code == 409 and error(r) == "claim_window_closed"


def test_return_puts_stock_back_but_a_batch_is_claimed_once(client, publish, trainee):
    """Source 001: 同一券一人只能领取1次 — returning frees the stock for others and lets the person claim
    another batch, never the same one again (one person claimed and returned one batch four times)."""
    bid = publish(quantity=1)
    other_batch = publish(quantity=1)
    _, t = trainee()
    code = client.post(f"{API}/voucher-batches/{bid}/claims", json={}, headers=t).get_json()["code"]
    r = client.post(f"{API}/me/vouchers/{code.lower().replace('-', '')}/return", headers=t)
    assert r.status_code == 200 and r.get_json() == {"status": "returned"}
    listed = {b["id"]: b for b in client.get(f"{API}/voucher-batches", headers=t).get_json()}
    assert listed[bid]["remaining"] == 1 and "already_claimed" in listed[bid]["ineligible_reasons"]
    r = client.post(f"{API}/me/vouchers/{code}/return", headers=t)
    assert r.status_code == 409 and error(r) == "not_returnable"
    r = client.post(f"{API}/voucher-batches/{bid}/claims", json={}, headers=t)
    assert r.status_code == 409 and error(r) == "already_claimed" and r.get_json()["error"]["details"]["returned"]
    # the stock went back: someone else can have it; and the person may claim a different batch
    _, someone = trainee(name="李四")
    assert client.post(f"{API}/voucher-batches/{bid}/claims", json={}, headers=someone).status_code == 201
    assert client.post(f"{API}/voucher-batches/{other_batch}/claims", json={}, headers=t).status_code == 201
    statuses = sorted(v["status"] for v in client.get(f"{API}/me/vouchers", headers=t).get_json())
    assert statuses == ["claimed", "returned"]
    actions = db.session.execute(select(AuditEntry.action).where(AuditEntry.object_type == "voucher")
                                 .order_by(AuditEntry.id)).scalars().all()
    db.session.commit()
    assert actions == ["voucher.claim", "voucher.return", "voucher.claim", "voucher.claim"]


def test_someone_elses_voucher_is_not_found(client, publish, trainee):
    bid = publish()
    _, owner = trainee()
    code = client.post(f"{API}/voucher-batches/{bid}/claims", json={}, headers=owner).get_json()["code"]
    _, other = trainee(name="李四")
    assert client.post(f"{API}/me/vouchers/{code}/return", headers=other).status_code == 404
    assert client.get(f"{API}/me/vouchers/{code}/qr", headers=other).status_code == 404
    assert client.post(f"{API}/me/vouchers/not-a-code/return", headers=other).status_code == 404


def test_expiry_shows_on_read_before_the_sweep(app, client, clock, publish, trainee):
    bid = publish(valid_days=90)
    _, t = trainee(code="exp")
    code = client.post(f"{API}/voucher-batches/{bid}/claims", json={}, headers=t).get_json()["code"]
    clock.set(T0 + timedelta(days=90) - timedelta(seconds=1))
    t = relogin(client, "exp")
    assert client.get(f"{API}/me/vouchers", headers=t).get_json()[0]["status"] == "claimed"
    clock.set(T0 + timedelta(days=90))
    t = relogin(client, "exp")
    assert client.get(f"{API}/me/vouchers", headers=t).get_json()[0]["status"] == "expired"
    assert client.get(f"{API}/me/vouchers/{code}", headers=t).get_json()["status"] == "expired"
    r = client.post(f"{API}/me/vouchers/{code}/return", headers=t)
    assert r.status_code == 409 and error(r) == "not_returnable"
    # Still "claimed" in the table until the sweep runs; reads never show it.
    assert db.session.execute(select(Voucher.status)).scalar() == "claimed"
    db.session.commit()

    runner = app.test_cli_runner()
    result = runner.invoke(args=["vouchers", "expire"])
    assert result.exit_code == 0, result.output
    assert "expired 1 vouchers" in result.output
    assert db.session.execute(select(Voucher.status)).scalar() == "expired"
    db.session.commit()
    assert "expired 0 vouchers" in runner.invoke(args=["vouchers", "expire"]).output
    actions = db.session.execute(select(AuditEntry.actor, AuditEntry.action).where(
        AuditEntry.action == "voucher.expire")).all()
    db.session.commit()
    assert actions == [("cli:vouchers-expire", "voucher.expire")]


def test_batch_detail(client, sup, publish, trainee):
    bid = publish()
    draft = client.post(f"{API}/voucher-batches", json=batch_body(), headers=sup).get_json()["id"]
    _, t = trainee()
    r = client.get(f"{API}/voucher-batches/{bid}", headers=t)
    assert r.status_code == 200 and r.get_json()["eligible"] is True and "funding_source" not in r.get_json()
    assert client.get(f"{API}/voucher-batches/{draft}", headers=t).status_code == 404
    assert client.get(f"{API}/voucher-batches/{draft}", headers=sup).get_json()["funding_source"] == "就业补助资金"
