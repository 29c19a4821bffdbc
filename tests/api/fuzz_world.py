"""A small populated world for schema-driven fuzzing: one of each object, so generated ids resolve.

Built on the outcomes fixtures (a completed plan with certificates and an approved subsidy claim), plus
a draft plan, a claimed voucher, a pending make-up, an open objection and two kiosks (one active for
the fuzzing, one the staff operations may activate or revoke).
"""
from __future__ import annotations

from types import SimpleNamespace

from backend.extensions import db
from backend.models import Device, Enrollment, MakeupRequest
from tests.api.device_helpers import activate
from tests.api.outcomes_fixtures import API, complete_and_approve, give_voucher, lessons_of, make_plan, sh


def _register_device(client, inst_h, site_id: int, name: str) -> dict:
    r = client.post(f"{API}/devices", json={"name": name, "site_id": site_id}, headers=inst_h)
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def build(client, clock, staff, w) -> SimpleNamespace:
    """Populate on top of the outcomes `world`; returns role headers, the kiosk and id pools per path parameter."""
    result = complete_and_approve(client, clock, w)
    claim_id = result["subsidy_claim_id"]
    assert client.post(f"{API}/subsidy-claims/{claim_id}/approve", headers=w.sup1_h).status_code == 200
    r = client.post(f"{API}/subsidy-claims/{claim_id}/objections", json={"text": "有学员反映未实际参训"}, headers=w.sup1_h)
    assert r.status_code == 201, r.get_json()
    objection_id = r.get_json()["id"]
    certs = client.get(f"{API}/plans/{w.plan.id}/certificates", headers=w.sup1_h).get_json()
    lessons = lessons_of(w.plan)
    site_id = lessons[0].site_id
    draft = make_plan(w.inst, days=2, start=sh(2026, 4, 6).date(), status="draft", title="草稿计划")
    claimed = give_voucher(w.batch_t, w.a, status="claimed")
    enrollment = db.session.execute(db.select(Enrollment).where(Enrollment.plan_id == w.plan.id,
                                                                Enrollment.person_id == w.c)).scalar_one()
    inst_user_id = db.session.execute(db.text("SELECT id FROM users WHERE institution_id = :i"),
                                      {"i": w.inst.id}).scalar()
    makeup = MakeupRequest(lesson_id=lessons[2].id, enrollment_id=enrollment.id, person_id=w.c, kind="both",
                           reason="手机没电", sign_sheet_path="missing/sign.jpg", panorama_path="missing/pano.jpg",
                           status="pending", created_by=inst_user_id, created_at=sh(2026, 3, 4, 13))
    db.session.add(makeup)
    db.session.commit()
    kiosk = _register_device(client, w.inst_h, site_id, "前台一体机")
    activate(client, staff, kiosk["device_id"])
    spare = _register_device(client, w.inst_h, site_id, "备用一体机")
    _, admin_h = staff("admin")
    pools = {
        "plan_id": [w.plan.id, draft.id], "lesson_id": [lessons[0].id, lessons_of(draft)[0].id],
        "batch_id": [w.batch.id, w.batch_t.id], "code": [claimed.code, w.va.code],
        "device_id": [spare["device_id"]], "enrollment_id": [enrollment.id], "institution_id": [w.inst.id],
        "site_id": [site_id], "makeup_id": [makeup.id], "claim_id": [claim_id], "objection_id": [objection_id],
        # Not the fuzzing trainee (A): an unbind of A would leave the trainee pass without its identity.
        "person_id": [w.b, w.c], "number": [c["number"] for c in certs][:2], "which": ["sign_sheet", "panorama"],
    }
    headers = {"trainee": w.a_h, "institution": w.inst_h, "supervisor": w.sup1_h, "admin": admin_h}
    device = db.session.get(Device, kiosk["device_id"])
    assert device.status == "active"
    db.session.commit()
    return SimpleNamespace(headers=headers, kiosk_id=kiosk["device_id"], kiosk_secret=kiosk["secret"],
                           pools=pools)
