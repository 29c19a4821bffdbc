"""API.md as a test: one compact walk per section through the documented paths, fields, statuses and error codes.

Other test modules go deep on each area; this one pins the contract itself (names the clients rely on).
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import re
import uuid
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from openpyxl import Workbook, load_workbook
from PIL import Image
from sqlalchemy import select

from backend.domain import geo
from backend.extensions import db
from backend.models import IdempotencyRecord, Person, WechatAccount
from backend.security.crypto import vault
from backend.services.persons import FACE_CONTEXT
from tests.api import outcomes_fixtures as ofx
from tests.api.device_helpers import FACE_CROP, SignedClient, activate, lesson_setup
from tests.api.plan_helpers import (
    NOW,
    add_lesson,
    lesson_body,
    make_plan,
    make_site,
    make_voucher,
    roster_world,
    sh,
)
from tests.api.test_auth import live_wechat  # noqa: F401 - fixture: WECHAT_MODE=live against a fake code2session
from tests.conftest import auth, make_id_number
from tests.db.test_migrations import migrated_url  # noqa: F401 - fixture: an empty database for `db upgrade`

API = "/api/v1"


@pytest.fixture
def app_config(app_config):
    """Access tokens outlive the clock jumps these walks make."""
    app_config["ACCESS_TOKEN_MINUTES"] = 60 * 24 * 365
    return app_config


world = ofx.world  # results → certificates → subsidy set-up (tests/api/outcomes_fixtures.py)


def is_error(r, status: int, error_code: str) -> bool:
    """Status and code, with the documented error shape."""
    err = (r.get_json(silent=True) or {}).get("error") or {}
    return (r.status_code == status and err.get("code") == error_code and isinstance(err.get("message"), str)
            and isinstance(err.get("details"), dict))


def is_collection(r) -> bool:
    """A JSON array with its total in X-Total-Count."""
    return r.status_code == 200 and isinstance(r.get_json(), list) and r.headers.get("X-Total-Count", "").isdigit()


def no_full_id(r, *id_numbers: str) -> bool:
    """The body carries none of these ID numbers in full."""
    text = r.get_data(as_text=True)
    return not any(n in text or n.lower() in text for n in id_numbers)


def face_b64(rgb) -> str:
    """A JPEG of an RGB array, base64 as the API takes photos."""
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="JPEG")
    return base64.b64encode(buf.getvalue()).decode()


@pytest.fixture(scope="module")
def photos():
    """One face (skimage's astronaut), two faces, no face."""
    from skimage import data
    face = data.astronaut()
    return {"face": face_b64(face), "two": face_b64(np.concatenate([face, face], axis=1)),
            "none": face_b64(np.full((256, 256, 3), 128, dtype=np.uint8))}


# ---- Conventions ------------------------------------------------------------------------------

def test_conventions_errors_collections_idempotency(client, staff, make_institution):
    # Error shape, zh-CN by default and English on request.
    r = client.get(f"{API}/me")
    assert is_error(r, 401, "unauthorized") and r.get_json()["error"]["message"] == "未登录或登录已失效"
    r = client.get(f"{API}/me", headers={"Accept-Language": "en"})
    assert r.get_json()["error"]["message"].startswith("Authentication")
    assert is_error(client.get(f"{API}/no-such-thing"), 404, "not_found")
    _, inst_h = staff("institution", institution=make_institution("350102"))
    r = client.post(f"{API}/sites", json={"name": "x"}, headers=inst_h)
    assert is_error(r, 422, "validation_error") and "lat" in r.get_json()["error"]["details"]["fields"]
    assert is_error(client.post(f"{API}/users", json={}, headers=inst_h), 403, "forbidden")

    # Idempotency-Key: same key and body → the first response; other body → 422; other caller → its own.
    body = {"name": "实训楼", "address": "鼓楼区", "lat": 26.08, "lon": 119.3, "coord_sys": "wgs84", "radius_m": 150}
    key = {"Idempotency-Key": "site-1"}
    r1 = client.post(f"{API}/sites", json=body, headers={**inst_h, **key})
    r2 = client.post(f"{API}/sites", json=body, headers={**inst_h, **key})
    assert r1.status_code == r2.status_code == 201 and r1.get_json() == r2.get_json()
    r = client.post(f"{API}/sites", json=dict(body, name="别处"), headers={**inst_h, **key})
    assert is_error(r, 422, "idempotency_key_reused")
    other_user, other_h = staff("institution", institution=make_institution("350102"))
    r3 = client.post(f"{API}/sites", json=body, headers={**other_h, **key})
    assert r3.status_code == 201 and r3.get_json()["id"] != r1.get_json()["id"]
    # A repeat while the first is still running: 409 request_in_progress.
    raw = json.dumps(body).encode()
    digest = hashlib.sha256(b"POST" + f"{API}/sites".encode() + b"\n" + raw).hexdigest()
    db.session.add(IdempotencyRecord(scope=f"sub:u:{other_user.id}", key="running-1", request_hash=digest,
                                     state="running", created_at=datetime.now(UTC)))
    db.session.commit()
    r = client.post(f"{API}/sites", data=raw, content_type="application/json",
                    headers={**other_h, "Idempotency-Key": "running-1"})
    assert is_error(r, 409, "request_in_progress")

    # Collections: JSON arrays, ?page=&per_page=, total in X-Total-Count.
    r = client.get(f"{API}/sites?page=1&per_page=1", headers=inst_h)
    assert is_collection(r) and r.headers["X-Total-Count"] == "1" and len(r.get_json()) == 1
    assert is_error(client.get(f"{API}/sites?per_page=0", headers=inst_h), 422, "validation_error")


def test_conventions_rate_limits_keyed_on_account(app_config):
    from backend import create_app
    from backend.extensions import limiter
    app_config["RATELIMIT_ENABLED"] = True
    application = create_app(app_config)
    c = application.test_client()
    with application.app_context():
        limiter.reset()
        # Failed logins for one username: 429 rate_limited with Retry-After; other usernames unaffected.
        codes = [c.post(f"{API}/auth/login", json={"username": "victim", "password": "x"}).status_code
                 for _ in range(6)]
        assert codes == [401] * 5 + [429]
        r = c.post(f"{API}/auth/login", json={"username": "victim", "password": "x"})
        assert is_error(r, 429, "rate_limited") and int(r.headers["Retry-After"]) > 0
        assert c.post(f"{API}/auth/login", json={"username": "other", "password": "x"}).status_code == 401
        # Many phones behind one carrier address: a per-account limit, so twelve accounts all pass ...
        for i in range(12):
            h = auth(c.post(f"{API}/auth/wechat", json={"code": f"nat-{i}"}).get_json()["access_token"])
            r = c.post(f"{API}/me/identity", headers=h, json={
                "name": "张三", "id_number": make_id_number(seq=f"{i + 100:03d}"), "phone": "13800138000"})
            assert r.status_code == 200, (i, r.get_json())
        # ... while one account repeating itself is limited.
        codes = [c.post(f"{API}/me/identity", headers=h, json={
            "name": "张三", "id_number": make_id_number(seq="111"), "phone": "13800138000"}).status_code
            for _ in range(12)]
        assert codes.count(429) >= 1 and codes[0] == 200
        db.session.remove()
        db.engine.dispose()


def test_upstream_rate_limit_is_rate_limited(live_wechat, monkeypatch):
    from tests.api.test_auth import _FakeCode2Session
    monkeypatch.setitem(_FakeCode2Session.responses, "busy", {"errcode": 45011, "errmsg": "freq limit"})
    r = live_wechat.post(f"{API}/auth/wechat", json={"code": "busy"})
    assert is_error(r, 429, "rate_limited")


# ---- Set-up (command line) --------------------------------------------------------------------

@pytest.fixture
def keep_logging():
    """`db upgrade` runs Alembic's fileConfig, which disables every existing logger: put them back after."""
    import logging
    loggers = [logging.getLogger()] + [x for x in logging.Logger.manager.loggerDict.values()
                                       if isinstance(x, logging.Logger)]
    saved = {id(x): (x.disabled, x.level, list(x.handlers), x.propagate) for x in loggers}
    yield
    for x in [logging.getLogger()] + [x for x in logging.Logger.manager.loggerDict.values()
                                      if isinstance(x, logging.Logger)]:
        x.disabled, level, x.handlers[:], x.propagate = saved.get(id(x), (False, logging.NOTSET, [], True))
        x.setLevel(level)


def test_setup_commands(migrated_url, tmp_path, keep_logging):
    from backend import create_app
    from tests.conftest import TEST_KEYS
    application = create_app(dict(TEST_KEYS, SQLALCHEMY_DATABASE_URI=migrated_url, RATELIMIT_ENABLED=False,
                                  ACCESS_LOG=False, UPLOAD_DIR=str(tmp_path / "uploads")))
    runner = application.test_cli_runner()
    with application.app_context():
        r = runner.invoke(args=["db", "upgrade"])
        assert r.exit_code == 0, r.output
        r = runner.invoke(args=["users", "create", "--username", "root", "--password", "root-pass-0123",
                                "--role", "admin"])
        assert r.exit_code == 0, r.output
        r = runner.invoke(args=["users", "create", "--username", "fz", "--password", "fz-pass-0123",
                                "--role", "supervisor", "--region", "3501"])
        assert r.exit_code == 0, r.output
        r = runner.invoke(args=["seed-demo"])
        assert r.exit_code == 0, r.output
        from backend.models import Institution
        inst_id = db.session.execute(select(Institution.id).limit(1)).scalar()
        r = runner.invoke(args=["users", "create", "--username", "desk", "--password", "desk-pass-0123",
                                "--role", "institution", "--institution", str(inst_id)])
        assert r.exit_code == 0, r.output
        c = application.test_client()
        for username, password, role in (("root", "root-pass-0123", "admin"), ("fz", "fz-pass-0123", "supervisor"),
                                         ("desk", "desk-pass-0123", "institution")):
            r = c.post(f"{API}/auth/login", json={"username": username, "password": password})
            assert r.status_code == 200 and r.get_json()["user"]["role"] == role
        db.session.remove()
        db.engine.dispose()


# ---- Auth -------------------------------------------------------------------------------------

def test_auth(client, staff, photos):
    r = client.post(f"{API}/auth/wechat", json={"code": "contract-1"})
    assert r.status_code == 200
    body = r.get_json()
    assert body["access_token"] and body["refresh_token"] and body["bound"] is False
    assert db.session.execute(select(WechatAccount.openid)).scalars().all() == ["stub-contract-1"]
    h = auth(body["access_token"])
    number = make_id_number(seq="201")
    bad = number[:17] + ("1" if number[17] == "0" else "0")
    r = client.post(f"{API}/me/identity", json={"name": "张三", "id_number": bad, "phone": "13800138000"}, headers=h)
    assert is_error(r, 422, "invalid_id_number")
    r = client.post(f"{API}/me/identity", json={"name": "张三", "id_number": number, "phone": "13800138000"},
                    headers=h)
    assert r.status_code == 200
    person = r.get_json()
    assert person["id"] and person["id_number_masked"] != number and "*" in person["id_number_masked"]
    h2 = auth(client.post(f"{API}/auth/wechat", json={"code": "contract-2"}).get_json()["access_token"])
    r = client.post(f"{API}/me/identity", json={"name": "张三", "id_number": number, "phone": "13800138000"},
                    headers=h2)
    assert is_error(r, 409, "identity_taken")
    r = client.post(f"{API}/me/identity", json={"name": "李四", "id_number": number, "phone": "13800138000"},
                    headers=h2)
    assert is_error(r, 409, "identity_mismatch")
    again = client.post(f"{API}/auth/wechat", json={"code": "contract-1"}).get_json()
    assert again["bound"] is True and again["person"]["id"] == person["id"]

    # Staff login and refresh rotation.
    user, _ = staff("supervisor", region_code="3501", username="contract-sup")
    r = client.post(f"{API}/auth/login", json={"username": "contract-sup", "password": "password-123"})
    assert r.status_code == 200
    pair = r.get_json()
    assert pair["access_token"] and pair["refresh_token"]
    assert {k: pair["user"][k] for k in ("id", "role", "region_code", "institution_id")} == {
        "id": user.id, "role": "supervisor", "region_code": "3501", "institution_id": None}
    r = client.post(f"{API}/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    assert r.status_code == 200 and r.get_json()["refresh_token"] != pair["refresh_token"]
    assert r.get_json()["access_token"]
    r = client.post(f"{API}/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    assert r.status_code == 401

    # Face: consent, one face; the template is kept, the photo is not; DELETE withdraws.
    r = client.put(f"{API}/me/face", json={"image_base64": photos["face"]}, headers=h)
    assert is_error(r, 422, "consent_required")
    r = client.put(f"{API}/me/face", json={"image_base64": photos["none"], "consent": True}, headers=h)
    assert is_error(r, 422, "no_face")
    r = client.put(f"{API}/me/face", json={"image_base64": photos["two"], "consent": True}, headers=h)
    assert is_error(r, 422, "multiple_faces")
    r = client.put(f"{API}/me/face", json={"image_base64": photos["face"], "consent": True}, headers=h)
    assert r.status_code == 200 and r.get_json() == {"enrolled": True}
    db.session.expire_all()
    assert db.session.get(Person, person["id"]).face_template_enc is not None
    r = client.delete(f"{API}/me/face", headers=h)
    assert r.status_code == 200
    db.session.expire_all()
    assert db.session.get(Person, person["id"]).face_template_enc is None
    db.session.commit()


# ---- Institutions, users, sites ---------------------------------------------------------------

def test_institutions_users_sites(client, staff, make_institution, trainee, clock, photos):
    from backend.domain.identity import credit_check_char, org_check_char
    clock.set(NOW)
    _, admin_h = staff("admin")
    _, sup_h = staff("supervisor", region_code="3501")
    org = "12345678"
    first17 = "91350102" + org + org_check_char(org)
    credit = first17 + credit_check_char(first17)
    body = {"name": "福州烹饪学校", "credit_code": credit, "region_code": "350102", "kind": "training_org"}
    r = client.post(f"{API}/institutions", json=dict(body, credit_code=credit[:-1] + "0"
                                                      if credit[-1] != "0" else credit[:-1] + "1"), headers=admin_h)
    assert is_error(r, 422, "invalid_credit_code")
    r = client.post(f"{API}/institutions", json=body, headers=sup_h)
    assert r.status_code == 201
    inst = r.get_json()
    assert inst["id"] and {k: inst[k] for k in ("name", "credit_code", "region_code", "kind")} == body
    _, far_sup_h = staff("supervisor", region_code="3502")
    r = client.post(f"{API}/institutions", json=dict(body, credit_code=credit), headers=far_sup_h)
    assert r.status_code == 403

    # Users: admin and supervisor create; the result is 201 with the user.
    r = client.post(f"{API}/users", json={"username": "desk-1", "password": "desk-pass-0123", "role": "institution",
                                          "institution_id": inst["id"]}, headers=sup_h)
    assert r.status_code == 201
    assert {k: r.get_json()[k] for k in ("username", "role", "institution_id")} == {
        "username": "desk-1", "role": "institution", "institution_id": inst["id"]}
    r = client.post(f"{API}/users", json={"username": "sup-2", "password": "sup2-pass-0123", "role": "supervisor",
                                          "region_code": "3501"}, headers=admin_h)
    assert r.status_code == 201 and r.get_json()["region_code"] == "3501"
    desk_h = auth(client.post(f"{API}/auth/login", json={"username": "desk-1", "password": "desk-pass-0123"})
                  .get_json()["access_token"])

    # Sites: GCJ-02 in, WGS-84 out.
    r = client.post(f"{API}/sites", json={"name": "实训楼", "address": "福州市鼓楼区", "lat": 26.0785, "lon": 119.2965,
                                          "coord_sys": "gcj02", "radius_m": 150}, headers=desk_h)
    assert r.status_code == 201
    site = r.get_json()
    want = geo.to_wgs84(26.0785, 119.2965, "gcj02")
    assert site["id"] and site["radius_m"] == 150
    assert abs(site["lat"] - want[0]) < 1e-9 and abs(site["lon"] - want[1]) < 1e-9 and site["lat"] != 26.0785
    assert is_error(client.post(f"{API}/sites", json={**site, "coord_sys": "bd09", "name": "x", "address": "y"},
                                headers=desk_h), 422, "validation_error")

    # PUT /persons/{id}/face: the institution's own roster, or a supervisor; consent collected in person.
    pid, _ = trainee(id_number=make_id_number(seq="301"))
    face = {"image_base64": photos["face"], "consent": True}
    assert client.put(f"{API}/persons/{pid}/face", json=face, headers=desk_h).status_code == 403
    plan = make_plan(client, desk_h)
    add_lesson(client, desk_h, plan["id"], site_id=site["id"])
    r = client.post(f"{API}/plans/{plan['id']}/roster", headers=desk_h, json={"trainees": [
        {"name": "张三", "id_number": make_id_number(seq="301"), "phone": "13800138000"}]})
    assert r.status_code == 200 and r.get_json()["imported"] == 1
    r = client.put(f"{API}/persons/{pid}/face", json={"image_base64": photos["face"]}, headers=desk_h)
    assert is_error(r, 422, "consent_required")
    r = client.put(f"{API}/persons/{pid}/face", json=face, headers=desk_h)
    assert r.status_code == 200 and r.get_json() == {"enrolled": True}
    r = client.put(f"{API}/persons/{pid}/face", json=face, headers=sup_h)
    assert r.status_code == 200 and r.get_json() == {"enrolled": True}


# ---- Vouchers ---------------------------------------------------------------------------------

def batch_body(**over) -> dict:
    """A POST /voucher-batches body open around NOW."""
    body = {"name": "福州市职业技能培训券", "region_code": "3501", "occupation_codes": ["4-03-02-01"],
            "institution_ids": None,
            "eligibility": {"groups": None, "age_min": 16, "age_max": 60, "household_regions": None},
            "directed_id_numbers": None, "quantity": 2, "face_value_fen": 150000,
            "claim_starts_at": (NOW - timedelta(days=1)).isoformat(),
            "claim_ends_at": (NOW + timedelta(days=30)).isoformat(), "valid_days": 90,
            "funding_source": "就业补助资金", "claim_requires_face": False}
    body.update(over)
    return body


def test_vouchers(client, staff, trainee, make_institution, clock, photos):
    clock.set(NOW)
    _, sup_h = staff("supervisor", region_code="3501")
    inst = make_institution("350102")
    _, inst_h = staff("institution", institution=inst)
    _, far_inst_h = staff("institution", institution=make_institution("440304"))
    assert client.post(f"{API}/voucher-batches", json=batch_body(), headers=inst_h).status_code == 403

    def publish(**over) -> int:
        r = client.post(f"{API}/voucher-batches", json=batch_body(**over), headers=sup_h)
        assert r.status_code == 201 and r.get_json()["status"] == "draft" and r.get_json()["id"]
        r = client.post(f"{API}/voucher-batches/{r.get_json()['id']}/publish", headers=sup_h)
        assert r.status_code == 200 and r.get_json()["status"] == "published"
        return r.get_json()["id"]

    bid = publish(quantity=2)
    r = client.get(f"{API}/voucher-batches", headers=sup_h)
    assert is_collection(r)
    fields = ("id", "name", "status", "occupation_codes", "quantity", "remaining", "face_value_fen",
              "claim_starts_at", "claim_ends_at")
    assert all(set(fields) <= set(b) for b in r.get_json())

    number = make_id_number(seq="401")
    pid, t = trainee(name="张三", id_number=number)
    _, unbound = trainee(bind=False)
    r = client.get(f"{API}/voucher-batches", headers=t)
    assert is_collection(r)
    [listed] = [b for b in r.get_json() if b["id"] == bid]
    assert set(fields) <= set(listed) and listed["eligible"] is True and listed["ineligible_reasons"] == []

    claim = f"{API}/voucher-batches/{bid}/claims"
    assert is_error(client.post(claim, json={}, headers=unbound), 403, "identity_not_bound")
    _, old = trainee(name="王老", id_number=make_id_number(birth="19500101", seq="402"))
    r = client.post(claim, json={}, headers=old)
    assert is_error(r, 403, "not_eligible") and r.get_json()["error"]["details"]["reasons"] == ["age"]
    r = client.post(claim, json={}, headers=t)
    assert r.status_code == 201
    voucher = r.get_json()
    assert voucher["code"] and voucher["batch_id"] == bid and voucher["status"] == "claimed" and voucher["expires_at"]
    assert is_error(client.post(claim, json={}, headers=t), 409, "already_claimed")
    _, t2 = trainee(name="李四", id_number=make_id_number(seq="403"))
    assert client.post(claim, json={}, headers=t2).status_code == 201
    _, t3 = trainee(name="赵六", id_number=make_id_number(seq="404"))
    assert is_error(client.post(claim, json={}, headers=t3), 409, "sold_out")
    later = publish(claim_starts_at=(NOW + timedelta(days=1)).isoformat())
    assert is_error(client.post(f"{API}/voucher-batches/{later}/claims", json={}, headers=t3), 409,
                    "claim_window_closed")
    face_bid = publish(claim_requires_face=True)
    from skimage import data

    from backend import faces
    other_face = [x + 0.1 for x in faces.enroll_template(data.astronaut())]
    db.session.get(Person, pid).face_template_enc = vault().encrypt_json(other_face, FACE_CONTEXT)
    db.session.commit()
    r = client.post(f"{API}/voucher-batches/{face_bid}/claims", json={"face_image_base64": photos["face"]}, headers=t)
    assert is_error(r, 403, "face_mismatch")

    r = client.get(f"{API}/me/vouchers", headers=t)
    assert is_collection(r)
    assert {k: r.get_json()[0][k] for k in ("code", "batch_id", "status", "expires_at")} == {
        k: voucher[k] for k in ("code", "batch_id", "status", "expires_at")}

    # The rotating QR, and its image.
    r = client.get(f"{API}/me/vouchers/{voucher['code']}/qr", headers=t)
    assert r.status_code == 200
    qr = r.get_json()
    assert qr["token"] and qr["expires_at"] and qr["refresh_after_s"] == 30
    r = client.get(f"{API}/me/vouchers/{voucher['code']}/qr?format=png", headers=t)
    assert r.status_code == 200 and r.mimetype == "image/png" and r.data[:4] == b"\x89PNG"
    r = client.get(f"{API}/me/vouchers/{voucher['code']}/qr?format=svg", headers=t)
    assert r.status_code == 200 and r.mimetype == "image/svg+xml" and b"<svg" in r.data

    # Verify at a desk: holder masked, usable here or not.
    r = client.post(f"{API}/vouchers/verify", json={"token": qr["token"]}, headers=inst_h)
    assert r.status_code == 200 and no_full_id(r, number)
    v = r.get_json()
    assert v["valid"] is True and v["usable_here"] is True
    assert v["voucher"]["code"] == voucher["code"] and v["voucher"]["status"] == "claimed"
    assert {k: v["voucher"]["batch"][k] for k in ("name", "occupation_codes", "face_value_fen")} == {
        "name": "福州市职业技能培训券", "occupation_codes": ["4-03-02-01"], "face_value_fen": 150000}
    assert v["voucher"]["holder"]["name_masked"] == "张*" and "*" in v["voucher"]["holder"]["id_number_masked"]
    r = client.post(f"{API}/vouchers/verify", json={"code": voucher["code"]}, headers=far_inst_h)
    assert r.get_json()["usable_here"] is False and r.get_json()["reason"] == "not_allowed_institution"
    r = client.post(f"{API}/vouchers/verify", json={"token": "NOT-A-TOKEN"}, headers=inst_h)
    assert r.status_code == 200 and (r.get_json()["valid"], r.get_json()["reason"]) == (False, "token_invalid")
    clock.advance(seconds=61)
    r = client.post(f"{API}/vouchers/verify", json={"token": qr["token"]}, headers=inst_h)
    assert (r.get_json()["valid"], r.get_json()["reason"]) == (False, "token_expired")
    assert client.post(f"{API}/vouchers/verify", json={"code": voucher["code"]}, headers=t).status_code == 403

    # Return: once.
    r = client.post(f"{API}/me/vouchers/{voucher['code']}/return", headers=t)
    assert r.status_code == 200 and r.get_json()["status"] == "returned"
    assert is_error(client.post(f"{API}/me/vouchers/{voucher['code']}/return", headers=t), 409, "not_returnable")
    r = client.post(f"{API}/vouchers/verify", json={"code": voucher["code"]}, headers=inst_h)
    assert (r.get_json()["valid"], r.get_json()["reason"]) == (False, "returned")
    # voided and expired read the same way.
    second = client.get(f"{API}/me/vouchers", headers=t2).get_json()[0]["code"]
    clock.advance(days=91)
    r = client.post(f"{API}/vouchers/verify", json={"code": second}, headers=inst_h)
    assert (r.get_json()["valid"], r.get_json()["reason"]) == (False, "expired")
    assert client.post(f"{API}/vouchers/{second}/void", json={"reason": "冒领"}, headers=sup_h).status_code == 200
    r = client.post(f"{API}/vouchers/verify", json={"code": second}, headers=inst_h)
    assert (r.get_json()["valid"], r.get_json()["reason"]) == (False, "voided")


def test_voucher_verify_by_device(client, staff, trainee, make_institution, clock):
    clock.set(NOW)
    inst = make_institution("350102")
    _, inst_h = staff("institution", institution=inst)
    pid, t = trainee(id_number=make_id_number(seq="411"))
    voucher = make_voucher(pid)
    site = make_site(client, inst_h)
    r = client.post(f"{API}/devices", json={"name": "前台", "site_id": site["id"]}, headers=inst_h)
    activate(client, staff, r.get_json()["device_id"])
    kiosk = SignedClient(client, r.get_json()["device_id"], r.get_json()["secret"], clock)
    token = client.get(f"{API}/me/vouchers/{voucher.code}/qr", headers=t).get_json()["token"]
    r = kiosk.post(f"{API}/vouchers/verify", {"token": token})
    assert r.status_code == 200 and r.get_json()["valid"] is True and r.get_json()["usable_here"] is True


# ---- Plans, lessons, roster -------------------------------------------------------------------

def test_plans_lessons_roster(client, clock, staff, make_institution, trainee):
    w = roster_world(clock, staff, client, make_institution)
    inst_h, sup_h, site = w["inst_h"], w["sup_h"], w["site"]
    plan = w["plan"]
    assert plan["id"] and plan["status"] == "draft"
    pid = plan["id"]

    # Lessons: 201; class hours × 45 min must fit; the online share of a blended plan.
    r = client.post(f"{API}/plans/{pid}/lessons", json=lesson_body(day=11, hours=5, site_id=site), headers=inst_h)
    assert is_error(r, 422, "class_hours_too_long")
    blended = make_plan(client, inst_h, delivery="blended", online_platform="福建省职业培训线上平台")
    add_lesson(client, inst_h, blended["id"], day=10, site_id=site)
    r = client.post(f"{API}/plans/{blended['id']}/lessons", json=lesson_body(day=11, mode="online"), headers=inst_h)
    assert is_error(r, 422, "online_share_exceeded")
    r = client.post(f"{API}/plans/{pid}/lessons", json=lesson_body(day=11, site_id=site), headers=inst_h)
    assert r.status_code == 201 and r.get_json()["id"]
    lesson_id = r.get_json()["id"]

    # Roster template and import (xlsx and JSON), row by row; IDs only masked.
    r = client.get(f"{API}/plans/{pid}/roster/template.xlsx", headers=inst_h)
    assert r.status_code == 200
    ws = load_workbook(io.BytesIO(r.data)).worksheets[0]
    assert [c.value for c in ws[1]][:5] == ["姓名", "身份证号", "手机号", "人员类别", "券码"]
    good, bad = make_id_number(seq="501"), make_id_number(seq="502")[:17] + "Y"
    book = Workbook()
    book.active.append(["姓名", "身份证号", "手机号", "人员类别", "券码"])
    book.active.append(["钱七", good, "13800138001", "", ""])
    book.active.append(["孙八", bad, "", "", ""])
    buf = io.BytesIO()
    book.save(buf)
    r = client.post(f"{API}/plans/{pid}/roster", data={"file": (io.BytesIO(buf.getvalue()), "名单.xlsx")},
                    content_type="multipart/form-data", headers=inst_h)
    assert r.status_code == 200 and no_full_id(r, good)
    result = r.get_json()
    assert result["imported"] == 1
    assert [(x["row"], x["status"]) for x in result["rows"]] == [(2, "ok"), (3, "error")]
    assert set(result["rows"][0]) >= {"row", "status", "id_number_masked", "eligible", "reasons"}
    assert result["rows"][0]["eligible"] is True and result["rows"][0]["reasons"] == []
    json_id = make_id_number(seq="503")
    r = client.post(f"{API}/plans/{pid}/roster", headers=inst_h, json={"trainees": [
        {"name": "周九", "id_number": json_id, "phone": "13800138002", "groups": ["unemployed"]}]})
    assert r.status_code == 200 and r.get_json()["imported"] == 1 and r.get_json()["rows"][0]["row"] == 1

    # Enrolment with the holder's voucher QR: 201, the voucher becomes used; a used one is 422 used.
    holder_id = make_id_number(seq="504")
    person, t = trainee(name="吴十", id_number=holder_id)
    voucher = make_voucher(person)
    token = client.get(f"{API}/me/vouchers/{voucher.code}/qr", headers=t).get_json()["token"]
    r = client.post(f"{API}/plans/{pid}/enrollments", json={"voucher_token": token}, headers=inst_h)
    assert r.status_code == 201 and r.get_json()["person_id"] == person and no_full_id(r, holder_id)
    assert client.get(f"{API}/me/vouchers", headers=t).get_json()[0]["status"] == "used"
    r = client.post(f"{API}/plans/{pid}/enrollments", json={"voucher_code": voucher.code}, headers=inst_h)
    assert is_error(r, 422, "used")
    r = client.get(f"{API}/plans/{pid}/enrollments", headers=inst_h)
    assert is_collection(r) and r.headers["X-Total-Count"] == "3" and no_full_id(r, good, json_id, holder_id)

    # Review workflow: submit / withdraw; reject with a reason; approve.
    for action, who, payload, status in (("submit", inst_h, None, "submitted"), ("withdraw", inst_h, None, "draft"),
                                         ("submit", inst_h, None, "submitted")):
        r = client.post(f"{API}/plans/{pid}/{action}", json=payload, headers=who)
        assert r.status_code == 200 and r.get_json()["status"] == status, (action, r.get_json())
    assert is_error(client.post(f"{API}/plans/{pid}/reject", json={}, headers=sup_h), 422, "validation_error")
    r = client.post(f"{API}/plans/{pid}/reject", json={"reason": "课时安排不合理"}, headers=sup_h)
    assert r.status_code == 200 and r.get_json()["status"] == "rejected"
    assert client.post(f"{API}/plans/{pid}/submit", headers=inst_h).get_json()["status"] == "submitted"
    assert client.post(f"{API}/plans/{pid}/approve", headers=inst_h).status_code == 403
    r = client.post(f"{API}/plans/{pid}/approve", headers=sup_h)
    assert r.status_code == 200 and r.get_json()["status"] == "approved"

    # PATCH /plans/{id}: after approval until 2 days before starts_on (10 March).
    r = client.patch(f"{API}/plans/{pid}", json={"title": "中式烹调师（初级）"}, headers=inst_h)
    assert r.status_code == 200 and r.get_json()["title"] == "中式烹调师（初级）"
    clock.set(sh(8, 0, 1))
    assert is_error(client.patch(f"{API}/plans/{pid}", json={"title": "迟改"}, headers=inst_h), 409,
                    "change_window_closed")

    # PATCH /lessons/{id}: same duration and hours until 4 h before; the site any time.
    lesson = client.get(f"{API}/lessons/{lesson_id}", headers=inst_h).get_json()
    r = client.patch(f"{API}/lessons/{lesson_id}", json={"class_hours": 3}, headers=inst_h)
    assert is_error(r, 422, "hours_changed")
    moved = {"starts_at": sh(11, 13).isoformat(), "ends_at": sh(11, 16).isoformat()}
    r = client.patch(f"{API}/lessons/{lesson_id}", json=moved, headers=inst_h)
    assert r.status_code == 200 and r.get_json()["starts_at"] == moved["starts_at"]
    other_site = make_site(client, inst_h, name="第二基地")
    clock.set(sh(11, 10))
    r = client.patch(f"{API}/lessons/{lesson_id}", json={"starts_at": lesson["starts_at"],
                                                          "ends_at": lesson["ends_at"]}, headers=inst_h)
    assert is_error(r, 409, "change_window_closed")
    r = client.patch(f"{API}/lessons/{lesson_id}", json={"site_id": other_site["id"]}, headers=inst_h)
    assert r.status_code == 200 and r.get_json()["site_id"] == other_site["id"]

    # Once a lesson started the roster is frozen.
    r = client.post(f"{API}/plans/{pid}/roster", headers=inst_h, json={"trainees": [
        {"name": "郑一", "id_number": make_id_number(seq="505"), "phone": "13800138003"}]})
    assert is_error(r, 409, "roster_frozen")
    late, late_t = trainee(name="冯二", id_number=make_id_number(seq="506"))
    late_voucher = make_voucher(late)
    r = client.post(f"{API}/plans/{pid}/enrollments", json={"voucher_code": late_voucher.code}, headers=inst_h)
    assert is_error(r, 409, "roster_frozen")

    # Hours per trainee.
    r = client.get(f"{API}/plans/{pid}/hours", headers=sup_h)
    assert r.status_code == 200
    rows = r.get_json()["trainees"]
    assert len(rows) == 3 and all(set(x) >= {"person_id", "name", "offline_hours", "online_hours", "total_hours"}
                                  for x in rows)
    assert client.get(f"{API}/plans/{pid}/hours", headers=inst_h).status_code == 200


# ---- Attendance (what exists now) ---------------------------------------------------------------

def test_attendance(client, clock, make_institution, trainee, staff):
    from backend.domain.vouchers import site_token
    from tests.api import attendance_fixtures as afx
    clock.set(afx.BASE)
    w = afx.World(client, clock, make_institution, trainee, staff)
    pid, h = w.person("张三")
    absent, _ = w.person("李四")
    _, stranger = w.person("王五", enroll=False)
    _, inst_h = w.staff("institution")
    _, sup_h = w.staff("supervisor")

    # GET /me/lessons?date=: the day's lessons with own state.
    r = client.get(f"{API}/me/lessons?date=2026-03-10", headers=h)
    assert r.status_code == 200 and [x["id"] for x in r.get_json()] == [w.lesson.id]

    assert is_error(w.post(h), 422, "outside_time_window")
    clock.set(afx.START)
    assert is_error(w.post(h, kind="check_out"), 409, "not_checked_in")
    assert is_error(w.post(h, accuracy_m=500), 422, "low_accuracy")
    r = w.post(h, at=(afx.SITE[0] + 0.01, afx.SITE[1]))
    assert is_error(r, 422, "out_of_fence")
    assert set(r.get_json()["error"]["details"]) >= {"distance_m", "radius_m"}
    assert is_error(w.post(stranger), 403, "not_enrolled")
    rejected_id = str(uuid.uuid4())
    first = w.post(h, accuracy_m=500, event_id=rejected_id)
    again = w.post(h, event_id=rejected_id)
    assert is_error(again, 422, "low_accuracy") and again.get_json() == first.get_json()

    event_id = str(uuid.uuid4())
    r = w.post(h, event_id=event_id)
    assert r.status_code == 201
    body = r.get_json()
    assert body["event_id"] == event_id and body["accepted"] is True and body["distance_m"] > 0
    assert isinstance(body["flags"], list)
    r = w.post(h, event_id=event_id)
    assert r.status_code == 200 and r.get_json() == body
    assert is_error(w.post(h), 409, "already_checked_in")

    # The rotating site QR; a lesson that requires it refuses a bad token.
    r = client.get(f"{API}/lessons/{w.lesson.id}/site-qr", headers=inst_h)
    assert r.status_code == 200 and set(r.get_json()) >= {"token", "expires_at", "refresh_after_s"}
    assert client.get(f"{API}/lessons/{w.lesson.id}/site-qr?format=png", headers=inst_h).mimetype == "image/png"
    assert client.get(f"{API}/lessons/{w.lesson.id}/site-qr?format=svg", headers=inst_h).mimetype == "image/svg+xml"
    qr_lesson = w.add_lesson(starts_at=afx.START + timedelta(minutes=10), require_site_qr=True,
                             site=w.add_site(*afx.SITE))
    assert is_error(w.post(h, lesson=qr_lesson, site_token="WRONG"), 422, "site_token_invalid")
    token = site_token(vault().token_key, qr_lesson.id, int(clock().timestamp()), 30)
    assert w.post(h, lesson=qr_lesson, site_token=token).status_code == 201

    clock.set(afx.END)
    assert w.post(h, kind="check_out").status_code == 201

    # The lesson's roll: complete for the one who came, absent for the other.
    r = client.get(f"{API}/lessons/{w.lesson.id}/attendance", headers=sup_h)
    assert r.status_code == 200 and r.get_json()["lesson"]
    rows = {x["person_id"]: x for x in r.get_json()["trainees"]}
    keys = {"person_id", "name", "check_in_at", "check_out_at", "credited_hours", "status", "sources", "flags"}
    assert all(keys <= set(x) for x in rows.values())
    assert rows[pid]["status"] == "complete" and rows[absent]["status"] == "absent"
    assert client.get(f"{API}/lessons/{w.lesson.id}/attendance", headers=inst_h).status_code == 200

    # Make-up the same day; approval; out of the window the next day.
    from tests.api.test_makeups import jpeg, png
    form = {"person_id": str(absent), "kind": "both", "reason": "手机没电",
            "sign_sheet": (io.BytesIO(jpeg()), "sheet.jpg"), "panorama": (io.BytesIO(png()), "room.png")}
    r = client.post(f"{API}/lessons/{w.lesson.id}/makeups", data=form, content_type="multipart/form-data",
                    headers=inst_h)
    assert r.status_code == 201 and r.get_json()["status"] == "pending" and r.get_json()["id"]
    r = client.post(f"{API}/makeups/{r.get_json()['id']}/approve", json={}, headers=sup_h)
    assert r.status_code == 200 and r.get_json()["status"] == "approved"

    # Live: lessons in session and the event stream (replayed from the start).
    clock.set(afx.START + timedelta(minutes=30))
    r = client.get(f"{API}/live/lessons", headers=sup_h)
    assert r.status_code == 200
    assert all({"lesson_id", "site", "expected", "checked_in", "checked_out", "flagged"} <= set(x)
               for x in r.get_json()) and r.get_json()
    resp = client.get(f"{API}/live/stream", headers={**sup_h, "Last-Event-ID": "0"}, buffered=False)
    try:
        assert resp.status_code == 200 and resp.mimetype == "text/event-stream"
        text = ""
        for chunk in resp.response:
            text += chunk.decode() if isinstance(chunk, bytes) else chunk
            if "event: attendance" in text and text.endswith("\n\n"):
                break
        data = json.loads(next(line[6:] for line in text.splitlines() if line.startswith("data: ")))
        assert {"lesson_id", "person_id", "name_masked", "kind", "accepted", "source", "flags"} <= set(data)
    finally:
        resp.close()

    form = {"person_id": str(absent), "kind": "both", "reason": "手机没电",
            "sign_sheet": (io.BytesIO(jpeg()), "sheet.jpg"), "panorama": (io.BytesIO(png()), "room.png")}
    r = client.post(f"{API}/lessons/{qr_lesson.id}/makeups", data=form, content_type="multipart/form-data",
                    headers=inst_h)
    assert r.status_code == 201, r.get_json()
    r = client.post(f"{API}/makeups/{r.get_json()['id']}/reject", json={"reason": "照片不清"}, headers=sup_h)
    assert r.status_code == 200 and r.get_json()["status"] == "rejected"

    clock.set(afx.BASE + timedelta(days=1, hours=2))
    form = {"person_id": str(absent), "kind": "both", "reason": "补办",
            "sign_sheet": (io.BytesIO(jpeg()), "sheet.jpg"), "panorama": (io.BytesIO(png()), "room.png")}
    r = client.post(f"{API}/lessons/{qr_lesson.id}/makeups", data=form, content_type="multipart/form-data",
                    headers=inst_h)
    assert is_error(r, 409, "makeup_window_closed")


# ---- Kiosk devices ------------------------------------------------------------------------------

def test_kiosk_devices(client, staff, make_institution, trainee, clock):
    start = datetime(2026, 3, 10, 1, 0, tzinfo=UTC)  # 09:00 Shanghai
    clock.set(start - timedelta(minutes=10))
    inst = make_institution("350102")
    _, inst_h = staff("institution", institution=inst)
    _, other_h = staff("institution", institution=make_institution("350102"))
    _, sup_h = staff("supervisor", region_code="3501")
    number = make_id_number(seq="601")
    pid, _ = trainee(name="张三", id_number=number)
    site, lesson = lesson_setup(inst, start, people=(pid,))

    assert client.post(f"{API}/devices", json={"name": "1号机", "site_id": site.id}, headers=other_h).status_code == 403
    r = client.post(f"{API}/devices", json={"name": "1号机", "site_id": site.id}, headers=inst_h)
    assert r.status_code == 201 and r.get_json()["device_id"] and r.get_json()["secret"]
    device_id, secret = r.get_json()["device_id"], r.get_json()["secret"]
    kiosk = SignedClient(client, device_id, secret, clock)
    r = kiosk.get(f"{API}/device/manifest?date=2026-03-10")
    assert (r.status_code, r.get_json()["error"]["code"]) == (403, "device_not_active")
    assert client.post(f"{API}/devices/{device_id}/activate", headers=inst_h).status_code == 403
    assert client.post(f"{API}/devices/{device_id}/activate", headers=sup_h).get_json()["status"] == "active"
    r = client.post(f"{API}/devices", json={"name": "2号机", "site_id": site.id}, headers=sup_h)
    assert r.status_code == 201
    spare = r.get_json()["device_id"]
    kiosk = SignedClient(client, device_id, secret, clock)

    r = kiosk.get(f"{API}/device/manifest?date=2026-03-10")
    assert r.status_code == 200
    manifest = r.get_json()
    assert manifest["site"] and [x["lesson_id"] for x in manifest["lessons"]] == [lesson.id]
    [person] = manifest["people"]
    assert {k: person[k] for k in ("person_id", "name", "face_encoding", "lesson_ids")} == {
        "person_id": pid, "name": "张三", "face_encoding": None, "lesson_ids": [lesson.id]}
    # The card key needs the site's salt and a slow hash: the device secret alone no longer names a card.
    from backend.domain.card_keys import card_key
    assert person["card_key"] == card_key(bytes.fromhex(manifest["site"]["card_salt"]), number)
    assert person["card_key"] != hmac.new(secret.encode(), number.encode(), hashlib.sha256).hexdigest()
    assert person["pin_set"] is False and "pin_hash" not in person and manifest["pin_key"]
    assert no_full_id(r, number)
    assert is_error(kiosk.get(f"{API}/device/manifest?date=2026-03-12"), 422, "date_out_of_range")
    assert is_error(kiosk.get(f"{API}/device/manifest?date=2026-03-09"), 422, "date_out_of_range")

    # A kiosk may only report a face match for someone with an enrolled template.
    from backend.models import Person
    from backend.security.crypto import vault
    from backend.services.persons import FACE_CONTEXT
    db.session.get(Person, pid).face_template_enc = vault().encrypt_json([0.01] * 128, FACE_CONTEXT)
    db.session.commit()
    event = {"event_id": str(uuid.uuid4()), "person_id": pid, "lesson_id": lesson.id, "kind": "check_in",
             "method": "card+face", "face_distance": 0.3, "captured_at": clock().isoformat(),
             "face_jpeg_base64": FACE_CROP, "liveness": {"passed": True, "challenge": None}}
    bad = dict(event, event_id=str(uuid.uuid4()), method="retina")
    no_crop = {k: v for k, v in event.items() if k != "face_jpeg_base64"} | {"event_id": str(uuid.uuid4())}
    r = kiosk.post(f"{API}/device/events", {"events": [event, bad, no_crop]})
    assert r.status_code == 200
    results = r.get_json()["results"]
    assert [(x["event_id"], x["status"]) for x in results] == [(event["event_id"], "accepted"),
                                                              (bad["event_id"], "rejected"),
                                                              (no_crop["event_id"], "rejected")]
    assert results[1]["reason"] and results[2]["reason"] == "evidence_missing"
    assert isinstance(results[0]["flags"], list)
    r = kiosk.post(f"{API}/device/events", {"events": [event]})
    assert r.get_json()["results"][0]["status"] == "duplicate"
    r = kiosk.post(f"{API}/device/events", {"events": [event] * 501})
    assert is_error(r, 422, "validation_error")

    r = kiosk.post(f"{API}/device/heartbeat", {"queue_depth": 0, "clock": clock().isoformat(), "version": "1.0"})
    assert r.status_code == 200 and r.get_json()["server_time"]

    # Signature rules: skew over 300 s, a replayed nonce, a wrong signature, a revoked device → 401.
    path = f"{API}/device/manifest?date=2026-03-10"
    from backend.domain.device_signature import new_nonce, sign
    ts = str(int(clock().timestamp()) - 301)
    nonce = new_nonce()
    skewed = {"X-Device-Id": str(device_id), "X-Timestamp": ts, "X-Nonce": nonce,
              "X-Signature": sign(secret, "GET", path, ts, nonce, b"")}
    assert is_error(client.get(path, headers=skewed), 401, "unauthorized")
    h = kiosk.headers("GET", path, b"")
    assert client.get(path, headers=h).status_code == 200
    assert is_error(client.get(path, headers=h), 401, "unauthorized")
    assert is_error(client.get(path, headers=kiosk.headers("GET", path, b"", **{"X-Signature": "0" * 64})), 401,
                    "unauthorized")
    short = kiosk.headers("GET", path, b"")
    short["X-Nonce"] = "short"
    short["X-Signature"] = sign(secret, "GET", path, short["X-Timestamp"], "short", b"")
    assert is_error(client.get(path, headers=short), 401, "unauthorized")
    r = client.post(f"{API}/devices/{device_id}/revoke", headers=inst_h)
    assert r.status_code == 200 and r.get_json()["status"] == "revoked"
    assert is_error(kiosk.get(path), 401, "unauthorized")
    assert client.post(f"{API}/devices/{spare}/revoke", headers=sup_h).get_json() == {"status": "revoked"}


# ---- Results, certificates, subsidy -------------------------------------------------------------

def test_results_certificates_subsidy(client, clock, world, staff):
    w = world
    r = client.post(f"{API}/plans/{w.plan.id}/results", headers=w.inst_h, json={"results": ofx.all_results(w)})
    assert r.status_code == 200 and r.get_json()["imported"] == 6
    sheet = client.get(f"{API}/plans/{w.plan.id}/results/template.xlsx", headers=w.inst_h).data
    r = client.post(f"{API}/plans/{w.plan.id}/results", data={"file": (io.BytesIO(sheet), "成绩.xlsx")},
                    content_type="multipart/form-data", headers=w.inst_h)
    assert r.status_code == 200 and r.get_json()["imported"] == 6
    clock.set(ofx.sh(2026, 3, 5, 10))
    r = client.post(f"{API}/plans/{w.plan.id}/completion", headers=w.inst_h)
    assert r.status_code == 200 and r.get_json()["status"] == "completion_submitted"
    r = client.post(f"{API}/plans/{w.plan.id}/completion/approve", headers=w.sup1_h)
    assert r.status_code == 200
    done = r.get_json()
    assert done["certificates_issued"] == 4 and done["subsidy_claim_id"]
    claim_id = done["subsidy_claim_id"]

    r = client.get(f"{API}/subsidy-claims/{claim_id}", headers=w.inst_h)
    assert r.status_code == 200
    claim = r.get_json()
    assert claim["status"] == "submitted" and claim["total_fen"] == sum(x["amount_fen"] for x in claim["lines"])
    line_keys = {"person_id", "name", "credited_hours", "voucher_code", "amount_fen", "capped"}
    assert claim["lines"] and all(line_keys <= set(x) for x in claim["lines"])
    assert client.get(f"{API}/subsidy-claims/{claim_id}", headers=w.sup2_h).status_code == 200

    r = client.post(f"{API}/subsidy-claims/{claim_id}/approve", headers=w.sup1_h)
    assert r.status_code == 200 and r.get_json()["status"] == "approved"
    assert is_error(client.post(f"{API}/subsidy-claims/{claim_id}/disburse", headers=w.sup1_h), 409, "same_approver")
    assert is_error(client.post(f"{API}/subsidy-claims/{claim_id}/disburse", headers=w.sup2_h), 409,
                    "publicity_period")
    clock.set(ofx.sh(2026, 3, 13, 9))
    r = client.post(f"{API}/subsidy-claims/{claim_id}/disburse", headers=w.sup2_h)
    assert r.status_code == 200 and r.get_json()["status"] == "disbursed"
    r = client.post(f"{API}/vouchers/verify", json={"code": w.va.code}, headers=w.inst_h)
    assert (r.get_json()["valid"], r.get_json()["reason"]) == (False, "written_off")

    r = client.get(f"{API}/me/certificates", headers=w.a_h)
    assert is_collection(r)
    [cert] = r.get_json()
    assert {"number", "occupation_code", "institution", "issued_on"} <= set(cert)
    r = client.get(f"{API}/certificates/{cert['number']}")
    assert r.status_code == 200
    assert {k: r.get_json()[k] for k in ("valid", "holder_name_masked", "occupation_code", "institution",
                                         "issued_on")} == {
        "valid": True, "holder_name_masked": "张*", "occupation_code": cert["occupation_code"],
        "institution": cert["institution"], "issued_on": cert["issued_on"]}
    r = client.get(f"{API}/me/subsidies", headers=w.a_h)
    assert is_collection(r) and {"status", "payee", "amount_fen"} <= set(r.get_json()[0])
    r = client.get(f"{API}/me/archive", headers=w.a_h)
    assert r.status_code == 200
    [entry] = r.get_json()["plans"]
    assert {"credited_hours", "result", "certificate", "subsidies"} <= set(entry)

    payload = {"plan_id": w.plan.id, "teaching": 5, "facilities": 4, "organisation": 5, "comment": "好"}
    assert client.post(f"{API}/me/evaluations", json=payload, headers=w.a_h).status_code == 201
    assert is_error(client.post(f"{API}/me/evaluations", json=payload, headers=w.a_h), 409, "already_evaluated")
    assert is_error(client.post(f"{API}/me/evaluations", json=payload, headers=w.c_h), 403, "not_completed")
    r = client.get(f"{API}/institutions/{w.inst.id}/rating")
    assert r.status_code == 200 and r.get_json()["count"] == 1
    assert {"score", "count", "by_aspect"} <= set(r.get_json())
    assert set(r.get_json()["by_aspect"]) == {"teaching", "facilities", "organisation"}


def test_institutions_nearby(client, clock, world, make_institution, staff):
    w = world
    from backend.models import Site
    far_inst = make_institution("350102", name="远处学校")
    db.session.add(Site(institution_id=far_inst.id, name="远处基地", address="闽侯", lat=26.15, lon=119.1, radius_m=200,
                        created_at=datetime.now(UTC)))
    db.session.commit()
    r = client.get(f"{API}/institutions/nearby?lat=26.08&lon=119.3&coord_sys=wgs84&occupation_code=", headers=w.a_h)
    assert is_collection(r)
    items = r.get_json()
    keys = {"institution_id", "name", "site_id", "site_name", "distance_m", "rating", "usable_vouchers"}
    assert len(items) == 3 and all(keys <= set(x) for x in items)
    assert items[0]["institution_id"] == w.inst.id and items[-1]["institution_id"] == far_inst.id
    assert [x["distance_m"] for x in items] == sorted(x["distance_m"] for x in items)
    # Nobody rated these institutions: the score is only the prior, and the count says so.
    assert all(x["rating_count"] == 0 for x in items)


# ---- Statistics and audit ---------------------------------------------------------------------

def test_stats_and_audit(client, staff, make_institution, clock):
    clock.set(NOW)
    _, sup_h = staff("supervisor", region_code="3501")
    _, admin_h = staff("admin")
    _, inst_h = staff("institution", institution=make_institution("350102"))
    r = client.get(f"{API}/stats/overview?region_code=3501&from=2026-01-01&to=2026-12-31", headers=sup_h)
    assert r.status_code == 200
    s = r.get_json()
    assert set(s["vouchers"]) >= {"issued", "claimed", "used", "returned", "expired", "written_off", "written_off_fen"}
    assert set(s["trainees"]) >= {"total", "by_age_band", "by_gender", "by_province"}
    assert set(s["attendance"]) >= {"events", "accepted", "rejected", "by_reason", "completion_rate"}
    assert set(s["subsidy"]) >= {"approved_fen", "disbursed_fen"}
    assert client.get(f"{API}/stats/overview", headers=inst_h).status_code == 403

    batch = client.post(f"{API}/voucher-batches", json=batch_body(), headers=sup_h).get_json()
    r = client.get(f"{API}/audit?object_type=voucher_batch&object_id={batch['id']}", headers=sup_h)
    assert is_collection(r) and r.get_json()[0]["action"] == "voucher_batch.create"
    r = client.get(f"{API}/audit", headers=admin_h)
    assert is_collection(r) and int(r.headers["X-Total-Count"]) >= 1
    assert client.get(f"{API}/audit", headers=inst_h).status_code == 403


# ---- The served OpenAPI document describes all of API.md -----------------------------------------

CONTRACT_ROUTES = """
post /auth/wechat; post /auth/login; post /auth/refresh; post /me/identity; put /me/face; delete /me/face
post /persons/{person_id}/unbind; get /dev/sms
post /institutions; post /users; post /sites; put /persons/{person_id}/face
post /voucher-batches; post /voucher-batches/{batch_id}/publish; get /voucher-batches
post /voucher-batches/{batch_id}/claims; get /me/vouchers; post /me/vouchers/{code}/return
get /me/vouchers/{code}/qr; post /vouchers/verify
post /plans; patch /plans/{plan_id}; post /plans/{plan_id}/lessons; patch /lessons/{lesson_id}
get /plans/{plan_id}/roster/template.xlsx; post /plans/{plan_id}/roster; post /plans/{plan_id}/enrollments
post /plans/{plan_id}/submit; post /plans/{plan_id}/withdraw; post /plans/{plan_id}/approve
post /plans/{plan_id}/reject; get /plans/{plan_id}/hours
get /me/lessons; get /lessons/{lesson_id}/site-qr; post /attendance; get /lessons/{lesson_id}/attendance
post /lessons/{lesson_id}/makeups; post /makeups/{makeup_id}/approve; post /makeups/{makeup_id}/reject
get /live/lessons; get /live/stream
post /devices; post /devices/{device_id}/revoke; get /device/manifest; post /device/events; post /device/heartbeat
post /plans/{plan_id}/results; post /plans/{plan_id}/completion; post /plans/{plan_id}/completion/approve
get /subsidy-claims/{claim_id}; post /subsidy-claims/{claim_id}/approve; post /subsidy-claims/{claim_id}/disburse
get /certificates/{number}; get /me/certificates; get /me/subsidies; get /me/archive; post /me/evaluations
get /institutions/{institution_id}/rating; get /institutions/nearby
get /stats/overview; get /audit
"""


def test_openapi_describes_every_contract_route(app, client):
    import warnings
    r = client.get(f"{API}/openapi.json")
    assert r.status_code == 200
    paths = r.get_json()["paths"]
    routes = [item.strip().split(" ", 1) for item in CONTRACT_ROUTES.replace("\n", ";").split(";") if item.strip()]
    missing = [f"{m.upper()} {p}" for m, p in routes if m not in paths.get(API + p, {})]
    assert not missing, missing
    # Every contract route is served too (not only documented).
    served = {(m.lower(), re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule))
              for rule in app.url_map.iter_rules() for m in rule.methods}
    assert not [f"{m} {p}" for m, p in routes if (m, API + p) not in served]
    # Distinct schemas under distinct names: apispec renames clashes ("ImportOut1") and warns on doubles.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        spec = app._get_spec(force_update=True)
    assert not [n for n in spec["components"]["schemas"] if re.search(r"\d$", n)]
    # The Conventions, as documented: error shape, who may call, totals of collections, Idempotency-Key.
    schemas = spec["components"]["schemas"]
    assert set(schemas["HTTPError"]["properties"]["error"]["properties"]) == {"code", "message", "details"}
    assert "fields" in schemas["ValidationError"]["properties"]["error"]["properties"]["details"]["properties"]
    claims = paths[f"{API}/voucher-batches/{{batch_id}}/claims"]["post"]
    assert claims["security"] == [{"BearerAuth": []}] and claims["x-roles"] == ["trainee"]
    assert "Idempotency-Key" in [p["name"] for p in claims.get("parameters", [])]
    assert paths[f"{API}/certificates/{{number}}"]["get"]["security"] == []
    assert paths[f"{API}/device/manifest"]["get"]["security"] == [{"DeviceSignature": []}]
    assert set(paths[f"{API}/vouchers/verify"]["post"]["x-roles"]) == {"institution", "device", "supervisor", "admin"}
    for path in ("/voucher-batches", "/me/vouchers", "/me/certificates", "/institutions/nearby", "/audit"):
        assert "X-Total-Count" in paths[API + path]["get"]["responses"]["200"]["headers"], path
    assert "people" in paths[f"{API}/device/manifest"]["get"]["responses"]["200"]["content"]["application/json"][
        "schema"]["properties"]


CONTRACT_CODES = """validation_error unauthorized forbidden not_found rate_limited idempotency_key_reused
request_in_progress invalid_id_number identity_taken identity_mismatch no_face multiple_faces consent_required
invalid_credit_code identity_not_bound not_eligible already_claimed sold_out claim_window_closed face_mismatch
not_returnable token_expired token_invalid expired returned used written_off voided not_allowed_institution
change_window_closed class_hours_too_long online_share_exceeded hours_changed roster_frozen out_of_fence
low_accuracy outside_time_window site_token_invalid not_enrolled already_checked_in not_checked_in
makeup_window_closed same_approver publicity_period already_evaluated not_completed
identity_not_verified verification_required invalid_code not_bound"""


def test_every_contract_code_has_zh_and_en_messages():
    from backend.domain.messages import MESSAGES
    missing = [c for c in CONTRACT_CODES.split() if c not in MESSAGES or not all(MESSAGES[c])]
    assert not missing, missing
    assert all(re.search(r"[\u4e00-\u9fff]", MESSAGES[c][0]) for c in CONTRACT_CODES.split())


def test_id_numbers_unmasked_only_to_their_owner(client, trainee, staff, make_institution, clock):
    clock.set(NOW)
    number = make_id_number(seq="701")
    pid, t = trainee(name="张三", id_number=number)
    r = client.get(f"{API}/me", headers=t)
    assert r.status_code == 200 and r.get_json()["person"]["id_number"] == number
    inst = make_institution("350102")
    _, inst_h = staff("institution", institution=inst)
    _, admin_h = staff("admin")
    site = make_site(client, inst_h)
    plan = make_plan(client, inst_h)
    add_lesson(client, inst_h, plan["id"], site_id=site["id"])
    r = client.post(f"{API}/plans/{plan['id']}/roster", headers=inst_h, json={"trainees": [
        {"name": "张三", "id_number": number, "phone": "13800138000"}]})
    assert r.status_code == 200 and no_full_id(r, number)
    for path in (f"/plans/{plan['id']}/enrollments", "/audit?per_page=500"):
        r = client.get(API + path, headers=admin_h)
        assert r.status_code == 200 and no_full_id(r, number), path
