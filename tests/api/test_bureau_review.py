"""The bureau's review endpoints added for its admin area: rejecting a completion with a reason
(POST /plans/{id}/completion/reject), supervisors verifying vouchers of their region, a batch's claimant
list, the institution and account lists, the occupation catalogue, and names on claims."""
from __future__ import annotations

from backend.extensions import db
from backend.models import AuditEntry, Certificate, TrainingPlan
from tests.api.outcomes_fixtures import (  # noqa: F401  (fixtures)
    API,
    all_results,
    app_config,
    complete_and_approve,
    error,
    sh,
    world,
)


def _apply_for_completion(client, clock, w):
    r = client.post(f"{API}/plans/{w.plan.id}/results", json={"results": all_results(w)}, headers=w.inst_h)
    assert r.status_code == 200, r.get_json()
    clock.set(sh(2026, 3, 5, 10))
    r = client.post(f"{API}/plans/{w.plan.id}/completion", headers=w.inst_h)
    assert r.status_code == 200, r.get_json()


def test_reject_completion_sends_the_plan_back_with_the_reason_audited(client, clock, world):
    w = world
    _apply_for_completion(client, clock, w)
    r = client.post(f"{API}/plans/{w.plan.id}/completion/reject", json={"reason": "  成绩单与签到表不符，请核对后重报 "},
                    headers=w.sup1_h)
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body["status"] == "in_progress" and body["reject_reason"] == "成绩单与签到表不符，请核对后重报"
    plan = db.session.get(TrainingPlan, w.plan.id)
    db.session.refresh(plan)
    assert plan.status == "in_progress" and plan.reviewed_by == w.sup1.id
    # No certificate and no claim came of it.
    assert db.session.execute(db.select(Certificate).where(Certificate.plan_id == w.plan.id)).first() is None
    r = client.get(f"{API}/subsidy-claims", headers=w.sup1_h)
    assert [c for c in r.get_json() if c["plan_id"] == w.plan.id] == []
    entry = db.session.execute(db.select(AuditEntry).where(AuditEntry.action == "plan.completion_reject")).scalar_one()
    assert entry.object_id == str(w.plan.id) and entry.after["reason"] == "成绩单与签到表不符，请核对后重报"
    # The institution reads the reason on the plan, applies again, and the bureau can then approve.
    r = client.get(f"{API}/plans/{w.plan.id}", headers=w.inst_h)
    assert r.get_json()["status"] == "in_progress" and r.get_json()["reject_reason"].startswith("成绩单")
    assert client.post(f"{API}/plans/{w.plan.id}/completion", headers=w.inst_h).status_code == 200
    r = client.post(f"{API}/plans/{w.plan.id}/completion/approve", headers=w.sup2_h)
    assert r.status_code == 200 and r.get_json()["certificates_issued"] > 0


def test_reject_completion_refusals(client, clock, staff, world):
    w = world
    url = f"{API}/plans/{w.plan.id}/completion/reject"
    # Wrong state: the plan is still running (no completion applied for).
    r = client.post(url, json={"reason": "材料不全"}, headers=w.sup1_h)
    assert r.status_code == 409 and error(r) == "invalid_state"
    _apply_for_completion(client, clock, w)
    # Wrong role: the institution itself, and an admin (supervisors of the region decide).
    assert client.post(url, json={"reason": "材料不全"}, headers=w.inst_h).status_code == 403
    _, admin_h = staff("admin")
    assert client.post(url, json={"reason": "材料不全"}, headers=admin_h).status_code == 403
    # Wrong region.
    _, xiamen_h = staff("supervisor", region_code="3502")
    r = client.post(url, json={"reason": "材料不全"}, headers=xiamen_h)
    assert r.status_code == 403 and error(r) == "out_of_scope"
    # No reason, a blank one, a one-character one: 422 on the reason field.
    for body in ({}, {"reason": "   "}, {"reason": "否"}):
        r = client.post(url, json=body, headers=w.sup1_h)
        assert r.status_code == 422, body
        assert "reason" in str(r.get_json()["error"]["details"])
    # Unknown plan.
    assert client.post(f"{API}/plans/999999/completion/reject", json={"reason": "材料不全"},
                       headers=w.sup1_h).status_code == 404
    # After approval the completion can no longer be rejected.
    assert client.post(f"{API}/plans/{w.plan.id}/completion/approve", headers=w.sup1_h).status_code == 200
    r = client.post(url, json={"reason": "材料不全"}, headers=w.sup1_h)
    assert r.status_code == 409 and error(r) == "invalid_state"
    assert db.session.execute(db.select(AuditEntry).where(AuditEntry.action == "plan.completion_reject")).first() is None


def test_supervisor_verifies_vouchers_of_the_region_only(client, staff, world):
    w = world
    r = client.post(f"{API}/vouchers/verify", json={"code": w.va.code}, headers=w.sup1_h)
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body["voucher"]["code"] == w.va.code and body["voucher"]["holder"]["name_masked"] == "张*"
    assert body["reason"] != "not_allowed_institution"
    _, xiamen_h = staff("supervisor", region_code="3502")
    r = client.post(f"{API}/vouchers/verify", json={"code": w.va.code}, headers=xiamen_h)
    assert r.status_code == 403 and error(r) == "out_of_scope"
    r = client.post(f"{API}/vouchers/verify", json={"code": w.va.code}, headers=w.a_h)
    assert r.status_code == 403


def test_claimant_list_masks_the_holders(client, staff, world):
    w = world
    r = client.get(f"{API}/voucher-batches/{w.batch.id}/vouchers", headers=w.sup1_h)
    assert r.status_code == 200 and r.headers["X-Total-Count"] == "1"
    (row,) = r.get_json()
    assert row["code"] == w.va.code and row["status"] == "used" and row["name_masked"] == "张*"
    assert "*" in row["id_number_masked"] and len(row["id_number_masked"]) == 18
    _, xiamen_h = staff("supervisor", region_code="3502")
    r = client.get(f"{API}/voucher-batches/{w.batch.id}/vouchers", headers=xiamen_h)
    assert r.status_code == 403 and error(r) == "out_of_scope"
    assert client.get(f"{API}/voucher-batches/{w.batch.id}/vouchers", headers=w.inst_h).status_code == 403


def test_institution_and_account_lists_are_scoped(client, staff, make_institution, world):
    w = world
    other = make_institution("350203", name="厦门某培训学校")
    r = client.get(f"{API}/institutions", headers=w.sup1_h)
    assert r.status_code == 200
    ids = {i["id"] for i in r.get_json()}
    assert w.inst.id in ids and other.id not in ids
    _, admin_h = staff("admin")
    assert other.id in {i["id"] for i in client.get(f"{API}/institutions?per_page=500", headers=admin_h).get_json()}
    r = client.get(f"{API}/users", headers=w.sup1_h)
    assert r.status_code == 200 and all((u["region_code"] or "").startswith("3501") for u in r.get_json())
    assert client.get(f"{API}/users", headers=w.inst_h).status_code == 403
    assert client.get(f"{API}/institutions", headers=w.inst_h).status_code == 403


def test_occupation_catalogue(client, world):
    r = client.get(f"{API}/occupations", headers=world.sup1_h)
    assert r.status_code == 200
    assert {o["code"]: o["name"] for o in r.get_json()}["6-31-01-03"] == "电工"


def test_claim_names_its_people_and_flags_a_revoked_certificate(client, clock, world):
    w = world
    out = complete_and_approve(client, clock, w)
    claim_id = out["subsidy_claim_id"]
    assert client.post(f"{API}/subsidy-claims/{claim_id}/approve", headers=w.sup1_h).status_code == 200
    cert = db.session.execute(db.select(Certificate).where(Certificate.plan_id == w.plan.id,
                                                           Certificate.person_id == w.a)).scalar_one()
    r = client.post(f"{API}/certificates/{cert.number}/revoke", json={"reason": "冒名参训"}, headers=w.sup1_h)
    assert r.status_code == 200, r.get_json()
    r = client.get(f"{API}/subsidy-claims/{claim_id}", headers=w.sup2_h)
    body = r.get_json()
    assert body["approved_by_name"] == w.sup1.username and body["disbursed_by_name"] is None
    line = next(x for x in body["lines"] if x["person_id"] == w.a)
    assert line["certificate_revoked"] is True and line["revoked_reason"] == "冒名参训"
    assert all(not x["certificate_revoked"] for x in body["lines"] if x["person_id"] != w.a)


def test_completion_preview_gives_the_amount_per_trainee(client, clock, staff, world):
    w = world
    _apply_for_completion(client, clock, w)
    r = client.get(f"{API}/plans/{w.plan.id}/completion/preview", headers=w.sup1_h)
    assert r.status_code == 200, r.get_json()
    by = {x["person_id"]: x for x in r.get_json()}
    assert by[w.a]["amount_fen"] == 30000 and by[w.a]["limited_by"] == "voucher" and by[w.a]["reasons"] == []
    assert by[w.b]["amount_fen"] == 36000 and by[w.b]["score"] == 90.5
    assert by[w.c]["amount_fen"] is None and by[w.c]["reasons"] == ["not_completed"]
    assert by[w.d]["reasons"] == ["not_passed"] and by[w.e]["reasons"] == ["not_eligible"]
    assert by[w.f]["amount_fen"] == 20000 and by[w.f]["limited_by"] == "annual_cap"
    # The same numbers as the claim the approval then creates.
    claim_id = client.post(f"{API}/plans/{w.plan.id}/completion/approve", headers=w.sup1_h).get_json()["subsidy_claim_id"]
    lines = {x["person_id"]: x["amount_fen"] for x in client.get(f"{API}/subsidy-claims/{claim_id}", headers=w.sup1_h)
             .get_json()["lines"] if x["line_type"] == "training"}
    assert lines == {pid: by[pid]["amount_fen"] for pid in by if by[pid]["amount_fen"] is not None}
    _, xiamen_h = staff("supervisor", region_code="3502")
    r = client.get(f"{API}/plans/{w.plan.id}/completion/preview", headers=xiamen_h)
    assert r.status_code == 403 and error(r) == "forbidden"  # as GET /plans/{id}/hours for another region
    assert client.get(f"{API}/plans/{w.plan.id}/completion/preview", headers=w.a_h).status_code == 403


def test_hours_by_source(client, world):
    w = world
    r = client.get(f"{API}/plans/{w.plan.id}/hours", headers=w.sup1_h)
    rows = {t["person_id"]: t for t in r.get_json()["trainees"]}
    assert sum(rows[w.a]["by_source"].values()) == rows[w.a]["total_hours"] == 12
    assert sum(rows[w.c]["by_source"].values()) == rows[w.c]["total_hours"] == 8
