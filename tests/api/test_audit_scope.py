"""Region scoping of GET /audit for every audited object type (#15): a supervisor of the object's region
reads its trail, a supervisor elsewhere gets 403 out_of_scope, admins read all, institution staff and
trainees never (API.md: GET /audit is supervisor, admin). Old `training_plan` entries read as `plan`."""
from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from backend.clock import now
from backend.extensions import db
from backend.models import (
    Certificate,
    Device,
    Enrollment,
    Evaluation,
    MakeupRequest,
    PlanChangeRequest,
    Policy,
    Site,
    SubsidyClaim,
)
from backend.services import audit
from backend.services.audit_scope import TYPES
from tests.api import outcomes_fixtures as fx
from tests.api.outcomes_fixtures import API, complete_and_approve, error

app_config, world = fx.app_config, fx.world  # shared fixtures


@pytest.fixture()
def objects(client, clock, world, staff):
    """One object of every audited type in region 350102 (the world's), each with a `probe` entry."""
    w = world
    complete_and_approve(client, clock, w)
    t = now()
    site = db.session.execute(select(Site).where(Site.institution_id == w.inst.id)).scalars().first()
    device = Device(institution_id=w.inst.id, site_id=site.id, name="一号机", secret_enc=b"x", created_at=t)
    enr = db.session.execute(select(Enrollment).where(Enrollment.plan_id == w.plan.id)).scalars().first()
    makeup = MakeupRequest(lesson_id=w.lessons[0].id, enrollment_id=enr.id, person_id=enr.person_id,
                           kind="check_in", reason="停电", sign_sheet_path="a", panorama_path="b",
                           created_by=w.sup1.id, created_at=t)
    evaluation = Evaluation(plan_id=w.plan.id, person_id=w.b, institution_id=w.inst.id, teaching=5,
                            facilities=4, organisation=5, created_at=t)
    policy = Policy(region_code="350100", effective_from=date(2026, 1, 1), params={}, created_at=t)
    db.session.add_all([device, makeup, evaluation, policy])
    db.session.flush()
    inst_user, _ = staff("institution", institution=w.inst)
    change = PlanChangeRequest(plan_id=w.plan.id, requested_fields={"plan_type": "in_post"},
                               before_fields={"plan_type": w.plan.plan_type}, reason="调整", status="pending",
                               requested_by=inst_user.id, requested_at=t)
    db.session.add(change)
    db.session.flush()
    ids = {
        "plan": w.plan.id, "lesson": w.lessons[0].id, "enrollment": enr.id, "makeup_request": makeup.id,
        "evaluation": evaluation.id, "site": site.id, "device": device.id, "institution": w.inst.id,
        "voucher_batch": w.batch.id, "voucher": w.va.id, "person": w.a, "user": inst_user.id, "policy": policy.id,
        "plan_change_request": change.id,
        "certificate": db.session.execute(select(Certificate.id).where(Certificate.plan_id == w.plan.id)).scalar(),
        "subsidy_claim": db.session.execute(select(SubsidyClaim.id).where(SubsidyClaim.plan_id == w.plan.id)).scalar(),
    }
    for otype, oid in ids.items():
        audit.record("test:probe", f"{otype}.probe", otype, oid, t)
    db.session.commit()
    return ids


def test_every_audited_type_is_scoped(objects):
    assert sorted(objects) == TYPES


@pytest.mark.parametrize("otype", TYPES)
def test_trail_read_by_region(client, world, staff, objects, otype):
    """Near supervisor and admin read; far supervisor 403 out_of_scope; institution and trainee 403."""
    w, oid = world, objects[otype]
    url = f"{API}/audit?object_type={otype}&object_id={oid}"
    _, far_h = staff("supervisor", region_code="3502")
    _, admin_h = staff("admin")
    r = client.get(url, headers=w.sup1_h)
    assert r.status_code == 200, r.get_json()
    assert f"{otype}.probe" in [e["action"] for e in r.get_json()]
    r = client.get(url, headers=far_h)
    assert r.status_code == 403 and error(r) == "out_of_scope"
    assert client.get(url, headers=admin_h).status_code == 200
    assert client.get(url, headers=w.inst_h).status_code == 403
    assert client.get(url, headers=w.a_h).status_code == 403
    r = client.get(f"{API}/audit?object_type={otype}&object_id=987654", headers=w.sup1_h)
    assert r.status_code == 404


def test_person_enrolled_in_the_region_is_in_scope(client, world, objects):
    """Person D lives in 110101 but is enrolled in a 350102 plan: the 3501 supervisor reads the trail."""
    audit.record("test:probe", "person.probe", "person", world.d, now())
    db.session.commit()
    r = client.get(f"{API}/audit?object_type=person&object_id={world.d}", headers=world.sup1_h)
    assert r.status_code == 200 and r.get_json()[-1]["action"] == "person.probe"


def test_national_policy_is_read_by_every_supervisor(client, staff, world):
    p = Policy(region_code="", effective_from=date(2026, 1, 1), params={}, created_at=now())
    db.session.add(p)
    db.session.flush()
    audit.record("test:probe", "policy.create", "policy", p.id, now())
    db.session.commit()
    _, far_h = staff("supervisor", region_code="3502")
    assert client.get(f"{API}/audit?object_type=policy&object_id={p.id}", headers=far_h).status_code == 200


def test_deleted_lesson_is_placed_by_its_delete_entry(client, world, staff):
    audit.record("test:probe", "lesson.delete", "lesson", 424242, now(), after={"plan_id": world.plan.id})
    db.session.commit()
    _, far_h = staff("supervisor", region_code="3502")
    assert client.get(f"{API}/audit?object_type=lesson&object_id=424242", headers=world.sup1_h).status_code == 200
    r = client.get(f"{API}/audit?object_type=lesson&object_id=424242", headers=far_h)
    assert r.status_code == 403 and error(r) == "out_of_scope"


def test_plan_trail_includes_old_training_plan_entries(client, world):
    """Entries written as `training_plan` before #15 show in the `plan` trail, in order, unchanged."""
    audit.record("test:old", "plan.create", "training_plan", world.plan.id, now())
    audit.record("test:new", "plan.completion_submit", "plan", world.plan.id, now())
    db.session.commit()
    for name in ("plan", "training_plan"):
        r = client.get(f"{API}/audit?object_type={name}&object_id={world.plan.id}", headers=world.sup1_h)
        assert r.status_code == 200
        assert [(e["object_type"], e["action"]) for e in r.get_json()][-2:] == [
            ("training_plan", "plan.create"), ("plan", "plan.completion_submit")]


def test_recent_objects_are_scoped_and_merged(client, world, staff, objects):
    """GET /audit/objects lists recently audited objects: the near supervisor sees each type, the far one none."""
    _, far_h = staff("supervisor", region_code="3502")
    _, admin_h = staff("admin")
    audit.record("test:old", "plan.create", "training_plan", world.plan.id, now())
    db.session.commit()
    r = client.get(f"{API}/audit/objects?limit=200", headers=world.sup1_h)
    assert r.status_code == 200
    seen = {(x["object_type"], x["object_id"]) for x in r.get_json()}
    assert {(t, str(i)) for t, i in objects.items()} <= seen
    assert not any(x["object_type"] == "training_plan" for x in r.get_json())
    plan = next(x for x in r.get_json() if x["object_type"] == "plan" and x["object_id"] == str(world.plan.id))
    assert plan["label"] == world.plan.title and plan["last_action"] == "plan.create"
    r = client.get(f"{API}/audit/objects?object_type=plan", headers=world.sup1_h)
    assert {x["object_type"] for x in r.get_json()} == {"plan"}
    assert client.get(f"{API}/audit/objects?limit=200", headers=far_h).get_json() == []
    assert client.get(f"{API}/audit/objects?object_type=retention", headers=world.sup1_h).status_code == 403
    assert len(client.get(f"{API}/audit/objects?limit=200", headers=admin_h).get_json()) >= len(objects)
    assert client.get(f"{API}/audit/objects", headers=world.inst_h).status_code == 403
    assert client.get(f"{API}/audit/objects", headers=world.a_h).status_code == 403
    assert client.get(f"{API}/audit/objects?limit=0", headers=admin_h).status_code == 422


def test_certificate_trail_by_number(client, world, objects):
    """The certificate page knows the number, not the id: the trail accepts either."""
    number = db.session.get(Certificate, objects["certificate"]).number
    r = client.get(f"{API}/audit?object_type=certificate&object_id={number}", headers=world.sup1_h)
    assert r.status_code == 200 and [e["action"] for e in r.get_json()] == ["certificate.probe"]
