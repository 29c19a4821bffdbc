"""The forging walk of issue 12, as an institution would try it, end to end through the API.

An institution registers its own kiosk, imports invented ID numbers (valid format and check digit, nobody
behind them), enrols one stock photo as everyone's face, uploads back-dated card+face events six days after
the lessons with a self-reported face distance of 0.21, and applies for completion and money. Before the
trust work all of that was accepted and paid out with "complete, source kiosk, no flags" on the
supervisor's screen. Now: the kiosk is refused until the bureau activates it, events without their face
crop are refused, the fake hours carry blocking flags everywhere a supervisor looks, the completion cannot
be approved without a recorded decision per trainee, and money needs two independent supervisors.
"""
from __future__ import annotations

import base64
import io
import uuid
from datetime import timedelta

import pytest
from flask import current_app
from PIL import Image
from skimage import data

from backend import faces
from backend.extensions import db
from backend.models import AuditEntry, Certificate, Enrollment, SubsidyClaim, TrainingPlan
from backend.services import evidence
from tests.api.device_helpers import SignedClient
from tests.api.plan_helpers import NOW, add_lesson, err, make_plan, make_site, post, sh
from tests.conftest import make_id_number

API = "/api/v1"
BLOCKING = {"face_by_staff", "kiosk_burst", "late_upload", "never_bound", "shared_face"}


@pytest.fixture
def app_config(app_config):
    """Staff tokens that outlive the days this walk spans (the clock moves a week)."""
    app_config["ACCESS_TOKEN_MINUTES"] = 60 * 24 * 30
    app_config["RECHECK_SAMPLE_PERCENT"] = 0  # flagged people are re-verified anyway
    return app_config


def filed_plan(client, inst_h, sup_h, site_id: int, trainees: list[dict], lessons: int) -> dict:
    """A plan with its roster imported before filing (as the rules ask), submitted and approved."""
    plan = make_plan(client, inst_h)
    for i in range(lessons):
        add_lesson(client, inst_h, plan["id"], day=10 + i, site_id=site_id)
    r = client.post(f"{API}/plans/{plan['id']}/roster", json={"trainees": trainees}, headers=inst_h)
    assert r.status_code == 200 and r.get_json()["imported"] == len(trainees), r.get_json()
    assert post(client, f"/plans/{plan['id']}/submit", inst_h).status_code == 200
    assert post(client, f"/plans/{plan['id']}/approve", sup_h).status_code == 200
    return plan


@pytest.fixture(scope="module")
def stock_photo():
    """One stock photo (scikit-image's astronaut) as the enrolment JPEG and as the kiosk's face crop."""
    frame = data.astronaut()
    buf = io.BytesIO()
    Image.fromarray(frame).save(buf, format="JPEG", quality=90)
    crop = faces.crop_jpeg(frame, faces.detect_faces(frame)[0])
    return {"photo": base64.b64encode(buf.getvalue()).decode(), "crop": base64.b64encode(crop).decode()}


def test_an_institution_alone_cannot_turn_invented_attendance_into_money(client, clock, staff, make_institution,
                                                                         stock_photo):
    clock.set(NOW)
    inst = make_institution("350102")
    _, inst_h = staff("institution", institution=inst)
    sup1, sup1_h = staff("supervisor", region_code="3501")
    _, sup2_h = staff("supervisor", region_code="3501")
    site = make_site(client, inst_h)
    # Invented trainees: only the format and the check digit of their ID numbers are real.
    invented = [{"name": name, "id_number": make_id_number("350102", "19900101", seq), "phone": f"1390000000{i}"}
                for i, (name, seq) in enumerate((("甲某", "701"), ("乙某", "702"), ("丙某", "703")))]
    plan = filed_plan(client, inst_h, sup1_h, site["id"], invented, lessons=2)
    lessons = client.get(f"{API}/plans/{plan['id']}/lessons", headers=inst_h).get_json()
    lesson_ids = [le["id"] for le in lessons]
    people = sorted(db.session.execute(db.select(Enrollment.person_id).where(
        Enrollment.plan_id == plan["id"])).scalars())

    # 1. Its own kiosk takes nothing until the bureau activates it.
    r = client.post(f"{API}/devices", json={"name": "机构自备考勤机", "site_id": site["id"]}, headers=inst_h)
    assert r.get_json()["status"] == "pending"
    kiosk = SignedClient(client, r.get_json()["device_id"], r.get_json()["secret"], clock)
    r = kiosk.get(f"{API}/device/manifest")
    assert (r.status_code, err(r)) == (403, "device_not_active")
    assert client.post(f"{API}/devices/{kiosk.device_id}/activate", headers=inst_h).status_code == 403
    # (The bureau checks the kiosk is at the site and activates it; the rest of the walk goes on from there.)
    assert client.post(f"{API}/devices/{kiosk.device_id}/activate", headers=sup1_h).status_code == 200

    # 2. One stock photo enrolled as everyone's face, "consent collected in person".
    for pid in people:
        r = client.put(f"{API}/persons/{pid}/face", json={"image_base64": stock_photo["photo"], "consent": True},
                       headers=inst_h)
        assert r.status_code == 200, r.get_json()

    # 3. Back-dated card+face uploads, six days after the first lesson, claiming a 0.21 match; the kiosk sent
    # no heartbeat while the lessons ran, and "verified" one face per second.
    clock.set(sh(16, 10))
    events = []
    for lesson in lessons:
        starts = sh(int(lesson["starts_at"][8:10]), 9)
        for n, pid in enumerate(people):
            for kind, at in (("check_in", starts - timedelta(minutes=5)), ("check_out", starts + timedelta(hours=3, minutes=5))):
                events.append({"event_id": str(uuid.uuid4()), "person_id": pid, "lesson_id": lesson["id"],
                               "kind": kind, "method": "card+face", "face_distance": 0.21,
                               "captured_at": (at + timedelta(seconds=n)).isoformat()})
    res = kiosk.post(f"{API}/device/events", {"events": events}).get_json()["results"]
    assert {(x["status"], x.get("reason")) for x in res} == {("rejected", "evidence_missing")}
    events = [dict(e, event_id=str(uuid.uuid4()), face_jpeg_base64=stock_photo["crop"]) for e in events]
    res = kiosk.post(f"{API}/device/events", {"events": events}).get_json()["results"]
    assert {x["status"] for x in res} == {"accepted"}
    assert all(BLOCKING <= set(x["flags"]) for x in res), res

    # 4. What the supervisor sees: complete by kiosk, and every blocking flag on every trainee.
    for lesson_id in lesson_ids:
        view = client.get(f"{API}/lessons/{lesson_id}/attendance", headers=sup1_h).get_json()
        for t in view["trainees"]:
            assert t["status"] == "complete" and t["sources"] == ["kiosk"]
            assert BLOCKING <= set(t["flags"]), t
    flags = client.get(f"{API}/plans/{plan['id']}/flags", headers=sup1_h).get_json()
    assert [f["person_id"] for f in flags] == people
    assert all(f["blocking"] and BLOCKING <= {x["code"] for x in f["flags"]} for f in flags)
    # The server's re-verification confirms the crops match the enrolled stock photo: it cannot catch this
    # forgery alone (the photo is both), which is why the flags above exist.
    assert evidence.recheck_due(clock(), current_app.config["FACE_MATCH_THRESHOLD"]) == {"passed": len(events)}

    # 5. Results and the completion application.
    results = [{"person_id": pid, "score": 95, "passed": True} for pid in people]
    assert client.post(f"{API}/plans/{plan['id']}/results", json={"results": results}, headers=inst_h).status_code == 200
    assert client.post(f"{API}/plans/{plan['id']}/completion", headers=inst_h).status_code == 200

    # 6. No approval without a decision per flagged trainee; nothing is issued meanwhile.
    r = client.post(f"{API}/plans/{plan['id']}/completion/approve", headers=sup1_h)
    assert (r.status_code, err(r)) == (409, "decisions_required")
    assert r.get_json()["error"]["details"]["person_ids"] == people
    r = client.post(f"{API}/plans/{plan['id']}/completion/approve", headers=sup1_h,
                    json={"decisions": [{"person_id": people[0], "accept": False, "reason": "同一人脸"}]})
    assert (r.status_code, err(r)) == (409, "decisions_required")
    assert r.get_json()["error"]["details"]["person_ids"] == people[1:]
    db.session.expire_all()
    assert db.session.get(TrainingPlan, plan["id"]).status == "completion_submitted"
    assert db.session.query(Certificate).count() == 0 and db.session.query(SubsidyClaim).count() == 0

    # 7. The supervisor excludes all three: no certificate, no line, no money; every decision audited.
    decisions = [{"person_id": pid, "accept": False, "reason": "多人共用同一人脸，课后六天集中补传"} for pid in people]
    r = client.post(f"{API}/plans/{plan['id']}/completion/approve", json={"decisions": decisions}, headers=sup1_h)
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body["certificates_issued"] == 0 and body["excluded"] == people
    claim = client.get(f"{API}/subsidy-claims/{body['subsidy_claim_id']}", headers=sup1_h).get_json()
    assert claim["total_fen"] == 0 and claim["lines"] == []
    assert {e["person_id"]: e["reasons"] for e in claim["explanations"]} == {pid: ["excluded"] for pid in people}
    assert [(d["person_id"], d["accept"]) for d in claim["decisions"]] == [(pid, False) for pid in people]
    audited = db.session.query(AuditEntry).filter_by(action="plan.completion_decision").all()
    assert sorted(a.after["person_id"] for a in audited) == people
    assert all(set(a.after["flags"]) >= BLOCKING for a in audited)

    # 8. And money never moves on one supervisor's word: no second account of one's own, no self-disbursement.
    r = client.post(f"{API}/users", json={"username": "sup1-second", "password": "long-enough-pw-1",
                                          "role": "supervisor", "region_code": "3501"}, headers=sup1_h)
    assert r.status_code == 403
    claim_id = body["subsidy_claim_id"]
    assert client.post(f"{API}/subsidy-claims/{claim_id}/approve", headers=sup1_h).status_code == 200
    clock.set(sh(30, 10))
    r = client.post(f"{API}/subsidy-claims/{claim_id}/disburse", headers=sup1_h)
    assert (r.status_code, err(r)) == (409, "same_approver")
    r = client.post(f"{API}/subsidy-claims/{claim_id}/disburse", headers=sup2_h)
    assert r.status_code == 200 and r.get_json()["total_fen"] == 0


def test_an_accepted_trainee_is_paid_only_with_the_decision_on_record(client, clock, staff, make_institution):
    """The same flags, but the supervisor verified one trainee in person: that one is paid, the decision shown."""
    clock.set(NOW)
    inst = make_institution("350102")
    _, inst_h = staff("institution", institution=inst)
    _, sup1_h = staff("supervisor", region_code="3501")
    site = make_site(client, inst_h)
    trainees = [{"name": "丁某", "id_number": make_id_number("350102", "19920202", "801"), "phone": "13900000011"}]
    plan = filed_plan(client, inst_h, sup1_h, site["id"], trainees, lessons=1)
    [pid] = db.session.execute(db.select(Enrollment.person_id).where(Enrollment.plan_id == plan["id"])).scalars()
    r = client.post(f"{API}/devices", json={"name": "1号机", "site_id": site["id"]}, headers=inst_h)
    kiosk = SignedClient(client, r.get_json()["device_id"], r.get_json()["secret"], clock)
    client.post(f"{API}/devices/{kiosk.device_id}/activate", headers=sup1_h)
    from backend.domain.pins import hash_pin
    from backend.models import Person
    db.session.get(Person, pid).pin_hash = hash_pin("135790", iterations=1000)
    db.session.commit()
    clock.set(sh(10, 12, 30))
    evs = [{"event_id": str(uuid.uuid4()), "person_id": pid, "lesson_id": None, "kind": k, "method": "card+pin",
            "captured_at": at.isoformat()} for k, at in (("check_in", sh(10, 8, 55)), ("check_out", sh(10, 12, 5)))]
    lesson_id = client.get(f"{API}/plans/{plan['id']}/lessons", headers=inst_h).get_json()[0]["id"]
    from tests.api.device_helpers import sealed_pin
    evs = [dict(e, lesson_id=lesson_id, pin_sealed=sealed_pin(kiosk.device_id, e["event_id"], pid, "135790"))
           for e in evs]
    res = kiosk.post(f"{API}/device/events", {"events": evs}).get_json()
    assert [x["flags"] for x in res["results"]] == [["never_bound"], ["never_bound"]]
    client.post(f"{API}/plans/{plan['id']}/results", json={"results": [{"person_id": pid, "score": 90, "passed": True}]},
                headers=inst_h)
    assert client.post(f"{API}/plans/{plan['id']}/completion", headers=inst_h).status_code == 200
    r = client.post(f"{API}/plans/{plan['id']}/completion/approve", headers=sup1_h, json={
        "decisions": [{"person_id": pid, "accept": True, "reason": "本人无智能手机，已电话及现场核实"}]})
    assert r.status_code == 200 and r.get_json()["certificates_issued"] == 1, r.get_json()
    claim = client.get(f"{API}/subsidy-claims/{r.get_json()['subsidy_claim_id']}", headers=sup1_h).get_json()
    assert [line["person_id"] for line in claim["lines"]] == [pid] and claim["total_fen"] > 0
    [decision] = claim["decisions"]
    assert decision["accept"] is True and decision["reason"].startswith("本人无智能手机") and decision["flags"] == [
        "never_bound"]
    assert set(decision) == {"person_id", "name", "accept", "reason", "flags", "decided_by", "decided_by_username",
                             "decided_at"}
    assert decision["decided_by_username"] and decision["decided_at"].endswith("+00:00")
    assert set(claim["lines"][0]) == {
        "person_id", "name", "credited_hours", "voucher_code", "amount_fen", "capped", "limited_by", "payee",
        "line_type", "year", "attended_days", "basis", "explanation", "certificate_revoked", "revoked_certificate",
        "revoked_reason"}


def test_a_stranger_with_a_name_and_an_id_number_cannot_take_the_trainee_over(client, clock, staff, make_institution):
    """The last part of the walk: someone who knows a rostered trainee's name and ID number (not their phone)."""
    clock.set(NOW)
    inst = make_institution("350102")
    _, inst_h = staff("institution", institution=inst)
    _, sup_h = staff("supervisor", region_code="3501")
    site = make_site(client, inst_h)
    real = {"name": "戊某", "id_number": make_id_number("350102", "19880808", "811"), "phone": "13900000021"}
    filed_plan(client, inst_h, sup_h, site["id"], [real], lessons=1)

    def wechat(code: str) -> dict:
        r = client.post(f"{API}/auth/wechat", json={"code": code})
        return {"Authorization": f"Bearer {r.get_json()['access_token']}"}

    stranger = wechat("stranger-phone")
    attempt = {"name": real["name"], "id_number": real["id_number"], "phone": "13700000099"}
    r = client.post(f"{API}/me/identity", json=attempt, headers=stranger)
    assert (r.status_code, err(r)) == (409, "verification_required")
    body = r.get_data(as_text=True)
    # nothing the institution entered comes back: no full ID number, no phone, only the masked phone
    assert real["id_number"] not in body and real["phone"] not in body
    assert r.get_json()["error"]["details"]["phone_masked"] == "139****0021"
    # the code went to the recorded phone, not to the phone the stranger typed
    from backend.models import SmsMessage
    assert [m.phone for m in db.session.query(SmsMessage)] == [real["phone"]]
    # the stranger cannot guess it: five wrong tries and the code is dead even for the right digits
    from tests.conftest import sent_sms_code
    right = sent_sms_code(real["phone"])
    wrong = [f"{(int(right) + n) % 1_000_000:06d}" for n in range(1, 6)]
    for code in wrong:
        r = client.post(f"{API}/me/identity", json=dict(attempt, sms_code=code), headers=stranger)
        assert (r.status_code, err(r)) == (422, "invalid_code")
    r = client.post(f"{API}/me/identity", json=dict(attempt, sms_code=right), headers=stranger)
    assert (r.status_code, err(r)) == (422, "invalid_code")
    # still unbound: no PIN can be set, nothing of the person can be read
    assert client.put(f"{API}/me/pin", json={"pin": "258013"}, headers=stranger).status_code == 403
    assert client.get(f"{API}/me", headers=stranger).get_json()["bound"] is False
    # the real person, with the phone in hand, binds (after the resend window, a fresh code is sent)
    clock.set(NOW + timedelta(minutes=2))
    owner = wechat("owner-phone")
    r = client.post(f"{API}/me/identity", json=real, headers=owner)
    assert (r.status_code, err(r)) == (409, "verification_required")
    r = client.post(f"{API}/me/identity", json=dict(real, sms_code=sent_sms_code(real["phone"])), headers=owner)
    assert r.status_code == 200 and r.get_json()["id_number"] == real["id_number"]
