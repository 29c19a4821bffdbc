"""A supervisor undoes a wrong binding: scope, what is cleared (PIN, self-enrolled face, typed phone),
what stays (a staff-enrolled face, the recorded phone), the audit entry, and the real person binding after."""
from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from backend.extensions import db
from backend.models import AuditEntry, Enrollment, Person, TrainingPlan, WechatAccount
from tests.api.plan_helpers import NOW, make_person
from tests.api.test_faces_api import photos  # noqa: F401 - pytest fixture
from tests.api.test_identity_binding import ON_RECORD, TYPED, bind, error, login
from tests.conftest import make_id_number, sent_sms_code

API = "/api/v1"


def _person(pid: int) -> Person:
    db.session.expire_all()
    person = db.session.get(Person, pid)
    db.session.commit()
    return person


def _bind_with_code(client, headers, id_number: str) -> int:
    assert error(bind(client, headers, id_number))[:2] == (409, "verification_required")
    r = bind(client, headers, id_number, sms_code=sent_sms_code(ON_RECORD))
    assert r.status_code == 200, r.get_json()
    return r.get_json()["id"]


def _unbind(client, headers, pid: int, reason: str = "陌生人冒用身份绑定，本人到窗口核实"):
    return client.post(f"{API}/persons/{pid}/unbind", headers=headers, json={"reason": reason})


@pytest.fixture
def wrongly_bound(client, clock):
    """A recorded person (Fuzhou household) bound by a stranger who then set a PIN."""
    clock.set(NOW)
    id_number = make_id_number("350102", seq="401")
    make_person("王芳", id_number, ON_RECORD)
    stranger = login(client, "stranger")
    pid = _bind_with_code(client, stranger, id_number)
    assert client.put(f"{API}/me/pin", headers=stranger, json={"pin": "258013"}).status_code == 200
    return pid, id_number, stranger


@pytest.mark.parametrize("role, region, status", [
    ("supervisor", "3501", 200), ("supervisor", "350102", 200), ("supervisor", "3502", 403),
    ("admin", None, 200), ("institution", None, 403),
])
def test_who_may_unbind(client, staff, wrongly_bound, role, region, status):
    pid, _, _ = wrongly_bound
    _, headers = staff(role, region_code=region) if region else staff(role)
    r = _unbind(client, headers, pid)
    assert r.status_code == status, r.get_json()
    bound = db.session.execute(select(WechatAccount.id).where(WechatAccount.person_id == pid)).scalar()
    db.session.commit()
    assert (bound is None) == (status == 200)


def test_unbind_clears_what_the_wrong_binder_set_and_the_owner_binds(client, clock, staff, wrongly_bound, photos):  # noqa: F811
    pid, id_number, stranger = wrongly_bound
    assert client.put(f"{API}/me/face", headers=stranger, json={"image_base64": photos["face"], "consent": True}
                      ).status_code == 200
    assert _person(pid).face_enrolled_by == "self"
    refresh = client.post(f"{API}/auth/wechat", json={"code": "stranger"}).get_json()["refresh_token"]
    sup, sup_h = staff("supervisor", region_code="3501")
    r = _unbind(client, sup_h, pid)
    assert r.status_code == 200, r.get_json()
    view = r.get_json()
    assert view["bound"] is False and view["pin_set"] is False and view["face_enrolled"] is False
    assert view["phone"] == "139****0001" and "id_number" not in view  # staff see it masked
    person = _person(pid)
    assert (person.pin_hash, person.face_template_enc, person.face_consent_at, person.face_enrolled_by) == (None,) * 4
    assert person.phone == ON_RECORD  # the institution's phone stays
    entry = db.session.execute(select(AuditEntry).where(AuditEntry.action == "person.unbind")).scalar_one()
    db.session.commit()
    assert entry.object_id == str(pid) and entry.actor == f"supervisor:u:{sup.id}"
    assert entry.after["reason"].startswith("陌生人冒用") and entry.before["pin_set"] is True
    assert entry.before["face_enrolled_by"] == "self"
    # Nothing is bound any more: a second unbind is refused.
    assert error(_unbind(client, sup_h, pid))[:2] == (409, "not_bound")
    # The stranger's tokens no longer act as the person: credentials cannot be set again, refresh is revoked.
    assert error(client.put(f"{API}/me/pin", headers=stranger, json={"pin": "369147"}))[:2] == (403, "identity_not_bound")
    assert client.get(f"{API}/me", headers=stranger).get_json()["bound"] is False
    assert client.post(f"{API}/auth/refresh", json={"refresh_token": refresh}).status_code == 401
    again = client.post(f"{API}/auth/wechat", json={"code": "stranger"}).get_json()
    assert again["bound"] is False and again["person"] is None
    # The real person binds with the code sent to the recorded phone and sets a PIN without the old one.
    clock.advance(seconds=61)
    owner = login(client, "owner")
    assert _bind_with_code(client, owner, id_number) == pid
    assert client.put(f"{API}/me/pin", headers=owner, json={"pin": "369147"}).status_code == 200


def test_unbind_keeps_a_face_enrolled_by_staff(client, staff, wrongly_bound, photos):  # noqa: F811
    pid, _, _ = wrongly_bound
    _, sup_h = staff("supervisor", region_code="3501")
    r = client.put(f"{API}/persons/{pid}/face", headers=sup_h, json={"image_base64": photos["face"], "consent": True})
    assert r.status_code == 200
    _, admin = staff("admin")
    r = _unbind(client, admin, pid)
    assert r.status_code == 200 and r.get_json()["face_enrolled"] is True
    assert r.get_json()["face_enrolled_by"] == "supervisor"
    person = _person(pid)
    assert person.face_template_enc is not None and person.face_enrolled_by == "supervisor"
    assert person.pin_hash is None


def test_unbind_drops_a_phone_typed_while_binding(client, clock, staff):
    clock.set(NOW)
    id_number = make_id_number("350102", seq="402")
    stranger = login(client, "stranger")
    r = bind(client, stranger, id_number)  # not on record: the stranger's phone becomes the person's
    assert r.status_code == 200 and r.get_json()["phone"] == TYPED
    pid = r.get_json()["id"]
    _, sup_h = staff("supervisor", region_code="3501")
    assert _unbind(client, sup_h, pid).status_code == 200
    person = _person(pid)
    assert person.phone is None and person.phone_entered_by is None
    # So the real person is not sent to the stranger's phone: the provider check alone binds.
    r = bind(client, login(client, "owner"), id_number)
    assert r.status_code == 200 and r.get_json()["id"] == pid


def test_supervisor_of_a_plan_region_may_unbind(client, clock, staff, make_institution):
    """A Xiamen household enrolled in a Fuzhou plan: the Fuzhou supervisor covers the person."""
    clock.set(NOW)
    id_number = make_id_number("350203", seq="403")
    stranger = login(client, "stranger")
    pid = bind(client, stranger, id_number).get_json()["id"]
    inst = make_institution("350102")
    plan = TrainingPlan(institution_id=inst.id, region_code="350102", title="电工", occupation_code="x",
                        plan_type="pre_job", delivery="offline", starts_on=date(2026, 3, 10),
                        ends_on=date(2026, 3, 20), status="approved", created_at=NOW)
    db.session.add(plan)
    db.session.flush()
    db.session.add(Enrollment(plan_id=plan.id, person_id=pid, created_at=NOW))
    db.session.commit()
    _, ningde = staff("supervisor", region_code="3509")
    assert _unbind(client, ningde, pid).status_code == 403
    _, fuzhou = staff("supervisor", region_code="3501")
    assert _unbind(client, fuzhou, pid).status_code == 200


@pytest.mark.parametrize("body", [{}, {"reason": ""}, {"reason": "   "}, {"reason": 5}, {"reason": "x" * 1001}])
def test_unbind_needs_a_reason(client, staff, wrongly_bound, body):
    pid, _, _ = wrongly_bound
    _, admin = staff("admin")
    r = client.post(f"{API}/persons/{pid}/unbind", headers=admin, json=body)
    assert error(r)[:2] == (422, "validation_error")
    assert client.post(f"{API}/persons/99999/unbind", headers=admin, json={"reason": "x"}).status_code == 404
