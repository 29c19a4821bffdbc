"""Each trust flag raised where its data arrives, at its boundary, and listed by GET /plans/{id}/flags."""
from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from backend.extensions import db
from backend.models import AttendanceEvent, FaceEvidence, Person, TrustFlag, WechatAccount
from backend.security.crypto import vault
from backend.services.persons import FACE_CONTEXT
from tests.api.device_helpers import FACE_CROP, SignedClient, activate, lesson_setup, sealed_pin
from tests.conftest import make_id_number

START = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)  # 09:00 Asia/Shanghai, a 3-hour lesson
END = START + timedelta(hours=3)


def _template(offset: float = 0.0) -> list[float]:
    return [0.05 + offset] + [0.05] * 127


@pytest.fixture
def site_world(client, staff, make_institution, trainee, clock):
    """A lesson with four trainees: two bound to phones (self-enrolled faces), one institution-entered person
    who never bound a phone (face enrolled by staff), and one bound with a PIN only; an active kiosk."""
    clock.set(START - timedelta(minutes=5))
    inst = make_institution("350102")
    inst_user, inst_h = staff("institution", institution=inst)
    sup_user, sup_h = staff("supervisor", region_code="3501")
    bound_a, _ = trainee(name="张三", id_number=make_id_number(seq="101"))
    bound_b, _ = trainee(name="李四", id_number=make_id_number(seq="102"))
    pin_only, _ = trainee(name="赵六", id_number=make_id_number(seq="104"))
    from backend.services.persons import new_person
    ghost = new_person("王五", make_id_number(seq="103"), clock(), "13800000003")
    db.session.add(ghost)
    db.session.flush()
    people = {"a": bound_a, "b": bound_b, "ghost": ghost.id, "pin": pin_only}
    for key, offset, by in (("a", 0.0, "self"), ("b", 1.0, "self"), ("ghost", 2.0, "institution")):
        p = db.session.get(Person, people[key])
        p.face_template_enc = vault().encrypt_json(_template(offset), FACE_CONTEXT)
        p.face_enrolled_by = by
    from backend.domain.pins import hash_pin
    db.session.get(Person, pin_only).pin_hash = hash_pin("135790", iterations=1000)
    db.session.commit()
    site, lesson = lesson_setup(inst, START, people=tuple(people.values()))
    r = client.post("/api/v1/devices", json={"name": "1号机", "site_id": site.id}, headers=inst_h)
    device_id, secret = r.get_json()["device_id"], r.get_json()["secret"]
    activate(client, staff, device_id)
    clock.set(START)
    return {"inst_h": inst_h, "sup_h": sup_h, "lesson": lesson, "site": site, "people": people,
            "device_id": device_id, "kiosk": SignedClient(client, device_id, secret, clock), "clock": clock}


def kev(w, who, kind="check_in", at=None, method="card+face", **over) -> dict:
    e = {"event_id": str(uuid.uuid4()), "person_id": w["people"][who], "lesson_id": w["lesson"].id, "kind": kind,
         "method": method, "captured_at": (at or START - timedelta(minutes=5)).isoformat()}
    if method.endswith("+face"):
        # A kiosk that checks liveness (kiosk/core/liveness.py); events without it are flagged liveness_missing.
        e.update(face_distance=0.3, face_jpeg_base64=FACE_CROP, liveness={"passed": True, "challenge": None})
    if method == "card+pin":
        e["pin_sealed"] = sealed_pin(w["device_id"], e["event_id"], e["person_id"], "135790")
    e.update(over)
    return e


def upload(w, *events) -> list[dict]:
    r = w["kiosk"].post("/api/v1/device/events", {"events": list(events)})
    assert r.status_code == 200, r.get_json()
    return r.get_json()["results"]


def flags_of(w, client, who) -> dict[str, dict]:
    r = client.get(f"/api/v1/plans/{w['lesson'].plan_id}/flags", headers=w["sup_h"])
    assert r.status_code == 200, r.get_json()
    for entry in r.get_json():
        if entry["person_id"] == w["people"][who]:
            return {f["code"]: f for f in entry["flags"]}
    return {}


def test_face_events_need_their_crop(site_world):
    w = site_world
    res = upload(w, kev(w, "a", face_jpeg_base64=None), kev(w, "b", face_jpeg_base64="bm90IGEganBlZw=="),
                 kev(w, "pin", method="card+pin"))
    assert [(r["status"], r.get("reason")) for r in res] == [
        ("rejected", "evidence_missing"), ("rejected", "evidence_invalid"), ("accepted", None)]
    assert db.session.query(FaceEvidence).count() == 0


def test_crop_stored_encrypted_and_sampled(site_world, app):
    w = site_world
    app.config["RECHECK_SAMPLE_PERCENT"] = 0
    res = upload(w, kev(w, "a"))
    assert res[0]["status"] == "accepted" and res[0]["flags"] == []
    ev = db.session.query(FaceEvidence).one()
    import base64
    assert base64.b64decode(FACE_CROP) not in ev.crop_enc      # encrypted at rest
    assert ev.state == "stored" and ev.kiosk_distance == 0.3
    app.config["RECHECK_SAMPLE_PERCENT"] = 100
    upload(w, kev(w, "b"))
    assert db.session.query(FaceEvidence).filter_by(person_id=w["people"]["b"]).one().state == "due"


@pytest.mark.parametrize("upload_after_end, heartbeat_during, flagged", [
    (timedelta(minutes=120), False, False),
    (timedelta(minutes=121), False, True),
    (timedelta(days=6), True, False),
    (timedelta(days=6), False, True),
])
def test_late_upload(site_world, upload_after_end, heartbeat_during, flagged):
    w = site_world
    if heartbeat_during:
        w["clock"].set(START + timedelta(minutes=30))
        r = w["kiosk"].post("/api/v1/device/heartbeat", {"queue_depth": 2, "clock": w["clock"]().isoformat(),
                                                         "version": "1"})
        assert r.status_code == 200
    w["clock"].set(END + upload_after_end)
    [res] = upload(w, kev(w, "a", method="card+face"))
    assert res["status"] == "accepted"
    assert ("late_upload" in res["flags"]) is flagged


@pytest.mark.parametrize("gap_s, flagged", [(1.99, True), (2.0, False)])
def test_kiosk_burst_within_an_upload(site_world, client, gap_s, flagged):
    w = site_world
    t = START - timedelta(minutes=5)
    res = upload(w, kev(w, "a", at=t), kev(w, "b", at=t + timedelta(seconds=gap_s)))
    assert [("kiosk_burst" in r["flags"]) for r in res] == [flagged, flagged]


def test_kiosk_burst_reaches_back_to_a_stored_event(site_world, client):
    w = site_world
    t = START - timedelta(minutes=5)
    [first] = upload(w, kev(w, "a", at=t))
    assert "kiosk_burst" not in first["flags"]
    [second] = upload(w, kev(w, "b", at=t + timedelta(seconds=1)))
    assert "kiosk_burst" in second["flags"]
    stored = db.session.query(AttendanceEvent).filter_by(event_id=first["event_id"]).one()
    assert db.session.query(TrustFlag).filter_by(attendance_event_id=stored.id, code="kiosk_burst").count() == 1
    assert set(flags_of(w, client, "a")) == {"kiosk_burst"}
    # a PIN entry is not a face verification: no burst
    res = upload(w, kev(w, "pin", method="card+pin", at=t + timedelta(seconds=1.5)))
    assert "kiosk_burst" not in res[0]["flags"]


def test_face_by_staff_and_never_bound(site_world, client):
    w = site_world
    res = upload(w, kev(w, "ghost"), kev(w, "a", at=START - timedelta(minutes=1)))
    assert res[0]["flags"] == ["face_by_staff", "never_bound"]
    assert res[1]["flags"] == []
    flags = flags_of(w, client, "ghost")
    assert set(flags) == {"face_by_staff", "never_bound"} and all(f["blocking"] for f in flags.values())
    assert flags["never_bound"]["event_ids"] == [db.session.query(AttendanceEvent).filter_by(
        event_id=res[0]["event_id"]).one().id]
    # once a real phone binds the person, never_bound no longer blocks; the staff-enrolled face still does
    db.session.add(WechatAccount(openid="stub-ghost", person_id=w["people"]["ghost"], created_at=START,
                                 bound_at=START))
    db.session.commit()
    assert set(flags_of(w, client, "ghost")) == {"face_by_staff"}


def test_shared_face_within_the_roster(site_world, client):
    w = site_world
    # b's template moves to within 0.39 of a's: one face enrolled for two trainees
    db.session.get(Person, w["people"]["b"]).face_template_enc = vault().encrypt_json(_template(0.39), FACE_CONTEXT)
    db.session.commit()
    upload(w, kev(w, "a"), kev(w, "b", at=START - timedelta(minutes=1)))
    fa, fb = flags_of(w, client, "a"), flags_of(w, client, "b")
    assert "shared_face" in fa and "shared_face" in fb
    assert "0.39" in fa["shared_face"]["detail"] and len(fa["shared_face"]["event_ids"]) == 1
    db.session.get(Person, w["people"]["b"]).face_template_enc = vault().encrypt_json(_template(0.41), FACE_CONTEXT)
    db.session.commit()
    assert "shared_face" not in flags_of(w, client, "a")


def test_gps_only_is_informational(site_world, client, trainee):
    w = site_world
    w["clock"].set(START - timedelta(minutes=5))
    r = client.post("/api/v1/attendance", json={
        "event_id": str(uuid.uuid4()), "lesson_id": w["lesson"].id, "kind": "check_in", "lat": w["site"].lat,
        "lon": w["site"].lon, "accuracy_m": 10, "coord_sys": "wgs84", "client_time": w["clock"]().isoformat()},
        headers=_trainee_headers(client, "a"))
    assert r.status_code == 201 and r.get_json()["flags"] == ["gps_only"], r.get_json()
    flags = flags_of(w, client, "a")
    assert flags["gps_only"]["blocking"] is False
    entry = [e for e in client.get(f"/api/v1/plans/{w['lesson'].plan_id}/flags", headers=w["sup_h"]).get_json()
             if e["person_id"] == w["people"]["a"]][0]
    assert entry["blocking"] is False


def _trainee_headers(client, who) -> dict:
    # The `trainee` fixture logged in with a random code; log in again by the bound openid.
    account = db.session.query(WechatAccount).filter(WechatAccount.person_id.isnot(None)).order_by(
        WechatAccount.id).all()
    order = {"a": 0, "b": 1, "pin": 2}
    code = account[order[who]].openid.removeprefix("stub-")
    r = client.post("/api/v1/auth/wechat", json={"code": code})
    return {"Authorization": f"Bearer {r.get_json()['access_token']}"}


def test_site_qr_scan_is_not_gps_only(site_world, client, app):
    w = site_world
    w["clock"].set(START - timedelta(minutes=5))
    token = client.get(f"/api/v1/lessons/{w['lesson'].id}/site-qr", headers=w["inst_h"]).get_json()["token"]
    body = {"lesson_id": w["lesson"].id, "kind": "check_in", "lat": w["site"].lat, "lon": w["site"].lon,
            "accuracy_m": 10, "coord_sys": "wgs84", "client_time": w["clock"]().isoformat()}
    r = client.post("/api/v1/attendance", json=dict(body, event_id=str(uuid.uuid4()), site_token=token),
                    headers=_trainee_headers(client, "a"))
    assert r.status_code == 201 and r.get_json()["flags"] == []
    # a wrong token where the QR is not required does not reject; it proves nothing either
    body["lat"] += 0.0001  # another phone: not the very same coordinates
    r = client.post("/api/v1/attendance", json=dict(body, event_id=str(uuid.uuid4()), site_token="x" * 30),
                    headers=_trainee_headers(client, "b"))
    assert r.status_code == 201 and r.get_json()["flags"] == ["gps_only"]


def test_flags_show_in_lesson_attendance_and_scope(site_world, client, staff):
    w = site_world
    upload(w, kev(w, "ghost"))
    r = client.get(f"/api/v1/lessons/{w['lesson'].id}/attendance", headers=w["sup_h"])
    row = [t for t in r.get_json()["trainees"] if t["person_id"] == w["people"]["ghost"]][0]
    assert {"face_by_staff", "never_bound"} <= set(row["flags"])
    _, other_inst = staff("institution")
    assert client.get(f"/api/v1/plans/{w['lesson'].plan_id}/flags", headers=other_inst).status_code == 403
    assert client.get(f"/api/v1/plans/{w['lesson'].plan_id}/flags", headers=w["inst_h"]).status_code == 200
    _, far = staff("supervisor", region_code="3502")
    assert client.get(f"/api/v1/plans/{w['lesson'].plan_id}/flags", headers=far).status_code == 403


def test_face_events_without_a_passed_liveness_check_are_held_for_review(site_world, client):
    """Failed or absent liveness is a blocking flag, not a rejection (kiosks from before the check keep working)."""
    w = site_world
    res = upload(w, kev(w, "a", liveness={"passed": False, "challenge": "turn_left"}),
                 kev(w, "b", liveness=None),
                 kev(w, "pin", method="card+pin", liveness=None),
                 kev(w, "ghost", at=START - timedelta(minutes=1), liveness={"passed": True, "challenge": "turn_right"}))
    assert [r["status"] for r in res] == ["accepted"] * 4
    assert "liveness_failed" in res[0]["flags"] and "liveness_missing" not in res[0]["flags"]
    assert "liveness_missing" in res[1]["flags"] and "liveness_failed" not in res[1]["flags"]
    assert not {"liveness_failed", "liveness_missing"} & set(res[2]["flags"] + res[3]["flags"])  # PIN; passed
    row = db.session.query(AttendanceEvent).filter_by(event_id=res[0]["event_id"]).one()
    assert row.details["liveness"] == {"passed": False, "challenge": "turn_left"}
    failed, missing = flags_of(w, client, "a")["liveness_failed"], flags_of(w, client, "b")["liveness_missing"]
    assert failed["blocking"] and missing["blocking"]
    assert failed["detail"].startswith("考勤机活体检测未通过") and missing["event_ids"]


@pytest.mark.parametrize("liveness", [{"passed": "yes"}, {"passed": True, "challenge": 3}, ["passed"], True])
def test_a_malformed_liveness_is_a_malformed_event(site_world, liveness):
    w = site_world
    [res] = upload(w, kev(w, "a", liveness=liveness))
    assert (res["status"], res["reason"]) == ("rejected", "invalid_event")


def test_the_manifest_marks_people_kiosks_should_challenge(site_world):
    """Kiosks ask a liveness challenge of people with a fact behind a trust flag (here: never bound, face by staff)."""
    w = site_world
    r = w["kiosk"].get(f"/api/v1/device/manifest?date={START.date().isoformat()}")
    assert r.status_code == 200, r.get_json()
    flagged = {p["person_id"]: p["flagged"] for p in r.get_json()["people"]}
    people = w["people"]
    assert flagged == {people["a"]: False, people["b"]: False, people["ghost"]: True, people["pin"]: False}
