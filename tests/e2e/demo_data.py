"""Extra demo state for the browser tests, so every queue and chart has something to show.

Made through the real API where the rules allow it now (a submitted plan, phone check-ins inside and
outside the fence, a make-up with two photos), and inserted directly where it needs the past (a
finished plan with an approved subsidy claim in its publicity period, a completion to review).
"""
from __future__ import annotations

import io
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from PIL import Image, ImageDraw

PASSWORD = "demo-pass-2026"


def _photo(color: tuple[int, int, int], lines: bool) -> io.BytesIO:
    """A small PNG standing in for a sign-in sheet (ruled lines) or a panorama (blocks)."""
    img = Image.new("RGB", (480, 320), (250, 250, 245) if lines else color)
    draw = ImageDraw.Draw(img)
    if lines:
        for y in range(40, 320, 28):
            draw.line([(20, y), (460, y)], fill=(120, 120, 120), width=1)
        draw.line([(160, 20), (160, 300)], fill=(120, 120, 120), width=1)
    else:
        for i in range(6):
            draw.rectangle([20 + i * 75, 180, 80 + i * 75, 300], fill=(90 + i * 20, 90, 120))
    out = io.BytesIO()
    img.save(out, "PNG")
    out.seek(0)
    return out


def _token(client, path: str, body: dict) -> dict:
    r = client.post(f"/api/v1{path}", json=body)
    assert r.status_code == 200, r.get_json()
    return {"Authorization": f"Bearer {r.get_json()['access_token']}"}


def _check(client, headers: dict, lesson_id: int, lat: float, lon: float, accuracy: float) -> None:
    client.post("/api/v1/attendance", headers=headers, json={
        "event_id": str(uuid.uuid4()), "lesson_id": lesson_id, "kind": "check_in", "lat": lat, "lon": lon,
        "accuracy_m": accuracy, "coord_sys": "wgs84", "client_time": datetime.now(UTC).isoformat()})


def _check_digit(first17: str) -> str:
    from backend.domain.identity import id_check_digit
    return id_check_digit(first17)


def through_api(app, lesson_id: int, site_id: int, third_person_id: int) -> None:
    """A submitted plan, check-ins by 张三 (inside) and 李四 (outside, then inside), a make-up for 王五."""
    client = app.test_client()
    school = _token(client, "/auth/login", {"username": "school", "password": PASSWORD})
    today = datetime.now(UTC).date()
    # Filed the policy's lead (5 working days by default) before its first lesson, with its roster.
    r = client.post("/api/v1/plans", headers=school, json={
        "title": "育婴员（五级）技能提升培训", "occupation_code": "4-10-01-02", "plan_type": "pre_job",
        "delivery": "offline", "starts_on": (today + timedelta(days=20)).isoformat(),
        "ends_on": (today + timedelta(days=35)).isoformat()})
    assert r.status_code == 201, r.get_json()
    plan_id = r.get_json()["id"]
    r = client.post(f"/api/v1/plans/{plan_id}/roster", headers=school, json={"trainees": [
        {"name": "周九", "id_number": "350102199003071000"[:17] + _check_digit("35010219900307100")}]})
    assert r.status_code == 200 and r.get_json()["imported"] == 1, r.get_json()
    for day, title in ((20, "婴儿生活照料"), (21, "婴儿日常保健")):
        d = today + timedelta(days=day)
        r = client.post(f"/api/v1/plans/{plan_id}/lessons", headers=school, json={
            "title": title, "mode": "offline", "starts_at": f"{d}T09:00:00+08:00", "ends_at": f"{d}T12:00:00+08:00",
            "class_hours": 4, "site_id": site_id})
        assert r.status_code == 201, r.get_json()
    r = client.post(f"/api/v1/plans/{plan_id}/submit", headers=school)
    assert r.status_code == 200, r.get_json()

    zhang = _token(client, "/auth/wechat", {"code": "demo1"})
    li = _token(client, "/auth/wechat", {"code": "demo2"})
    _check(client, zhang, lesson_id, 26.07862, 119.29668, 18)
    _check(client, li, lesson_id, 26.08210, 119.29710, 35)   # ~400 m north: refused
    _check(client, li, lesson_id, 26.07835, 119.29628, 42)   # inside
    r = client.post(f"/api/v1/lessons/{lesson_id}/makeups", headers=school, content_type="multipart/form-data", data={
        "person_id": str(third_person_id), "kind": "check_in", "reason": "手机没电，已在纸质签到表签字",
        "sign_sheet": (_photo((0, 0, 0), True), "sheet.png"), "panorama": (_photo((200, 220, 235), False), "room.png")})
    assert r.status_code == 201, r.get_json()


def inserted(plan_template, person_ids: list[int]) -> None:
    """A finished plan whose subsidy claim is in publicity, and one awaiting completion review."""
    from backend.extensions import db
    from backend.models import (
        Device,
        Enrollment,
        PublicityObjection,
        SubsidyClaim,
        SubsidyLine,
        TrainingPlan,
        User,
    )

    t = datetime.now(UTC)
    today = t.date()
    approver = db.session.execute(db.select(User).where(User.username == "supervisor")).scalar_one()
    plans = []
    for title, code, status in (("面点师（初级）岗前培训", "4-03-02-02", "completed"),
                                ("保育师（五级）转岗培训", "4-10-01-03", "completion_submitted")):
        plan = TrainingPlan(institution_id=plan_template.institution_id, region_code=plan_template.region_code,
                            title=title, occupation_code=code, plan_type="pre_job", delivery="offline",
                            starts_on=today - timedelta(days=60), ends_on=today - timedelta(days=30), status=status,
                            submitted_at=t - timedelta(days=65), reviewed_by=approver.id,
                            reviewed_at=t - timedelta(days=64), completion_submitted_at=t - timedelta(days=3),
                            completed_at=t - timedelta(days=2) if status == "completed" else None,
                            created_at=t - timedelta(days=70))
        db.session.add(plan)
        db.session.flush()
        plans.append(plan)
        for pid in person_ids:
            db.session.add(Enrollment(plan_id=plan.id, person_id=pid, status="active", eligible=True, reasons=[],
                                      groups=["unemployed"], created_at=t - timedelta(days=62)))
    claim = SubsidyClaim(plan_id=plans[0].id, institution_id=plans[0].institution_id,
                         region_code=plans[0].region_code, status="approved", total_fen=150000, explanations=[],
                         created_at=t - timedelta(days=2), approved_by=approver.id, approved_at=t - timedelta(days=1),
                         publicity_ends_at=t + timedelta(days=6))
    db.session.add(claim)
    db.session.flush()
    for pid, hours, amount in zip(person_ids, (Decimal("28.0"), Decimal("24.0")), (84000, 66000), strict=False):
        db.session.add(SubsidyLine(claim_id=claim.id, person_id=pid, line_type="training", credited_hours=hours,
                                   amount_fen=amount, capped=False, limited_by="hours", payee="institution",
                                   year=today.year))
    db.session.add(PublicityObjection(claim_id=claim.id, text="有群众反映第二周有两天未开课", recorded_by=approver.id,
                                      recorded_at=t - timedelta(hours=5)))
    kiosk = db.session.execute(db.select(Device)).scalars().first()
    kiosk.last_heartbeat_at = t - timedelta(seconds=40)
    kiosk.last_clock_skew_s = 185.0
    kiosk.queue_depth = 3
    kiosk.version = "1.0.0"
    db.session.commit()


# The trainees of the plan awaiting completion review with trust flags (shared/DESIGN.md "Trust"):
# name, birth date, what their accepted events carry.
FLAGGED_TRAINEES = (
    ("张伟", "19860412", "kiosk_flags"),    # never bound a phone, face enrolled by staff: blocking
    ("李娜", "19910623", "recheck_failed"),  # the server's face re-check failed on one event: blocking, hours held
    ("王芳", "19930918", "gps_only"),        # phone check-ins without the site QR: informational only
    ("陈静", "19890105", "clean"),           # card + PIN at the kiosk, nothing to say
)
FLAGGED_PLAN_TITLE = "电工（五级）岗前培训"


def _events(lesson, person_id: int, source: str, method: str | None, flags: list[str]) -> list:
    """An accepted check-in 5 min before start and check-out 5 min after end, as stored rows."""
    from backend.models import AttendanceEvent
    return [AttendanceEvent(origin=f"p{person_id}", event_id=str(uuid.uuid4()), person_id=person_id,
                            lesson_id=lesson.id, kind=kind, source=source, method=method, captured_at=at,
                            received_at=at, accepted=True, details={}, flags=list(flags), status_code=201)
            for kind, at in (("check_in", lesson.starts_at - timedelta(minutes=5)),
                             ("check_out", lesson.ends_at + timedelta(minutes=5)))]


def flagged_completion(plan_template, site_id: int) -> dict:
    """A finished plan awaiting completion review whose kiosk events carry trust flags.

    Inserted directly (the lessons are in the past): three 4-hour lessons, four passed trainees (see
    FLAGGED_TRAINEES), and a failed server face re-check on 李娜's first check-in, which holds that
    lesson's hours until the review accepts her. Returns {plan_id, lesson_ids, people: {name: id}}.
    """
    from backend.domain.attendance import SHANGHAI
    from backend.extensions import db
    from backend.models import AttendanceEvent, Enrollment, Lesson, Result, TrainingPlan, User
    from backend.models.trust import TrustFlag
    from backend.seed import REGION, demo_id
    from backend.services import persons

    t = datetime.now(UTC)
    today = t.astimezone(SHANGHAI).date()
    approver = db.session.execute(db.select(User).where(User.username == "supervisor")).scalar_one()
    plan = TrainingPlan(institution_id=plan_template.institution_id, region_code=plan_template.region_code,
                        title=FLAGGED_PLAN_TITLE, occupation_code="6-31-01-03", plan_type="pre_job",
                        delivery="offline", starts_on=today - timedelta(days=45), ends_on=today - timedelta(days=43),
                        status="completion_submitted", submitted_at=t - timedelta(days=55), reviewed_by=approver.id,
                        reviewed_at=t - timedelta(days=54), completion_submitted_at=t - timedelta(days=1),
                        created_at=t - timedelta(days=60))
    db.session.add(plan)
    db.session.flush()
    lessons = []
    for i, title in enumerate(("电工安全规程", "低压电器安装", "照明线路实操")):
        day = today - timedelta(days=45 - i)
        starts = datetime(day.year, day.month, day.day, 9, 0, tzinfo=SHANGHAI)
        lesson = Lesson(plan_id=plan.id, title=title, mode="offline", starts_at=starts,
                        ends_at=starts + timedelta(hours=3), class_hours=Decimal(4), site_id=site_id)
        db.session.add(lesson)
        lessons.append(lesson)
    db.session.flush()
    people = {}
    for seq, (name, birth, kind) in enumerate(FLAGGED_TRAINEES, start=61):
        person = persons.new_person(name, demo_id(REGION + birth, f"{seq:03d}"), t, None, ["unemployed"])
        db.session.add(person)
        db.session.flush()
        people[name] = person.id
        db.session.add(Enrollment(plan_id=plan.id, person_id=person.id, status="active", eligible=True, reasons=[],
                                  groups=["unemployed"], created_at=t - timedelta(days=56)))
        db.session.add(Result(plan_id=plan.id, person_id=person.id, score=Decimal(85), passed=True,
                              recorded_at=t - timedelta(days=42)))
        source, method, flags = {"kiosk_flags": ("kiosk", "card+face", ["never_bound", "face_by_staff"]),
                                 "recheck_failed": ("kiosk", "card+face", []),
                                 "gps_only": ("mobile", None, ["gps_only"]),
                                 "clean": ("kiosk", "card+pin", [])}[kind]
        for lesson in lessons:
            db.session.add_all(_events(lesson, person.id, source, method, flags))
    db.session.flush()
    first_check_in = db.session.execute(db.select(AttendanceEvent).where(
        AttendanceEvent.lesson_id == lessons[0].id, AttendanceEvent.person_id == people["李娜"],
        AttendanceEvent.kind == "check_in")).scalar_one()
    db.session.add(TrustFlag(code="face_recheck_failed", attendance_event_id=first_check_in.id,
                             person_id=people["李娜"], lesson_id=lessons[0].id,
                             detail={"kiosk_distance": 0.38, "server_distance": 0.63, "reason": None},
                             created_at=t - timedelta(days=44)))
    db.session.commit()
    return {"plan_id": plan.id, "lesson_ids": [lesson.id for lesson in lessons], "people": people}
