"""Subsidy claims: cap across claims and years, living allowance, scope, queue, write-off conflicts;
evaluations and the Bayesian rating."""
from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from backend.extensions import db
from backend.models import Evaluation, SubsidyClaim, SubsidyLine, Voucher
from tests.api import outcomes_fixtures as fx
from tests.api.outcomes_fixtures import (
    API,
    attend,
    complete_and_approve,
    enroll,
    error,
    lessons_of,
    make_person,
    make_plan,
    prior_claim,
    sh,
)

app_config, world = fx.app_config, fx.world  # shared fixtures


def _lines(claim_id) -> dict:
    rows = db.session.execute(select(SubsidyLine).where(SubsidyLine.claim_id == claim_id)).scalars().all()
    return {(line.person_id, line.line_type): line for line in rows}


def _one_person_plan(client, clock, w, person, start=date(2026, 3, 2), prior=None):
    """A 3-lesson plan with one fully attending, passing person; returns the new claim id."""
    plan = make_plan(w.inst, start=start)
    enroll(plan, person.id, groups=person.groups)
    for lesson in lessons_of(plan):
        attend(lesson, person.id)
    r = client.post(f"{API}/plans/{plan.id}/results",
                    json={"results": [{"person_id": person.id, "score": 90, "passed": True}]}, headers=w.inst_h)
    assert r.status_code == 200, r.get_json()
    assert client.post(f"{API}/plans/{plan.id}/completion", headers=w.inst_h).status_code == 200
    r = client.post(f"{API}/plans/{plan.id}/completion/approve", headers=w.sup1_h)
    assert r.status_code == 200, r.get_json()
    return r.get_json()["subsidy_claim_id"]


def test_cap_counts_only_live_claims_of_the_same_shanghai_year(client, clock, world):
    w = world
    p = make_person("周九", "071")
    prior_claim(w.inst, p.id, 90000, year=2025, status="disbursed")   # last year: does not count
    prior_claim(w.inst, p.id, 50000, year=2026, status="rejected")    # rejected: does not count
    prior_claim(w.inst, p.id, 70000, year=2026, status="submitted")   # pending: counts
    clock.set(sh(2026, 3, 5, 10))
    claim_id = _one_person_plan(client, clock, w, p)
    line = _lines(claim_id)[(p.id, "training")]
    assert (line.amount_fen, line.capped, line.limited_by, line.year) == (30000, True, "annual_cap", 2026)


def test_year_boundary_is_shanghai_time(client, clock, world):
    w = world
    p = make_person("吴十", "081")
    prior_claim(w.inst, p.id, 100000, year=2026, status="approved")  # 2026 cap fully used
    # 31 Dec 2026 16:30 UTC is already 1 Jan 2027 in Shanghai: a fresh cap.
    plan_start = date(2026, 12, 28)
    clock.set(sh(2027, 1, 1, 0, 30))
    claim_id = _one_person_plan(client, clock, w, p, start=plan_start)
    line = _lines(claim_id)[(p.id, "training")]
    assert (line.amount_fen, line.year, line.limited_by) == (36000, 2027, "hours")


def test_cap_exhausted_gives_a_zero_line(client, clock, world):
    w = world
    p = make_person("郑一", "091")
    prior_claim(w.inst, p.id, 100000, year=2026, status="approved")
    clock.set(sh(2026, 3, 5, 10))
    claim_id = _one_person_plan(client, clock, w, p)
    line = _lines(claim_id)[(p.id, "training")]
    assert (line.amount_fen, line.capped, line.limited_by) == (0, True, "annual_cap")


def test_living_allowance_for_online_days_of_listed_groups(app, client, clock, world):
    """Source 002 (Internet+ plan): a living allowance per day of online training, for listed groups only;
    off unless the policy sets a daily amount. Offline days never count."""
    from backend.models import Lesson, OnlineRecord
    w = world
    listed = make_person("冯二", "101", groups=["poverty_registered"])
    clock.set(sh(2026, 3, 5, 10))
    claim_off = _one_person_plan(client, clock, w, listed)
    assert set(_lines(claim_off)) == {(listed.id, "training")}   # off by default

    app.config["LIVING_ALLOWANCE_ENABLED"] = True                  # the deployment's 3,000 fen a day
    other = make_person("陈三", "111", groups=["unemployed"])
    poor = make_person("卫五", "131")
    plan = make_plan(w.inst, start=date(2026, 2, 23), days=3, hours=3)    # 9 offline class hours
    plan.delivery, plan.online_platform = "blended", "学习强国"
    online = []
    for day in (26, 27):                                                  # two online days, 3 class hours each
        lesson = Lesson(plan_id=plan.id, title=f"线上{day}", mode="online", starts_at=sh(2026, 2, day, 19),
                        ends_at=sh(2026, 2, day, 22), class_hours=3)
        db.session.add(lesson)
        online.append(lesson)
    db.session.commit()
    enroll(plan, other.id, groups=["unemployed"])
    enroll(plan, poor.id, groups=["subsistence_allowance"])               # the roster's groups count too
    for lesson in lessons_of(plan):
        if lesson.mode == "offline":
            attend(lesson, other.id)
            attend(lesson, poor.id)
    for person, minutes in ((other.id, (135, 135)), (poor.id, (135, 100))):   # poor: the 2nd day not complete
        for lesson, m in zip(online, minutes, strict=True):
            db.session.add(OnlineRecord(plan_id=plan.id, lesson_id=lesson.id, person_id=person, minutes=m,
                                        imported_at=sh(2026, 2, 28)))
    db.session.commit()
    r = client.post(f"{API}/plans/{plan.id}/results", json={"results": [
        {"person_id": other.id, "score": 90, "passed": True}, {"person_id": poor.id, "score": 90, "passed": True}]},
        headers=w.inst_h)
    assert r.status_code == 200
    assert client.post(f"{API}/plans/{plan.id}/completion", headers=w.inst_h).status_code == 200
    claim_id = client.post(f"{API}/plans/{plan.id}/completion/approve", headers=w.sup1_h).get_json()["subsidy_claim_id"]
    lines = _lines(claim_id)
    assert set(lines) == {(other.id, "training"), (poor.id, "training"), (poor.id, "living_allowance")}
    allowance = lines[(poor.id, "living_allowance")]
    # one online day learnt in full (the offline days do not count), at the deployment's 3,000 fen
    assert (allowance.amount_fen, allowance.attended_days, allowance.payee, allowance.capped) == (3000, 1, "trainee",
                                                                                                False)
    r = client.get(f"{API}/subsidy-claims/{claim_id}", headers=w.sup1_h)
    text = [line for line in r.get_json()["lines"] if line["line_type"] == "living_allowance"][0]["explanation"]
    assert "线上培训 1 天" in text and "30.00 元" in text


def test_claim_scope_and_queue(client, clock, world, staff, make_institution):
    w = world
    body = complete_and_approve(client, clock, w)
    claim_id = body["subsidy_claim_id"]
    _, other_inst_h = staff("institution", institution=make_institution("350102"))
    _, far_h = staff("supervisor", region_code="3502")
    assert client.get(f"{API}/subsidy-claims/{claim_id}", headers=other_inst_h).status_code == 403
    r = client.get(f"{API}/subsidy-claims/{claim_id}", headers=far_h)
    assert r.status_code == 403
    assert client.get(f"{API}/subsidy-claims/{claim_id}", headers=w.a_h).status_code == 403
    assert client.get(f"{API}/subsidy-claims/999999", headers=w.sup1_h).status_code == 404
    r = client.post(f"{API}/subsidy-claims/{claim_id}/approve", headers=far_h)
    assert r.status_code == 403 and error(r) == "out_of_scope"
    r = client.post(f"{API}/subsidy-claims/{claim_id}/approve", headers=w.inst_h)
    assert r.status_code == 403

    r = client.get(f"{API}/subsidy-claims?status=submitted", headers=w.sup1_h)
    assert r.status_code == 200 and r.headers["X-Total-Count"] == "1"
    assert r.get_json()[0]["id"] == claim_id and r.get_json()[0]["progress"] == "applied"
    assert client.get(f"{API}/subsidy-claims", headers=far_h).headers["X-Total-Count"] == "1"  # 3502's prior claim
    assert client.get(f"{API}/subsidy-claims", headers=other_inst_h).get_json() == []
    assert client.get(f"{API}/subsidy-claims", headers=w.inst_h).headers["X-Total-Count"] == "1"
    r = client.get(f"{API}/subsidy-claims?status=bogus", headers=w.sup1_h)
    assert r.status_code == 422 and error(r) == "validation_error"


def test_objection_and_disburse_need_an_approved_claim(client, clock, world):
    w = world
    claim_id = complete_and_approve(client, clock, w)["subsidy_claim_id"]
    r = client.post(f"{API}/subsidy-claims/{claim_id}/objections", json={"text": "异议"}, headers=w.sup1_h)
    assert r.status_code == 409 and error(r) == "invalid_state"
    r = client.post(f"{API}/subsidy-claims/{claim_id}/disburse", headers=w.sup2_h)
    assert r.status_code == 409 and error(r) == "invalid_state"
    assert client.post(f"{API}/subsidy-claims/{claim_id}/approve", headers=w.sup1_h).status_code == 200
    r = client.post(f"{API}/subsidy-claims/{claim_id}/objections", json={"text": ""}, headers=w.sup1_h)
    assert r.status_code == 422 and error(r) == "validation_error"


def test_voucher_voided_during_publicity_stops_the_payout(client, clock, world):
    w = world
    claim_id = complete_and_approve(client, clock, w)["subsidy_claim_id"]
    assert client.post(f"{API}/subsidy-claims/{claim_id}/approve", headers=w.sup1_h).status_code == 200
    db.session.get(Voucher, w.vf.id).status = "voided"
    db.session.commit()
    clock.set(sh(2026, 3, 20, 10))
    r = client.post(f"{API}/subsidy-claims/{claim_id}/disburse", headers=w.sup2_h)
    assert r.status_code == 409 and error(r) == "voucher_state_changed"
    db.session.expire_all()
    assert db.session.get(SubsidyClaim, claim_id).status == "approved"
    assert db.session.get(Voucher, w.va.id).status == "used"   # nothing half-written


def test_voided_voucher_gets_no_line(client, clock, world):
    w = world
    db.session.get(Voucher, w.va.id).status = "voided"
    db.session.commit()
    claim_id = complete_and_approve(client, clock, w)["subsidy_claim_id"]
    claim = client.get(f"{API}/subsidy-claims/{claim_id}", headers=w.sup1_h).get_json()
    assert w.a not in {line["person_id"] for line in claim["lines"]}
    assert {e["person_id"]: e["reasons"] for e in claim["explanations"]}[w.a] == ["voucher_not_usable"]


# ---- evaluations and rating ----------------------------------------------------------------

def test_evaluation_input_and_state(client, clock, world, trainee):
    w = world
    payload = {"plan_id": w.plan.id, "teaching": 5, "facilities": 5, "organisation": 5}
    r = client.post(f"{API}/me/evaluations", json=payload, headers=w.a_h)
    assert r.status_code == 403 and error(r) == "not_completed"   # plan not completed yet
    complete_and_approve(client, clock, w)
    for bad in ({"teaching": 6}, {"facilities": 0}, {"organisation": "5"}, {"teaching": True}, {"plan_id": None}):
        r = client.post(f"{API}/me/evaluations", json=dict(payload, **bad), headers=w.a_h)
        assert r.status_code == 422 and error(r) == "validation_error", bad
    r = client.post(f"{API}/me/evaluations", json=dict(payload, plan_id=999999), headers=w.a_h)
    assert r.status_code == 404
    _, unbound = trainee(bind=False)
    r = client.post(f"{API}/me/evaluations", json=payload, headers=unbound)
    assert r.status_code == 403 and error(r) == "identity_not_bound"
    r = client.post(f"{API}/me/evaluations", json=payload, headers=w.sup1_h)
    assert r.status_code == 403
    assert client.post(f"{API}/me/evaluations", json=payload, headers=w.a_h).status_code == 201


def test_bayesian_rating_few_perfect_do_not_beat_many_good(client, world, make_institution):
    w = world
    few, many = make_institution("350102"), make_institution("350102")
    people = [make_person(f"评{i}", f"{200 + i:03d}") for i in range(300)]
    t = sh(2026, 3, 6)
    for p in people[:3]:
        db.session.add(Evaluation(plan_id=w.plan.id, person_id=p.id, institution_id=few.id, teaching=5,
                                  facilities=5, organisation=5, created_at=t))
    db.session.commit()
    # Evaluations are unique per (plan, person): give "many" its own plans.
    plans = [make_plan(many, start=date(2026, 1, 5), status="completed") for _ in range(2)]
    for i, p in enumerate(people):
        score = 5 if i < 240 else 4
        db.session.add(Evaluation(plan_id=plans[i % 2].id, person_id=p.id, institution_id=many.id, teaching=score,
                                  facilities=score, organisation=score, created_at=t))
    db.session.commit()
    r_few = client.get(f"{API}/institutions/{few.id}/rating").get_json()
    r_many = client.get(f"{API}/institutions/{many.id}/rating").get_json()
    assert r_few["count"] == 3 and r_many["count"] == 300
    assert r_few["score"] == 3.85          # (35 + 15) / 13
    assert r_many["score"] == 4.76         # (35 + 1440) / 310
    assert r_many["score"] > r_few["score"]
    empty = make_institution("350102")
    assert client.get(f"{API}/institutions/{empty.id}/rating").get_json()["score"] == 3.5
    assert client.get(f"{API}/institutions/999999/rating").status_code == 404


def _approved_claim(client, clock, w) -> int:
    claim_id = complete_and_approve(client, clock, w)["subsidy_claim_id"]
    assert client.post(f"{API}/subsidy-claims/{claim_id}/approve", headers=w.sup1_h).status_code == 200
    return claim_id


def _object(client, w, claim_id, text="有学员反映未实际参训") -> dict:
    r = client.post(f"{API}/subsidy-claims/{claim_id}/objections", json={"text": text}, headers=w.sup1_h)
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["status"] == "open"
    return r.get_json()


def test_an_open_objection_holds_the_payout_until_dismissed(client, clock, world):
    w = world
    claim_id = _approved_claim(client, clock, w)
    objection = _object(client, w, claim_id)
    clock.set(sh(2026, 3, 20, 10))  # publicity over
    r = client.post(f"{API}/subsidy-claims/{claim_id}/disburse", headers=w.sup2_h)
    assert r.status_code == 409 and error(r) == "objection_open"
    assert r.get_json()["error"]["details"] == {"open": 1}
    assert db.session.get(Voucher, w.va.id).status == "used"  # nothing written off
    r = client.post(f"{API}/subsidy-claims/{claim_id}/objections/{objection['id']}/resolve",
                    json={"decision": "dismissed", "note": "核查考勤记录属实"}, headers=w.sup2_h)
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert (body["status"], body["resolved_by"], body["resolution"]) == ("dismissed", w.sup2.id, "核查考勤记录属实")
    r = client.post(f"{API}/subsidy-claims/{claim_id}/objections/{objection['id']}/resolve",
                    json={"decision": "upheld"}, headers=w.sup2_h)
    assert r.status_code == 409 and error(r) == "invalid_state"  # settled once
    r = client.post(f"{API}/subsidy-claims/{claim_id}/disburse", headers=w.sup2_h)
    assert r.status_code == 200, r.get_json()
    view = client.get(f"{API}/subsidy-claims/{claim_id}", headers=w.sup1_h).get_json()
    assert [o["status"] for o in view["objections"]] == ["dismissed"]
    assert set(view["objections"][0]) == set(body) == {"id", "claim_id", "text", "recorded_by", "recorded_at",
                                                        "status", "resolved_by", "resolved_at", "resolution"}
    assert {k: v for k, v in view["objections"][0].items() if not k.endswith("_at")} == {
        k: v for k, v in body.items() if not k.endswith("_at")}


def test_an_upheld_objection_sends_the_claim_back_for_review(client, clock, world):
    w = world
    claim_id = _approved_claim(client, clock, w)
    objection = _object(client, w, claim_id)
    r = client.post(f"{API}/subsidy-claims/{claim_id}/objections/{objection['id']}/resolve",
                    json={"decision": "upheld", "note": "签到照片与本人不符"}, headers=w.sup2_h)
    assert r.status_code == 200 and r.get_json()["status"] == "upheld"
    claim = db.session.get(SubsidyClaim, claim_id)
    db.session.refresh(claim)
    assert (claim.status, claim.approved_by, claim.publicity_ends_at) == ("submitted", None, None)
    clock.set(sh(2026, 3, 20, 10))
    r = client.post(f"{API}/subsidy-claims/{claim_id}/disburse", headers=w.sup2_h)
    assert r.status_code == 409 and error(r) == "invalid_state"
    # Approved again: a new publicity period starts from the new approval.
    r = client.post(f"{API}/subsidy-claims/{claim_id}/approve", headers=w.sup1_h)
    assert r.status_code == 200 and r.get_json()["publicity_ends_at"] > "2026-03-20"
    audit = client.get(f"{API}/audit?object_type=subsidy_claim&object_id={claim_id}", headers=w.sup1_h).get_json()
    assert "subsidy_claim.objection_resolve" in [e["action"] for e in audit]


@pytest.mark.parametrize("approve_first", [False, True])
def test_rejecting_a_claim_pays_nothing(client, clock, world, approve_first):
    w = world
    claim_id = (_approved_claim(client, clock, w) if approve_first
                else complete_and_approve(client, clock, w)["subsidy_claim_id"])
    r = client.post(f"{API}/subsidy-claims/{claim_id}/reject", json={"reason": ""}, headers=w.sup1_h)
    assert r.status_code == 422 and error(r) == "validation_error"
    r = client.post(f"{API}/subsidy-claims/{claim_id}/reject", json={"reason": "培训机构资质被暂停"}, headers=w.sup1_h)
    assert r.status_code == 200 and r.get_json()["status"] == "rejected"
    clock.set(sh(2026, 3, 20, 10))
    for path, headers in (("disburse", w.sup2_h), ("approve", w.sup1_h)):
        r = client.post(f"{API}/subsidy-claims/{claim_id}/{path}", headers=headers)
        assert r.status_code == 409 and error(r) == "invalid_state"
    r = client.post(f"{API}/subsidy-claims/{claim_id}/reject", json={"reason": "again"}, headers=w.sup1_h)
    assert r.status_code == 409 and error(r) == "invalid_state"
    assert db.session.get(Voucher, w.va.id).status == "used"
    view = client.get(f"{API}/subsidy-claims/{claim_id}", headers=w.inst_h).get_json()
    assert (view["status"], view["rejected_reason"]) == ("rejected", "培训机构资质被暂停")


def test_objection_resolution_checks_scope_and_input(client, clock, world, staff):
    w = world
    claim_id = _approved_claim(client, clock, w)
    objection = _object(client, w, claim_id)
    _u, far_h = staff("supervisor", region_code="3502")
    url = f"{API}/subsidy-claims/{claim_id}/objections/{objection['id']}/resolve"
    assert client.post(url, json={"decision": "dismissed"}, headers=far_h).status_code in (403, 404)
    r = client.post(url, json={"decision": "maybe"}, headers=w.sup1_h)
    assert r.status_code == 422 and error(r) == "validation_error"
    r = client.post(f"{API}/subsidy-claims/{claim_id}/objections/999999/resolve", json={"decision": "dismissed"},
                    headers=w.sup1_h)
    assert r.status_code == 404
    assert db.session.get(SubsidyClaim, claim_id).status == "approved"


def _certificates(client, w) -> dict:
    r = client.get(f"{API}/plans/{w.plan.id}/certificates", headers=w.sup1_h)
    assert r.status_code == 200
    return {c["person_id"]: c["number"] for c in r.get_json()}


def test_revoked_certificate_is_invalid_and_stops_the_payout(client, clock, world, staff):
    w = world
    claim_id = _approved_claim(client, clock, w)
    number = _certificates(client, w)[w.a]
    url = f"{API}/certificates/{number}/revoke"
    assert client.post(url, json={"reason": "x"}, headers=w.inst_h).status_code == 403
    _u, far_h = staff("supervisor", region_code="3502")
    assert client.post(url, json={"reason": "x"}, headers=far_h).status_code in (403, 404)
    r = client.post(url, json={"reason": ""}, headers=w.sup1_h)
    assert r.status_code == 422 and error(r) == "validation_error"
    r = client.post(f"{API}/certificates/12345/revoke", json={"reason": "x"}, headers=w.sup1_h)
    assert r.status_code == 422 and error(r) == "invalid_certificate_number"
    assert client.get(f"{API}/certificates/{number}").get_json()["valid"] is True
    r = client.post(url, json={"reason": "考勤照片系他人代签"}, headers=w.sup1_h)
    assert r.status_code == 200, r.get_json()
    assert (r.get_json()["valid"], r.get_json()["revoked_on"]) == (False, "2026-03-05")
    public = client.get(f"{API}/certificates/{number}").get_json()
    assert public["valid"] is False and public["revoked_on"] == "2026-03-05"
    assert "已撤销" in client.get(f"/certificates/{number}").get_data(as_text=True)
    r = client.post(url, json={"reason": "again"}, headers=w.sup1_h)
    assert r.status_code == 409 and error(r) == "invalid_state"
    # The unpaid claim carrying the holder stops; rejecting it is the way out.
    clock.set(sh(2026, 3, 20, 10))
    r = client.post(f"{API}/subsidy-claims/{claim_id}/disburse", headers=w.sup2_h)
    assert r.status_code == 409 and error(r) == "certificate_revoked"
    assert db.session.get(Voucher, w.va.id).status == "used"
    r = client.post(f"{API}/subsidy-claims/{claim_id}/reject", json={"reason": "证书已撤销"}, headers=w.sup2_h)
    assert r.status_code == 200 and r.get_json()["status"] == "rejected"


CLAIM_SUMMARY_KEYS = {"id", "plan_id", "plan_title", "institution_id", "institution", "region_code", "status",
                      "progress", "total_fen", "created_at", "approved_by", "approved_at", "publicity_ends_at",
                      "disbursed_by", "disbursed_at", "rejected_reason", "review_due_on", "payment_due_on", "overdue",
                      "approved_by_name", "disbursed_by_name"}


def test_claim_list_and_detail_keys_names_and_clock(client, clock, world):
    """The queue's rows and the claim itself carry the same summary keys; names, progress and overdue as served."""
    w = world
    claim_id = _approved_claim(client, clock, w)
    clock.set(sh(2026, 5, 20, 10))  # publicity over, payment past its due day
    [row] = client.get(f"{API}/subsidy-claims", headers=w.sup2_h).get_json()
    assert set(row) == CLAIM_SUMMARY_KEYS
    assert (row["id"], row["plan_title"], row["institution"]) == (claim_id, w.plan.title, w.inst.name)
    assert (row["progress"], row["overdue"], row["approved_by_name"], row["disbursed_by_name"]) == (
        "approved", "payment", w.sup1.username, None)
    assert row["created_at"].endswith("+00:00") and row["disbursed_at"] is None
    assert row["payment_due_on"] == "2026-04-24" and row["review_due_on"] == "2026-03-26"
    detail = client.get(f"{API}/subsidy-claims/{claim_id}", headers=w.inst_h).get_json()
    assert set(detail) == CLAIM_SUMMARY_KEYS | {"lines", "explanations", "objections", "decisions"}
    assert {k: detail[k] for k in CLAIM_SUMMARY_KEYS} == row
    r = client.post(f"{API}/subsidy-claims/{claim_id}/disburse", headers=w.sup2_h)
    assert r.status_code == 200, r.get_json()
    [row] = client.get(f"{API}/subsidy-claims", headers=w.inst_h).get_json()
    assert (row["progress"], row["overdue"], row["disbursed_by_name"]) == ("disbursed", None, w.sup2.username)
