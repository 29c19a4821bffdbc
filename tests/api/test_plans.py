"""Plans: creation, listing scope, the review workflow, and the whole-plan change window."""
from __future__ import annotations

from datetime import timedelta

import pytest

from backend.domain.plans import SHANGHAI
from backend.extensions import db
from backend.models import AuditEntry
from tests.api.plan_helpers import (
    API,
    NOW,
    add_lesson,
    approved_plan,
    err,
    login,
    make_plan,
    make_site,
    plan_body,
    post,
    sh,
    submit,
)


@pytest.fixture
def world(clock, staff, client, make_institution):
    """Clock on 2026-03-01 10:00 Shanghai; a Fuzhou institution with a site; supervisors in and out of region."""
    clock.set(NOW)
    inst = make_institution("350102")
    inst_user, inst_h = staff("institution", institution=inst)
    _, sup_h = staff("supervisor", region_code="3501")
    _, far_h = staff("supervisor", region_code="3502")
    site = make_site(client, inst_h)
    return {"inst": inst, "inst_user": inst_user, "inst_h": inst_h, "sup_h": sup_h, "far_h": far_h, "site": site["id"]}


def actions(plan_id) -> list[str]:
    return list(db.session.execute(db.select(AuditEntry.action).where(
        AuditEntry.object_type == "plan", AuditEntry.object_id == str(plan_id))
        .order_by(AuditEntry.id)).scalars())


def test_create_plan_is_a_draft_in_the_institutions_region(client, world):
    plan = make_plan(client, world["inst_h"])
    assert plan["status"] == "draft" and plan["region_code"] == "350102"
    assert plan["institution_id"] == world["inst"].id and plan["enrolled"] == 0
    assert plan["change_deadline"] == "2026-03-08T00:00:00+08:00"
    assert plan["class_hours"] == {"offline": 0.0, "online": 0.0, "total": 0.0}
    assert actions(plan["id"]) == ["plan.create"]
    keys = {"id", "institution_id", "region_code", "title", "occupation_code", "occupation_name", "plan_type",
            "delivery", "starts_on", "ends_on", "online_platform", "status", "reject_reason", "submitted_at",
            "reviewed_at", "created_at", "enrolled", "change_deadline", "class_hours"}
    assert set(plan) == keys and plan["submitted_at"] is None
    [listed] = [p for p in client.get("/api/v1/plans", headers=world["inst_h"]).get_json() if p["id"] == plan["id"]]
    assert listed == plan
    one = client.get(f"/api/v1/plans/{plan['id']}", headers=world["inst_h"]).get_json()
    assert one == dict(plan, lessons=[])


@pytest.mark.parametrize("over, field", [
    ({"ends_on": "2026-03-09"}, "ends_on"),
    ({"starts_on": "2026-02-28"}, "starts_on"),
    ({"delivery": "blended"}, "online_platform"),
    ({"delivery": "online", "online_platform": "  "}, "online_platform"),
])
def test_create_plan_rules(client, world, over, field):
    r = client.post(f"{API}/plans", json=plan_body(**over), headers=world["inst_h"])
    assert r.status_code == 422 and err(r) == "validation_error"
    assert r.get_json()["error"]["details"]["field"] == field


@pytest.mark.parametrize("over", [{"plan_type": "weekend"}, {"delivery": "hybrid"}, {"starts_on": "03/10/2026"},
                                  {"occupation_code": "4 03 02"}, {"title": ""}])
def test_create_plan_schema(client, world, over):
    r = client.post(f"{API}/plans", json=plan_body(**over), headers=world["inst_h"])
    assert r.status_code == 422 and err(r) == "validation_error"


def test_create_plan_starting_today_is_allowed(client, world):
    make_plan(client, world["inst_h"], starts_on="2026-03-01")


def test_only_institutions_create_plans(client, world):
    r = client.post(f"{API}/plans", json=plan_body(), headers=world["sup_h"])
    assert r.status_code == 403 and err(r) == "forbidden"


def test_listing_scope_and_status_filter(client, world, staff, make_institution):
    mine = make_plan(client, world["inst_h"])
    other_inst = make_institution("350203")
    _, other_h = staff("institution", institution=other_inst)
    theirs = make_plan(client, other_h)
    add_lesson(client, world["inst_h"], mine["id"], site_id=world["site"])
    assert submit(client, world["inst_h"], mine['id']).status_code == 200

    def ids(h, query=""):
        r = client.get(f"{API}/plans{query}", headers=h)
        assert r.status_code == 200, r.get_json()
        return [p["id"] for p in r.get_json()]

    assert ids(world["inst_h"]) == [mine["id"]]
    assert ids(other_h) == [theirs["id"]]
    assert ids(world["sup_h"]) == [mine["id"]]
    assert ids(world["far_h"]) == [theirs["id"]]
    assert ids(world["sup_h"], "?status=submitted") == [mine["id"]]
    assert ids(world["sup_h"], "?status=draft") == []
    r = client.get(f"{API}/plans?status=nonsense", headers=world["sup_h"])
    assert r.status_code == 422 and err(r) == "validation_error"
    r = client.get(f"{API}/plans?per_page=1", headers=world["inst_h"])
    assert r.headers["X-Total-Count"] == "1"


def test_get_plan_with_lessons_and_scope(client, world):
    plan = make_plan(client, world["inst_h"])
    add_lesson(client, world["inst_h"], plan["id"], day=11, site_id=world["site"])
    add_lesson(client, world["inst_h"], plan["id"], day=10, site_id=world["site"])
    r = client.get(f"{API}/plans/{plan['id']}", headers=world["sup_h"])
    assert r.status_code == 200
    body = r.get_json()
    assert [lsn["starts_at"] for lsn in body["lessons"]] == ["2026-03-10T09:00:00+08:00",
                                                              "2026-03-11T09:00:00+08:00"]
    assert body["class_hours"]["total"] == 8.0
    r = client.get(f"{API}/plans/{plan['id']}", headers=world["far_h"])
    assert r.status_code == 403 and err(r) == "forbidden"
    r = client.get(f"{API}/plans/424242", headers=world["sup_h"])
    assert r.status_code == 404 and err(r) == "not_found"


def test_review_workflow_with_audit(client, world):
    plan = make_plan(client, world["inst_h"])
    pid = plan["id"]
    r = submit(client, world["inst_h"], pid)
    assert r.status_code == 422 and err(r) == "no_lessons"
    add_lesson(client, world["inst_h"], pid, site_id=world["site"])
    assert submit(client, world["inst_h"], pid).get_json()["status"] == "submitted"
    r = client.patch(f"{API}/plans/{pid}", json={"title": "x"}, headers=world["inst_h"])
    assert r.status_code == 409 and err(r) == "invalid_state"
    assert post(client, f"/plans/{pid}/withdraw", world["inst_h"]).get_json()["status"] == "draft"
    assert submit(client, world["inst_h"], pid).get_json()["status"] == "submitted"
    r = post(client, f"/plans/{pid}/reject", world["sup_h"], json={})
    assert r.status_code == 422 and err(r) == "validation_error"
    r = post(client, f"/plans/{pid}/reject", world["sup_h"], json={"reason": "  "})
    assert r.status_code == 422 and err(r) == "validation_error"
    r = post(client, f"/plans/{pid}/reject", world["far_h"], json={"reason": "课程不全"})
    assert r.status_code == 403
    r = post(client, f"/plans/{pid}/reject", world["sup_h"], json={"reason": "课程不全"})
    assert r.get_json()["status"] == "rejected" and r.get_json()["reject_reason"] == "课程不全"
    r = client.patch(f"{API}/plans/{pid}", json={"title": "改后的方案"}, headers=world["inst_h"])
    assert r.status_code == 200 and r.get_json()["title"] == "改后的方案"
    r = submit(client, world["inst_h"], pid)
    assert r.get_json()["status"] == "submitted" and r.get_json()["reject_reason"] is None
    r = post(client, f"/plans/{pid}/approve", world["inst_h"])
    assert r.status_code == 403
    r = post(client, f"/plans/{pid}/approve", world["far_h"])
    assert r.status_code == 403 and err(r) == "forbidden"
    r = post(client, f"/plans/{pid}/approve", world["sup_h"])
    assert r.status_code == 200 and r.get_json()["status"] == "approved" and r.get_json()["reviewed_at"]
    r = post(client, f"/plans/{pid}/approve", world["sup_h"])
    assert r.status_code == 409 and err(r) == "invalid_state"
    r = post(client, f"/plans/{pid}/withdraw", world["inst_h"])
    assert r.status_code == 409 and err(r) == "invalid_state"
    assert [a for a in actions(pid) if a.startswith("plan.")] == [
        "plan.create", "plan.submit", "plan.withdraw", "plan.submit", "plan.reject", "plan.update", "plan.submit",
        "plan.approve"]
    reject = db.session.execute(db.select(AuditEntry).where(AuditEntry.action == "plan.reject")).scalar()
    assert reject.after == {"status": "rejected", "reason": "课程不全"}


def test_other_institution_cannot_act_on_plan(client, world, staff):
    plan = make_plan(client, world["inst_h"])
    _, other = staff("institution")
    for path in ("submit", "withdraw"):
        r = post(client, f"/plans/{plan['id']}/{path}", other)
        assert r.status_code == 403 and err(r) == "forbidden"
    r = client.patch(f"{API}/plans/{plan['id']}", json={"title": "x"}, headers=other)
    assert r.status_code == 403


# ---- the whole-plan change window (2 days before starts_on, Asia/Shanghai) ---------------------

@pytest.mark.parametrize("offset, status", [(timedelta(0), 200), (timedelta(seconds=1), 409)])
def test_change_window_closes_two_days_before_start(client, world, clock, offset, status):
    plan = approved_plan(client, world["inst_h"], world["sup_h"], world["site"])
    clock.set(sh(8, 0) + offset)  # deadline: 2026-03-08 00:00 Shanghai
    h = login(client, world["inst_user"])
    r = client.patch(f"{API}/plans/{plan['id']}", json={"title": "变更后的标题"}, headers=h)
    assert r.status_code == status, r.get_json()
    if status == 409:
        assert err(r) == "change_window_closed"
        assert r.get_json()["error"]["details"]["deadline"] == "2026-03-08T00:00:00+08:00"
    else:
        assert r.get_json()["status"] == "approved"  # stays approved; the audit entry records the change
        entry = db.session.execute(db.select(AuditEntry).where(AuditEntry.action == "plan.update")).scalar()
        assert entry.before["title"] != entry.after["title"]


def test_change_window_follows_config(app, client, world, clock):
    app.config["PLAN_CHANGE_DAYS"] = 5  # the deployment's default, in force when the plan is filed
    plan = approved_plan(client, world["inst_h"], world["sup_h"], world["site"])
    app.config["PLAN_CHANGE_DAYS"] = 2  # a later change does not reach a filed plan
    clock.set(sh(5, 0) + timedelta(seconds=1))
    r = client.patch(f"{API}/plans/{plan['id']}", json={"title": "x"}, headers=login(client, world["inst_user"]))
    assert r.status_code == 409 and r.get_json()["error"]["details"]["deadline"] == "2026-03-05T00:00:00+08:00"


def test_moving_start_closer_must_fit_the_new_window(client, world, clock):
    plan = approved_plan(client, world["inst_h"], world["sup_h"], world["site"], lessons=1, ends_on="2026-03-20")
    clock.set(sh(4, 12))
    h = login(client, world["inst_user"])
    # Before the old deadline, but the new start (03-05) had its own deadline at 03-03 00:00.
    r = client.patch(f"{API}/plans/{plan['id']}", json={"starts_on": "2026-03-05"}, headers=h)
    assert r.status_code == 409 and err(r) == "change_window_closed"
    r = client.patch(f"{API}/plans/{plan['id']}", json={"starts_on": "2026-03-07"}, headers=h)
    assert r.status_code == 200 and r.get_json()["starts_on"] == "2026-03-07"


def test_plan_dates_must_still_hold_the_lessons(client, world):
    plan = make_plan(client, world["inst_h"])
    add_lesson(client, world["inst_h"], plan["id"], day=15, site_id=world["site"])
    r = client.patch(f"{API}/plans/{plan['id']}", json={"ends_on": "2026-03-14"}, headers=world["inst_h"])
    assert r.status_code == 422 and r.get_json()["error"]["details"]["reason"] == "lessons_outside_dates"
    r = client.patch(f"{API}/plans/{plan['id']}", json={"ends_on": "2026-03-09"}, headers=world["inst_h"])
    assert r.status_code == 422 and r.get_json()["error"]["details"]["field"] == "ends_on"


def test_delivery_change_must_fit_the_lessons(client, world):
    plan = make_plan(client, world["inst_h"])
    add_lesson(client, world["inst_h"], plan["id"], site_id=world["site"])
    r = client.patch(f"{API}/plans/{plan['id']}", json={"delivery": "online", "online_platform": "福建职业培训联盟平台"},
                     headers=world["inst_h"])
    assert r.status_code == 422 and err(r) == "validation_error"
    r = client.patch(f"{API}/plans/{plan['id']}", json={"delivery": "blended", "online_platform": "福建职业培训联盟平台"},
                     headers=world["inst_h"])
    assert r.status_code == 200 and r.get_json()["delivery"] == "blended"


def test_in_progress_plan_cannot_change(client, world, clock):
    plan = approved_plan(client, world["inst_h"], world["sup_h"], world["site"])
    clock.set(sh(10, 9, 1))
    h = login(client, world["inst_user"])
    r = client.get(f"{API}/plans/{plan['id']}", headers=h)
    assert r.get_json()["status"] == "in_progress"  # first lesson started on the server clock
    r = client.patch(f"{API}/plans/{plan['id']}", json={"title": "x"}, headers=h)
    assert r.status_code == 409 and err(r) == "change_window_closed"
    assert "plan.start" in actions(plan["id"])


# ---- the online share of blended plans is binding at submit ---------------------------------------

@pytest.mark.parametrize("online_hours, status", [(2, 200), (2.5, 422)])
def test_blended_share_checked_at_submit(client, world, online_hours, status):
    plan = make_plan(client, world["inst_h"], delivery="blended", online_platform="福建职业培训联盟平台")
    # Online first: allowed while there are no offline lessons (the share is binding at submit).
    add_lesson(client, world["inst_h"], plan["id"], day=10, mode="online", hours=online_hours, duration_min=120)
    add_lesson(client, world["inst_h"], plan["id"], day=11, hours=3, duration_min=180, site_id=world["site"])
    r = submit(client, world["inst_h"], plan['id'])
    assert r.status_code == status, r.get_json()
    if status == 422:
        assert err(r) == "online_share_exceeded"
        assert r.get_json()["error"]["details"]["max_share"] == 0.4


def test_change_deadline_is_shanghai_midnight(client, world):
    plan = make_plan(client, world["inst_h"], starts_on="2026-04-01", ends_on="2026-04-02")
    deadline = plan["change_deadline"]
    assert deadline == "2026-03-30T00:00:00+08:00"
    assert str(SHANGHAI) == "Asia/Shanghai"
