"""A trainee claims a voucher on the phone; the institution's desk verifies the code, enrols the
holder on a plan (the voucher becomes used), and a second verification says it is used."""
from __future__ import annotations

from datetime import date, timedelta

import pytest

from .helpers import (
    DESK,
    PHONE,
    login_staff,
    login_trainee,
    new_context,
    open_page,
    settled,
    snap,
    watch_errors,
)

pytestmark = pytest.mark.browser

DEMO_PASSWORD = "demo-pass-2026"


def test_desk_verifies_a_voucher_code_and_enrols_the_holder(browser, server, screenshots):
    phone = new_context(browser, PHONE)
    m = phone.new_page()
    login_trainee(m, server.url, "demo1")
    open_page(m, f"{server.url}/m/#/vouchers")
    m.locator("button.claim").first.click()
    m.locator("article.voucher .notice-ok").wait_for()
    code = m.locator("article.voucher .notice-ok .mono").inner_text().strip()

    desk = new_context(browser, DESK)
    page = desk.new_page()
    errors = watch_errors(page)
    login_staff(page, f"{server.url}/console/", "school", DEMO_PASSWORD)
    open_page(page, f"{server.url}/console/#/plans")
    start = date.today() + timedelta(days=12)
    page.fill("input[name=title]", "中式面点师（初级）岗前培训")
    page.fill("input[name=occupation_code]", "4-03-02-02")
    page.fill("input[name=starts_on]", start.isoformat())
    page.fill("input[name=ends_on]", (start + timedelta(days=15)).isoformat())
    page.click("#plan-form button[type=submit]")
    settled(page, "plan")
    plan_id = page.evaluate("location.hash").split("/")[2].split("?")[0]

    open_page(page, f"{server.url}/console/#/verify")
    page.fill("#code", code.lower().replace("-", " "))  # typed loosely: case and separators do not matter
    page.click("#verify-form button[type=submit]")
    result = page.locator(".verify-result.valid")
    result.wait_for()
    assert "可在本机构使用" in result.inner_text() and code in result.inner_text()
    assert "张*" in result.inner_text()
    page.select_option("#plan", plan_id)
    page.click("#enrol")
    # The typed code proves nothing about who is at the desk: enrolment needs the trainee's live QR.
    refused = page.locator("#enrol-msg .notice-error")
    refused.wait_for()
    assert "二维码" in refused.inner_text()
    snap(page, screenshots, "console-verify-code-refused")

    # The desk's scanner reads the QR off the trainee's phone (a keyboard-wedge scanner types the token).
    open_page(m, f"{server.url}/m/#/voucher-qr?code={code}")
    qr = m.locator("#qr")
    qr.wait_for()
    m.wait_for_function("document.querySelector('#qr').naturalWidth > 0")
    import io

    import zxingcpp
    from PIL import Image
    [decoded] = zxingcpp.read_barcodes(Image.open(io.BytesIO(qr.screenshot())))
    page.fill("#code", decoded.text)
    page.click("#verify-form button[type=submit]")
    page.locator(".verify-result.valid").wait_for()
    page.select_option("#plan", plan_id)
    page.click("#enrol")
    page.locator("#enrol-msg .notice-ok").wait_for()
    snap(page, screenshots, "console-verify-enrolled")

    page.fill("#code", code)
    page.click("#verify-form button[type=submit]")
    page.locator(".verify-result.invalid").wait_for()
    assert "培训券已使用" in page.locator(".verify-result").inner_text()

    open_page(m, f"{server.url}/m/#/my-vouchers")
    assert "已使用" in m.locator(f'article.voucher[data-code="{code}"]').inner_text()
    assert not errors, errors
    phone.close()
    desk.close()
