"""The trainee's inbox and notification settings on a phone-sized page: unread items, marking one read,
turning a kind off, quiet hours and the WeChat subscription consent, all saved through the API."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from backend.extensions import db

from .helpers import PHONE, login_trainee, new_context, no_horizontal_scroll, open_page, snap, watch_errors

pytestmark = pytest.mark.browser


def _seed_inbox(app) -> tuple[int, list[int]]:
    """Two notifications for the demo trainee bound to WeChat code demo1 (older read, newer unread)."""
    from backend.models import Notification, WechatAccount
    with app.app_context():
        person_id = db.session.execute(db.select(WechatAccount.person_id).where(
            WechatAccount.openid == "stub-demo1")).scalar_one()
        t = datetime.now(UTC)
        rows = [Notification(person_id=person_id, kind="lesson_reminder", object_type="lesson", object_id=1,
                             window_key="e2e-1d", title="明天上课：安全操作规范", body="3月2日 09:00开课，地点：鼓楼实训基地。",
                             details={}, created_at=t - timedelta(hours=1), read_at=t - timedelta(minutes=30)),
                Notification(person_id=person_id, kind="subsidy_status", object_type="claim", object_id=1,
                             window_key="e2e-disbursed", title="补贴进度", body="「电工培训」：补贴已拨付。",
                             details={}, created_at=t)]
        db.session.add_all(rows)
        db.session.commit()
        ids = [r.id for r in rows]
        db.session.remove()
    return person_id, ids


def _prefs(app, person_id):
    from backend.services.notify_inbox import preferences
    with app.app_context():
        out = preferences(person_id)
        db.session.remove()
    return out


def test_inbox_and_preferences_on_a_phone(browser, server, screenshots):
    person_id, (read_id, unread_id) = _seed_inbox(server.app)
    ctx = new_context(browser, PHONE)
    m = ctx.new_page()
    errors = watch_errors(m)
    login_trainee(m, server.url, "demo1")
    open_page(m, f"{server.url}/m/#/inbox")
    cards = m.locator("article.notification")
    assert cards.count() >= 2
    newest = m.locator(f'article.notification[data-id="{unread_id}"]')
    assert "补贴已拨付" in newest.inner_text() and "unread" in newest.get_attribute("class")
    assert "未读" in m.locator("section.card h2").inner_text()
    assert "read" in m.locator(f'article.notification[data-id="{read_id}"]').get_attribute("class").split()
    scroll_width, inner_width = no_horizontal_scroll(m)
    assert scroll_width <= inner_width
    snap(m, screenshots, "m-inbox")
    with m.expect_response(lambda r: r.url.endswith(f"/me/notifications/{unread_id}/read")) as done:
        newest.click()
    assert done.value.status == 200
    m.wait_for_function(f"() => document.querySelector('article.notification[data-id=\"{unread_id}\"]')"
                        ".classList.contains('read')")

    open_page(m, f"{server.url}/m/#/notify-settings")
    m.locator('input[name=kind][value=lesson_reminder]').uncheck()
    m.locator('input[name=quiet_on]').check()
    m.fill('input[name=quiet_from]', "21:30")
    m.fill('input[name=quiet_to]', "07:00")
    m.locator('input[name=wechat][value=missed_check_in]').check()
    scroll_width, inner_width = no_horizontal_scroll(m)
    assert scroll_width <= inner_width
    m.click("#prefs button[type=submit]")
    m.locator(".notice-ok").wait_for()
    snap(m, screenshots, "m-notify-settings")
    prefs = _prefs(server.app, person_id)
    assert prefs["kinds"]["lesson_reminder"] is False and prefs["kinds"]["subsidy_status"] is True
    assert prefs["quiet_hours"] == {"from": "21:30", "to": "07:00"}
    assert prefs["wechat_subscribed"]["missed_check_in"] is True
    # The page shows what is saved when opened again.
    open_page(m, f"{server.url}/m/#/notify-settings")
    assert not m.locator('input[name=kind][value=lesson_reminder]').is_checked()
    assert m.locator('input[name=quiet_from]').input_value() == "21:30"
    assert not errors, errors
    ctx.close()


def test_escalations_on_console_and_dashboard(browser, server, screenshots):
    from backend.models import Notification, TrainingPlan, WechatAccount

    from .helpers import DESK, login_staff, settled
    with server.app.app_context():
        plan = db.session.get(TrainingPlan, server.seeded.plan_id)
        person_id = db.session.execute(db.select(WechatAccount.person_id).where(
            WechatAccount.openid == "stub-demo2")).scalar_one()
        db.session.add(Notification(person_id=person_id, kind="absence_risk", object_type="plan", object_id=plan.id,
                                    window_key="", title="缺勤提醒", body="您已连续两次缺课，请联系培训机构。",
                                    plan_id=plan.id, institution_id=plan.institution_id, region_code=plan.region_code,
                                    details={"reason": "missed_two"}, created_at=datetime.now(UTC)))
        db.session.commit()
        title = plan.title
        db.session.remove()
    ctx = new_context(browser, DESK)
    for url, user in ((f"{server.url}/console/", "school"), (f"{server.url}/dashboard/", "supervisor")):
        page = ctx.new_page()
        errors = watch_errors(page)
        login_staff(page, url, user, "demo-pass-2026")
        page.goto(f"{url}#/alerts")
        settled(page, "alerts")
        assert int(page.locator('.stat[data-k="absence_risk"] b').inner_text()) >= 1
        row = page.locator(f'#by-plan tr[data-plan="{server.seeded.plan_id}"]')
        assert title in row.inner_text()
        assert "连续两次缺课" in page.locator("#items").inner_text()
        snap(page, screenshots, f"{user}-alerts")
        assert not errors, errors
        page.close()
    ctx.close()
