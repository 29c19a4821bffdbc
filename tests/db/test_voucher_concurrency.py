"""Claims under real concurrency: threads, each with its own test client and database connection, against
a file SQLite database (default run) or PostgreSQL (TEST_DB=postgres). Stock is never oversold and one
person never holds two live vouchers of a batch, because the database says so."""
from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from backend.domain.errors import AppError
from backend.extensions import db
from backend.models import Voucher, VoucherBatch, WechatAccount
from backend.security import tokens
from backend.services import persons
from backend.services.vouchers import take_stock
from tests.conftest import auth, make_id_number

T0 = datetime(2025, 3, 10, 2, 0, tzinfo=UTC)
API = "/api/v1"
pytestmark = pytest.mark.slow


@pytest.fixture
def setup(app, clock, staff):
    """The clock at T0 and a factory for published batches (created over HTTP by a supervisor)."""
    clock.set(T0)
    _, sup = staff("supervisor", region_code="3501")
    client = app.test_client()

    def batch(quantity: int) -> int:
        body = {"name": "并发测试券", "region_code": "3501", "occupation_codes": ["4-01-02-01"], "quantity": quantity,
                "face_value_fen": 100000, "claim_starts_at": (T0 - timedelta(days=1)).isoformat(),
                "claim_ends_at": (T0 + timedelta(days=1)).isoformat(), "valid_days": 90}
        r = client.post(f"{API}/voucher-batches", json=body, headers=sup)
        assert r.status_code == 201, r.get_json()
        assert client.post(f"{API}/voucher-batches/{r.get_json()['id']}/publish", headers=sup).status_code == 200
        return r.get_json()["id"]
    return batch


def bound_trainees(n: int, offset: int = 0) -> list[dict]:
    """n persons bound to WeChat accounts, inserted directly (binding is not under test); their headers."""
    people = []
    for i in range(offset, offset + n):
        person = persons.new_person(f"学员{i}", make_id_number(birth="19900307", seq=f"{i:03d}"), T0)
        account = WechatAccount(openid=f"stub-conc-{i}", created_at=T0, bound_at=T0)
        people.append((person, account))
        db.session.add_all([person, account])
    db.session.flush()
    headers = []
    for person, account in people:
        account.person_id = person.id
        pair = tokens.issue_pair(f"w:{account.id}", "trainee", T0, {"pid": person.id})
        headers.append(auth(pair["access_token"]))
    db.session.commit()
    return headers


def run_concurrently(app, requests: list[tuple[str, str, dict]]) -> list[tuple[int, str | None]]:
    """Fire (method, path, headers) requests from one thread each, released together by a barrier."""
    db.session.commit()  # the test's own session must hold no lock while the threads run
    barrier = threading.Barrier(len(requests))
    results: list = [None] * len(requests)

    def worker(i: int, method: str, path: str, headers: dict) -> None:
        client = app.test_client()
        barrier.wait()
        r = client.open(path, method=method, json={}, headers=headers)
        body = r.get_json(silent=True) or {}
        results[i] = (r.status_code, (body.get("error") or {}).get("code"))

    threads = [threading.Thread(target=worker, args=(i, *req)) for i, req in enumerate(requests)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert all(r is not None for r in results), "a request thread did not finish"
    return results


def batch_state(batch_id: int) -> tuple[int, int, int]:
    """(quantity, remaining, live vouchers) as the database sees them now."""
    db.session.expire_all()
    batch = db.session.get(VoucherBatch, batch_id)
    live = db.session.execute(select(func.count(Voucher.id)).where(
        Voucher.batch_id == batch_id, Voucher.status != "returned")).scalar()
    db.session.commit()
    return batch.quantity, batch.remaining, live


def test_200_people_claim_a_batch_of_50(app, setup):
    bid = setup(50)
    headers = bound_trainees(200)
    results = run_concurrently(app, [("POST", f"{API}/voucher-batches/{bid}/claims", h) for h in headers])
    outcomes = Counter(results)
    assert outcomes == {(201, None): 50, (409, "sold_out"): 150}, outcomes
    assert batch_state(bid) == (50, 0, 50)
    holders = db.session.execute(select(Voucher.person_id).where(Voucher.batch_id == bid)).scalars().all()
    db.session.commit()
    assert len(set(holders)) == 50


def test_one_person_claiming_20_times_at_once_gets_one(app, setup):
    bid = setup(50)
    [headers] = bound_trainees(1)
    results = run_concurrently(app, [("POST", f"{API}/voucher-batches/{bid}/claims", headers)] * 20)
    assert Counter(results) == {(201, None): 1, (409, "already_claimed"): 19}, Counter(results)
    assert batch_state(bid) == (50, 49, 1)


def test_returns_racing_with_claims_keep_the_count(app, setup):
    bid = setup(20)
    holders = bound_trainees(20)
    codes = []
    client = app.test_client()
    for h in holders:
        r = client.post(f"{API}/voucher-batches/{bid}/claims", json={}, headers=h)
        assert r.status_code == 201
        codes.append(r.get_json()["code"])
    newcomers = bound_trainees(40, offset=100)
    reqs = [("POST", f"{API}/me/vouchers/{c}/return", h) for c, h in zip(codes, holders, strict=True)]
    reqs += [("POST", f"{API}/voucher-batches/{bid}/claims", h) for h in newcomers]
    reqs += [("POST", f"{API}/voucher-batches/{bid}/claims", h) for h in holders]  # re-claim after own return
    results = run_concurrently(app, reqs)
    assert not [r for r in results if r[0] >= 500], results
    returns = Counter(results[:20])
    assert returns == {(200, None): 20}
    quantity, remaining, live = batch_state(bid)
    assert remaining >= 0 and quantity == remaining + live
    claims_won = sum(1 for r in results[20:] if r[0] == 201)
    assert live == claims_won and 0 < claims_won <= 20
    assert {r[1] for r in results[20:] if r[0] != 201} <= {"sold_out", "already_claimed"}


def test_one_person_through_two_openids_cannot_hold_two(app, client, setup, trainee):
    bid = setup(10)
    id_number = make_id_number(seq="777")
    pid, first = trainee(name="赵六", id_number=id_number, code="openid-one")
    # The second WeChat account cannot take over the identity, so it can never claim as that person.
    r = client.post(f"{API}/auth/wechat", json={"code": "openid-two"})
    second = auth(r.get_json()["access_token"])
    r = client.post(f"{API}/me/identity", json={"name": "赵六", "id_number": id_number, "phone": "13800138000"},
                    headers=second)
    assert r.status_code == 409 and r.get_json()["error"]["code"] == "identity_taken"
    results = run_concurrently(app, [("POST", f"{API}/voucher-batches/{bid}/claims", first),
                                     ("POST", f"{API}/voucher-batches/{bid}/claims", second)] * 5)
    assert Counter(results) == {(201, None): 1, (409, "already_claimed"): 4, (403, "identity_not_bound"): 5}
    live = db.session.execute(select(func.count(Voucher.id)).where(
        Voucher.person_id == pid, Voucher.status != "returned")).scalar()
    accounts = db.session.execute(select(func.count(WechatAccount.id)).where(WechatAccount.person_id == pid)).scalar()
    db.session.commit()
    assert (live, accounts) == (1, 1)


def test_the_unique_index_itself_refuses_a_second_live_voucher(app, setup):
    """Without the Python pre-check: the index refuses, and the savepoint undoes the stock decrement."""
    bid = setup(5)
    bound_trainees(1)
    person_id = db.session.execute(select(WechatAccount.person_id).where(WechatAccount.openid == "stub-conc-0")).scalar()
    batch = db.session.get(VoucherBatch, bid)
    first = take_stock(batch, person_id, T0)
    db.session.commit()
    with pytest.raises(AppError) as exc:
        take_stock(batch, person_id, T0)
    assert exc.value.code == "already_claimed"
    db.session.commit()  # the outer transaction survived the failed savepoint
    assert batch_state(bid) == (5, 4, 1)

    with pytest.raises(IntegrityError):
        db.session.add(Voucher(code="TEST-0000-0000-0000-0", batch_id=bid, person_id=person_id, status="used",
                               claimed_at=T0, expires_at=T0 + timedelta(days=1)))
        db.session.flush()
    db.session.rollback()
    # A returned voucher is not live: the person may hold a new one beside it.
    first = db.session.get(Voucher, first.id)
    first.status = "returned"
    db.session.commit()
    assert take_stock(db.session.get(VoucherBatch, bid), person_id, T0).status == "claimed"
    db.session.commit()
