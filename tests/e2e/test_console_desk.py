"""Desk work in the console, checked in the browser: a batch make-up (one trainee without a check-out, one
who left early from his phone) with two photos that the supervisor then reviews (seeing both photos) and approves, and a kiosk whose secret is shown exactly once."""
from __future__ import annotations

import pytest
from PIL import Image

from .helpers import (
    DESK,
    INSIDE,
    PHONE,
    login_staff,
    login_trainee,
    new_context,
    open_page,
    snap,
    watch_errors,
)

pytestmark = pytest.mark.browser

DEMO_PASSWORD = "demo-pass-2026"


def test_makeup_filed_by_institution_is_reviewed_with_both_photos(browser, server, screenshots, tmp_path):
    photos = []
    for name, color in (("sheet.jpg", (245, 245, 240)), ("room.png", (180, 200, 230))):
        path = tmp_path / name
        Image.new("RGB", (640, 480), color).save(path)
        photos.append(str(path))
    lesson_id = server.seeded.lesson_id
    # 张三 (checked in at the start, in the demo data) leaves early from his phone: checked out, 0 hours.
    phone = new_context(browser, PHONE, geolocation=INSIDE, permissions=["geolocation"])
    m = phone.new_page()
    login_trainee(m, server.url, "demo1")
    open_page(m, f"{server.url}/m/#/lessons")
    card = m.locator(f'article.lesson[data-lesson="{lesson_id}"]')
    m.once("dialog", lambda d: d.accept())   # "leaving now yields 0 hours"
    card.locator('button[data-kind="check_out"]').click()
    card.locator(".result .notice-ok").filter(has_text="签退成功").wait_for()
    phone.close()

    desk = new_context(browser, DESK)
    page = desk.new_page()
    errors = watch_errors(page)
    login_staff(page, f"{server.url}/console/", "school", DEMO_PASSWORD)
    open_page(page, f"{server.url}/console/#/attendance/{lesson_id}")
    # The early leaver is in the table with 0 hours, and offered a make-up of the check-out.
    zhang_row = page.locator("tr", has=page.locator("td:text-is('张三')"))
    assert zhang_row.locator("td").nth(3).inner_text() == "0 课时", zhang_row.inner_text()
    zhang = page.locator("#makeup-form fieldset label", has_text="张三")
    assert "（签退过早，不计学时）" in zhang.inner_text()
    assert "（缺签退）" in page.locator("#makeup-form fieldset label", has_text="李四").inner_text()
    # A batch: 李四 (no check-out) and 张三 (too early), one set of photos and one reason for both.
    page.locator("#makeup-form fieldset label", has_text="李四").locator("input").check()
    zhang.locator("input").check()
    page.select_option("#makeup-form select[name=kind]", "auto")
    page.fill("#makeup-form textarea[name=reason]", "下课时手机无信号，已签纸质签到表")
    page.set_input_files("#makeup-form input[name=sign_sheet]", photos[0])
    page.set_input_files("#makeup-form input[name=panorama]", photos[1])
    page.click("#makeup-form button[type=submit]")
    page.locator("li", has_text="李四 · 待审核").wait_for()
    page.locator("li", has_text="张三 · 待审核").wait_for()
    from backend.extensions import db
    from backend.models import MakeupRequest as Makeup
    from backend.models import Person
    with server.app.app_context():   # one pending check-out make-up each, both with the two photos
        filed = db.session.execute(db.select(Person.name, Makeup.kind, Makeup.status, Makeup.sign_sheet_path,
                                             Makeup.panorama_path).join(Person, Person.id == Makeup.person_id)
                                   .where(Makeup.lesson_id == lesson_id, Person.name.in_(["张三", "李四"]))).all()
    assert sorted((n, k, st) for n, k, st, _s, _p in filed) == [("张三", "check_out", "pending"),
                                                                ("李四", "check_out", "pending")], filed
    assert all(s and p for _n, _k, _st, s, p in filed)

    sup = desk.new_page()
    login_staff(sup, f"{server.url}/dashboard/", "supervisor", DEMO_PASSWORD)
    open_page(sup, f"{server.url}/dashboard/#/review?tab=makeups")
    card = sup.locator("article[data-makeup]", has_text="李四")
    card.wait_for()
    for which in ("sign_sheet", "panorama"):
        sup.wait_for_function("(sel) => document.querySelector(sel)?.naturalWidth > 0",
                              arg=f'article[data-makeup="{card.get_attribute("data-makeup")}"] img[data-photo="{which}"]')
    snap(sup, screenshots, "dashboard-review-makeup-photos")
    sheet = card.locator('img[data-photo="sign_sheet"]')
    sheet.click()  # full size, to read the names on the sheet
    assert "zoomed" in sheet.get_attribute("class") and sheet.bounding_box()["width"] >= DESK["width"] - 2
    snap(sup, screenshots, "dashboard-review-makeup-zoomed")
    sheet.click()
    assert "zoomed" not in (sheet.get_attribute("class") or "")
    card.locator("button.approve").click()
    card.wait_for(state="detached")
    assert not errors, errors
    desk.close()


def test_kiosk_secret_is_shown_once(browser, server, screenshots, tmp_path):
    desk = new_context(browser, DESK)
    page = desk.new_page()
    login_staff(page, f"{server.url}/console/", "school", DEMO_PASSWORD)
    open_page(page, f"{server.url}/console/#/kiosks")
    page.fill("#device-form input[name=name]", "二楼教室-2号机")
    page.click("#device-form button[type=submit]")
    secret = page.locator("#secret-value")
    secret.wait_for()
    value = secret.inner_text().strip()
    assert len(value) >= 32
    assert "只显示这一次" in page.locator("#secret").inner_text()
    # The snippet for the technician: the secret into a 0600 file, the [server] section naming it;
    # the kiosk's own config loader reads it back as this device with this secret.
    qr = page.locator("#provisioning-qr")
    assert qr.evaluate("img => img.complete && img.naturalWidth > 0")  # the QR drew (data: SVG under the CSP)
    snippet = page.inner_text("#config-snippet")
    assert f"printf '%s' '{value}' > /etc/peixunquan/device.secret" in snippet
    toml = snippet[snippet.index("[server]"):].replace("/etc/peixunquan/device.secret", str(tmp_path / "device.secret"))
    (tmp_path / "kiosk.toml").write_text(toml, encoding="utf-8")
    (tmp_path / "device.secret").write_text(value)
    from kiosk.config import load_config
    config = load_config(tmp_path / "kiosk.toml", {"KIOSK_DATA_DIR": str(tmp_path)})
    assert config.device_secret == value and config.server_url == server.url and config.device_id.isdigit()
    snap(page, screenshots, "console-kiosk-secret")
    open_page(page, f"{server.url}/console/#/kiosks?again=1")
    assert page.locator("td", has_text="二楼教室-2号机").count() == 1
    assert value not in page.content()
    desk.close()
