"""The supervisor's make-up queue flags a sign-sheet photo that was already filed for another lesson.

Seeding goes straight to the database (two make-ups of two different lessons, the second photo a
re-saved, smaller copy of the first, as an institution without a real sign sheet would file it).
"""
from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from PIL import Image

from backend.extensions import db
from tests.photos import textured_jpeg

from .helpers import DESK, login_staff, new_context, open_page, snap, watch_errors

DEMO_PASSWORD = "demo-pass-2026"


def _seed_reused_makeups(server) -> tuple[int, int, str]:
    """Two pending make-ups on two lessons of one institution sharing one sign sheet: (first id, second id, name)."""
    from backend.models import Enrollment, Lesson, MakeupRequest, Person, TrainingPlan, User
    from backend.uploads import clean_image, photo_hash, store_image

    with server.app.app_context():
        upload_dir = server.app.config["UPLOAD_DIR"]
        plan = db.session.get(TrainingPlan, server.seeded.plan_id)
        school = db.session.execute(db.select(User).where(User.username == "school")).scalar_one()
        enrolled = db.session.execute(db.select(Enrollment).where(Enrollment.plan_id == plan.id,
                                                                  Enrollment.status == "active")).scalars().all()
        now = datetime.now(UTC)
        base = db.session.get(Lesson, server.seeded.lesson_id)
        lessons = []
        for days in (8, 9):  # two earlier lessons of the plan, a day apart
            lesson = Lesson(plan_id=plan.id, title=f"补卡核查课{days}", mode="offline", site_id=base.site_id,
                            starts_at=base.starts_at - timedelta(days=days), class_hours=Decimal("2"),
                            ends_at=base.starts_at - timedelta(days=days) + timedelta(hours=2))
            db.session.add(lesson)
            lessons.append(lesson)
        db.session.flush()
        original = textured_jpeg(42)
        copy = io.BytesIO()
        Image.open(io.BytesIO(original)).resize((480, 360)).save(copy, "JPEG", quality=60)
        ids = []
        for lesson, enrollment, raw in zip(lessons, enrolled[-2:], (original, copy.getvalue()), strict=True):
            sheet = clean_image(raw, "sign_sheet")
            room = clean_image(textured_jpeg(lesson.id * 7), "panorama")
            req = MakeupRequest(lesson_id=lesson.id, enrollment_id=enrollment.id, person_id=enrollment.person_id,
                                kind="both", reason="手机没电，现场签到表为证",
                                sign_sheet_path=store_image(*sheet, upload_dir, "makeups", now),
                                panorama_path=store_image(*room, upload_dir, "makeups", now),
                                sign_sheet_hash=photo_hash(sheet[0]), panorama_hash=photo_hash(room[0]),
                                status="pending", created_by=school.id, created_at=now)
            db.session.add(req)
            db.session.flush()
            ids.append(req.id)
        name = db.session.get(Person, enrolled[-1].person_id).name
        db.session.commit()
        return ids[0], ids[1], name


def test_a_reused_sign_sheet_is_flagged_on_the_review_card(browser, server, screenshots):
    first, second, name = _seed_reused_makeups(server)
    ctx = new_context(browser, DESK)
    page = ctx.new_page()
    errors = watch_errors(page)
    login_staff(page, f"{server.url}/dashboard/", "supervisor", DEMO_PASSWORD)
    open_page(page, f"{server.url}/dashboard/#/review?tab=makeups")
    card = page.locator(f'article[data-makeup="{second}"]')
    card.wait_for()
    notice = card.locator(".photo-reused").inner_text()
    assert "疑似重复使用照片" in notice and f"补卡申请 #{first}" in notice and "签到表照片" in notice, notice
    assert "补卡核查课" in card.inner_text()  # the lesson by its title and time, not an id
    other = page.locator(f'article[data-makeup="{first}"] .photo-reused').inner_text()
    assert f"补卡申请 #{second}" in other
    card.scroll_into_view_if_needed()
    snap(page, screenshots, "dashboard-makeup-photo-reused")
    # The reviewer decides: the forged one is rejected with a reason, and it leaves the queue.
    page.once("dialog", lambda d: d.accept("签到表照片与另一课次的补卡相同"))
    card.locator("button.reject").click()
    card.wait_for(state="detached")
    assert page.locator(f'article[data-makeup="{first}"]').count() == 1  # the other one still waits for review
    assert name
    assert not errors, errors
    ctx.close()
