"""Who may enrol a face for someone else: institutions only for active trainees without a template."""
from __future__ import annotations

from backend.extensions import db
from backend.models import Enrollment, Person
from backend.security.crypto import vault
from backend.services.persons import FACE_CONTEXT
from tests.api.plan_helpers import API, make_person, roster_world
from tests.conftest import make_id_number

BODY = {"image_base64": "AAAA", "consent": True}  # never decoded: the scope check comes first


def test_institution_cannot_replace_or_reach_past_trainees(client, clock, staff, make_institution):
    w = roster_world(clock, staff, client, make_institution)
    person = make_person("张三", make_id_number(seq="404"))
    enrol = Enrollment(plan_id=w["plan"]["id"], person_id=person.id, status="active", eligible=True, reasons=[],
                       groups=[], created_at=clock())
    db.session.add(enrol)
    person.face_template_enc = vault().encrypt_json([0.2] * 128, FACE_CONTEXT)
    db.session.commit()
    r = client.put(f"{API}/persons/{person.id}/face", json=BODY, headers=w["inst_h"])
    assert r.status_code == 409 and r.get_json()["error"]["code"] == "face_already_enrolled"
    # withdrawn from the roster: no longer the institution's trainee
    enrol.status = "withdrawn"
    db.session.get(Person, person.id).face_template_enc = None
    db.session.commit()
    r = client.put(f"{API}/persons/{person.id}/face", json=BODY, headers=w["inst_h"])
    assert r.status_code == 403
    # active again and without a template: the staff may enrol (the photo itself is then checked)
    enrol.status = "active"
    db.session.commit()
    r = client.put(f"{API}/persons/{person.id}/face", json=BODY, headers=w["inst_h"])
    assert r.status_code == 422 and r.get_json()["error"]["details"]["field"] == "image_base64"
