"""Make-ups (补卡): same-day filing with checked photos, supervisor decision, credited hours."""
from __future__ import annotations

import io
from datetime import timedelta
from pathlib import Path

import pytest
from PIL import Image
from werkzeug.test import EnvironBuilder

from backend.extensions import db
from backend.models import AuditEntry, LiveEvent, MakeupRequest
from tests.api.attendance_fixtures import END, START, events, long_tokens, world  # noqa: F401
from tests.photos import textured_jpeg

H = timedelta(hours=1)


def jpeg(size=(64, 48), exif=True) -> bytes:
    img = Image.new("RGB", size, (200, 30, 30))
    buf = io.BytesIO()
    if exif:
        tags = Image.Exif()
        tags[0x010F] = "SpyCam"  # Make
        tags[0x0112] = 6  # Orientation: rotate 90° to display
        img.save(buf, "JPEG", exif=tags.tobytes())
    else:
        img.save(buf, "JPEG")
    return buf.getvalue()


def png(size=(40, 30), mode="RGB") -> bytes:
    buf = io.BytesIO()
    Image.new(mode, size).save(buf, "PNG")
    return buf.getvalue()


def _file(world, headers, person_id, kind="both", sign=None, pano=None, lesson=None, reason="手机没电，现场签到表为证"):
    data = {"person_id": str(person_id), "kind": kind, "reason": reason,
            "sign_sheet": (io.BytesIO(sign if sign is not None else jpeg()), "签到表.jpg"),
            "panorama": (io.BytesIO(pano if pano is not None else png()), "../../etc/passwd.png")}
    # Built by hand so the test client's spooled body (a temp file for big uploads) gets closed.
    builder = EnvironBuilder(path=f"/api/v1/lessons/{(lesson or world.lesson).id}/makeups", method="POST",
                             data=data, headers=headers, content_type="multipart/form-data")
    environ = builder.get_environ()
    try:
        return world.client.open(environ)
    finally:
        environ["wsgi.input"].close()
        builder.close()


@pytest.fixture
def setup(world, clock):
    pid, _h = world.person()
    _u, inst = world.staff("institution")
    _u, sup = world.staff("supervisor", region_code="3501")
    clock.set(START + H)
    return world, pid, inst, sup


def test_file_approve_credits_hours(setup, app, clock):
    world, pid, inst, sup = setup
    r = _file(world, inst, pid)
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["status"] == "pending"
    mid = r.get_json()["id"]
    req = db.session.get(MakeupRequest, mid)
    upload_dir = Path(app.config["UPLOAD_DIR"])
    for rel in (req.sign_sheet_path, req.panorama_path):
        path = upload_dir / rel
        assert path.is_file() and "passwd" not in rel and "签到" not in rel and rel.startswith("makeups/")
    queue = world.client.get("/api/v1/makeups?status=pending", headers=sup)
    assert queue.status_code == 200 and [m["id"] for m in queue.get_json()] == [mid]
    assert queue.headers["X-Total-Count"] == "1" and queue.get_json()[0]["name"] == "张三"
    listed = queue.get_json()[0]
    assert set(listed) == {"id", "lesson_id", "person_id", "name", "kind", "reason", "status", "created_at",
                           "decided_at", "decision_note", "lesson_title", "lesson_starts_at", "photos", "photo_reused"}
    assert (listed["decided_at"], listed["decision_note"], listed["lesson_id"]) == (None, None, world.lesson.id)
    assert listed["lesson_title"] == world.lesson.title and listed["lesson_starts_at"].endswith("+00:00")
    assert listed["photos"] == {n: f"/api/v1/makeups/{mid}/photos/{n}" for n in ("sign_sheet", "panorama")}
    assert world.client.get(f"/api/v1/makeups/{mid}", headers=sup).get_json() == listed
    clock.advance(hours=5)
    r = world.client.post(f"/api/v1/makeups/{mid}/approve", json={"note": "签到表属实"}, headers=sup)
    assert r.status_code == 200 and r.get_json()["status"] == "approved"
    rows = events(person_id=pid)
    assert [(e.kind, e.source, e.accepted, e.captured_at) for e in rows] == [
        ("check_in", "makeup", True, START), ("check_out", "makeup", True, END)]
    att = world.client.get(f"/api/v1/lessons/{world.lesson.id}/attendance", headers=sup).get_json()
    [me] = [t for t in att["trainees"] if t["person_id"] == pid]
    assert (me["status"], me["credited_hours"], me["sources"]) == ("complete", 2.0, ["makeup"])
    hours = world.client.get(f"/api/v1/plans/{world.plan.id}/hours", headers=inst).get_json()
    assert hours["trainees"][0]["offline_hours"] == 2.0
    assert db.session.execute(db.select(db.func.count()).select_from(LiveEvent)).scalar() == 2
    actions = [a for (a,) in db.session.execute(db.select(AuditEntry.action).where(
        AuditEntry.object_type == "makeup_request"))]
    assert actions == ["makeup.file", "makeup.approved"]
    again = world.client.post(f"/api/v1/makeups/{mid}/approve", json={}, headers=sup)
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "invalid_state"


def test_makeup_both_only_credits_what_is_missing(setup, clock):
    world, pid, inst, sup = setup
    clock.set(START)
    late_pid, h = world.person("李四")
    assert world.post(h).status_code == 201  # checked in by phone, then the phone died
    clock.set(START + H)
    r = _file(world, inst, late_pid, kind="check_out")
    assert r.status_code == 201
    # Meanwhile nothing else arrived: approval adds the check-out only.
    assert world.client.post(f"/api/v1/makeups/{r.get_json()['id']}/approve", json={}, headers=sup).status_code == 200
    assert [(e.kind, e.source) for e in events(person_id=late_pid)] == [("check_in", "mobile"), ("check_out", "makeup")]


def test_reject_credits_nothing(setup):
    world, pid, inst, sup = setup
    mid = _file(world, inst, pid).get_json()["id"]
    r = world.client.post(f"/api/v1/makeups/{mid}/reject", json={"reason": "照片不清"}, headers=sup)
    assert r.status_code == 200 and r.get_json()["status"] == "rejected"
    assert events(person_id=pid) == []
    assert db.session.get(MakeupRequest, mid).decision_note == "照片不清"


@pytest.mark.parametrize("when", [START - timedelta(minutes=1), START + timedelta(hours=14, minutes=59, seconds=59)])
def test_window_edges(setup, clock, when):
    world, pid, inst, _sup = setup
    clock.set(when)  # before the lesson starts / the last second of its Shanghai day
    r = _file(world, inst, pid)
    if when < START:
        assert r.status_code == 409 and r.get_json()["error"]["code"] == "makeup_window_closed"
    else:
        assert r.status_code == 201


def test_next_day_is_closed(setup, clock):
    world, pid, inst, _sup = setup
    clock.set(START + timedelta(hours=15))  # 00:00 Shanghai the next day
    r = _file(world, inst, pid)
    assert r.status_code == 409 and r.get_json()["error"]["code"] == "makeup_window_closed"
    assert r.get_json()["error"]["details"]["lesson_day"] == "2026-03-10"


def test_image_checks(setup, app):
    world, pid, inst, _sup = setup
    cases = [
        (b"just text, named .jpg", "unsupported_image"),
        (_gif(), "unsupported_image"),
        (jpeg()[:200], "invalid_image"),
        (b"\xff\xd8\xff\xe0" + b"0" * (10 * 1024 * 1024), "image_too_large"),
        (png((10000, 9000), mode="1"), "image_too_large"),  # 90 MP: over our cap and Pillow's bomb warning
        (png((4100, 3100), mode="1"), "image_too_large"),  # 12.7 MP: over our cap of 4096 x 3072
    ]
    for data, code in cases:
        r = _file(world, inst, pid, sign=data)
        assert r.status_code == 422, (code, r.get_json())
        assert r.get_json()["error"]["code"] == code
        assert r.get_json()["error"]["details"]["field"] == "sign_sheet"
    assert db.session.execute(db.select(MakeupRequest)).first() is None
    upload_dir = Path(app.config["UPLOAD_DIR"])
    assert not upload_dir.exists() or not any(p.is_file() for p in upload_dir.rglob("*"))


def _gif() -> bytes:
    buf = io.BytesIO()
    Image.new("P", (8, 8)).save(buf, "GIF")
    return buf.getvalue()


def test_exif_is_stripped_and_orientation_applied(setup, app):
    world, pid, inst, sup = setup
    mid = _file(world, inst, pid, sign=jpeg((64, 48))).get_json()["id"]
    photo = world.client.get(f"/api/v1/makeups/{mid}/photos/sign_sheet", headers=sup)
    assert photo.status_code == 200 and photo.mimetype == "image/jpeg"
    assert "no-store" in photo.headers["Cache-Control"]
    img = Image.open(io.BytesIO(photo.data))
    assert dict(img.getexif()) == {} and img.size == (48, 64)
    pano = world.client.get(f"/api/v1/makeups/{mid}/photos/panorama", headers=inst)
    assert pano.status_code == 200 and pano.mimetype == "image/png"
    assert world.client.get(f"/api/v1/makeups/{mid}/photos/other", headers=sup).status_code == 404


def test_who_may_file_decide_and_view(setup, staff, make_institution, clock):
    world, pid, inst, sup = setup
    _u, other_inst = staff("institution", institution=make_institution("350102"))
    assert _file(world, other_inst, pid).status_code == 403
    not_enrolled, _h = world.person("李四", enroll=False)
    r = _file(world, inst, not_enrolled)
    assert r.status_code == 403 and r.get_json()["error"]["code"] == "not_enrolled"
    mid = _file(world, inst, pid).get_json()["id"]
    dup = _file(world, inst, pid)
    assert dup.status_code == 409 and dup.get_json()["error"]["code"] == "makeup_pending"
    _u, far_sup = staff("supervisor", region_code="3502")
    for who in (far_sup, inst):
        assert world.client.post(f"/api/v1/makeups/{mid}/approve", json={}, headers=who).status_code == 403
    assert world.client.get(f"/api/v1/makeups/{mid}/photos/panorama", headers=far_sup).status_code == 403
    assert world.client.get(f"/api/v1/makeups/{mid}/photos/panorama", headers=other_inst).status_code == 403
    assert world.client.get("/api/v1/makeups?status=pending", headers=far_sup).get_json() == []
    assert world.client.get("/api/v1/makeups", headers=other_inst).get_json() == []
    assert [m["id"] for m in world.client.get("/api/v1/makeups", headers=inst).get_json()] == [mid]


def test_makeup_for_kind_already_recorded_is_refused(setup, clock):
    world, pid, inst, _sup = setup
    clock.set(START)
    _pid, h = world.person("李四")
    assert world.post(h).status_code == 201
    clock.set(START + H)
    r = _file(world, inst, _pid, kind="check_in")
    assert r.status_code == 409 and r.get_json()["error"]["code"] == "already_checked_in"
    assert _file(world, inst, _pid, kind="check_out").status_code == 201


def test_online_lesson_has_no_makeup(setup, clock):
    world, pid, inst, _sup = setup
    online = world.add_lesson(mode="online", starts_at=START)
    r = _file(world, inst, pid, lesson=online)
    assert r.status_code == 422 and r.get_json()["error"]["code"] == "not_offline_lesson"


def test_early_leaver_can_be_made_up(setup, clock):
    """A trainee who signed out early (0 hours) is not refused a check-out make-up: the early check-out earns
    nothing, so approval supersedes it (kept as evidence) and the lesson is credited."""
    world, _pid, inst, sup = setup
    clock.set(START)
    pid, h = world.person("王五")
    check_in = world.post(h)
    assert check_in.status_code == 201
    clock.set(START + H)  # an hour before the end: accepted, but left_early
    early_id = "0c5e7a56-9d8e-4d5e-8a43-6f3f5f8a2b11"
    assert world.post(h, kind="check_out", event_id=early_id).status_code == 201
    att = world.client.get(f"/api/v1/lessons/{world.lesson.id}/attendance", headers=inst).get_json()
    [me] = [t for t in att["trainees"] if t["person_id"] == pid]
    assert (me["status"], me["credited_hours"], me["makeup_kinds"]) == ("incomplete", 0.0, ["check_out"])
    # The check-in on time is settled: a check-in make-up would change nothing and is still refused.
    r = _file(world, inst, pid, kind="check_in")
    assert r.status_code == 409 and r.get_json()["error"]["code"] == "already_checked_in"
    r = _file(world, inst, pid, kind="check_out")
    assert r.status_code == 201, r.get_json()
    r = world.client.post(f"/api/v1/makeups/{r.get_json()['id']}/approve", json={}, headers=sup)
    assert r.status_code == 200, r.get_json()
    rows = events(person_id=pid)
    assert [(e.kind, e.source, e.accepted, e.reason) for e in rows] == [
        ("check_in", "mobile", True, None), ("check_out", "mobile", False, "superseded"),
        ("check_out", "makeup", True, None)]
    att = world.client.get(f"/api/v1/lessons/{world.lesson.id}/attendance", headers=inst).get_json()
    [me] = [t for t in att["trainees"] if t["person_id"] == pid]
    assert (me["status"], me["credited_hours"], me["makeup_kinds"]) == ("complete", 2.0, [])
    # The phone repeating its early check-out still gets its first (accepted) answer, and nothing changes.
    again = world.post(h, kind="check_out", event_id=early_id)
    assert again.status_code == 200 and again.get_json()["accepted"] is True
    assert len(events(person_id=pid)) == 3
    # Statistics still count the superseded check-out as accepted when it came (it was no refusal).
    stats = world.client.get("/api/v1/stats/overview?region_code=3501&from=2026-01-01&to=2026-12-31", headers=sup)
    att_stats = stats.get_json()["attendance"]
    assert stats.status_code == 200 and "superseded" not in att_stats["by_reason"]
    assert att_stats["events"] == 3 and att_stats["accepted"] == 3 and att_stats["rejected"] == 0
    # Now complete: a further check-out make-up is refused.
    r = _file(world, inst, pid, kind="check_out")
    assert r.status_code == 409 and r.get_json()["error"]["code"] == "already_checked_out"


def _rescaled(data: bytes, size=(480, 360), quality=60) -> bytes:
    buf = io.BytesIO()
    Image.open(io.BytesIO(data)).resize(size).save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def test_a_sign_sheet_photo_used_again_is_flagged_for_the_reviewer(setup, clock):
    # The forgery: no sign sheet exists for the afternoon lesson, so the institution files the morning's photo
    # again, re-saved smaller at a lower quality. The reviewer sees both requests named. Two trainees of the
    # same lesson on one sheet (a batch make-up) and fresh photos raise nothing.
    world, pid, inst, sup = setup
    afternoon = world.add_lesson(starts_at=START + 3 * H)
    other, classmate = world.person()[0], world.person()[0]
    sheet = textured_jpeg(1)
    first = _file(world, inst, pid, sign=sheet, pano=textured_jpeg(2, quality=80))
    batch = _file(world, inst, classmate, sign=sheet, pano=textured_jpeg(2, quality=80))
    clock.set(START + 4 * H)  # the afternoon lesson is under way: its make-ups may be filed
    second = _file(world, inst, other, sign=_rescaled(sheet), pano=textured_jpeg(3), lesson=afternoon)
    assert {first.status_code, batch.status_code, second.status_code} == {201}, second.get_json()
    a, b, c = first.get_json()["id"], second.get_json()["id"], batch.get_json()["id"]
    third, _ = world.person()
    fresh = _file(world, inst, third, sign=textured_jpeg(4), pano=textured_jpeg(5), lesson=afternoon)
    assert fresh.status_code == 201
    queue = {m["id"]: m for m in world.client.get("/api/v1/makeups?status=pending", headers=sup).get_json()}
    assert sorted(r["makeup_id"] for r in queue[b]["photo_reused"]) == sorted([a, c])
    assert {(r["photo"], r["other_photo"]) for r in queue[b]["photo_reused"]} == {("sign_sheet", "sign_sheet")}
    assert queue[a]["photo_reused"] == [{"photo": "sign_sheet", "makeup_id": b, "other_photo": "sign_sheet"}]
    assert queue[c]["photo_reused"] == [{"photo": "sign_sheet", "makeup_id": b, "other_photo": "sign_sheet"}]
    assert queue[fresh.get_json()["id"]]["photo_reused"] == []
    one = world.client.get(f"/api/v1/makeups/{b}", headers=sup).get_json()
    assert sorted(r["makeup_id"] for r in one["photo_reused"]) == sorted([a, c])
    # The institution is not told which photo matched (it could probe how much re-editing passes).
    own = world.client.get("/api/v1/makeups", headers=inst).get_json()
    assert own and all("photo_reused" not in m for m in own)
    assert "photo_reused" not in world.client.get(f"/api/v1/makeups/{b}", headers=inst).get_json()
