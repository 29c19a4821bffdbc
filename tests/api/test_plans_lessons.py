"""Lessons: class hours (45 min each), sites, plan dates, the blended online share, and the 4-hour window."""
from __future__ import annotations

from datetime import timedelta

import pytest

from backend.extensions import db
from backend.models import AuditEntry
from tests.api.plan_helpers import (
    API,
    NOW,
    add_lesson,
    approved_plan,
    err,
    iso,
    lesson_body,
    login,
    make_plan,
    make_site,
    post,
    sh,
    submit,
)


@pytest.fixture
def world(clock, staff, client, make_institution):
    clock.set(NOW)
    inst = make_institution("350102")
    user, inst_h = staff("institution", institution=inst)
    _, sup_h = staff("supervisor", region_code="3501")
    site = make_site(client, inst_h)
    return {"inst_user": user, "inst_h": inst_h, "sup_h": sup_h, "site": site["id"]}


def create(client, world, plan_id, **kw):
    return client.post(f"{API}/plans/{plan_id}/lessons", json=lesson_body(**kw), headers=world["inst_h"])


def test_offline_lesson_created_in_shanghai_time(client, world):
    plan = make_plan(client, world["inst_h"])
    lesson = add_lesson(client, world["inst_h"], plan["id"], site_id=world["site"])
    assert lesson["starts_at"] == "2026-03-10T09:00:00+08:00" and lesson["ends_at"] == "2026-03-10T12:00:00+08:00"
    assert lesson["class_hours"] == 4.0 and lesson["site_id"] == world["site"] and lesson["mode"] == "offline"
    r = client.get(f"{API}/lessons/{lesson['id']}", headers=world["sup_h"])
    assert r.status_code == 200 and r.get_json()["id"] == lesson["id"]
    r = client.get(f"{API}/plans/{plan['id']}/lessons", headers=world["inst_h"])
    assert [x["id"] for x in r.get_json()] == [lesson["id"]]
    assert db.session.execute(db.select(AuditEntry).where(AuditEntry.action == "lesson.create")).scalar()


def test_utc_input_is_accepted_and_shown_in_shanghai(client, world):
    plan = make_plan(client, world["inst_h"])
    body = lesson_body(site_id=world["site"])
    body["starts_at"], body["ends_at"] = "2026-03-10T01:00:00Z", "2026-03-10T04:00:00+00:00"
    r = client.post(f"{API}/plans/{plan['id']}/lessons", json=body, headers=world["inst_h"])
    assert r.status_code == 201 and r.get_json()["starts_at"] == "2026-03-10T09:00:00+08:00"


@pytest.mark.parametrize("duration_min, hours, status, code", [
    (180, 4, 201, None),            # exactly 4 × 45 min
    (179, 4, 422, "class_hours_too_long"),
    (45, 1, 201, None),             # exactly one class hour
    (44, 1, 422, "class_hours_too_long"),
    (67, 1.5, 422, "class_hours_too_long"),   # 1.5 × 45 = 67.5 min
    (68, 1.5, 201, None),
    (180, 1.25, 422, "validation_error"),  # halves only
    (180, 0.25, 422, "validation_error"),
])
def test_class_hours_need_45_minutes_each(client, world, duration_min, hours, status, code):
    plan = make_plan(client, world["inst_h"])
    r = create(client, world, plan["id"], duration_min=duration_min, hours=hours, site_id=world["site"])
    assert r.status_code == status, r.get_json()
    if code:
        assert err(r) == code
    if code == "class_hours_too_long":
        assert "max_class_hours" in r.get_json()["error"]["details"]


@pytest.mark.parametrize("over, reason", [
    ({}, "not_a_site_of_this_institution"),             # offline without a site
    ({"site_id": 999999}, "not_a_site_of_this_institution"),
    ({"day": 9}, "outside_plan_dates"),
    ({"day": 21}, "outside_plan_dates"),
])
def test_lesson_place_and_dates(client, world, over, reason):
    plan = make_plan(client, world["inst_h"])
    r = create(client, world, plan["id"], **over)
    assert r.status_code == 422 and r.get_json()["error"]["details"]["reason"] == reason


def test_other_institutions_site_refused(client, world, staff):
    _, other = staff("institution")
    foreign = make_site(client, other)
    plan = make_plan(client, world["inst_h"])
    r = create(client, world, plan["id"], site_id=foreign["id"])
    assert r.status_code == 422 and r.get_json()["error"]["details"]["field"] == "site_id"


def test_naive_times_refused(client, world):
    plan = make_plan(client, world["inst_h"])
    body = lesson_body(site_id=world["site"], starts_at="2026-03-10T09:00:00", ends_at="2026-03-10T12:00:00")
    r = client.post(f"{API}/plans/{plan['id']}/lessons", json=body, headers=world["inst_h"])
    assert r.status_code == 422 and err(r) == "validation_error"


def test_overlapping_lessons_refused(client, world):
    plan = make_plan(client, world["inst_h"])
    first = add_lesson(client, world["inst_h"], plan["id"], site_id=world["site"])
    r = create(client, world, plan["id"], start_h=11, site_id=world["site"])
    assert r.status_code == 422 and r.get_json()["error"]["details"] == {
        "field": "starts_at", "reason": "overlaps_lesson", "lesson_id": first["id"]}
    add_lesson(client, world["inst_h"], plan["id"], start_h=12, site_id=world["site"])  # back to back is fine


def test_modes_must_fit_the_delivery(client, world):
    offline = make_plan(client, world["inst_h"])
    r = create(client, world, offline["id"], mode="online")
    assert r.status_code == 422 and r.get_json()["error"]["details"]["field"] == "mode"
    online = make_plan(client, world["inst_h"], delivery="online", online_platform="福建职业培训联盟平台")
    r = create(client, world, online["id"], site_id=world["site"])
    assert r.status_code == 422 and r.get_json()["error"]["details"]["field"] == "mode"
    r = create(client, world, online["id"], mode="online", site_id=world["site"])
    assert r.status_code == 422 and r.get_json()["error"]["details"]["reason"] == "online_lessons_have_no_site"
    lesson = add_lesson(client, world["inst_h"], online["id"], mode="online")
    assert lesson["site_id"] is None


def test_blended_share_at_lesson_creation(client, world):
    plan = make_plan(client, world["inst_h"], delivery="blended", online_platform="福建职业培训联盟平台")
    pid = plan["id"]
    # Online lessons may come first: with no offline hours yet the share is left to submit.
    add_lesson(client, world["inst_h"], pid, day=10, mode="online", hours=2, duration_min=90)
    add_lesson(client, world["inst_h"], pid, day=11, hours=4, site_id=world["site"])
    # 2 online of 6 → adding 0.5 online gives 2.5 / 6.5 = 38 %; adding 1.5 more gives 4 / 8 = 50 %.
    add_lesson(client, world["inst_h"], pid, day=12, mode="online", hours=0.5, duration_min=45)
    r = create(client, world, pid, day=13, mode="online", hours=1.5, duration_min=90)
    assert r.status_code == 422 and err(r) == "online_share_exceeded"
    # Exactly 40 %: 2.5 online + 1.5 = 4 online of 10 once 2 more offline hours exist.
    add_lesson(client, world["inst_h"], pid, day=14, hours=2, duration_min=90, site_id=world["site"])
    add_lesson(client, world["inst_h"], pid, day=15, mode="online", hours=1.5, duration_min=90)
    r = client.get(f"{API}/plans/{pid}", headers=world["inst_h"])
    assert r.get_json()["class_hours"] == {"offline": 6.0, "online": 4.0, "total": 10.0}


def test_lessons_on_submitted_or_late_approved_plans(client, world, clock):
    plan = make_plan(client, world["inst_h"])
    add_lesson(client, world["inst_h"], plan["id"], site_id=world["site"])
    submit(client, world["inst_h"], plan['id'])
    r = create(client, world, plan["id"], day=12, site_id=world["site"])
    assert r.status_code == 409 and err(r) == "invalid_state"
    post(client, f"/plans/{plan['id']}/approve", world["sup_h"])
    add_lesson(client, world["inst_h"], plan["id"], day=12, site_id=world["site"])  # inside the window
    clock.set(sh(8, 0, 1))
    h = login(client, world["inst_user"])
    r = client.post(f"{API}/plans/{plan['id']}/lessons", json=lesson_body(day=13, site_id=world["site"]), headers=h)
    assert r.status_code == 409 and err(r) == "change_window_closed"


def test_lessons_need_the_own_institution(client, world, staff):
    plan = make_plan(client, world["inst_h"])
    lesson = add_lesson(client, world["inst_h"], plan["id"], site_id=world["site"])
    _, other = staff("institution")
    r = client.post(f"{API}/plans/{plan['id']}/lessons", json=lesson_body(day=12), headers=other)
    assert r.status_code == 403
    assert client.get(f"{API}/lessons/{lesson['id']}", headers=other).status_code == 403
    r = client.patch(f"{API}/lessons/{lesson['id']}", json={"title": "x"}, headers=other)
    assert r.status_code == 403
    r = client.patch(f"{API}/lessons/{lesson['id']}", json={"title": "x"}, headers=world["sup_h"])
    assert r.status_code == 403
    assert client.get(f"{API}/lessons/777777", headers=world["inst_h"]).status_code == 404


# ---- lesson time changes on approved plans: same hours, until 4 h before the start ---------------

@pytest.fixture
def approved(client, world):
    plan = approved_plan(client, world["inst_h"], world["sup_h"], world["site"], lessons=2)
    lesson = client.get(f"{API}/plans/{plan['id']}", headers=world["inst_h"]).get_json()["lessons"][0]
    return plan, lesson  # lesson: 2026-03-10 09:00-12:00 Shanghai, 4 class hours


def patch(client, headers, lesson_id, **body):
    return client.patch(f"{API}/lessons/{lesson_id}", json=body, headers=headers)


@pytest.mark.parametrize("moment, status", [(sh(10, 5, 0), 200), (sh(10, 5, 0) + timedelta(seconds=1), 409)])
def test_time_change_until_four_hours_before(client, world, approved, clock, moment, status):
    _, lesson = approved
    clock.set(moment)
    h = login(client, world["inst_user"])
    r = patch(client, h, lesson["id"], starts_at=iso(sh(10, 14)), ends_at=iso(sh(10, 17)))
    assert r.status_code == status, r.get_json()
    if status == 200:
        assert r.get_json()["starts_at"] == "2026-03-10T14:00:00+08:00" and r.get_json()["class_hours"] == 4.0
    else:
        assert err(r) == "change_window_closed"
        assert r.get_json()["error"]["details"]["deadline"] == "2026-03-10T05:00:00+08:00"


def test_time_change_follows_config(app, client, world, clock):
    app.config["LESSON_CHANGE_HOURS"] = 24  # in force when the plan is filed
    plan = approved_plan(client, world["inst_h"], world["sup_h"], world["site"], lessons=2)
    lesson = client.get(f"{API}/plans/{plan['id']}", headers=world["inst_h"]).get_json()["lessons"][0]
    app.config["LESSON_CHANGE_HOURS"] = 4   # a later change does not reach a filed plan
    clock.set(sh(9, 9, 1))
    h = login(client, world["inst_user"])
    r = patch(client, h, lesson["id"], starts_at=iso(sh(10, 14)), ends_at=iso(sh(10, 17)))
    assert r.status_code == 409 and err(r) == "change_window_closed"


@pytest.mark.parametrize("body", [
    {"starts_at": iso(sh(10, 14)), "ends_at": iso(sh(10, 18))},   # longer
    {"class_hours": 3},
    {"starts_at": iso(sh(10, 9)), "ends_at": iso(sh(10, 11)), "class_hours": 2},
])
def test_time_change_keeps_hours(client, world, approved, body):
    _, lesson = approved
    r = patch(client, world["inst_h"], lesson["id"], **body)
    assert r.status_code == 422 and err(r) == "hours_changed"


def test_new_time_needs_the_same_notice(client, world, approved, clock):
    _, lesson = approved
    clock.set(sh(9, 12))
    h = login(client, world["inst_user"])
    r = patch(client, h, lesson["id"], starts_at=iso(sh(9, 14)), ends_at=iso(sh(9, 17)))
    assert r.status_code == 409 and r.get_json()["error"]["details"]["reason"] == "new_time_too_soon"
    r = patch(client, h, lesson["id"], starts_at=iso(sh(10, 18)), ends_at=iso(sh(10, 21)))
    assert r.status_code == 200


def test_time_change_respects_dates_and_overlap(client, world, approved):
    _, lesson = approved
    r = patch(client, world["inst_h"], lesson["id"], starts_at=iso(sh(11, 10)), ends_at=iso(sh(11, 13)))
    assert r.status_code == 422 and r.get_json()["error"]["details"]["reason"] == "overlaps_lesson"
    r = patch(client, world["inst_h"], lesson["id"], starts_at=iso(sh(21, 9)), ends_at=iso(sh(21, 12)))
    assert r.status_code == 422 and r.get_json()["error"]["details"]["reason"] == "outside_plan_dates"


def test_site_change_any_time_until_the_lesson_ends(client, world, approved, clock):
    _, lesson = approved
    second = make_site(client, world["inst_h"], name="第二教室", lat=26.09, lon=119.30)
    clock.set(sh(10, 10))  # lesson running: long past the 4-hour window
    h = login(client, world["inst_user"])
    r = patch(client, h, lesson["id"], site_id=second["id"], title="搬到第二教室")
    assert r.status_code == 200 and r.get_json()["site_id"] == second["id"]
    # Resending unchanged times with the site change is not a time change.
    r = patch(client, h, lesson["id"], starts_at=lesson["starts_at"], ends_at=lesson["ends_at"], site_id=world["site"])
    assert r.status_code == 200
    clock.set(sh(10, 12))
    h = login(client, world["inst_user"])
    r = patch(client, h, lesson["id"], site_id=second["id"])
    assert r.status_code == 409 and r.get_json()["error"]["details"]["reason"] == "lesson_ended"
    entries = db.session.execute(db.select(AuditEntry).where(AuditEntry.action == "lesson.update")).scalars().all()
    assert len(entries) == 2 and entries[0].after["site_id"] == second["id"]


def test_site_change_needs_own_site(client, world, approved, staff):
    _, lesson = approved
    _, other = staff("institution")
    foreign = make_site(client, other)
    r = patch(client, world["inst_h"], lesson["id"], site_id=foreign["id"])
    assert r.status_code == 422 and r.get_json()["error"]["details"]["field"] == "site_id"


def test_draft_lessons_change_freely(client, world):
    plan = make_plan(client, world["inst_h"])
    lesson = add_lesson(client, world["inst_h"], plan["id"], site_id=world["site"])
    r = patch(client, world["inst_h"], lesson["id"], starts_at=iso(sh(10, 8)), ends_at=iso(sh(10, 9, 30)),
              class_hours=2)
    assert r.status_code == 200 and r.get_json()["class_hours"] == 2.0
    r = patch(client, world["inst_h"], lesson["id"], class_hours=3)
    assert r.status_code == 422 and err(r) == "class_hours_too_long"
