"""Face evidence re-verified on the server: a crop that is not the person's face flags the event and holds its
hours; every crop of a flagged person is looked at; a second run changes nothing; crops go once settled."""
from __future__ import annotations

import base64
from datetime import timedelta

import numpy as np
import pytest
from flask import current_app
from skimage import data

from backend import faces
from backend.extensions import db
from backend.models import FaceEvidence, LiveEvent, Person, SubsidyClaim, TrainingPlan, TrustFlag
from backend.security.crypto import vault
from backend.services import evidence
from backend.services.persons import FACE_CONTEXT
from tests.api.test_trust_flags import END, START, kev, site_world, upload  # noqa: F401 - fixture


@pytest.fixture
def app_config(app_config):
    """Long-lived access tokens: these tests move the clock past the lesson."""
    app_config["ACCESS_TOKEN_MINUTES"] = 60 * 24 * 30
    return app_config


@pytest.fixture(scope="module")
def astronaut():
    """A real face photo (scikit-image, public domain), its template and the kiosk's crop of it."""
    frame = data.astronaut()
    box = faces.detect_faces(frame)[0]
    return {"template": faces.encode_face(frame, box),
            "crop": base64.b64encode(faces.crop_jpeg(frame, box)).decode()}


def _set_template(pid: int, template) -> None:
    db.session.get(Person, pid).face_template_enc = vault().encrypt_json(list(template), FACE_CONTEXT)
    db.session.commit()


def _hours(client, w, who) -> float:
    r = client.get(f"/api/v1/plans/{w['lesson'].plan_id}/hours", headers=w["inst_h"])
    return [t for t in r.get_json()["trainees"] if t["person_id"] == w["people"][who]][0]["total_hours"]


def test_the_kiosk_crop_of_the_real_face_passes(site_world, astronaut, app, client):
    w = site_world
    app.config["RECHECK_SAMPLE_PERCENT"] = 100
    _set_template(w["people"]["a"], astronaut["template"])
    w["clock"].set(END + timedelta(minutes=10))
    upload(w, kev(w, "a", face_jpeg_base64=astronaut["crop"], at=START - timedelta(minutes=5)),
           kev(w, "a", kind="check_out", face_jpeg_base64=astronaut["crop"], at=END + timedelta(minutes=5)))
    assert evidence.recheck_due(w["clock"](), current_app.config["FACE_MATCH_THRESHOLD"]) == {"passed": 2}
    db.session.expire_all()
    rows = db.session.query(FaceEvidence).all()
    assert {r.state for r in rows} == {"passed"} and all(r.server_distance < 0.5 for r in rows)
    assert db.session.query(TrustFlag).count() == 0
    assert _hours(client, w, "a") == 3.0
    assert evidence.recheck_due(w["clock"](), current_app.config["FACE_MATCH_THRESHOLD"]) == {}      # nothing left: a second sweep does nothing


def test_a_crop_of_someone_else_flags_and_holds_the_hours(site_world, astronaut, app, client):
    w = site_world
    app.config["RECHECK_SAMPLE_PERCENT"] = 100
    w["clock"].set(END + timedelta(minutes=10))
    # person a's template is not the astronaut: the kiosk claims 0.21 on someone else's face
    upload(w, kev(w, "a", face_jpeg_base64=astronaut["crop"], face_distance=0.21, at=START - timedelta(minutes=5)),
           kev(w, "a", kind="check_out", face_jpeg_base64=astronaut["crop"], at=END + timedelta(minutes=5)))
    assert _hours(client, w, "a") == 3.0                 # credited until the server has looked
    counts = evidence.recheck_due(w["clock"](), current_app.config["FACE_MATCH_THRESHOLD"])
    assert counts == {"failed": 2}
    flags = db.session.query(TrustFlag).filter_by(code="face_recheck_failed").all()
    assert len(flags) == 2 and flags[0].detail["kiosk_distance"] == 0.21 and flags[0].detail["server_distance"] > 0.5
    assert _hours(client, w, "a") == 0.0                 # held
    r = client.get(f"/api/v1/lessons/{w['lesson'].id}/attendance", headers=w["sup_h"])
    row = [t for t in r.get_json()["trainees"] if t["person_id"] == w["people"]["a"]][0]
    assert "face_recheck_failed" in row["flags"] and row["credited_hours"] == 0
    # held, not missing: the times show, the credit is 0, and no "no_check_in" flag claims it never happened
    assert "held" in row["flags"] and row["check_in_at"] and row["check_out_at"]
    assert "no_check_in" not in row["flags"] and "no_check_out" not in row["flags"]
    # the supervisors' live stream was told, as `event: flag`, with the text, the numbers and the time
    live = [e.payload for e in db.session.query(LiveEvent).order_by(LiveEvent.id) if e.payload.get("event") == "flag"]
    assert [p["code"] for p in live] == ["face_recheck_failed", "face_recheck_failed"]
    assert live[0]["detail"].startswith("服务器复核人脸不一致") and live[0]["info"]["kiosk_distance"] == 0.21
    assert live[0]["at"].endswith("+08:00") and live[0]["blocking"] is True


def test_an_unreadable_crop_is_a_failed_recheck(site_world, app):
    w = site_world
    app.config["RECHECK_SAMPLE_PERCENT"] = 100
    upload(w, kev(w, "a"))                               # a flat grey square: no face to find in it
    assert evidence.recheck_due(w["clock"](), current_app.config["FACE_MATCH_THRESHOLD"]) == {"unreadable": 1}
    flag = db.session.query(TrustFlag).one()
    assert flag.code == "face_recheck_failed" and flag.detail["reason"] == "no_face"


def test_one_failure_makes_every_crop_of_the_person_due(site_world, astronaut, app):
    w = site_world
    app.config["RECHECK_SAMPLE_PERCENT"] = 0
    _set_template(w["people"]["a"], astronaut["template"])
    w["clock"].set(END + timedelta(minutes=10))
    upload(w, kev(w, "a", face_jpeg_base64=astronaut["crop"], at=START - timedelta(minutes=5)))
    assert db.session.query(FaceEvidence).one().state == "stored"      # not sampled
    ev = db.session.query(FaceEvidence).one()
    evidence.flag_failed(ev, 0.9, None, w["clock"]())                   # another of a's events failed
    db.session.commit()
    db.session.expire_all()
    assert db.session.query(FaceEvidence).one().state == "due"


def test_a_leased_crop_is_not_taken_twice_and_an_expired_lease_is(site_world, app):
    w = site_world
    app.config["RECHECK_SAMPLE_PERCENT"] = 100
    upload(w, kev(w, "a"))
    now = w["clock"]()
    from backend.jobs import claim
    assert len(claim(FaceEvidence, evidence.DUE, now, limit=10, lease_s=120)) == 1
    assert claim(FaceEvidence, evidence.DUE, now + timedelta(seconds=119), limit=10, lease_s=120) == []  # leased
    assert len(claim(FaceEvidence, evidence.DUE, now + timedelta(seconds=121), limit=10, lease_s=120)) == 1
    db.session.expire_all()
    assert db.session.query(FaceEvidence).one().lease_until == now + timedelta(seconds=241)



def test_crops_are_deleted_once_the_claim_is_settled(site_world, app):
    w = site_world
    app.config["RECHECK_SAMPLE_PERCENT"] = 0
    upload(w, kev(w, "a"))
    plan = db.session.get(TrainingPlan, w["lesson"].plan_id)
    claim = SubsidyClaim(plan_id=plan.id, institution_id=plan.institution_id, region_code=plan.region_code,
                         status="approved", total_fen=0, explanations=[], created_at=START,
                         publicity_ends_at=START + timedelta(days=7))
    db.session.add(claim)
    db.session.commit()
    now = START + timedelta(days=8)
    assert evidence.purge_settled(now) == 0                     # approved, not yet paid: kept
    claim.status = "disbursed"
    db.session.commit()
    assert evidence.purge_settled(START + timedelta(days=6)) == 0   # still inside publicity
    assert evidence.purge_settled(now) == 1
    db.session.commit()
    db.session.expire_all()
    ev = db.session.query(FaceEvidence).one()
    assert ev.crop_enc is None and ev.purged_at is not None


def test_crops_of_plans_that_never_claim_go_with_retention(site_world, app):
    w = site_world
    app.config["RECHECK_SAMPLE_PERCENT"] = 0
    upload(w, kev(w, "a"))
    assert evidence.purge_settled(START, retention_cutoff=START - timedelta(days=1)) == 0
    assert evidence.purge_settled(START, retention_cutoff=START + timedelta(days=1)) == 1


def test_no_template_any_more_is_not_blamed_on_the_kiosk(site_world, app):
    w = site_world
    app.config["RECHECK_SAMPLE_PERCENT"] = 100
    upload(w, kev(w, "a"))
    db.session.get(Person, w["people"]["a"]).face_template_enc = None   # consent withdrawn since
    db.session.commit()
    assert evidence.recheck_due(w["clock"](), current_app.config["FACE_MATCH_THRESHOLD"]) == {"unreadable": 1}
    assert db.session.query(TrustFlag).count() == 0


def test_verdict_table(astronaut):
    crop = base64.b64decode(astronaut["crop"])
    assert evidence.verdict(crop, astronaut["template"], 0.5)[0] == "passed"
    assert evidence.verdict(crop, list(np.full(128, 0.05)), 0.5)[0] == "failed"
    assert evidence.verdict(b"\xff\xd8\xff garbage \xff\xd9", astronaut["template"], 0.5)[:1] == ("unreadable",)
