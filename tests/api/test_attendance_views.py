"""Attendance views: a lesson's roster with credit, plan hours (offline + online), the trainee's day, site QR."""
from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from backend.extensions import db
from backend.models import OnlineRecord
from backend.services.hours import online_hours, plan_credited_hours
from tests.api.attendance_fixtures import BASE, END, START, long_tokens, world  # noqa: F401

M = timedelta(minutes=1)


def _attend(world, clock, headers, lesson=None, check_in_at=START, check_out_at=END):
    lesson = lesson or world.lesson
    if check_in_at is not None:
        clock.set(check_in_at)
        assert world.post(headers, lesson=lesson).status_code == 201
    if check_out_at is not None:
        clock.set(check_out_at)
        assert world.post(headers, lesson=lesson, kind="check_out").status_code == 201


def test_lesson_attendance_statuses_and_credit(world, clock):
    on_time, h1 = world.person("张三")
    late, h2 = world.person("李四")
    early, h3 = world.person("王五")
    absent, _h4 = world.person("赵六")
    _attend(world, clock, h1, check_in_at=START + 15 * M, check_out_at=END - 15 * M)  # grace edges
    _attend(world, clock, h2, check_in_at=START + 16 * M)
    _attend(world, clock, h3, check_out_at=None)
    _u, inst_h = world.staff("institution")
    r = world.client.get(f"/api/v1/lessons/{world.lesson.id}/attendance", headers=inst_h)
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body["lesson"]["id"] == world.lesson.id and body["lesson"]["starts_at"] == "2026-03-10T09:00:00+08:00"
    rows = {t["person_id"]: t for t in body["trainees"]}
    assert rows[on_time]["status"] == "complete" and rows[on_time]["credited_hours"] == 2.0
    assert rows[on_time]["check_in_at"] == "2026-03-10T09:15:00+08:00" and rows[on_time]["sources"] == ["mobile"]
    assert (rows[late]["status"], rows[late]["credited_hours"]) == ("incomplete", 0.0)
    assert "late" in rows[late]["flags"]
    assert rows[early]["status"] == "incomplete" and "no_check_out" in rows[early]["flags"]
    assert rows[absent].pop("positions", []) == []
    assert rows[absent] == {"person_id": absent, "name": "赵六", "bound": True, "check_in_at": None, "check_out_at": None,
                            "credited_hours": 0.0, "status": "absent", "sources": [], "flags": [],
                            "makeup_kinds": ["check_in", "check_out"]}
    # What a make-up could still fix: nothing for the complete one, the late check-in, the missing check-out.
    assert (rows[on_time]["makeup_kinds"], rows[late]["makeup_kinds"], rows[early]["makeup_kinds"]) == (
        [], ["check_in"], ["check_out"])


def test_lesson_attendance_says_who_is_bound(world, clock):
    """Each trainee row says whether a WeChat account is bound: the dashboard offers 解除绑定 on bound rows."""
    pid, _h = world.person("孙八")
    _u, sup_h = world.staff("supervisor")
    url = f"/api/v1/lessons/{world.lesson.id}/attendance"
    assert {t["person_id"]: t["bound"] for t in world.client.get(url, headers=sup_h).get_json()["trainees"]} == {pid: True}
    r = world.client.post(f"/api/v1/persons/{pid}/unbind", headers=sup_h, json={"reason": "他人冒用身份绑定"})
    assert r.status_code == 200, r.get_json()
    assert [t["bound"] for t in world.client.get(url, headers=sup_h).get_json()["trainees"]] == [False]


def test_lesson_attendance_scope(world, clock, staff, make_institution):
    _u, sup = world.staff("supervisor", region_code="3501")
    assert world.client.get(f"/api/v1/lessons/{world.lesson.id}/attendance", headers=sup).status_code == 200
    _u, other_sup = staff("supervisor", region_code="3502")
    r = world.client.get(f"/api/v1/lessons/{world.lesson.id}/attendance", headers=other_sup)
    assert r.status_code == 403
    _u, other_inst = staff("institution", institution=make_institution("350102"))
    assert world.client.get(f"/api/v1/lessons/{world.lesson.id}/attendance", headers=other_inst).status_code == 403
    _pid, trainee_h = world.person()
    assert world.client.get(f"/api/v1/lessons/{world.lesson.id}/attendance", headers=trainee_h).status_code == 403
    assert world.client.get("/api/v1/lessons/999999/attendance", headers=sup).status_code == 404


@pytest.mark.parametrize("class_hours, minutes, expected", [
    ("2", 0, "0"), ("2", 22, "0"), ("2", 23, "0.5"), ("2", 67, "1"), ("2", 68, "1.5"), ("2", 90, "2"),
    ("2", 500, "2"), ("1.5", 90, "1.5"),
])
def test_online_hours_rounding_and_cap(class_hours, minutes, expected):
    assert online_hours(Decimal(class_hours), minutes) == Decimal(expected)


def test_plan_hours_offline_plus_online(world, clock):
    full, h1 = world.person("张三")
    partial, _h2 = world.person("李四")
    second = world.add_lesson(starts_at=START + timedelta(days=1), class_hours="3", hours=3)
    online = world.add_lesson(mode="online", starts_at=START + timedelta(days=2), class_hours="2")
    _attend(world, clock, h1)
    _attend(world, clock, h1, lesson=second, check_in_at=second.starts_at, check_out_at=second.ends_at)
    db.session.add_all([OnlineRecord(plan_id=world.plan.id, lesson_id=online.id, person_id=full, minutes=200,
                                     imported_at=BASE),
                        OnlineRecord(plan_id=world.plan.id, lesson_id=online.id, person_id=partial, minutes=50,
                                     imported_at=BASE)])
    db.session.commit()
    _u, inst_h = world.staff("institution")
    r = world.client.get(f"/api/v1/plans/{world.plan.id}/hours", headers=inst_h)
    assert r.status_code == 200, r.get_json()
    rows = {t["person_id"]: t for t in r.get_json()["trainees"]}
    assert rows[full] == {"person_id": full, "name": "张三", "offline_hours": 5.0, "online_hours": 2.0,
                          "total_hours": 7.0, "by_source": {"mobile": 5.0, "online": 2.0}}
    assert rows[partial]["offline_hours"] == 0.0 and rows[partial]["online_hours"] == 1.0
    assert plan_credited_hours(world.plan.id) == {full: Decimal("7"), partial: Decimal("1")}
    _u, sup = world.staff("supervisor", region_code="35")
    assert world.client.get(f"/api/v1/plans/{world.plan.id}/hours", headers=sup).status_code == 200
    _u, far = world.staff("supervisor", region_code="11")
    assert world.client.get(f"/api/v1/plans/{world.plan.id}/hours", headers=far).status_code == 403


def test_my_lessons_by_shanghai_day(world, clock):
    _pid, h = world.person()
    tomorrow = world.add_lesson(starts_at=START + timedelta(days=1))
    # 23:30 Shanghai on the 10th is 15:30 UTC: still the 10th for the trainee.
    late_evening = world.add_lesson(starts_at=BASE + timedelta(hours=15, minutes=30), hours=1, class_hours="1")
    _attend(world, clock, h, check_out_at=None)
    clock.set(START + 30 * M)
    r = world.client.get("/api/v1/me/lessons", headers=h)
    assert r.status_code == 200, r.get_json()
    ids = [x["id"] for x in r.get_json()]
    assert ids == [world.lesson.id, late_evening.id]
    first = r.get_json()[0]
    assert first["check_in_at"] == "2026-03-10T09:00:00+08:00" and first["check_out_at"] is None
    assert first["status"] == "incomplete" and first["site"]["radius_m"] == 200
    assert set(first) >= {"id", "plan_id", "title", "mode", "starts_at", "ends_at", "class_hours", "require_site_qr",
                          "site", "plan_title", "check_in_at", "check_out_at", "flags"}
    assert set(first["site"]) == {"id", "name", "address", "lat", "lon", "radius_m"}
    assert first["starts_at"] == "2026-03-10T09:00:00+08:00" and first["require_site_qr"] is False
    assert first["check_in_window"] == {"opens_at": "2026-03-10T08:30:00+08:00", "closes_at": "2026-03-10T11:00:00+08:00"}
    r = world.client.get("/api/v1/me/lessons?date=2026-03-11", headers=h)
    assert [x["id"] for x in r.get_json()] == [tomorrow.id]
    assert world.client.get("/api/v1/me/lessons?date=yesterday", headers=h).status_code == 422
    _other, other_h = world.person("李四", enroll=False)
    assert world.client.get("/api/v1/me/lessons", headers=other_h).get_json() == []


def test_site_qr_json_png_svg_and_rotation(world, clock, staff, make_institution):
    _u, inst_h = world.staff("institution")
    clock.set(START + 5 * timedelta(seconds=1))
    url = f"/api/v1/lessons/{world.lesson.id}/site-qr"
    first = world.client.get(url, headers=inst_h)
    assert first.status_code == 200 and first.headers["Cache-Control"] == "no-store"
    body = first.get_json()
    assert body["refresh_after_s"] == 25 and body["expires_at"] == "2026-03-10T09:01:00+08:00"
    clock.advance(seconds=30)
    assert world.client.get(url, headers=inst_h).get_json()["token"] != body["token"]
    png = world.client.get(url + "?format=png", headers=inst_h)
    assert png.status_code == 200 and png.mimetype == "image/png" and png.data[:8] == b"\x89PNG\r\n\x1a\n"
    svg = world.client.get(url + "?format=svg", headers=inst_h)
    assert svg.mimetype == "image/svg+xml" and b"<svg" in svg.data
    assert world.client.get(url + "?format=gif", headers=inst_h).status_code == 422
    _u, other = staff("institution", institution=make_institution("350102"))
    assert world.client.get(url, headers=other).status_code == 403
    _u, sup = world.staff("supervisor")
    assert world.client.get(url, headers=sup).status_code == 403


LESSON_KEYS = {"id", "plan_id", "title", "mode", "starts_at", "ends_at", "class_hours", "require_site_qr", "site"}
OFFLINE_DAY_KEYS = {"status", "credited_hours", "check_in_window", "check_out_window", "check_in_credit_until",
                    "check_out_credit_from"}


def test_attendance_and_my_lessons_keys(world, clock):
    """The key sets of a lesson's roster rows (with a refused fix) and of the trainee's day, online and offline."""
    pid, h = world.person()
    online = world.add_lesson(starts_at=START + timedelta(hours=3), mode="online")
    clock.set(START)
    assert world.post(h, at=(26.1245, 119.2965)).status_code in (200, 201, 422)  # out of the fence: refused
    _attend(world, clock, h, check_in_at=START + 5 * M, check_out_at=None)
    _u, inst_h = world.staff("institution")
    body = world.client.get(f"/api/v1/lessons/{world.lesson.id}/attendance", headers=inst_h).get_json()
    assert set(body) == {"lesson", "trainees"} and set(body["lesson"]) == LESSON_KEYS
    [row] = body["trainees"]
    assert set(row) == {"person_id", "name", "bound", "check_in_at", "check_out_at", "credited_hours", "status",
                        "sources", "flags", "positions", "makeup_kinds"}
    assert (row["check_in_at"], row["check_out_at"]) == ("2026-03-10T09:05:00+08:00", None)
    refused, fix = row["positions"]
    assert set(refused) == {"kind", "lat", "lon", "accuracy_m", "distance_m", "accepted", "reason", "at"}
    assert (refused["accepted"], refused["reason"], refused["at"]) == (False, "out_of_fence", "2026-03-10T09:00:00+08:00")
    assert fix["accepted"] is True and fix["reason"] is None and fix["distance_m"] == round(fix["distance_m"], 1)
    offline, on = world.client.get("/api/v1/me/lessons", headers=h).get_json()
    assert on["id"] == online.id
    base = LESSON_KEYS | {"plan_title", "check_in_at", "check_out_at", "flags"}
    assert set(on) == base and on["site"] is None
    assert set(offline) == base | OFFLINE_DAY_KEYS
    assert set(offline["check_out_window"]) == {"opens_at", "closes_at"}
    assert (offline["check_in_credit_until"], offline["check_out_credit_from"]) == (
        "2026-03-10T09:15:00+08:00", "2026-03-10T10:45:00+08:00")
    assert (offline["status"], offline["credited_hours"]) == ("incomplete", 0.0)
