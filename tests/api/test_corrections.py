"""The institution's corrections: removing a roster row or a lesson before the freeze, the occupation
catalogue, and changing one's own password (other sessions signed out)."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from backend.extensions import db
from backend.models import AttendanceEvent, AuditEntry, Enrollment, Lesson, OnlineRecord, Voucher
from tests.api.plan_helpers import (
    API,
    NOW,
    add_lesson,
    approved_plan,
    err,
    login,
    make_person,
    make_voucher,
    post,
    roster_world,
    sh,
)
from tests.api.test_roster import trainee_row


@pytest.fixture
def world(clock, staff, client, make_institution):
    return roster_world(clock, staff, client, make_institution)


def _import(client, world, *seqs) -> list[dict]:
    names = "甲乙丙丁戊己庚辛"
    rows = [trainee_row(s, f"学员{names[s]}") for s in seqs]
    r = client.post(f"{API}/plans/{world['plan']['id']}/roster", json={"trainees": rows}, headers=world["inst_h"])
    assert r.status_code == 200 and r.get_json()["imported"] == len(rows), r.get_json()
    return r.get_json()["rows"]


def _remove(client, world, enrollment_id, headers=None, plan_id=None):
    return client.delete(f"{API}/plans/{plan_id or world['plan']['id']}/enrollments/{enrollment_id}",
                         headers=headers or world["inst_h"])


def _roster(client, world, status="active") -> list[dict]:
    r = client.get(f"{API}/plans/{world['plan']['id']}/enrollments?status={status}", headers=world["inst_h"])
    return r.get_json()


# ---- roster rows ------------------------------------------------------------------------------

def test_remove_roster_row_before_freeze_is_audited(client, world):
    rows = _import(client, world, 1, 2)
    eid = rows[0]["enrollment_id"]
    r = _remove(client, world, eid)
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["status"] == "withdrawn" and r.get_json()["id"] == eid
    assert [e["id"] for e in _roster(client, world)] == [rows[1]["enrollment_id"]]
    assert [e["id"] for e in _roster(client, world, "withdrawn")] == [eid]
    plan = client.get(f"{API}/plans/{world['plan']['id']}", headers=world["inst_h"]).get_json()
    assert plan["enrolled"] == 1
    entry = db.session.execute(select(AuditEntry).where(AuditEntry.action == "enrollment.remove")).scalar()
    assert entry is not None and str(entry.object_id) == str(eid)
    # A second removal is a state conflict, not a silent success.
    assert err(_remove(client, world, eid)) == "invalid_state"
    # Imported again, the same person comes back on the roster (the withdrawn row is revived).
    again = _import(client, world, 1)
    assert again[0]["enrollment_id"] == eid
    assert len(_roster(client, world)) == 2


def test_removal_gives_the_voucher_back(client, world):
    row = trainee_row(5, "持券人")
    person = make_person("持券人", row["id_number"], row["phone"])
    voucher = make_voucher(person.id)
    r = client.post(f"{API}/plans/{world['plan']['id']}/enrollments", json={"voucher_code": voucher.code},
                    headers=world["inst_h"])
    assert r.status_code == 201, r.get_json()
    eid = r.get_json()["id"]
    assert db.session.get(Voucher, voucher.id, populate_existing=True).status == "used"
    r = _remove(client, world, eid)
    assert r.status_code == 200 and r.get_json()["voucher_code"] is None
    v = db.session.get(Voucher, voucher.id, populate_existing=True)
    assert v.status == "claimed" and v.used_at is None
    assert db.session.execute(select(AuditEntry).where(AuditEntry.action == "voucher.release")).scalar()
    # The released voucher enrols the holder again.
    r = client.post(f"{API}/plans/{world['plan']['id']}/enrollments", json={"voucher_code": voucher.code},
                    headers=world["inst_h"])
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["id"] == eid and r.get_json()["status"] == "active"


def test_remove_refused_after_freeze(client, clock, world):
    rows = _import(client, world, 1)
    clock.set(sh(10, 9, 5).astimezone(NOW.tzinfo))   # the first lesson started at 09:00
    r = _remove(client, world, rows[0]["enrollment_id"], headers=login(client, world["inst_user"]))
    assert r.status_code == 409 and err(r) == "roster_frozen"
    assert db.session.get(Enrollment, rows[0]["enrollment_id"]).status == "active"


def test_remove_refused_once_records_exist(client, world):
    rows = _import(client, world, 1)
    lesson = db.session.execute(select(Lesson).where(Lesson.plan_id == world["plan"]["id"])).scalar()
    db.session.add(OnlineRecord(plan_id=world["plan"]["id"], lesson_id=lesson.id, person_id=rows[0]["person_id"],
                                minutes=30, imported_at=NOW))
    db.session.commit()
    r = _remove(client, world, rows[0]["enrollment_id"])
    assert r.status_code == 409 and err(r) == "attendance_exists"


def test_remove_refused_for_other_roles_and_institutions(client, staff, make_institution, world):
    rows = _import(client, world, 1)
    eid = rows[0]["enrollment_id"]
    assert _remove(client, world, eid, headers=world["sup_h"]).status_code == 403
    other = make_institution("350102")
    _, other_h = staff("institution", institution=other)
    r = _remove(client, world, eid, headers=other_h)
    assert r.status_code in (403, 404)
    # The row must belong to the plan named in the path.
    assert _remove(client, world, eid, plan_id=world["plan"]["id"] + 999).status_code == 404
    assert db.session.get(Enrollment, eid).status == "active"


# ---- lessons ----------------------------------------------------------------------------------

def test_delete_lesson_in_draft_is_audited(client, world):
    extra = add_lesson(client, world["inst_h"], world["plan"]["id"], day=11, site_id=world["site"])
    r = client.delete(f"{API}/lessons/{extra['id']}", headers=world["inst_h"])
    assert r.status_code == 200 and r.get_json() == extra  # the removed lesson, as it was created
    assert client.get(f"{API}/lessons/{extra['id']}", headers=world["inst_h"]).status_code == 404
    plan = client.get(f"{API}/plans/{world['plan']['id']}", headers=world["inst_h"]).get_json()
    assert len(plan["lessons"]) == 1
    entry = db.session.execute(select(AuditEntry).where(AuditEntry.action == "lesson.delete")).scalar()
    assert entry is not None and entry.before["title"] == extra["title"]


def test_delete_lesson_refused_with_attendance(client, world):
    lesson = db.session.execute(select(Lesson).where(Lesson.plan_id == world["plan"]["id"])).scalar()
    rows = _import(client, world, 1)
    db.session.add(AttendanceEvent(origin=f"p{rows[0]['person_id']}", event_id="e-1", person_id=rows[0]["person_id"],
                                   lesson_id=lesson.id, kind="check_in", source="mobile", received_at=NOW,
                                   accepted=False, reason="outside_time_window"))
    db.session.commit()
    r = client.delete(f"{API}/lessons/{lesson.id}", headers=world["inst_h"])
    assert r.status_code == 409 and err(r) == "attendance_exists"


def test_delete_lesson_after_change_deadline_or_start(client, clock, world):
    plan = approved_plan(client, world["inst_h"], world["sup_h"], world["site"], lessons=2)
    lessons = client.get(f"{API}/plans/{plan['id']}/lessons", headers=world["inst_h"]).get_json()
    # Inside the window (the plan starts 2026-03-10, deadline 2026-03-08 00:00): allowed.
    r = client.delete(f"{API}/lessons/{lessons[1]['id']}", headers=world["inst_h"])
    assert r.status_code == 200, r.get_json()
    clock.set(sh(9, 12).astimezone(NOW.tzinfo))
    r = client.delete(f"{API}/lessons/{lessons[0]['id']}", headers=login(client, world["inst_user"]))
    assert r.status_code == 409 and err(r) == "change_window_closed"


def test_delete_lesson_refused_for_supervisor_and_other_institution(client, staff, make_institution, world):
    lesson = db.session.execute(select(Lesson).where(Lesson.plan_id == world["plan"]["id"])).scalar()
    assert client.delete(f"{API}/lessons/{lesson.id}", headers=world["sup_h"]).status_code == 403
    _, other_h = staff("institution", institution=make_institution("350102"))
    assert client.delete(f"{API}/lessons/{lesson.id}", headers=other_h).status_code in (403, 404)
    assert db.session.get(Lesson, lesson.id) is not None


# ---- occupations ------------------------------------------------------------------------------

def test_occupation_catalogue_and_plan_name(client, world):
    r = client.get(f"{API}/occupations", headers=world["inst_h"])
    assert r.status_code == 200
    names = {o["code"]: o["name"] for o in r.get_json()}
    assert names["4-03-02-01"] == "中式烹调师" and len(names) >= 20
    plan = client.get(f"{API}/plans/{world['plan']['id']}", headers=world["inst_h"]).get_json()
    assert plan["occupation_name"] == "中式烹调师"


# ---- password ---------------------------------------------------------------------------------

def _login_pair(client, username, password):
    return client.post(f"{API}/auth/login", json={"username": username, "password": password})


def test_change_password_signs_out_other_sessions(client, world):
    user = world["inst_user"]
    other = _login_pair(client, user.username, "password-123").get_json()
    mine = _login_pair(client, user.username, "password-123").get_json()
    h = {"Authorization": f"Bearer {mine['access_token']}"}
    r = post(client, "/auth/password", h, json={"old_password": "password-123", "new_password": "Xin-mima-2026"})
    assert r.status_code == 200, r.get_json()
    fresh = r.get_json()
    assert fresh["access_token"] and fresh["refresh_token"] and fresh["user"]["id"] == user.id
    # Every earlier session's refresh token is dead; the new pair works.
    for old in (other, mine):
        assert client.post(f"{API}/auth/refresh", json={"refresh_token": old["refresh_token"]}).status_code == 401
    assert client.post(f"{API}/auth/refresh", json={"refresh_token": fresh["refresh_token"]}).status_code == 200
    assert _login_pair(client, user.username, "password-123").status_code == 401
    assert _login_pair(client, user.username, "Xin-mima-2026").status_code == 200
    assert db.session.execute(select(AuditEntry).where(AuditEntry.action == "user.password_change")).scalar()


@pytest.mark.parametrize("old,new,code,field", [
    ("wrong-password", "Xin-mima-2026", "wrong_password", "old_password"),
    ("password-123", "short1", "weak_password", "new_password"),
    ("password-123", "password-123", "weak_password", "new_password"),
    ("password-123", "aaaaaaaaaaaa", "weak_password", "new_password"),
    ("password-123", "abcdefghijkl", "weak_password", "new_password"),
])
def test_change_password_refusals(client, world, old, new, code, field):
    r = post(client, "/auth/password", world["inst_h"], json={"old_password": old, "new_password": new})
    assert r.status_code == 422 and err(r) == code, r.get_json()
    assert r.get_json()["error"]["details"]["field"] == field
    assert _login_pair(client, world["inst_user"].username, "password-123").status_code == 200


def test_change_password_contains_username_and_needs_staff(client, world, clock):
    name = world["inst_user"].username
    r = post(client, "/auth/password", world["inst_h"], json={"old_password": "password-123",
                                                              "new_password": f"{name}-2026-X"})
    assert err(r) == "weak_password" and r.get_json()["error"]["details"]["reason"] == "contains_username"
    trainee = client.post(f"{API}/auth/wechat", json={"code": "corr-1"}).get_json()
    r = post(client, "/auth/password", {"Authorization": f"Bearer {trainee['access_token']}"},
             json={"old_password": "x", "new_password": "Xin-mima-2026"})
    assert r.status_code == 403
    assert post(client, "/auth/password", {}, json={"old_password": "x", "new_password": "y"}).status_code == 401


# ---- many labour contracts at once ------------------------------------------------------------

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def _send_many(client, headers, plan_id, files):
    boundary = "----bulk-contract-boundary"
    body = b""
    for name, data in files:
        body += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"{name}\"\r\n"
                 f"Content-Type: application/octet-stream\r\n\r\n").encode() + data + b"\r\n"
    body += f"--{boundary}--\r\n".encode()
    return client.post(f"{API}/plans/{plan_id}/contracts", headers=headers, data=body,
                       content_type=f"multipart/form-data; boundary={boundary}")


def test_bulk_contracts_matched_by_id_number(client, world, staff, make_institution):
    from tests.api.plan_helpers import make_plan
    plan = make_plan(client, world["inst_h"], plan_type="in_post", title="电工岗位技能提升培训")
    add_lesson(client, world["inst_h"], plan["id"], site_id=world["site"])
    rows = [trainee_row(1, "张三"), trainee_row(2, "李四")]
    body = client.post(f"{API}/plans/{plan['id']}/roster", json={"trainees": rows}, headers=world["inst_h"]).get_json()
    ids = [r["enrollment_id"] for r in body["rows"]]
    stranger = trainee_row(7, "王五")["id_number"]
    r = _send_many(client, world["inst_h"], plan["id"], [
        (f"{rows[0]['id_number']}-张三.pdf", PDF),
        (f"合同_{rows[1]['id_number']}.pdf", b"not a document"),
        (f"{stranger}.pdf", PDF),
        ("说明.pdf", PDF),
    ])
    assert r.status_code == 200, r.get_json()
    out = r.get_json()
    assert out["stored"] == 1 and out["failed"] == 3
    assert [x["status"] for x in out["rows"]] == ["ok", "error", "error", "error"]
    assert [x.get("code") for x in out["rows"][1:]] == ["unsupported_file_type", "not_on_roster",
                                                        "no_id_number_in_name"]
    assert out["rows"][0]["enrollment_id"] == ids[0]
    assert db.session.get(Enrollment, ids[0]).contract_path and not db.session.get(Enrollment, ids[1]).contract_path
    # Only for in-post plans, and only by the plan's own institution.
    r = _send_many(client, world["inst_h"], world["plan"]["id"], [(f"{rows[0]['id_number']}.pdf", PDF)])
    assert r.status_code == 422
    _, other_h = staff("institution", institution=make_institution("350102"))
    assert _send_many(client, other_h, plan["id"], [(f"{rows[0]['id_number']}.pdf", PDF)]).status_code in (403, 404)
    assert _send_many(client, world["sup_h"], plan["id"], [(f"{rows[0]['id_number']}.pdf", PDF)]).status_code == 403


def test_bulk_contracts_from_a_zip(client, world):
    import io
    import zipfile

    from tests.api.plan_helpers import make_plan
    plan = make_plan(client, world["inst_h"], plan_type="in_post", title="电工岗位技能提升培训")
    add_lesson(client, world["inst_h"], plan["id"], site_id=world["site"])
    rows = [trainee_row(1, "张三"), trainee_row(2, "李四")]
    body = client.post(f"{API}/plans/{plan['id']}/roster", json={"trainees": rows}, headers=world["inst_h"]).get_json()
    ids = [r["enrollment_id"] for r in body["rows"]]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(f"合同/{rows[0]['id_number']}-张三.pdf", PDF)
        zf.writestr(f"合同/{rows[1]['id_number']}-李四.pdf", PDF + b"0" * 1000)
        zf.writestr("__MACOSX/._junk", b"x")
    r = _send_many(client, world["inst_h"], plan["id"], [("合同.zip", buf.getvalue()), ("坏的.zip", b"PK\x03\x04broken")])
    assert r.status_code == 200, r.get_json()
    out = r.get_json()
    assert out["stored"] == 2 and out["failed"] == 1
    assert out["rows"][-1] == {"filename": "坏的.zip", "status": "error", "code": "invalid_archive"}
    assert all(db.session.get(Enrollment, i).contract_path for i in ids)


def test_zip_entries_over_the_limit_are_refused_unread():
    import io
    import zipfile

    from backend.services import contract_archive
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("350102199003070012.pdf", b"%PDF-" + b"0" * (2 * 1024 * 1024))   # compresses to a few KB
    out = contract_archive.expand([("a.zip", buf.getvalue())], max_file_bytes=1024 * 1024)
    assert out == [("a.zip/350102199003070012.pdf", None, "payload_too_large")]
    assert len(buf.getvalue()) < 64 * 1024
