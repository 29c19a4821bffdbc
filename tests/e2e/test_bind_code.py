"""Binding on a phone when an institution recorded the person's phone: the code step (masked phone,
6-digit input, resend with countdown, errors in Chinese under the field), reading the code as the
demo admin from the stub SMS outbox (GET /dev/sms)."""
from __future__ import annotations

import pytest

from .helpers import (
    PHONE,
    login_trainee,
    new_context,
    no_horizontal_scroll,
    sent_sms,
    settled,
    snap,
    watch_errors,
)
from .server import CODE_TRAINEE, RESEND_S

pytestmark = pytest.mark.browser


def test_bind_walks_the_sms_code_step(browser, server, screenshots):
    ctx = new_context(browser, PHONE)
    m = ctx.new_page()
    errors = watch_errors(m)
    login_trainee(m, server.url, "e2e-sunqi")
    settled(m, "bind")
    m.fill("#name", CODE_TRAINEE["name"])
    m.fill("#id_number", server.seeded.code_trainee_id_number)
    m.fill("#phone", "13912345678")  # typed: the code still goes to the phone on record
    m.click("#bind-form button[type=submit]")

    step = m.locator("#code-form")
    step.wait_for()
    assert m.locator("#bind-form").is_hidden()
    assert m.locator("#code-sent").inner_text() == "验证码已发送至 138****0017"
    resend = m.locator("#resend")
    assert resend.is_disabled() and "秒" in resend.inner_text()
    codes = sent_sms(server.url, CODE_TRAINEE["phone"])
    assert len(codes) == 1 and not sent_sms(server.url, "13912345678")
    assert no_horizontal_scroll(m)[0] <= PHONE["width"]
    snap(m, screenshots, "m-bind-code")

    # Too short: the page says so without asking the server.
    m.fill("#sms_code", "12345")
    m.click("#code-form button[type=submit]")
    field = m.locator('.field-error[data-for="sms_code"]')
    assert field.inner_text() == "请输入 6 位数字验证码"
    # A wrong code: the server counts it, the page shows the tries left.
    m.fill("#sms_code", f"{(int(codes[0]) + 1) % 1000000:06d}")
    m.click("#code-form button[type=submit]")
    m.wait_for_function("() => document.querySelector('.field-error[data-for=\"sms_code\"]').textContent.includes('还可再试')")
    assert field.inner_text() == "验证码不正确，还可再试 4 次"
    snap(m, screenshots, "m-bind-code-wrong")

    # The resend button wakes up after the countdown and sends a new code; the countdown starts again.
    m.wait_for_function("() => !document.querySelector('#resend').disabled", timeout=(RESEND_S + 5) * 1000)
    assert resend.inner_text() == "重新发送验证码"
    resend.click()
    m.wait_for_function("() => document.querySelector('#code-sent').textContent.includes('重新发送')")
    assert resend.is_disabled()
    fresh = sent_sms(server.url, CODE_TRAINEE["phone"])
    assert len(fresh) == 2

    m.fill("#sms_code", fresh[0])
    m.click("#code-form button[type=submit]")
    m.wait_for_selector(f"text=您好，{CODE_TRAINEE['name']}")
    assert not errors, errors
    ctx.close()


@pytest.mark.parametrize("error, text", [
    ({"code": "invalid_code", "details": {"reason": "wrong_code", "attempts_left": 2}}, "验证码不正确，还可再试 2 次"),
    ({"code": "invalid_code", "details": {"reason": "wrong_code", "attempts_left": 0}}, "错误次数过多，该验证码已失效，请重新获取"),
    ({"code": "invalid_code", "details": {"reason": "expired"}}, "验证码已过期，请重新获取"),
    ({"code": "invalid_code", "details": {"reason": "too_many_attempts", "attempts_left": 0}},
     "错误次数过多，该验证码已失效，请重新获取"),
    ({"code": "validation_error", "details": {"fields": {"sms_code": ["must be 6 digits"]}}}, "请输入 6 位数字验证码"),
    ({"code": "rate_limited", "details": {"reason": "sms_daily_cap"}}, "今天获取验证码的次数已达上限，请明天再试或联系培训机构"),
    ({"code": "identity_taken", "details": {}}, ""),
])
def test_code_errors_read_in_chinese(browser, server, error, text):
    ctx = new_context(browser, PHONE)
    page = ctx.new_page()
    page.goto(f"{server.url}/m/#/login")
    out = page.evaluate("async (err) => (await import('/m/pages/bind.js')).codeProblem(err)", error)
    ctx.close()
    assert out == text
