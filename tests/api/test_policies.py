"""Policies per region through the API (API.md "Policies"), a plan frozen on the version it was filed under,
and every parameter at its boundary read from a region's policy, not from the environment."""
from __future__ import annotations

import uuid
from datetime import date, timedelta

import pytest

from backend.extensions import db
from backend.models import AuditEntry, Person, Policy, SubsidyClaim, TrainingPlan
from backend.services import policies
from tests.api.attendance_fixtures import BASE, END, INSIDE, START, World, long_tokens  # noqa: F401 - fixture
from tests.api.device_helpers import FACE_CROP, SignedClient, activate
from tests.api.plan_helpers import add_lesson, make_plan, make_site, post

API = "/api/v1"


def create(client, headers, region, params, effective_from=None):
    return client.post(f"{API}/policies", headers=headers, json={
        "region_code": region, "effective_from": (effective_from or BASE.date()).isoformat(), "params": params})


@pytest.fixture
def world(client, clock, make_institution, trainee, staff):
    return World(client, clock, make_institution, trainee, staff)


# ---- versions, scope, validation ----------------------------------------------------------------

@pytest.mark.parametrize("who, scope, region, status", [
    ("admin", None, "", 201), ("admin", None, "44", 201),
    ("supervisor", "3501", "3501", 201), ("supervisor", "3501", "350102", 201),
    ("supervisor", "3501", "35", 403),        # the province is above the supervisor
    ("supervisor", "3501", "", 403),          # the national default is the admins'
    ("supervisor", "3501", "3502", 403),
    ("institution", None, "350102", 403),
])
def test_who_may_add_a_version(client, staff, clock, who, scope, region, status):
    clock.set(BASE)
    _, h = staff(who, region_code=scope) if scope else staff(who)
    r = create(client, h, region, {"registration_lead_days": 3})
    assert r.status_code == status, r.get_json()
    if status == 201:
        body = r.get_json()
        assert body["params"] == {"registration_lead_days": 3} and body["region_code"] == region
        entry = db.session.query(AuditEntry).filter_by(action="policy.create", object_id=str(body["id"])).one()
        assert entry.after["params"] == {"registration_lead_days": 3}


@pytest.mark.parametrize("body, field", [
    ({"params": {"bogus": 1}}, "bogus"),
    ({"params": {"registration_lead_days": 99}}, "registration_lead_days"),
    ({"params": {"online_only_occupations": "4-04"}}, "online_only_occupations"),
    ({"params": {}}, "params"),
    ({"effective_from": "2026-03-09"}, "effective_from"),          # yesterday: past days are settled
    ({"region_code": "350"}, "region_code"),
])
def test_bad_versions_are_refused(client, staff, clock, body, field):
    clock.set(BASE)
    _, h = staff("admin")
    payload = {"region_code": "3501", "effective_from": "2026-03-10", "params": {"registration_lead_days": 3}}
    payload.update(body)
    r = client.post(f"{API}/policies", headers=h, json=payload)
    assert r.status_code == 422 and r.get_json()["error"]["code"] == "invalid_policy", r.get_json()
    assert r.get_json()["error"]["details"]["field"] == field
    assert db.session.query(Policy).count() == 0


def test_effective_merges_levels_and_names_sources(client, staff, clock):
    clock.set(BASE)
    _, admin = staff("admin")
    national = create(client, admin, "", {"filing_lead_working_days": 3}).get_json()["id"]
    province = create(client, admin, "35", {"filing_lead_working_days": 4, "registration_lead_days": 1}).get_json()["id"]
    city = create(client, admin, "3501", {"registration_lead_days": 3}).get_json()["id"]
    later = create(client, admin, "3501", {"registration_lead_days": 5}, BASE.date() + timedelta(days=10)).get_json()["id"]
    _, sup = staff("supervisor", region_code="3501")
    r = client.get(f"{API}/policies/effective?region_code=350102&on=2026-03-10", headers=sup)
    body = r.get_json()
    assert (body["params"]["filing_lead_working_days"], body["sources"]["filing_lead_working_days"]) == (4, province)
    assert (body["params"]["registration_lead_days"], body["sources"]["registration_lead_days"]) == (3, city)
    assert body["sources"]["annual_cap_fen"] is None and body["defaults"]["registration_lead_days"] == 0
    later_body = client.get(f"{API}/policies/effective?region_code=350102&on=2026-03-20", headers=sup).get_json()
    assert later_body["sources"]["registration_lead_days"] == later
    other = client.get(f"{API}/policies/effective?region_code=440304", headers=sup).get_json()
    assert other["sources"]["filing_lead_working_days"] == national
    listed = client.get(f"{API}/policies?region_code=350102", headers=sup).get_json()
    assert {v["id"] for v in listed} == {national, province, city, later}


def test_versions_name_their_creator_and_effective_describes_each_parameter(client, staff, clock):
    """What the dashboard page shows: who set a version, and each key's kind and bounds for the form."""
    clock.set(BASE)
    user, sup = staff("supervisor", region_code="3501", username="sup-fuzhou")
    made = create(client, sup, "3501", {"registration_lead_days": 3}).get_json()
    assert (made["created_by"], made["created_by_name"]) == (user.id, "sup-fuzhou")
    listed = client.get(f"{API}/policies?region_code=3501", headers=sup).get_json()
    assert [(v["id"], v["created_by_name"]) for v in listed] == [(made["id"], "sup-fuzhou")]
    assert listed == [made]  # the same shape and values whether just created or listed
    seeded = Policy(region_code="35", effective_from=BASE.date(), params={}, created_at=BASE)  # no creator (seed)
    db.session.add(seeded)
    db.session.commit()
    listed = client.get(f"{API}/policies?region_code=3501", headers=sup).get_json()
    assert [(v["id"], v["created_by"], v["created_by_name"]) for v in listed] == [
        (seeded.id, None, None), (made["id"], user.id, "sup-fuzhou")]
    body = client.get(f"{API}/policies/effective?region_code=3501", headers=sup).get_json()
    assert set(body["parameters"]) == set(body["defaults"]) == set(policies.rules.PARAMS)
    assert body["parameters"]["registration_lead_days"] == {"kind": "int", "min": 0, "max": 60}
    assert body["parameters"]["require_site_qr"] == {"kind": "bool", "min": None, "max": None}
    assert body["parameters"]["subsidy_standards_fen"]["kind"] == "fen_by_code"


# ---- a plan keeps the version it was filed under ------------------------------------------------

def _filed(client, inst_h, sup_h, site_id):
    plan = make_plan(client, inst_h)
    add_lesson(client, inst_h, plan["id"], day=10, site_id=site_id)
    from tests.api.plan_helpers import add_trainee
    add_trainee(client, inst_h, plan["id"])
    assert post(client, f"/plans/{plan['id']}/submit", inst_h).status_code == 200
    assert post(client, f"/plans/{plan['id']}/approve", sup_h).status_code == 200
    return plan


def test_a_rule_change_after_filing_does_not_rewrite_the_plan(client, staff, make_institution, clock):
    from tests.api.plan_helpers import NOW, login, sh
    clock.set(NOW)
    inst = make_institution("350102")
    inst_user, inst_h = staff("institution", institution=inst)
    _, sup = staff("supervisor", region_code="3501")
    _, admin = staff("admin")
    site = make_site(client, inst_h)
    v1 = create(client, admin, "3501", {"plan_change_days": 5}, NOW.date()).get_json()["id"]
    filed_first = _filed(client, inst_h, sup, site["id"])
    create(client, admin, "3501", {"plan_change_days": 1}, NOW.date())
    filed_later = _filed(client, inst_h, sup, site["id"])
    plans = {p.id: p for p in db.session.query(TrainingPlan)}
    assert (plans[filed_first["id"]].policy_id, plans[filed_first["id"]].policy_params["plan_change_days"]) == (v1, 5)
    assert plans[filed_later["id"]].policy_params["plan_change_days"] == 1
    # 3 days before the start: closed for the first plan (5 days), open for the later one (1 day)
    clock.set(sh(7, 12))
    h = login(client, inst_user)
    r = client.patch(f"{API}/plans/{filed_first['id']}", json={"title": "改"}, headers=h)
    assert (r.status_code, r.get_json()["error"]["code"]) == (409, "change_window_closed")
    assert client.patch(f"{API}/plans/{filed_later['id']}", json={"title": "改"}, headers=h).status_code == 200


# ---- the seed rules ----------------------------------------------------------------------------

def test_filing_lead_and_roster_before_filing(client, staff, make_institution, clock):
    from tests.api.plan_helpers import NOW, add_trainee, err, sh
    clock.set(NOW)                                   # Sun 1 March; lessons Tue 10 March
    inst = make_institution("350102")
    _, inst_h = staff("institution", institution=inst)
    site = make_site(client, inst_h)
    plan = make_plan(client, inst_h)
    add_lesson(client, inst_h, plan["id"], day=10, site_id=site["id"])
    r = post(client, f"/plans/{plan['id']}/submit", inst_h)
    assert (r.status_code, err(r)) == (409, "roster_empty")
    add_trainee(client, inst_h, plan["id"])
    clock.set(sh(4, 0))                              # Wed 4: fewer than 5 working days left
    r = post(client, f"/plans/{plan['id']}/submit", inst_h)
    assert (r.status_code, err(r)) == (409, "filing_too_late")
    assert r.get_json()["error"]["details"]["latest_filing_on"] == "2026-03-03"
    clock.set(sh(3, 23))                             # Tue 3, 23:00: exactly in time
    assert post(client, f"/plans/{plan['id']}/submit", inst_h).status_code == 200


def test_registration_closes_before_the_first_lesson(client, staff, make_institution, clock):
    from tests.api.plan_helpers import NOW, add_trainee, err, sh
    clock.set(NOW)
    inst = make_institution("310101")                # Shanghai: 3 days
    _, inst_h = staff("institution", institution=inst)
    _, sup = staff("supervisor", region_code="31")
    _, admin = staff("admin")
    create(client, admin, "31", {"registration_lead_days": 3}, NOW.date())
    site = make_site(client, inst_h)
    plan = _filed(client, inst_h, sup, site["id"])
    clock.set(sh(6, 23, 59))
    add_trainee(client, inst_h, plan["id"], name="钱七")
    clock.set(sh(7, 0))
    r = client.post(f"{API}/plans/{plan['id']}/roster", headers=inst_h, json={"trainees": [
        {"name": "孙八", "id_number": "31010119900307123" + "X"}]})
    assert (r.status_code, err(r)) == (409, "registration_closed")
    assert r.get_json()["error"]["details"]["closed_at"] == "2026-03-07T00:00:00+08:00"


def test_pure_online_only_for_listed_occupations(client, staff, make_institution, clock):
    from tests.api.plan_helpers import NOW, plan_body
    clock.set(NOW)
    inst = make_institution("350102")
    _, inst_h = staff("institution", institution=inst)
    _, admin = staff("admin")
    create(client, admin, "35", {"online_only_occupations": ["4-04"]}, NOW.date())
    online = dict(delivery="online", online_platform="福建职业培训平台")
    r = client.post(f"{API}/plans", headers=inst_h, json=plan_body(**online))   # 4-03-02-01 cook: not listed
    assert r.status_code == 422 and r.get_json()["error"]["code"] == "online_not_allowed"
    r = client.post(f"{API}/plans", headers=inst_h, json=plan_body(occupation_code="4-04-05-01", **online))
    assert r.status_code == 201
    r = client.post(f"{API}/plans", headers=inst_h, json=plan_body(delivery="blended", online_platform="x"))
    assert r.status_code == 201                     # blended plans are not restricted


# ---- parameters at their boundaries, each from a region's policy -----------------------------------

def _freeze(world, **params):
    """A district version for the world's region and the world's plan filed under it."""
    v = Policy(region_code="350102", effective_from=BASE.date(), params=params, created_at=BASE)
    db.session.add(v)
    db.session.commit()
    policies.forget_cached()
    policies.snapshot(world.plan, BASE)
    db.session.commit()
    assert world.plan.policy_id == v.id


def _check_in(world, headers, at_lat=INSIDE[0], accuracy=15, kind="check_in", token=None):
    body = {"event_id": str(uuid.uuid4()), "lesson_id": world.lesson.id, "kind": kind, "lat": at_lat,
            "lon": INSIDE[1], "accuracy_m": accuracy, "coord_sys": "wgs84", "client_time": world.clock().isoformat()}
    if token:
        body["site_token"] = token
    return world.client.post(f"{API}/attendance", json=body, headers=headers)


@pytest.mark.parametrize("params, offset_min, ok", [
    ({"checkin_open_before_min": 10}, -10, True),
    ({"checkin_open_before_min": 10}, -11, False),
    ({"checkin_open_before_min": 45}, -45, True),   # wider than the default 30
])
def test_checkin_open_before_min(world, params, offset_min, ok):
    _freeze(world, **params)
    _, h = world.person()
    world.clock.set(START + timedelta(minutes=offset_min))
    r = _check_in(world, h)
    assert (r.status_code == 201) is ok, r.get_json()
    if not ok:
        assert r.get_json()["error"]["code"] == "outside_time_window"


@pytest.mark.parametrize("params, after_end_min, ok", [
    ({"checkout_close_after_min": 5}, 5, True), ({"checkout_close_after_min": 5}, 6, False),
])
def test_checkout_close_after_min(world, params, after_end_min, ok):
    _freeze(world, **params)
    _, h = world.person()
    world.clock.set(START)
    assert _check_in(world, h).status_code == 201
    world.clock.set(END + timedelta(minutes=after_end_min))
    assert (_check_in(world, h, kind="check_out").status_code == 201) is ok


@pytest.mark.parametrize("params, accuracy, ok", [
    ({"accuracy_max_m": 30}, 30, True), ({"accuracy_max_m": 30}, 31, False),
])
def test_accuracy_max_m(world, params, accuracy, ok):
    _freeze(world, **params)
    _, h = world.person()
    world.clock.set(START)
    r = _check_in(world, h, accuracy=accuracy)
    assert (r.status_code == 201) is ok
    if not ok:
        assert r.get_json()["error"]["code"] == "low_accuracy"


def test_require_site_qr(world):
    _freeze(world, require_site_qr=True)
    _, h = world.person()
    world.clock.set(START)
    r = _check_in(world, h)
    assert (r.status_code, r.get_json()["error"]["code"]) == (422, "site_token_invalid")


@pytest.mark.parametrize("params, late_min, credited", [
    ({"credit_grace_min": 5}, 5, 2.0), ({"credit_grace_min": 5}, 6, 0.0), ({"credit_grace_min": 30}, 20, 2.0),
])
def test_credit_grace_min(world, staff, params, late_min, credited):
    _freeze(world, **params)
    _, h = world.person()
    world.clock.set(START + timedelta(minutes=late_min))
    assert _check_in(world, h).status_code == 201
    world.clock.set(END)
    assert _check_in(world, h, kind="check_out").status_code == 201
    _, sup = staff("supervisor", region_code="3501")
    view = world.client.get(f"{API}/lessons/{world.lesson.id}/attendance", headers=sup).get_json()
    assert view["trainees"][0]["credited_hours"] == credited


@pytest.mark.parametrize("params, distance, reason", [
    ({"kiosk_face_max_distance": 0.4}, 0.4, None), ({"kiosk_face_max_distance": 0.4}, 0.41, "face_mismatch"),
    ({"kiosk_face_max_distance": 0.6}, 0.55, None),
])
def test_kiosk_face_max_distance(world, client, staff, params, distance, reason):
    _freeze(world, **params)
    pid, _ = world.person()
    from backend.security.crypto import vault
    from backend.services.persons import FACE_CONTEXT
    db.session.get(Person, pid).face_template_enc = vault().encrypt_json([0.01] * 128, FACE_CONTEXT)
    db.session.commit()
    _, inst_h = staff("institution", institution=world.inst)
    r = client.post(f"{API}/devices", json={"name": "1号机", "site_id": world.site.id}, headers=inst_h)
    activate(client, staff, r.get_json()["device_id"])
    kiosk = SignedClient(client, r.get_json()["device_id"], r.get_json()["secret"], world.clock)
    world.clock.set(START)
    [receipt] = kiosk.post(f"{API}/device/events", {"events": [{
        "event_id": str(uuid.uuid4()), "person_id": pid, "lesson_id": world.lesson.id, "kind": "check_in",
        "method": "card+face", "face_distance": distance, "face_jpeg_base64": FACE_CROP,
        "captured_at": START.isoformat()}]}).get_json()["results"]
    assert receipt.get("reason") == reason


def test_default_radius_m(client, staff, make_institution, clock):
    clock.set(BASE)
    inst = make_institution("350102")
    _, inst_h = staff("institution", institution=inst)
    _, admin = staff("admin")
    create(client, admin, "3501", {"default_radius_m": 150})
    site = client.post(f"{API}/sites", headers=inst_h, json={"name": "x", "address": "y", "lat": 26.0, "lon": 119.3,
                                                             "coord_sys": "wgs84"}).get_json()
    assert site["radius_m"] == 150


def test_claim_and_deadlines_follow_the_plans_policy(client, staff, world, clock):
    """completion_min_percent, subsidy standard × ratio, publicity and payment deadlines, all from the plan."""
    from tests.api.outcomes_fixtures import attend
    _freeze(world, completion_min_percent=50, subsidy_standards_fen={"4-03": 90000},
            subsidy_ratio_percent={"migrant_worker": 80}, publicity_working_days=3,
            review_deadline_working_days=2, payment_deadline_working_days=4)
    pid, _ = world.person()
    db.session.get(Person, pid).groups = ["migrant_worker"]
    second = world.add_lesson(starts_at=START + timedelta(days=1))
    attend(world.lesson, pid)                        # half the hours: enough under a 50 % bar
    _, inst_h = staff("institution", institution=world.inst)
    user, sup = staff("supervisor", region_code="3501")
    clock.set(second.ends_at + timedelta(hours=1))   # Wed 11 March
    assert client.post(f"{API}/plans/{world.plan.id}/results", headers=inst_h,
                       json={"results": [{"person_id": pid, "score": 80, "passed": True}]}).status_code == 200
    assert client.post(f"{API}/plans/{world.plan.id}/completion", headers=inst_h).status_code == 200
    r = client.post(f"{API}/plans/{world.plan.id}/completion/approve", headers=sup)
    assert r.status_code == 200 and r.get_json()["certificates_issued"] == 1, r.get_json()
    claim_id = r.get_json()["subsidy_claim_id"]
    claim = client.get(f"{API}/subsidy-claims/{claim_id}", headers=sup).get_json()
    [line] = claim["lines"]
    assert line["amount_fen"] == 72000 and line["limited_by"] == "standard"      # 90,000 × 80 %
    assert f"政策版本 #{world.plan.policy_id}" in line["explanation"] and "× 80%" in line["explanation"]
    assert claim["review_due_on"] == "2026-03-13"                                   # Wed 11 + 2 working days
    assert client.post(f"{API}/subsidy-claims/{claim_id}/approve", headers=sup).status_code == 200
    claim = client.get(f"{API}/subsidy-claims/{claim_id}", headers=sup).get_json()
    # publicity: Thu 12, Fri 13, Mon 16 → ends 17 March 00:00; payment: 4 working days after 16 March
    assert claim["publicity_ends_at"].startswith("2026-03-16T16:00") and claim["payment_due_on"] == "2026-03-20"
    assert claim["overdue"] is None
    clock.set(BASE + timedelta(days=12))             # 22 March: past the payment due day, not paid
    assert client.get(f"{API}/subsidy-claims/{claim_id}", headers=sup).get_json()["overdue"] == "payment"
    assert db.session.get(SubsidyClaim, claim_id).payment_due_on == date(2026, 3, 20)
    late = client.get(f"{API}/stats/overdue", headers=sup).get_json()
    assert [(p["claim_id"], p["days_late"]) for p in late["payments"]] == [(claim_id, 2)]
    _, far = staff("supervisor", region_code="3502")
    assert client.get(f"{API}/stats/overdue", headers=far).get_json() == {"completions": [], "payments": []}


def test_an_unanswered_completion_is_listed_overdue(client, staff, world, clock):
    from tests.api.outcomes_fixtures import attend
    _freeze(world, review_deadline_working_days=2)
    pid, _ = world.person()
    attend(world.lesson, pid)
    _, inst_h = staff("institution", institution=world.inst)
    _, sup = staff("supervisor", region_code="3501")
    clock.set(END + timedelta(hours=1))               # Tue 10 March
    assert client.post(f"{API}/plans/{world.plan.id}/completion", headers=inst_h).status_code == 200
    clock.set(BASE + timedelta(days=2, hours=12))     # Thu 12: due, not late
    assert client.get(f"{API}/stats/overdue", headers=sup).get_json()["completions"] == []
    clock.set(BASE + timedelta(days=3, hours=12))     # Fri 13: one day late
    [late] = client.get(f"{API}/stats/overdue", headers=sup).get_json()["completions"]
    assert (late["plan_id"], late["due_on"], late["days_late"]) == (world.plan.id, "2026-03-12", 1)
