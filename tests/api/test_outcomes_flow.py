"""One plan walked from results to written-off vouchers, and the statistics agreeing with the rows."""
from __future__ import annotations

from sqlalchemy import func, select

from backend.extensions import db
from backend.models import AttendanceEvent, Certificate, SubsidyClaim, SubsidyLine, Voucher
from backend.services.audit import verify_chain
from tests.api import outcomes_fixtures as fx
from tests.api.outcomes_fixtures import API, all_results, error, sh

app_config, world = fx.app_config, fx.world  # shared fixtures


def test_results_to_written_off_vouchers_and_statistics(app, client, clock, world, staff):
    w = world
    # Results: all rows good → recorded.
    r = client.post(f"{API}/plans/{w.plan.id}/results", json={"results": all_results(w)}, headers=w.inst_h)
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["imported"] == 6

    # Completion cannot be applied for while a lesson is still ahead.
    clock.set(sh(2026, 3, 4, 10))
    r = client.post(f"{API}/plans/{w.plan.id}/completion", headers=w.inst_h)
    assert r.status_code == 409 and error(r) == "lessons_not_ended"
    clock.set(sh(2026, 3, 5, 10))
    r = client.post(f"{API}/plans/{w.plan.id}/completion", headers=w.inst_h)
    assert r.status_code == 200 and r.get_json()["status"] == "completion_submitted"

    # Another region's supervisor may not approve; the region's may, once.
    _, far_h = staff("supervisor", region_code="3502")
    r = client.post(f"{API}/plans/{w.plan.id}/completion/approve", headers=far_h)
    assert r.status_code == 403 and error(r) == "out_of_scope"
    r = client.post(f"{API}/plans/{w.plan.id}/completion/approve", headers=w.sup1_h)
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body["certificates_issued"] == 4
    claim_id = body["subsidy_claim_id"]
    r = client.post(f"{API}/plans/{w.plan.id}/completion/approve", headers=w.sup1_h)
    assert r.status_code == 409 and error(r) == "invalid_state"

    certs = db.session.execute(select(Certificate).order_by(Certificate.number)).scalars().all()
    assert sorted(c.person_id for c in certs) == sorted([w.a, w.b, w.e, w.f])
    assert [c.number[:10] for c in certs] == ["3501022026"] * 4
    assert [int(c.number[10:16]) for c in certs] == [1, 2, 3, 4]
    assert {c.issued_on.isoformat() for c in certs} == {"2026-03-05"}

    # The claim: one line per certified and eligible trainee, the others explained.
    r = client.get(f"{API}/subsidy-claims/{claim_id}", headers=w.inst_h)
    assert r.status_code == 200
    claim = r.get_json()
    assert claim["status"] == "submitted" and claim["total_fen"] == 86000
    lines = {line["person_id"]: line for line in claim["lines"]}
    assert set(lines) == {w.a, w.b, w.f}
    assert (lines[w.a]["amount_fen"], lines[w.a]["capped"], lines[w.a]["limited_by"]) == (30000, True, "voucher")
    assert lines[w.a]["voucher_code"] == w.va.code and lines[w.a]["payee"] == "institution"
    assert (lines[w.b]["amount_fen"], lines[w.b]["capped"], lines[w.b]["limited_by"]) == (36000, False, "hours")
    assert lines[w.b]["voucher_code"] is None and lines[w.b]["credited_hours"] == 12
    assert (lines[w.f]["amount_fen"], lines[w.f]["capped"], lines[w.f]["limited_by"]) == (20000, True, "annual_cap")
    assert lines[w.f]["payee"] == "trainee"
    assert all(line["line_type"] == "training" for line in claim["lines"])
    why = {e["person_id"]: e["reasons"] for e in claim["explanations"]}
    assert why == {w.c: ["not_completed"], w.d: ["not_passed"], w.e: ["not_eligible"]}

    # The trainee sees the line as 已申请 and the payee.
    r = client.get(f"{API}/me/subsidies", headers=w.a_h)
    mine = r.get_json()
    assert r.status_code == 200 and len(mine) == 1
    assert (mine[0]["amount_fen"], mine[0]["progress"], mine[0]["progress_label"]) == (30000, "applied", "已申请")
    assert [(st["step"], st["done"]) for st in mine[0]["steps"]] == [
        ("已申请", True), ("已审核", False), ("公示中", False), ("已拨付", False)]
    assert mine[0]["payee"] == "institution" and mine[0]["payee_label"] == w.inst.name

    # Approval starts 公示 (5 working days: Fri 6, Mon 9 … Thu 12 March → ends 13 March 00:00 Shanghai).
    clock.set(sh(2026, 3, 5, 11))
    r = client.post(f"{API}/subsidy-claims/{claim_id}/approve", headers=w.sup1_h)
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["publicity_ends_at"] == "2026-03-12T16:00:00+00:00"
    claim_row = db.session.get(SubsidyClaim, claim_id)
    assert claim_row.publicity_ends_at == sh(2026, 3, 13)
    r = client.post(f"{API}/subsidy-claims/{claim_id}/approve", headers=w.sup2_h)
    assert r.status_code == 409 and error(r) == "invalid_state"
    mine = client.get(f"{API}/me/subsidies", headers=w.a_h).get_json()[0]
    assert mine["progress_label"] == "公示中"
    # The steps follow the real order: reviewed (approval) first, then the publicity it started.
    assert [(st["step"], st["done"]) for st in mine["steps"]] == [
        ("已申请", True), ("已审核", True), ("公示中", False), ("已拨付", False)]
    assert mine["steps"][2]["ends_at"] == "2026-03-13T00:00:00+08:00"

    r = client.post(f"{API}/subsidy-claims/{claim_id}/objections", json={"text": "有学员反映未实际参训"},
                    headers=w.sup2_h)
    assert r.status_code == 201 and r.get_json()["text"] == "有学员反映未实际参训"
    objection_id = r.get_json()["id"]

    # Two people, after publicity.
    r = client.post(f"{API}/subsidy-claims/{claim_id}/disburse", headers=w.sup1_h)
    assert r.status_code == 409 and error(r) == "same_approver"
    clock.set(sh(2026, 3, 12, 23, 59))
    r = client.post(f"{API}/subsidy-claims/{claim_id}/disburse", headers=w.sup2_h)
    assert r.status_code == 409 and error(r) == "publicity_period"
    assert db.session.get(Voucher, w.va.id).status == "used"
    assert client.get(f"{API}/me/subsidies", headers=w.a_h).get_json()[0]["progress_label"] == "公示中"
    clock.set(sh(2026, 3, 13, 9))
    mine = client.get(f"{API}/me/subsidies", headers=w.a_h).get_json()[0]
    assert mine["progress_label"] == "已审核"
    assert [st["done"] for st in mine["steps"]] == [True, True, True, False]  # publicity over, not yet paid
    # The objection raised during publicity holds the money until a supervisor settles it.
    r = client.post(f"{API}/subsidy-claims/{claim_id}/disburse", headers=w.sup2_h)
    assert r.status_code == 409 and error(r) == "objection_open"
    r = client.post(f"{API}/subsidy-claims/{claim_id}/objections/{objection_id}/resolve",
                    json={"decision": "dismissed", "note": "核对签到与人脸记录，属实参训"}, headers=w.sup2_h)
    assert r.status_code == 200 and r.get_json()["status"] == "dismissed"
    r = client.post(f"{API}/subsidy-claims/{claim_id}/disburse", headers=w.sup2_h)
    assert r.status_code == 200, r.get_json()
    assert r.get_json() == {"status": "disbursed", "total_fen": 86000, "vouchers_written_off": 2}
    r = client.post(f"{API}/subsidy-claims/{claim_id}/disburse", headers=w.sup2_h)
    assert r.status_code == 409 and error(r) == "invalid_state"

    db.session.expire_all()
    assert {v.status for v in db.session.execute(select(Voucher)).scalars()} == {"written_off"}
    assert client.get(f"{API}/me/subsidies", headers=w.a_h).get_json()[0]["progress_label"] == "已拨付"

    # A written-off code never verifies again.
    r = client.post(f"{API}/vouchers/verify", json={"code": w.va.code}, headers=w.inst_h)
    assert r.status_code in (200, 422), r.get_json()
    if r.status_code == 200:
        assert r.get_json()["valid"] is False and r.get_json()["reason"] == "written_off"
    else:
        assert error(r) == "written_off"

    # The audit trail names both supervisors and stays intact.
    r = client.get(f"{API}/audit?object_type=subsidy_claim&object_id={claim_id}", headers=w.sup2_h)
    assert r.status_code == 200
    actions = [(e["action"], e["actor"]) for e in r.get_json()]
    assert [a for a, _ in actions] == ["subsidy_claim.create", "subsidy_claim.approve", "subsidy_claim.objection",
                                      "subsidy_claim.objection_resolve", "subsidy_claim.disburse"]
    assert actions[1][1].startswith("supervisor:") and actions[1][1].endswith(f":{w.sup1.id}")
    assert actions[4][1].endswith(f":{w.sup2.id}")
    assert verify_chain() == (True, verify_chain()[1], None)

    # Statistics for the region and March agree with the rows.
    r = client.get(f"{API}/stats/overview?region_code=3501&from=2026-03-01&to=2026-03-31", headers=w.sup1_h)
    assert r.status_code == 200, r.get_json()
    stats = r.get_json()
    assert set(stats) >= {"vouchers", "trainees", "attendance", "subsidy"}
    written_off = db.session.execute(select(func.count()).select_from(Voucher).where(
        Voucher.status == "written_off")).scalar()
    written_off_fen = db.session.execute(select(func.sum(SubsidyLine.amount_fen)).where(
        SubsidyLine.voucher_id.is_not(None), SubsidyLine.claim_id == claim_id)).scalar()
    assert stats["vouchers"]["written_off"] == written_off == 2
    assert stats["vouchers"]["written_off_fen"] == written_off_fen == 50000
    assert stats["trainees"]["total"] == 6
    assert stats["trainees"]["by_gender"] == {"female": 2, "male": 4}
    assert stats["trainees"]["by_province"] == {"北京": 1, "广东": 1, "福建": 4}
    assert stats["trainees"]["by_age_band"] == {"25-34": 2, "35-44": 2, "45-54": 1, "55+": 1}
    events = db.session.execute(select(AttendanceEvent)).scalars().all()
    att = stats["attendance"]
    assert att["events"] == len(events) == 35
    assert att["accepted"] == sum(e.accepted for e in events) == 34
    assert att["rejected"] == 1 and att["by_reason"] == {"out_of_fence": 1}
    assert att["flagged"] == sum(1 for e in events if e.accepted and e.flags) == 2
    assert att["completion_rate"] == 0.8333
    total = db.session.get(SubsidyClaim, claim_id).total_fen
    assert stats["subsidy"] == {"approved_fen": total, "disbursed_fen": total, "approved_claims": 1,
                                "disbursed_claims": 1}
    # Outside the range nothing was paid.
    r = client.get(f"{API}/stats/overview?region_code=3501&from=2026-04-01&to=2026-04-30", headers=w.sup1_h)
    assert r.get_json()["subsidy"]["disbursed_fen"] == 0 and r.get_json()["attendance"]["events"] == 0


def test_archive_certificates_and_evaluation_after_completion(app, client, clock, world):
    from tests.api.outcomes_fixtures import complete_and_approve
    w = world
    body = complete_and_approve(client, clock, w)

    r = client.get(f"{API}/me/certificates", headers=w.a_h)
    assert r.status_code == 200 and r.headers["X-Total-Count"] == "1"
    cert = r.get_json()[0]
    assert cert["occupation_code"] == "4-01-02-01" and cert["institution"] == w.inst.name
    assert cert["issued_on"] == "2026-03-05" and cert["print_url"].startswith(f"/certificates/{cert['number']}/print")
    assert set(cert) == {"number", "plan_id", "person_id", "occupation_code", "institution", "issued_on", "valid",
                         "verify_url", "print_url", "revoked_on", "revoked_reason"}
    assert (cert["valid"], cert["revoked_on"], cert["revoked_reason"]) == (True, None, None)
    assert cert["verify_url"].endswith(f"/certificates/{cert['number']}")
    listed = client.get(f"{API}/plans/{w.plan.id}/certificates", headers=w.inst_h).get_json()
    assert [c for c in listed if c["person_id"] == cert["person_id"]] == [dict(cert, name="张三")]
    assert all(set(c) == set(cert) | {"name"} for c in listed)
    assert client.get(f"{API}/me/certificates", headers=w.c_h).get_json() == []

    # Public verification: masked holder.
    r = client.get(f"{API}/certificates/{cert['number']}")
    assert r.status_code == 200
    assert r.get_json() == {"valid": True, "number": cert["number"], "holder_name_masked": "张*",
                            "occupation_code": "4-01-02-01", "institution": w.inst.name, "issued_on": "2026-03-05",
                            "revoked_on": None}
    r = client.get(f"{API}/certificates/{cert['number'].lower()[:-1]}0")
    assert r.status_code in (404, 422)

    r = client.get(f"{API}/me/archive", headers=w.a_h)
    assert r.status_code == 200
    archive = r.get_json()
    assert archive["person"]["name"] == "张三" and archive["certificates"] == 1
    [entry] = archive["plans"]
    assert entry["plan_id"] == w.plan.id and entry["credited_hours"] == 12 and entry["completed"] is True
    assert entry["result"] == {"score": 88, "passed": True}
    assert entry["certificate"] == cert
    assert [s["amount_fen"] for s in entry["subsidies"]] == [30000] and entry["evaluated"] is False
    c_archive = client.get(f"{API}/me/archive", headers=w.c_h).get_json()
    assert c_archive["plans"][0]["completed"] is False and c_archive["plans"][0]["certificate"] is None
    assert c_archive["plans"][0]["credited_hours"] == 8

    # Evaluation: once, only for completers.
    payload = {"plan_id": w.plan.id, "teaching": 5, "facilities": 4, "organisation": 5, "comment": "老师讲得好"}
    r = client.post(f"{API}/me/evaluations", json=payload, headers=w.a_h)
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["institution_id"] == w.inst.id
    r = client.post(f"{API}/me/evaluations", json=payload, headers=w.a_h)
    assert r.status_code == 409 and error(r) == "already_evaluated"
    r = client.post(f"{API}/me/evaluations", json=payload, headers=w.c_h)
    assert r.status_code == 403 and error(r) == "not_completed"
    assert client.get(f"{API}/me/archive", headers=w.a_h).get_json()["plans"][0]["evaluated"] is True

    r = client.get(f"{API}/institutions/{w.inst.id}/rating")
    assert r.status_code == 200
    rating = r.get_json()
    # (10 × 3.5 + 14/3) / 11 = 3.606… ; teaching (35 + 5) / 11 = 3.64
    assert rating["count"] == 1 and rating["score"] == 3.61
    assert rating["by_aspect"] == {"teaching": 3.64, "facilities": 3.55, "organisation": 3.64}
    assert body["certificates_issued"] == 4
