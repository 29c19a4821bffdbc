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


def through_api(app, lesson_id: int, site_id: int, third_person_id: int) -> None:
    """A submitted plan, check-ins by 张三 (inside) and 李四 (outside, then inside), a make-up for 王五."""
    client = app.test_client()
    school = _token(client, "/auth/login", {"username": "school", "password": PASSWORD})
    today = datetime.now(UTC).date()
    r = client.post("/api/v1/plans", headers=school, json={
        "title": "育婴员（五级）技能提升培训", "occupation_code": "4-10-01-02", "plan_type": "in_post",
        "delivery": "offline", "starts_on": (today + timedelta(days=5)).isoformat(),
        "ends_on": (today + timedelta(days=25)).isoformat()})
    assert r.status_code == 201, r.get_json()
    plan_id = r.get_json()["id"]
    for day, title in ((5, "婴儿生活照料"), (6, "婴儿日常保健")):
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
    for title, code, status in (("面点师（初级）岗前培训", "4-03-02-03", "completed"),
                                ("保育师（五级）转岗培训", "4-10-03-01", "completion_submitted")):
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
