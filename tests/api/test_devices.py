"""Kiosk devices: registration, signed requests, manifest, heartbeat and event ingest with receipts."""
from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from backend.domain.card_keys import card_key
from backend.extensions import db
from backend.models import AttendanceEvent, Device
from tests.api.device_helpers import FACE_CROP, SignedClient, activate, lesson_setup, sealed_pin
from tests.conftest import make_id_number

START = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)  # 09:00 Asia/Shanghai


@pytest.fixture
def kiosk(client, staff, make_institution, trainee, clock):
    """An institution, a lesson at its site with two enrolled trainees, and a registered kiosk."""
    clock.set(START + timedelta(minutes=5))
    inst = make_institution()
    _, h = staff("institution", institution=inst)
    p1, _ = trainee(name="张三", id_number=make_id_number(seq="011"))
    p2, _ = trainee(name="李四", id_number=make_id_number(seq="022"))
    site, lesson = lesson_setup(inst, START, people=(p1, p2))
    # p1 enrolled a face; p2 a face and a PIN (the kiosk may only claim what a person has).
    from backend.domain.pins import hash_pin
    from backend.models import Person
    from backend.security.crypto import vault
    from backend.services.persons import FACE_CONTEXT
    for pid in (p1, p2):
        db.session.get(Person, pid).face_template_enc = vault().encrypt_json([0.01] * 128, FACE_CONTEXT)
    db.session.get(Person, p2).pin_hash = hash_pin("135790", iterations=1000)
    db.session.commit()
    r = client.post("/api/v1/devices", json={"name": "1号机", "site_id": site.id}, headers=h)
    assert r.status_code == 201 and r.get_json()["status"] == "pending", r.get_json()
    body = r.get_json()
    activate(client, staff, body["device_id"], inst.region_code[:4])
    return {"inst": inst, "h": h, "site": site, "lesson": lesson, "people": (p1, p2), "device_id": body["device_id"],
            "secret": body["secret"], "signed": SignedClient(client, body["device_id"], body["secret"], clock)}


def ev(kiosk, person, kind="check_in", at=None, method="card+face", distance=0.31, pin="135790", **over):
    e = {"event_id": str(uuid.uuid4()), "person_id": person, "lesson_id": kiosk["lesson"].id, "kind": kind,
         "method": method, "face_distance": distance, "captured_at": (at or START + timedelta(minutes=2)).isoformat()}
    if method.endswith("+face"):
        e["face_jpeg_base64"] = FACE_CROP
    if method == "card+pin" and pin is not None:
        e["pin_sealed"] = sealed_pin(kiosk["device_id"], e["event_id"], person, pin)
    e.update(over)
    return e


def test_registration_secret_shown_once_and_encrypted(kiosk, client):
    device = db.session.get(Device, kiosk["device_id"])
    assert kiosk["secret"].encode() not in device.secret_enc
    r = client.get("/api/v1/devices", headers=kiosk["h"])
    assert r.status_code == 200 and "secret" not in r.get_json()[0]


def test_other_institution_cannot_register_at_site(kiosk, client, staff):
    _, other = staff("institution")
    r = client.post("/api/v1/devices", json={"name": "x", "site_id": kiosk["site"].id}, headers=other)
    assert r.status_code == 403


def test_signature_rules(kiosk, client, clock):
    s = kiosk["signed"]
    path = "/api/v1/device/manifest?date=2026-12-01"
    assert s.get(path).status_code == 200
    # tampered query: signature covers path and query
    h = s.headers("GET", path, b"")
    r = client.get("/api/v1/device/manifest?date=2026-12-02", headers=h)
    assert r.status_code == 401 and r.get_json()["error"]["details"]["reason"] == "signature"
    # replayed nonce
    h = s.headers("GET", path, b"")
    assert client.get(path, headers=h).status_code == 200
    r = client.get(path, headers=h)
    assert r.status_code == 401 and r.get_json()["error"]["details"]["reason"] == "nonce"
    # skew: 300 s accepted, 301 refused
    for skew, status in ((300, 200), (301, 401)):
        ts = str(int(clock().timestamp()) - skew)
        from backend.domain.device_signature import new_nonce, sign
        nonce = new_nonce()
        h = {"X-Device-Id": str(kiosk["device_id"]), "X-Timestamp": ts, "X-Nonce": nonce,
             "X-Signature": sign(kiosk["secret"], "GET", path, ts, nonce, b"")}
        assert client.get(path, headers=h).status_code == status
    # a bearer token is not a device
    r = client.get(path, headers=kiosk["h"])
    assert r.status_code == 403


def test_revocation_is_immediate(kiosk, client):
    s = kiosk["signed"]
    assert s.post("/api/v1/device/heartbeat", {"queue_depth": 0, "clock": START.isoformat(),
                                               "version": "1"}).status_code == 200
    assert client.post(f"/api/v1/devices/{kiosk['device_id']}/revoke", headers=kiosk["h"]).get_json() == {
        "status": "revoked"}
    r = s.post("/api/v1/device/heartbeat", {"queue_depth": 0, "clock": START.isoformat(), "version": "1"})
    assert r.status_code == 401 and r.get_json()["error"]["details"]["reason"] == "device_revoked"


def test_manifest_has_card_keys_and_no_id_numbers(kiosk):
    r = kiosk["signed"].get("/api/v1/device/manifest?date=2026-12-01")
    body = r.get_json()
    assert [le["lesson_id"] for le in body["lessons"]] == [kiosk["lesson"].id]
    ids = {p["person_id"]: p for p in body["people"]}
    assert set(ids) == set(kiosk["people"])
    idn = make_id_number(seq="011")
    salt = bytes.fromhex(body["site"]["card_salt"])
    assert ids[kiosk["people"][0]]["card_key"] == card_key(salt, idn)
    assert idn not in r.get_data(as_text=True)
    # no PIN hash travels: only whether a PIN is set, and the key to seal typed PINs to
    assert [ids[p]["pin_set"] for p in kiosk["people"]] == [False, True] and body["pin_key"]
    assert "pin_hash" not in r.get_data(as_text=True)
    assert ids[kiosk["people"][0]]["face_encoding"] == [0.01] * 128
    assert ids[kiosk["people"][0]]["lesson_ids"] == [kiosk["lesson"].id]
    assert kiosk["signed"].get("/api/v1/device/manifest?date=2026-12-02").get_json()["people"] == []
    assert kiosk["signed"].get("/api/v1/device/manifest?date=bad").status_code == 422
    # only today and tomorrow: a stolen kiosk secret reads no further roster
    for day in ("2026-11-30", "2026-12-03", "2027-12-01"):
        r = kiosk["signed"].get(f"/api/v1/device/manifest?date={day}")
        assert (r.status_code, r.get_json()["error"]["code"]) == (422, "date_out_of_range")


def test_heartbeat_and_health(kiosk, client, staff, clock):
    s = kiosk["signed"]
    r = s.post("/api/v1/device/heartbeat", {"queue_depth": 7, "clock": (clock() + timedelta(minutes=3)).isoformat(),
                                            "version": "0.1.0"})
    assert r.status_code == 200 and r.get_json()["server_time"]
    _, sup = staff("supervisor", region_code="3501")
    items = client.get("/api/v1/devices?problem=1", headers=sup).get_json()
    assert items[0]["clock_drift"] is True and items[0]["queue_depth"] == 7 and items[0]["offline"] is False
    clock.advance(minutes=10)
    assert client.get("/api/v1/devices", headers=sup).get_json()[0]["offline"] is True
    _, far = staff("supervisor", region_code="3502")
    assert client.get("/api/v1/devices", headers=far).get_json() == []


def test_events_receipts(kiosk, clock):
    clock.set(START + timedelta(hours=3, minutes=20))  # the kiosk uploads after the lesson
    p1, p2 = kiosk["people"]
    s = kiosk["signed"]
    good_in = ev(kiosk, p1)
    events = [good_in,
              ev(kiosk, p2, distance=0.62),                                     # face too far
              ev(kiosk, 999999),                                                # unknown person
              ev(kiosk, p2, method="card+pin", distance=None),                  # non-face way
              ev(kiosk, p1, kind="check_out", at=START + timedelta(hours=3, minutes=10)),
              {"event_id": "short", "person_id": p1},                          # malformed
              ev(kiosk, p2, kind="check_out", at=START - timedelta(hours=2))]   # outside window
    r = s.post("/api/v1/device/events", {"events": events})
    assert r.status_code == 200, r.get_json()
    res = r.get_json()["results"]
    assert [x["status"] for x in res] == ["accepted", "rejected", "rejected", "accepted", "accepted", "rejected",  # noqa: E501
                                          "rejected"]
    assert [x.get("reason") for x in res] == [None, "face_mismatch", "unknown_person", None, None, "invalid_event",
                                              "outside_time_window"]
    # a repeat upload is a duplicate and changes nothing
    again = s.post("/api/v1/device/events", {"events": [good_in]}).get_json()["results"]
    assert again == [{"event_id": good_in["event_id"], "status": "duplicate"}]
    stored = db.session.query(AttendanceEvent).filter_by(origin=f"d{kiosk['device_id']}").count()
    assert stored == 6  # every well-formed event is stored, accepted or rejected
    # second check-in for p1 from the kiosk is refused by the sequence rule
    res = s.post("/api/v1/device/events", {"events": [ev(kiosk, p1)]}).get_json()["results"]
    assert res[0]["reason"] == "already_checked_in"


def test_events_capture_age_and_future(kiosk, clock):
    p1, _ = kiosk["people"]
    clock.set(START + timedelta(days=8))
    res = kiosk["signed"].post("/api/v1/device/events", {"events": [
        ev(kiosk, p1), ev(kiosk, p1, at=START + timedelta(days=8, minutes=6))]}).get_json()["results"]
    assert [x["reason"] for x in res] == ["captured_too_old", "captured_in_future"]


def test_events_at_another_site_rejected(kiosk, make_institution):
    other_site, other_lesson = lesson_setup(kiosk["inst"], START, people=kiosk["people"][:1])
    res = kiosk["signed"].post("/api/v1/device/events", {"events": [
        ev(kiosk, kiosk["people"][0], lesson_id=other_lesson.id)]}).get_json()["results"]
    assert res[0]["reason"] == "wrong_site"


def test_batch_limit(kiosk):
    r = kiosk["signed"].post("/api/v1/device/events", {"events": [ev(kiosk, 1)] * 501})
    assert r.status_code == 422


def test_events_for_a_plan_not_running_are_rejected(kiosk):
    from backend.models import TrainingPlan
    plan = db.session.get(TrainingPlan, kiosk["lesson"].plan_id)
    plan.status = "completion_submitted"
    db.session.commit()
    res = kiosk["signed"].post("/api/v1/device/events", {"events": [ev(kiosk, kiosk["people"][0])]}).get_json()
    assert res["results"][0]["reason"] == "plan_not_active"


def test_kiosk_cannot_claim_credentials_a_person_lacks(kiosk):
    from backend.models import Person
    p1, p2 = kiosk["people"]
    db.session.get(Person, p2).face_template_enc = None
    db.session.commit()
    res = kiosk["signed"].post("/api/v1/device/events", {"events": [
        ev(kiosk, p1, method="card+pin", distance=None),   # p1 never set a PIN
        ev(kiosk, p2, distance=0.1),                       # p2 has no face template any more
    ]}).get_json()["results"]
    assert [x.get("reason") for x in res] == ["pin_not_set", "face_not_enrolled"], res


def test_kiosk_windows_follow_configured_policy(kiosk, app, clock):
    app.config["CHECK_IN_BEFORE_MIN"] = 10
    res = kiosk["signed"].post("/api/v1/device/events", {"events": [
        ev(kiosk, kiosk["people"][0], at=START - timedelta(minutes=20))]}).get_json()["results"]
    assert res[0]["reason"] == "outside_time_window"
