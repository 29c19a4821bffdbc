"""Kiosk activation by the bureau: an institution's own kiosk takes no events until the region's
supervisor activates it; the shown-once secret never sits in the replay cache; heartbeats leave spans."""
from __future__ import annotations

from datetime import timedelta

import pytest

from backend.extensions import db
from backend.models import AuditEntry, Device, DeviceOnlineSpan, IdempotencyRecord
from tests.api.device_helpers import SignedClient, lesson_setup
from tests.api.test_devices import START

HEARTBEAT = {"queue_depth": 0, "clock": START.isoformat(), "version": "1"}


@pytest.fixture
def pending(client, staff, make_institution, clock):
    """An institution in 350102 registers a kiosk at its site: the device is pending."""
    clock.set(START)
    inst = make_institution("350102")
    _, h = staff("institution", institution=inst)
    site, lesson = lesson_setup(inst, START)
    r = client.post("/api/v1/devices", json={"name": "自购考勤机", "site_id": site.id}, headers=h)
    assert r.status_code == 201
    body = r.get_json()
    return {"h": h, "inst": inst, "site": site, "lesson": lesson, "id": body["device_id"], "body": body,
            "signed": SignedClient(client, body["device_id"], body["secret"], clock)}


def _device_calls(signed, lesson_id):
    return [signed.get("/api/v1/device/manifest"),
            signed.post("/api/v1/device/heartbeat", HEARTBEAT),
            signed.post("/api/v1/device/events", {"events": [{
                "event_id": "e" * 36, "person_id": 1, "lesson_id": lesson_id, "kind": "check_in",
                "method": "card+pin", "captured_at": START.isoformat()}]}),
            signed.post("/api/v1/vouchers/verify", {"code": "X" * 12})]


def test_registration_is_pending_and_every_device_endpoint_refuses(pending, client):
    assert pending["body"]["status"] == "pending"
    for r in _device_calls(pending["signed"], pending["lesson"].id):
        assert (r.status_code, r.get_json()["error"]["code"]) == (403, "device_not_active"), r.get_json()
    # nothing an unactivated kiosk sent was stored
    from backend.models import AttendanceEvent
    assert db.session.query(AttendanceEvent).count() == 0
    assert db.session.query(DeviceOnlineSpan).count() == 0
    listed = client.get("/api/v1/devices?status=pending", headers=pending["h"]).get_json()
    assert [(d["device_id"], d["status"]) for d in listed] == [(pending["id"], "pending")]


def test_a_wrong_secret_is_still_401_not_a_hint(pending, client, clock):
    wrong = SignedClient(client, pending["id"], "not-the-secret", clock)
    r = wrong.get("/api/v1/device/manifest")
    assert r.status_code == 401 and r.get_json()["error"]["details"]["reason"] == "signature"


@pytest.mark.parametrize("who, region, status", [
    ("institution", None, 403),          # the party that profits cannot activate its own kiosk
    ("admin", None, 403),                # the bureau's supervisor of the region, nobody else
    ("supervisor", "3502", 403),         # another city
    ("supervisor", "350103", 403),       # another district of the same city
    ("supervisor", "35", 200),           # the province covers the district
    ("supervisor", "350102", 200),       # the district itself
])
def test_who_may_activate(pending, client, staff, who, region, status):
    if who == "institution":
        headers = pending["h"]
    else:
        _, headers = staff(who, region_code=region)
    r = client.post(f"/api/v1/devices/{pending['id']}/activate", headers=headers)
    assert r.status_code == status, r.get_json()
    assert db.session.get(Device, pending["id"]).status == ("active" if status == 200 else "pending")


def test_activation_is_audited_once_and_then_the_kiosk_works(pending, client, staff):
    user, sup = staff("supervisor", region_code="3501")
    assert client.post(f"/api/v1/devices/{pending['id']}/activate", headers=sup).get_json() == {"status": "active"}
    r = client.post(f"/api/v1/devices/{pending['id']}/activate", headers=sup)
    assert (r.status_code, r.get_json()["error"]["code"]) == (409, "invalid_state")
    device = db.session.get(Device, pending["id"])
    assert (device.activated_by, device.activated_at is not None) == (user.id, True)
    actions = [e.action for e in db.session.query(AuditEntry).filter_by(object_type="device",
                                                                       object_id=str(pending["id"]))]
    assert actions == ["device.register", "device.activate"]
    assert pending["signed"].get("/api/v1/device/manifest").status_code == 200
    # the list shows who activated and when
    [row] = client.get("/api/v1/devices", headers=pending["h"]).get_json()
    assert row["status"] == "active" and row["activated_by"] == user.id and row["activated_at"]


def test_a_pending_kiosk_can_be_revoked_and_never_activated(pending, client, staff):
    assert client.post(f"/api/v1/devices/{pending['id']}/revoke", headers=pending["h"]).get_json() == {
        "status": "revoked"}
    _, sup = staff("supervisor", region_code="3501")
    assert client.post(f"/api/v1/devices/{pending['id']}/activate", headers=sup).status_code == 409
    r = pending["signed"].get("/api/v1/device/manifest")
    assert r.status_code == 401 and r.get_json()["error"]["details"]["reason"] == "device_revoked"


def test_the_secret_is_never_kept_for_a_replay(client, staff, make_institution, clock):
    clock.set(START)
    inst = make_institution("350102")
    _, h = staff("institution", institution=inst)
    site, _ = lesson_setup(inst, START)
    key = {"Idempotency-Key": "register-kiosk-1"}
    first = client.post("/api/v1/devices", json={"name": "1号机", "site_id": site.id}, headers={**h, **key})
    secret = first.get_json()["secret"]
    assert first.status_code == 201 and secret
    # The provisioning QR holds exactly the code `python -m kiosk provision` decodes: this server, this
    # device, this secret (the same QR drawn again from the code is byte for byte the one returned).
    from backend.domain.device_provisioning import decode, encode
    from backend.services.certificates import qr_svg
    code = encode("http://localhost", first.get_json()["device_id"], secret)
    assert first.get_json()["provisioning_qr_svg"] == qr_svg(code)
    assert decode(code) == {"url": "http://localhost", "device_id": first.get_json()["device_id"], "secret": secret}
    record = db.session.query(IdempotencyRecord).one()
    assert secret not in record.body and "<svg" not in record.body
    again = client.post("/api/v1/devices", json={"name": "1号机", "site_id": site.id}, headers={**h, **key})
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json()["secret"] is None and again.get_json()["device_id"] == first.get_json()["device_id"]
    assert again.get_json()["provisioning_qr_svg"] is None
    assert again.headers["Idempotent-Redacted"] == "secret,provisioning_qr_svg"
    assert db.session.query(Device).count() == 1


def test_login_tokens_are_never_kept_for_a_replay(client, staff):
    user, _ = staff("supervisor", region_code="3501")
    key = {"Idempotency-Key": "login-1"}
    body = {"username": user.username, "password": "password-123"}
    first = client.post("/api/v1/auth/login", json=body, headers=key).get_json()
    stored = db.session.query(IdempotencyRecord).filter_by(key="login-1").one().body
    assert first["access_token"] not in stored and first["refresh_token"] not in stored


def test_heartbeats_make_online_spans(pending, client, staff, clock):
    _, sup = staff("supervisor", region_code="3501")
    client.post(f"/api/v1/devices/{pending['id']}/activate", headers=sup)
    s = pending["signed"]

    def beat():
        assert s.post("/api/v1/device/heartbeat", HEARTBEAT).status_code == 200

    beat()
    clock.advance(seconds=60)
    beat()
    clock.advance(seconds=300)   # exactly the offline threshold: still the same span
    beat()
    clock.advance(seconds=301)   # a longer silence opens a new span
    beat()
    spans = [(sp.first_at, sp.last_at) for sp in db.session.query(DeviceOnlineSpan).order_by(DeviceOnlineSpan.id)]
    assert spans == [(START, START + timedelta(seconds=360)),
                     (START + timedelta(seconds=661), START + timedelta(seconds=661))]
    from backend.services.devices import online_during
    assert online_during(pending["id"], START + timedelta(seconds=361), START + timedelta(seconds=660)) is False
    assert online_during(pending["id"], START + timedelta(seconds=300), START + timedelta(seconds=400)) is True
