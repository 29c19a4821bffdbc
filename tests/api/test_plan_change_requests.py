"""Plan change requests (#15): after approval, occupation, type and delivery change only by a supervisor's
recorded decision, checked again when it is made; one pending request per plan; every step audited."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.exc import IntegrityError

from backend.extensions import db
from backend.models import AuditEntry, Enrollment, PlanChangeRequest, TrainingPlan
from tests.api.plan_helpers import (
    API,
    NOW,
    approved_plan,
    err,
    login,
    make_plan,
    make_site,
    make_voucher,
    post,
)

NEW_OCC = "6-01-01-01"
# The first lesson is on 10 March; the change deadline is 8 March 00:00 Shanghai (7 March 16:00 UTC).
AFTER_DEADLINE = NOW + timedelta(days=6, hours=14, minutes=1)


@pytest.fixture
def w(clock, staff, client, make_institution):
    """An approved Fuzhou plan, its institution, a supervisor of 3501 and other actors."""
    clock.set(NOW)
    inst = make_institution("350102")
    inst_user, inst_h = staff("institution", institution=inst)
    sup_user, sup_h = staff("supervisor", region_code="3501")
    site = make_site(client, inst_h)
    plan = approved_plan(client, inst_h, sup_h, site["id"])
    return {"inst": inst, "inst_user": inst_user, "inst_h": inst_h, "sup_user": sup_user, "sup_h": sup_h,
            "site": site["id"], "plan": plan, "staff": staff, "make_institution": make_institution}


def _file(client, w, headers=None, **body):
    body = {"occupation_code": NEW_OCC, "reason": "合作企业岗位需求调整"} | body
    return client.post(f"{API}/plans/{w['plan']['id']}/change-requests", json=body, headers=headers or w["inst_h"])


def _plan_row(plan_id: int) -> TrainingPlan:
    db.session.expire_all()
    return db.session.get(TrainingPlan, plan_id)


def _audit(action: str) -> list[AuditEntry]:
    return list(db.session.execute(db.select(AuditEntry).where(AuditEntry.action == action)
                                   .order_by(AuditEntry.id)).scalars())


def test_direct_patch_still_409_and_points_to_the_change_request(client, w):
    r = client.patch(f"{API}/plans/{w['plan']['id']}", json={"occupation_code": NEW_OCC}, headers=w["inst_h"])
    assert r.status_code == 409 and err(r) == "change_requires_review"
    details = r.get_json()["error"]["details"]
    assert details["fields"] == ["occupation_code"]
    assert details["change_request"] == f"POST /api/v1/plans/{w['plan']['id']}/change-requests"
    assert _plan_row(w["plan"]["id"]).occupation_code == "4-03-02-01"


def test_request_then_approve_applies_the_change_and_audits_it(client, w):
    r = _file(client, w)
    assert r.status_code == 201, r.get_json()
    req = r.get_json()
    assert req["status"] == "pending" and req["fields"] == {"occupation_code": NEW_OCC}
    assert req["before"] == {"occupation_code": "4-03-02-01"}
    assert req["occupation_names"]["before"] == "中式烹调师"
    # Filing changes nothing on the plan: the subsidy still follows the approved occupation.
    assert _plan_row(w["plan"]["id"]).occupation_code == "4-03-02-01"
    r = post(client, f"/plans/{w['plan']['id']}/change-requests/{req['id']}/approve", w["sup_h"], json={})
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["status"] == "approved" and r.get_json()["decided_by"] == w["sup_user"].id
    plan = _plan_row(w["plan"]["id"])
    assert plan.occupation_code == NEW_OCC and plan.status == "approved"
    row = db.session.get(PlanChangeRequest, req["id"])
    assert (row.status, row.decided_by, row.requested_by) == ("approved", w["sup_user"].id, w["inst_user"].id)
    [filed] = _audit("plan_change.request")
    [approved] = _audit("plan_change.approve")
    [update] = _audit("plan.update")
    assert filed.object_id == approved.object_id == str(req["id"])
    assert filed.actor.startswith("institution:") and approved.actor.startswith("supervisor:")
    assert approved.after["plan_after"]["occupation_code"] == NEW_OCC
    assert update.before["occupation_code"] == "4-03-02-01" and update.after["occupation_code"] == NEW_OCC
    # The supervisor reads the request's trail through the audit endpoint (region-scoped).
    r = client.get(f"{API}/audit?object_type=plan_change_request&object_id={req['id']}", headers=w["sup_h"])
    assert r.status_code == 200 and [e["action"] for e in r.get_json()] == ["plan_change.request",
                                                                           "plan_change.approve"]
    # GET /plans/{id}/change-requests shows the decided request to both sides.
    for h in (w["inst_h"], w["sup_h"]):
        r = client.get(f"{API}/plans/{w['plan']['id']}/change-requests", headers=h)
        assert r.status_code == 200 and [x["status"] for x in r.get_json()] == ["approved"]


def test_reject_needs_a_reason_and_leaves_the_plan(client, w):
    req = _file(client, w, plan_type="social").get_json()
    assert req["fields"] == {"occupation_code": NEW_OCC, "plan_type": "social"}
    path = f"/plans/{w['plan']['id']}/change-requests/{req['id']}/reject"
    for body in ({}, {"reason": " "}, {"reason": "否"}):
        r = post(client, path, w["sup_h"], json=body)
        assert r.status_code == 422 and err(r) == "validation_error", body
    r = post(client, path, w["sup_h"], json={"reason": "变更后的职业不在本期补贴目录内"})
    assert r.status_code == 200 and r.get_json()["status"] == "rejected"
    assert r.get_json()["decision_reason"] == "变更后的职业不在本期补贴目录内"
    plan = _plan_row(w["plan"]["id"])
    assert (plan.occupation_code, plan.plan_type) == ("4-03-02-01", "pre_job")
    [rejected] = _audit("plan_change.reject")
    assert rejected.after["reason"] == "变更后的职业不在本期补贴目录内"
    assert _audit("plan.update") == []
    # Decided is final: neither decision again.
    for verb in ("approve", "reject"):
        r = post(client, f"/plans/{w['plan']['id']}/change-requests/{req['id']}/{verb}", w["sup_h"],
                 json={"reason": "再次决定"})
        assert r.status_code == 409 and err(r) == "invalid_state"


@pytest.mark.parametrize("who, status, code", [
    ("owner", 201, None),
    ("other_institution", 403, "forbidden"),
    ("supervisor", 403, "forbidden"),
    ("admin", 403, "forbidden"),
])
def test_who_may_file(client, w, who, status, code):
    headers = {
        "owner": w["inst_h"],
        "other_institution": w["staff"]("institution", institution=w["make_institution"]("350102"))[1],
        "supervisor": w["sup_h"],
        "admin": w["staff"]("admin")[1],
    }[who]
    r = _file(client, w, headers=headers)
    assert r.status_code == status and err(r) == code
    assert db.session.execute(db.select(db.func.count()).select_from(PlanChangeRequest)).scalar() == \
        (1 if status == 201 else 0)


@pytest.mark.parametrize("who, status, code", [
    ("supervisor_same_region", 200, None),
    ("supervisor_province", 200, None),
    ("supervisor_other_region", 403, "forbidden"),
    ("owner_institution", 403, "forbidden"),
    ("admin", 403, "forbidden"),
])
def test_who_may_decide(client, w, who, status, code):
    req = _file(client, w).get_json()
    headers = {
        "supervisor_same_region": w["sup_h"],
        "supervisor_province": w["staff"]("supervisor", region_code="35")[1],
        "supervisor_other_region": w["staff"]("supervisor", region_code="3502")[1],
        "owner_institution": w["inst_h"],
        "admin": w["staff"]("admin")[1],
    }[who]
    r = post(client, f"/plans/{w['plan']['id']}/change-requests/{req['id']}/approve", headers, json={})
    assert r.status_code == status and err(r) == code
    assert _plan_row(w["plan"]["id"]).occupation_code == (NEW_OCC if status == 200 else "4-03-02-01")
    assert db.session.get(PlanChangeRequest, req["id"]).status == ("approved" if status == 200 else "pending")
    assert len(_audit("plan_change.approve")) == (1 if status == 200 else 0)


@pytest.mark.parametrize("body, status, code", [
    ({"reason": ""}, 422, "validation_error"),
    ({"reason": None}, 422, "validation_error"),
    ({"reason": "x" * 1001}, 422, "validation_error"),
    ({"occupation_code": "4-03-02-01"}, 422, "no_review_needed"),          # the same occupation: nothing to review
    ({"occupation_code": "4-03-02-01", "title": "新标题"}, 422, "no_review_needed"),  # a PATCH would do
    ({"occupation_code": "bad code!"}, 422, "validation_error"),
    ({"delivery": "online"}, 422, "validation_error"),                     # online needs a platform
    ({"delivery": "online", "online_platform": "平台"}, 422, "validation_error"),  # offline lessons on an online plan
    ({"delivery": "blended", "online_platform": "职业技能在线平台"}, 201, None),
    ({"ends_on": "2026-03-05"}, 422, "validation_error"),                  # before starts_on
    ({"plan_type": "in_post"}, 409, "contract_missing"),                   # in-post needs every contract
])
def test_filing_checks_the_values_like_an_edit(client, w, body, status, code):
    r = _file(client, w, **body)
    assert r.status_code == status and err(r) == code, r.get_json()


def test_filing_state_and_window(client, w, clock):
    # A draft is edited directly; a submitted plan is under review.
    draft = make_plan(client, w["inst_h"])
    r = client.post(f"{API}/plans/{draft['id']}/change-requests", json={"occupation_code": NEW_OCC, "reason": "调整"},
                    headers=w["inst_h"])
    assert r.status_code == 409 and err(r) == "invalid_state"
    clock.set(AFTER_DEADLINE)
    w["inst_h"] = login(client, w["inst_user"])
    r = _file(client, w)
    assert r.status_code == 409 and err(r) == "change_window_closed"
    assert db.session.execute(db.select(db.func.count()).select_from(PlanChangeRequest)).scalar() == 0


def test_one_pending_request_per_plan(client, w):
    first = _file(client, w).get_json()
    r = _file(client, w, occupation_code="6-02-01-01")
    assert r.status_code == 409 and err(r) == "change_request_pending"
    assert r.get_json()["error"]["details"]["change_request_id"] == first["id"]
    # The database holds the line too, whatever the service checks.
    with pytest.raises(IntegrityError):
        with db.session.begin_nested():
            db.session.add(PlanChangeRequest(plan_id=w["plan"]["id"], requested_fields={"plan_type": "social"},
                                             before_fields={"plan_type": "pre_job"}, reason="绕过", status="pending",
                                             requested_by=w["inst_user"].id, requested_at=NOW))
            db.session.flush()
    db.session.rollback()
    # Once decided, a new request may be filed.
    r = post(client, f"/plans/{w['plan']['id']}/change-requests/{first['id']}/reject", w["sup_h"],
             json={"reason": "请补充材料"})
    assert r.status_code == 200
    r = _file(client, w, occupation_code="6-02-01-01")
    assert r.status_code == 201


def test_approval_checks_everything_again_now(client, w, clock):
    req = _file(client, w).get_json()
    clock.set(AFTER_DEADLINE)  # the window closed while the request waited
    sup_h = login(client, w["sup_user"])
    r = post(client, f"/plans/{w['plan']['id']}/change-requests/{req['id']}/approve", sup_h, json={})
    assert r.status_code == 409 and err(r) == "change_window_closed"
    assert _plan_row(w["plan"]["id"]).occupation_code == "4-03-02-01"
    assert db.session.get(PlanChangeRequest, req["id"]).status == "pending"
    assert _audit("plan_change.approve") == []
    # It can still be rejected.
    r = post(client, f"/plans/{w['plan']['id']}/change-requests/{req['id']}/reject", sup_h,
             json={"reason": "已过变更期限"})
    assert r.status_code == 200 and r.get_json()["status"] == "rejected"


def test_approval_refuses_an_occupation_a_roster_voucher_does_not_pay_for(client, w):
    req = _file(client, w).get_json()
    # Meanwhile a trainee enrolled with a voucher of a batch for the old occupation only.
    enrollment = db.session.execute(db.select(Enrollment).where(Enrollment.plan_id == w["plan"]["id"])).scalar()
    enrollment.voucher_id = make_voucher(enrollment.person_id, occupation_codes=("4-03-02-01",)).id
    db.session.commit()
    r = post(client, f"/plans/{w['plan']['id']}/change-requests/{req['id']}/approve", w["sup_h"], json={})
    assert r.status_code == 409 and err(r) == "voucher_occupation_not_covered"
    assert r.get_json()["error"]["details"]["person_ids"] == [enrollment.person_id]
    assert _plan_row(w["plan"]["id"]).occupation_code == "4-03-02-01"


def test_a_request_of_another_plan_is_not_found(client, w):
    req = _file(client, w).get_json()
    other = approved_plan(client, w["inst_h"], w["sup_h"], w["site"])
    r = post(client, f"/plans/{other['id']}/change-requests/{req['id']}/approve", w["sup_h"], json={})
    assert r.status_code == 404 and err(r) == "not_found"
    assert db.session.get(PlanChangeRequest, req["id"]).status == "pending"


def test_queue_is_scoped(client, w):
    req = _file(client, w).get_json()
    other_inst_h = w["staff"]("institution", institution=w["make_institution"]("350102"))[1]
    cases = [(w["sup_h"], [req["id"]]), (w["staff"]("supervisor", region_code="3502")[1], []),
             (w["inst_h"], [req["id"]]), (other_inst_h, [])]
    for headers, ids in cases:
        r = client.get(f"{API}/change-requests?status=pending", headers=headers)
        assert r.status_code == 200 and [x["id"] for x in r.get_json()] == ids
        assert r.headers["X-Total-Count"] == str(len(ids))
    r = client.get(f"{API}/plans/{w['plan']['id']}/change-requests",
                   headers=w["staff"]("supervisor", region_code="3502")[1])
    assert r.status_code == 403
    r = client.get(f"{API}/change-requests?status=bogus", headers=w["sup_h"])
    assert r.status_code == 422
    post(client, f"/plans/{w['plan']['id']}/change-requests/{req['id']}/approve", w["sup_h"], json={})
    r = client.get(f"{API}/change-requests?status=pending", headers=w["sup_h"])
    assert r.get_json() == []
