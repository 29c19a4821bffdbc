"""Face enrolment over HTTP (consent, no_face, multiple_faces, encrypted template) and face-checked claims."""
from __future__ import annotations

import base64
import io
from datetime import date

import numpy as np
import pytest
from PIL import Image
from skimage import data
from sqlalchemy import select

from backend import faces
from backend.extensions import db
from backend.models import AuditEntry, Enrollment, Person, TrainingPlan, Voucher
from backend.security.crypto import vault
from backend.services.persons import FACE_CONTEXT
from tests.api.test_vouchers import API, T0, error, publish, sup  # noqa: F401 - publish, sup: pytest fixtures


def _b64(rgb, fmt="JPEG") -> str:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format=fmt)
    return base64.b64encode(buf.getvalue()).decode()


@pytest.fixture(scope="module")
def photos():
    """Base64 photos computed once: the astronaut (JPEG and PNG), two astronauts, and no face at all."""
    face = data.astronaut()
    return {"face": _b64(face), "face_png": _b64(face, "PNG"), "two": _b64(np.concatenate([face, face], axis=1)),
            "none": _b64(np.full((256, 256, 3), 128, dtype=np.uint8))}


@pytest.fixture(scope="module")
def template():
    """The astronaut's template, computed once for tests that store it directly."""
    return faces.enroll_template(data.astronaut())


def _person(pid) -> Person:
    db.session.expire_all()
    person = db.session.get(Person, pid)
    db.session.commit()
    return person


def test_enrol_and_withdraw_own_face(client, clock, trainee, photos):
    clock.set(T0)
    pid, t = trainee()
    r = client.put(f"{API}/me/face", json={"image_base64": photos["face"]}, headers=t)
    assert r.status_code == 422 and error(r) == "consent_required"
    r = client.put(f"{API}/me/face", json={"image_base64": photos["none"], "consent": True}, headers=t)
    assert r.status_code == 422 and error(r) == "no_face"
    r = client.put(f"{API}/me/face", json={"image_base64": photos["two"], "consent": True}, headers=t)
    assert r.status_code == 422 and error(r) == "multiple_faces"
    r = client.put(f"{API}/me/face", json={"image_base64": "bm90IGFuIGltYWdl", "consent": True}, headers=t)
    assert r.status_code == 422 and error(r) == "validation_error"
    assert _person(pid).face_template_enc is None

    r = client.put(f"{API}/me/face", json={"image_base64": photos["face_png"], "consent": True}, headers=t)
    assert r.status_code == 200 and r.get_json() == {"enrolled": True}
    person = _person(pid)
    assert person.face_consent_at == T0
    stored = vault().decrypt_json(person.face_template_enc, FACE_CONTEXT)
    assert len(stored) == 128 and all(isinstance(x, float) for x in stored)
    assert f"{stored[0]:.6f}".encode() not in person.face_template_enc  # encrypted, not JSON at rest
    assert client.get(f"{API}/me", headers=t).get_json()["person"]["face_enrolled"] is True

    r = client.delete(f"{API}/me/face", headers=t)
    assert r.status_code == 200 and r.get_json() == {"enrolled": False}
    person = _person(pid)
    assert person.face_template_enc is None and person.face_consent_at is None
    actions = db.session.execute(select(AuditEntry.action).where(AuditEntry.object_type == "person")).scalars().all()
    db.session.commit()
    assert actions == ["person.face_enroll", "person.face_withdraw"]

    _, unbound = trainee(bind=False)
    r = client.put(f"{API}/me/face", json={"image_base64": photos["face"], "consent": True}, headers=unbound)
    assert r.status_code == 403 and error(r) == "identity_not_bound"


def test_institution_enrols_only_people_on_its_roster(client, clock, staff, trainee, make_institution, photos):
    clock.set(T0)
    pid, _ = trainee()
    inst = make_institution("350102")
    _, desk = staff("institution", institution=inst)
    body = {"image_base64": photos["face"], "consent": True}
    r = client.put(f"{API}/persons/{pid}/face", json=body, headers=desk)
    assert r.status_code == 403
    plan = TrainingPlan(institution_id=inst.id, region_code=inst.region_code, title="电工", occupation_code="x",
                        plan_type="pre_job", delivery="offline", starts_on=date(2025, 4, 1), ends_on=date(2025, 4, 2),
                        status="approved", created_at=T0)
    db.session.add(plan)
    db.session.flush()
    db.session.add(Enrollment(plan_id=plan.id, person_id=pid, created_at=T0))
    db.session.commit()
    r = client.put(f"{API}/persons/{pid}/face", json=dict(body, consent=False), headers=desk)
    assert r.status_code == 422 and error(r) == "consent_required"
    r = client.put(f"{API}/persons/{pid}/face", json=body, headers=desk)
    assert r.status_code == 200 and _person(pid).face_template_enc is not None

    _, xiamen = staff("supervisor", region_code="3502")
    assert client.put(f"{API}/persons/{pid}/face", json=body, headers=xiamen).status_code == 403
    _, fuzhou = staff("supervisor", region_code="3501")
    assert client.put(f"{API}/persons/{pid}/face", json=body, headers=fuzhou).status_code == 200
    assert client.put(f"{API}/persons/99999/face", json=body, headers=fuzhou).status_code == 404


def test_claim_with_face_verification(client, sup, publish, trainee, photos, template):  # noqa: F811
    bid = publish(claim_requires_face=True)
    pid, t = trainee()
    listing = client.get(f"{API}/voucher-batches", headers=t).get_json()
    assert listing[0]["ineligible_reasons"] == ["face_not_enrolled"]
    r = client.post(f"{API}/voucher-batches/{bid}/claims", json={"face_image_base64": photos["face"]}, headers=t)
    assert r.status_code == 403 and error(r) == "face_not_enrolled"

    person = _person(pid)
    # Someone else's template: the astronaut's encoding shifted far beyond the 0.5 threshold.
    person.face_template_enc = vault().encrypt_json([x + 0.1 for x in template], FACE_CONTEXT)
    db.session.commit()
    r = client.post(f"{API}/voucher-batches/{bid}/claims", json={"face_image_base64": photos["face"]}, headers=t)
    assert r.status_code == 403 and error(r) == "face_mismatch"

    person = _person(pid)
    person.face_template_enc = vault().encrypt_json(template, FACE_CONTEXT)
    db.session.commit()
    r = client.post(f"{API}/voucher-batches/{bid}/claims", json={}, headers=t)
    assert r.status_code == 422 and "face_image_base64" in r.get_json()["error"]["details"]["fields"]
    r = client.post(f"{API}/voucher-batches/{bid}/claims", json={"face_image_base64": photos["none"]}, headers=t)
    assert r.status_code == 422 and error(r) == "no_face"
    assert db.session.execute(select(Voucher.id)).first() is None
    db.session.commit()
    r = client.post(f"{API}/voucher-batches/{bid}/claims", json={"face_image_base64": photos["face"]}, headers=t)
    assert r.status_code == 201, r.get_json()


@pytest.fixture
def face_work_order(monkeypatch):
    """Record when face detection runs ("face") and when a database transaction begins ("begin")."""
    from sqlalchemy import event
    order: list[str] = []
    detect = faces.detect_faces

    def spy(*a, **kw):
        order.append("face")
        return detect(*a, **kw)

    def on_begin(*_):
        order.append("begin")

    monkeypatch.setattr(faces, "detect_faces", spy)
    db.session.commit()
    db.session.close()
    event.listen(db.engine, "begin", on_begin)
    yield order
    event.remove(db.engine, "begin", on_begin)


def test_the_face_work_holds_no_transaction(client, trainee, photos, face_work_order):
    """On SQLite every transaction takes the write lock: ~0.3 s of face detection inside one stalls check-ins."""
    trainee(code="face-order")
    # A token issued after binding names the person, so the gate needs no lookup.
    token = client.post(f"{API}/auth/wechat", json={"code": "face-order"}).get_json()["access_token"]
    h = {"Authorization": f"Bearer {token}"}
    db.session.commit()
    db.session.close()
    face_work_order.clear()
    r = client.put(f"{API}/me/face", json={"image_base64": photos["face"], "consent": True}, headers=h)
    assert r.status_code == 200, r.get_json()
    assert face_work_order[0] == "face" and "begin" in face_work_order, face_work_order
