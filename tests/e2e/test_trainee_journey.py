"""The trainee's journey on a phone (login → bind → today's lessons → check-in outside and inside the
fence) while a supervisor watches the live dashboard in a second browser context."""
from __future__ import annotations

import re

import pytest

from .helpers import (
    DESK,
    INSIDE,
    OUTSIDE,
    PHONE,
    enter_sms_code,
    login_staff,
    login_trainee,
    new_context,
    open_page,
    settled,
    snap,
    watch_errors,
)
from .server import NEW_TRAINEE

pytestmark = pytest.mark.browser

DEMO_PASSWORD = "demo-pass-2026"


def _bad_check_digit(id_number: str) -> str:
    last = id_number[-1]
    return id_number[:-1] + ("0" if last != "0" else "1")


def test_check_in_journey_shows_live_on_dashboard(browser, server, screenshots):
    lesson_id = server.seeded.lesson_id
    desk = new_context(browser, DESK)
    dash = desk.new_page()
    dash_errors = watch_errors(dash)
    login_staff(dash, f"{server.url}/dashboard/", "supervisor", DEMO_PASSWORD)
    tile = dash.locator(f'a.lesson-tile[data-lesson="{lesson_id}"]')
    tile.wait_for()
    dash.wait_for_function("() => document.querySelector('#conn-text')?.textContent === '实时连接中'")
    checked_in_before = int(tile.locator('[data-k="checked_in"]').inner_text())

    phone = new_context(browser, PHONE, geolocation=OUTSIDE, permissions=["geolocation"])
    m = phone.new_page()
    m_errors = watch_errors(m)
    login_trainee(m, server.url, "e2e-zhaoliu")
    assert m.evaluate("location.hash").startswith("#/bind")

    # Field-level error from the client check, then a successful bind to the rostered identity.
    m.fill("#name", NEW_TRAINEE["name"])
    m.fill("#id_number", _bad_check_digit(server.seeded.trainee_id_number))
    m.fill("#phone", NEW_TRAINEE["phone"])
    m.click("#bind-form button[type=submit]")
    assert "校验位" in m.locator('.field-error[data-for="id_number"]').inner_text()
    m.fill("#id_number", server.seeded.trainee_id_number)
    m.click("#bind-form button[type=submit]")
    # The institution recorded 赵六's phone: the code goes there and is typed in the code step.
    enter_sms_code(m, server.url, NEW_TRAINEE["phone"])
    m.wait_for_selector("text=您好，赵六")

    m.click("#tab-bar a[href='#/lessons']")
    settled(m, "lessons")
    card = m.locator(f'article.lesson[data-lesson="{lesson_id}"]')

    # Outside the fence: refused, explained with the distance; the supervisor sees the refusal live.
    card.locator('button[data-kind="check_in"]').click()
    refusal = card.locator(".result .notice-error")
    refusal.wait_for()
    text = refusal.inner_text()
    assert "距离培训地点约" in text and "200 米以内" in text, text
    amount, unit = re.search(r"约 ([\d.,]+) (米|公里)", text).groups()
    metres = float(amount.replace(",", "")) * (1000 if unit == "公里" else 1)
    assert 1000 <= metres <= 1250, text
    assert "定位精度 ±20 米" in card.locator(".fix").inner_text()
    snap(m, screenshots, "m-checkin-out-of-fence")
    dash.locator("#feed li", has_text="超出签到范围").first.wait_for()

    # Inside the fence: accepted, and the dashboard shows the check-in without a reload.
    phone.set_geolocation(INSIDE)
    card.locator('button[data-kind="check_in"]').click()
    card.locator(".result .notice-ok").wait_for()
    assert "签到成功" in card.locator(".result").inner_text()
    assert card.locator('button[data-kind="check_in"]').is_disabled()
    assert card.locator('button[data-kind="check_out"]').is_enabled()
    snap(m, screenshots, "m-checkin-accepted")

    # Check-out right away: the page first asks (leaving now yields 0 hours), then it is accepted, with
    # the early-leave warning in plain words.
    asked: list[str] = []
    m.once("dialog", lambda d: (asked.append(d.message), d.accept()))
    card.locator('button[data-kind="check_out"]').click()
    card.locator(".result .notice-ok").filter(has_text="签退成功").wait_for()
    assert "早退" in card.locator(".result").inner_text()
    assert card.locator('button[data-kind="check_out"]').is_disabled()
    assert len(asked) == 1 and "0 课时" in asked[0], asked

    accepted = dash.locator("#feed li", has_text="成功").filter(has_text="签到").first
    accepted.wait_for()
    assert "赵" in accepted.inner_text()
    dash.wait_for_function(
        "([id, n]) => Number(document.querySelector(`a.lesson-tile[data-lesson=\"${id}\"] [data-k=checked_in]`)"
        "?.textContent) === n", arg=[lesson_id, checked_in_before + 1])
    snap(dash, screenshots, "dashboard-live-after-checkin")

    # The lesson page plots the fixes against the fence.
    tile.click()
    settled(dash, "lesson")
    snap(dash, screenshots, "dashboard-lesson-plot")
    assert dash.locator("table.attendance td", has_text="赵六").count() == 1
    assert dash.locator("table.fixes td", has_text="赵六").count() == 3
    # 赵六's fixes are on the plot: the refused check-in (red), the accepted check-in and check-out.
    assert dash.locator("svg.fence-plot .plot-dot.plot-out").count() >= 1
    assert dash.locator("svg.fence-plot .plot-dot.plot-in").count() >= 1
    assert dash.locator("svg.fence-plot g title", has_text="赵六").count() == 3

    # Claim a voucher, then return it (the stock goes back and the voucher reads as returned).
    m.on("dialog", lambda d: d.accept())
    open_page(m, f"{server.url}/m/#/vouchers")
    m.locator("button.claim").first.click()
    code = m.locator("article.voucher .notice-ok .mono").inner_text().strip()
    open_page(m, f"{server.url}/m/#/my-vouchers")
    m.locator(f'article.voucher[data-code="{code}"] button.return').click()
    settled(m, "my-vouchers")
    m.locator(f'article.voucher[data-code="{code}"]', has_text="已退回").wait_for()

    assert not m_errors and not dash_errors, (m_errors, dash_errors)
    phone.close()
    desk.close()


def test_location_problems_are_explained(browser, server):
    # No permission granted: the browser refuses, and the page says what to do.
    ctx = new_context(browser, PHONE)
    page = ctx.new_page()
    login_trainee(page, server.url, "demo3")
    page.goto(f"{server.url}/m/#/lessons")
    card = page.locator(f'article.lesson[data-lesson="{server.seeded.lesson_id}"]')
    card.wait_for()
    card.locator('button[data-kind="check_in"]').click()
    card.locator(".result .notice-error").wait_for()
    assert "没有允许本页面使用位置信息" in card.locator(".result").inner_text()
    ctx.close()

    # A phone that never finds a fix: the timeout is explained (simulated in the page).
    ctx = new_context(browser, PHONE)
    ctx.add_init_script("""navigator.geolocation.getCurrentPosition = (ok, fail, opts) =>
        setTimeout(() => fail({code: 3, message: 'Timeout expired'}), 50);""")
    page = ctx.new_page()
    login_trainee(page, server.url, "demo3")
    page.goto(f"{server.url}/m/#/lessons")
    card = page.locator(f'article.lesson[data-lesson="{server.seeded.lesson_id}"]')
    card.wait_for()
    card.locator('button[data-kind="check_in"]').click()
    card.locator(".result .notice-error").wait_for()
    assert "仍没有拿到您的位置" in card.locator(".result").inner_text()
    ctx.close()


def test_trainee_sets_a_card_pin(server, browser):
    """The non-face way: a trainee sets the PIN used with the social-security card at the kiosk."""
    ctx = browser.new_context(viewport={"width": 375, "height": 667})
    page = ctx.new_page()
    login_trainee(page, server.url, "demo1")
    open_page(page, f"{server.url}/m/#/pin")
    page.fill("input[name=pin]", "123456")
    page.fill("input[name=again]", "123456")
    page.click("#pin-form button")
    page.locator("#msg .notice-error").wait_for()
    assert "过于简单" in page.inner_text("#msg")
    page.fill("input[name=pin]", "258036")
    page.fill("input[name=again]", "258036")
    page.click("#pin-form button")
    page.locator("#msg .notice-ok").wait_for()
    ctx.close()
