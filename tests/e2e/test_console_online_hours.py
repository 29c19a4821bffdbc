"""An institution imports a blended plan's online learning minutes from the console's 线上学时 tab.

Seeding goes straight to the database: a blended plan under way with one online lesson that started
yesterday and two trainees on its roster. The test fills the platform's export (身份证号, 课次编号,
学习时长（分钟）) as an xlsx, uploads it from the screen, reads the per-row result, and checks the
credited online hours on the 结业与补贴 tab.
"""
from __future__ import annotations

import io
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from openpyxl import Workbook

from backend.extensions import db

from .helpers import DESK, login_staff, new_context, open_page, snap, watch_errors

DEMO_PASSWORD = "demo-pass-2026"


def _seed_blended_plan(server) -> tuple[int, int, list[tuple[str, str]]]:
    """(plan id, online lesson id, [(name, ID number)] of its two trainees)."""
    from backend.models import Enrollment, Lesson, Person, TrainingPlan
    from backend.services.persons import id_number_of

    with server.app.app_context():
        demo = db.session.get(TrainingPlan, server.seeded.plan_id)
        now = datetime.now(UTC)
        plan = TrainingPlan(institution_id=demo.institution_id, region_code=demo.region_code, title="电子商务师（线上线下结合）",
                            occupation_code=demo.occupation_code, plan_type=demo.plan_type, delivery="blended",
                            online_platform="职业技能提升平台", status="in_progress", starts_on=date.today() - timedelta(days=3),
                            ends_on=date.today() + timedelta(days=20), submitted_at=now - timedelta(days=10),
                            reviewed_at=now - timedelta(days=9), created_at=now - timedelta(days=11),
                            policy_id=demo.policy_id, policy_params=demo.policy_params)
        db.session.add(plan)
        db.session.flush()
        lesson = Lesson(plan_id=plan.id, title="网店运营（线上）", mode="online", starts_at=now - timedelta(days=1),
                        ends_at=now - timedelta(days=1) + timedelta(hours=2), class_hours=Decimal("2"))
        db.session.add(lesson)
        people = db.session.execute(db.select(Person).join(Enrollment, Enrollment.person_id == Person.id)
                                    .where(Enrollment.plan_id == demo.id, Enrollment.status == "active")
                                    .order_by(Person.id).limit(2)).scalars().all()
        for person in people:
            db.session.add(Enrollment(plan_id=plan.id, person_id=person.id, status="active", eligible=True,
                                      reasons=[], groups=[], created_at=now))
        db.session.commit()
        return plan.id, lesson.id, [(p.name, id_number_of(p)) for p in people]


def test_online_minutes_are_imported_from_the_console(browser, server, screenshots, tmp_path):
    plan_id, lesson_id, people = _seed_blended_plan(server)
    wb = Workbook()
    ws = wb.active
    ws.append(["身份证号", "课次编号", "学习时长（分钟）"])
    ws.append([people[0][1], lesson_id, 95])
    ws.append([people[1][1], lesson_id, 30])
    ws.append(["110101199001011234", lesson_id, 90])  # a wrong check digit: refused on its own row
    path = tmp_path / "平台导出.xlsx"
    buf = io.BytesIO()
    wb.save(buf)
    path.write_bytes(buf.getvalue())

    ctx = new_context(browser, DESK)
    page = ctx.new_page()
    errors = watch_errors(page)
    login_staff(page, f"{server.url}/console/", "school", DEMO_PASSWORD)
    open_page(page, f"{server.url}/console/#/plan/{plan_id}?tab=online")
    page.locator("#online-lessons", has_text="网店运营（线上）").wait_for()
    page.set_input_files("#online-form input[name=file]", str(path))
    page.click("#online-form button[type=submit]")
    result = page.locator("#online-result")
    result.locator("table, .notice").first.wait_for()
    text = result.inner_text()
    snap(page, screenshots, "console-online-minutes-imported")
    assert "导入成功 2 行，失败 1 行" in text and "身份证号不合法" in text, text
    open_page(page, f"{server.url}/console/#/plan/{plan_id}?tab=completion")
    page.locator("td", has_text=people[0][0]).first.wait_for()
    # Credited online hours per trainee (offline, online, total): 95 of 120 minutes earn the lesson's 2 hours
    # in full; 30 minutes earn 0.5.
    first = page.locator("tr", has_text=people[0][0]).first.locator("td").all_inner_texts()
    second = page.locator("tr", has_text=people[1][0]).first.locator("td").all_inner_texts()
    assert first[1:4] == ["0", "2", "2"] and second[1:4] == ["0", "0.5", "0.5"], (first, second)
    assert not errors, errors
    ctx.close()
