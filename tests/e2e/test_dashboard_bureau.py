"""The bureau's admin area in /dashboard/, driven from the screen only (issue #15, part A).

Admin: registers an institution (a wrong credit code is named under its field), creates a supervisor
account and an institution account. Supervisor: defines a voucher batch with its targeting and funding
source (a missing name is named under its field), publishes it, sees its claimant list masked, voids a
voucher with a reason, closes the batch, checks the voided voucher by code; rejects a completion with a
reason and finds it in the plan's audit trail; revokes a certificate and sees it flagged on the claim with
the approver's name; asks statistics for another region and gets the error in place; and is told when the
session has expired; activates and revokes a kiosk the school registered in its console. The voucher the
supervisor voids is claimed on the trainee's phone; only the certificate is seeded (see _seed_certificate).
"""
from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta

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
REJECT_PLAN = "保育师（五级）转岗培训"   # demo_data.inserted(): completion_submitted, no other test acts on it
CLAIM_PLAN = "面点师（初级）岗前培训"    # demo_data.inserted(): claim in publicity, approved by "supervisor"


def _credit_code(region: str) -> str:
    """A valid unified social credit code in a region (GB 32100 check characters)."""
    from backend.domain.identity import credit_check_char, org_check_char
    base = f"{uuid.uuid4().int % 10**8:08d}"
    first17 = "91" + region + base + org_check_char(base)
    return first17 + credit_check_char(first17)


def _claim_on_phone(browser, server, batch_name: str) -> str:
    """The demo trainee 张三 (WeChat code demo1, unemployed, 16-60) claims a voucher of the batch on his phone."""
    phone = new_context(browser, PHONE)
    m = phone.new_page()
    login_trainee(m, server.url, "demo1")
    open_page(m, f"{server.url}/m/#/vouchers")
    offer = m.locator("article.voucher", has_text=batch_name)
    offer.locator("button.claim").click()
    offer.locator(".notice-ok").wait_for()
    code = offer.locator(".notice-ok .mono").inner_text().strip()
    phone.close()
    return code


def _seed_certificate(server) -> str:
    """Seed: the certificate of the first trainee on the claim in publicity (the demo inserts the claim only).

    Not from the screen: a certificate is issued only when a plan's completion is approved, which takes a
    plan through roster, lessons, attendance, results and two reviews; that path is the completion tests'."""
    from backend.domain.certificates import certificate_number
    from backend.extensions import db
    from backend.models import Certificate, SubsidyClaim, SubsidyLine, TrainingPlan

    with server.app.app_context():
        plan = db.session.execute(db.select(TrainingPlan).where(TrainingPlan.title == CLAIM_PLAN)).scalar_one()
        claim = db.session.execute(db.select(SubsidyClaim).where(SubsidyClaim.plan_id == plan.id)).scalar_one()
        line = db.session.execute(db.select(SubsidyLine).where(SubsidyLine.claim_id == claim.id)
                                  .order_by(SubsidyLine.id)).scalars().first()
        number = certificate_number(plan.region_code, datetime.now(UTC).year, 900000 + plan.id)
        db.session.add(Certificate(number=number, plan_id=plan.id, person_id=line.person_id,
                                   institution_id=plan.institution_id, occupation_code=plan.occupation_code,
                                   issued_on=datetime.now(UTC).date()))
        db.session.commit()
        db.session.remove()
        return number


def test_admin_registers_an_institution_and_creates_accounts(browser, server, screenshots):
    ctx = new_context(browser, DESK)
    page = ctx.new_page()
    errors = watch_errors(page)
    login_staff(page, f"{server.url}/dashboard/", "admin", DEMO_PASSWORD)
    open_page(page, f"{server.url}/dashboard/#/bureau")
    form = page.locator("#inst-form")
    form.locator("input[name=name]").fill("鼓楼区阳光职业培训学校")
    form.locator("input[name=credit_code]").fill("91350102MA0000000X")
    form.locator("input[name=region_code]").fill("350102")
    form.locator("button[type=submit]").click()
    slot = form.locator('.field-error[data-for="credit_code"]')
    page.wait_for_function("(el) => el.textContent.length > 0", arg=slot.element_handle())
    assert "统一社会信用代码" in slot.inner_text()
    assert form.locator('.field-error[data-for="name"]').inner_text() == ""
    form.locator("input[name=credit_code]").fill(_credit_code("350102"))
    form.locator("button[type=submit]").click()
    row = page.locator("table.institutions tbody tr", has_text="鼓楼区阳光职业培训学校")
    row.wait_for()
    assert "350102" in row.inner_text() and "福建" in row.inner_text()

    users = page.locator("#user-form")
    users.locator("input[name=username]").fill("xiamen-sup")
    users.locator("input[name=password]").fill("xiamen-pass-2026")
    users.locator("select[name=role]").select_option("supervisor")
    users.locator("input[name=region_code]").fill("3502")
    users.locator("button[type=submit]").click()
    page.locator("table.users tbody tr", has_text="xiamen-sup").wait_for()
    assert "人社监管人员" in page.locator("table.users tbody tr", has_text="xiamen-sup").inner_text()

    users = page.locator("#user-form")
    users.locator("input[name=username]").fill("yangguang-staff")
    users.locator("input[name=password]").fill("yangguang-pass-2026")
    users.locator("select[name=role]").select_option("institution")
    users.locator("select[name=institution_id]").select_option(label="鼓楼区阳光职业培训学校")
    users.locator("button[type=submit]").click()
    staff_row = page.locator("table.users tbody tr", has_text="yangguang-staff")
    staff_row.wait_for()
    assert "鼓楼区阳光职业培训学校" in staff_row.inner_text()
    snap(page, screenshots, "dashboard-bureau-admin")
    assert not errors, errors
    ctx.close()


def test_supervisor_creates_only_institution_accounts(browser, server):
    ctx = new_context(browser, DESK)
    page = ctx.new_page()
    errors = watch_errors(page)
    login_staff(page, f"{server.url}/dashboard/", "supervisor2", DEMO_PASSWORD)
    open_page(page, f"{server.url}/dashboard/#/bureau")
    options = page.locator("#user-form select[name=role] option").all_inner_texts()
    assert options == ["机构工作人员"]
    assert not errors, errors
    ctx.close()


def test_supervisor_runs_a_voucher_batch(browser, server, screenshots):
    ctx = new_context(browser, DESK)
    page = ctx.new_page()
    errors = watch_errors(page)
    login_staff(page, f"{server.url}/dashboard/", "supervisor", DEMO_PASSWORD)
    open_page(page, f"{server.url}/dashboard/#/vouchers")
    page.locator("#new-batch summary").click()
    form = page.locator("#batch-form")
    form.locator("select[name=occupation_codes]").select_option(["6-31-01-03", "6-18-02-04"])
    ends = (datetime.now(UTC) + timedelta(days=30)).date().isoformat()
    form.locator("input[name=claim_ends_on]").fill(ends)
    form.locator("button[type=submit]").click()
    assert form.locator('.field-error[data-for="name"]').inner_text() == "请输入批次名称"
    name = "2026年鼓楼区电工焊工培训券"
    form.locator("input[name=name]").fill(name)
    form.locator("input[name=quantity]").fill("50")
    form.locator("input[name=face_value_yuan]").fill("1200")
    form.locator("input[name=funding_source]").fill("就业补助资金")
    form.locator("input[name=group_unemployed]").check()
    form.locator("input[name=age_min]").fill("16")
    form.locator("input[name=age_max]").fill("60")
    form.locator("button[type=submit]").click()
    row = page.locator("table.batches tbody tr", has_text=name)
    row.wait_for()
    assert "草稿" in row.inner_text() and "电工（6-31-01-03）" in row.inner_text() and "就业补助资金" in row.inner_text()
    row.locator("button.publish").click()
    page.locator("table.batches tbody tr", has_text=name).locator("button.close-batch").wait_for()
    assert "发放中" in page.locator("table.batches tbody tr", has_text=name).inner_text()

    code = _claim_on_phone(browser, server, name)
    page.locator("table.batches a", has_text=name).click()
    settled(page, "vouchers")
    claimant = page.locator("table.claimants tbody tr", has_text=code)
    claimant.wait_for()
    text = claimant.inner_text()
    assert "张*" in text and "*" in claimant.locator("td").nth(2).inner_text() and "已领取" in text
    assert "就业补助资金" in page.locator("dd.funding").inner_text()
    snap(page, screenshots, "dashboard-voucher-claimants")
    page.once("dialog", lambda d: d.accept("持券人身份存疑，暂停使用"))
    claimant.locator("button.void").click()
    page.wait_for_function("(code) => { const r = document.querySelector(`tr[data-code='${code}'] td.status`); "
                           "return r && r.textContent.includes('作废'); }", arg=code)
    assert page.locator(f"tr[data-code='{code}'] button.void").count() == 0

    page.click("text=← 全部批次")
    settled(page, "vouchers")
    page.once("dialog", lambda d: d.accept())
    page.locator("table.batches tbody tr", has_text=name).locator("button.close-batch").click()
    page.wait_for_function("(name) => Array.from(document.querySelectorAll('table.batches tbody tr'))"
                           ".some((r) => r.textContent.includes(name) && r.textContent.includes('已结束'))", arg=name)
    page.fill("#verify-form input[name=code]", code)
    page.click("#verify-form button")
    out = page.locator("#verify-out .notice")
    out.wait_for()
    assert "作废" in out.inner_text() and "张*" in out.inner_text()
    snap(page, screenshots, "dashboard-vouchers")
    assert not errors, errors
    ctx.close()


def test_supervisor_rejects_a_completion_with_a_reason(browser, server, screenshots):
    ctx = new_context(browser, DESK)
    page = ctx.new_page()
    errors = watch_errors(page)
    login_staff(page, f"{server.url}/dashboard/", "supervisor", DEMO_PASSWORD)
    open_page(page, f"{server.url}/dashboard/#/review?tab=completions")
    # The evidence of the flagged plan (demo_data.flagged_completion): hours by source, result, flags, amount.
    flagged = page.locator(f'article[data-plan="{server.seeded.flagged["plan_id"]}"]')
    chen = flagged.locator(".evidence-table tr", has_text="陈静")
    chen.wait_for()
    assert "考勤机 12" in chen.inner_text() and "合格" in chen.inner_text() and "¥" in chen.locator("td.amount").inner_text()
    zhang = flagged.locator(".evidence-table tr", has_text="张伟").inner_text()
    assert "从未绑定手机" in zhang or "人脸由机构人员代为采集" in zhang
    flagged.locator(".evidence").scroll_into_view_if_needed()
    snap(page, screenshots, "dashboard-completion-evidence")
    card = page.locator("article[data-plan]", has_text=REJECT_PLAN)
    card.locator(".evidence table").wait_for()
    assert "未录入" in card.locator(".evidence").inner_text()  # no results were recorded for this plan
    assert "保育师（4-10-01-03）" in card.locator("dl.kv").inner_text()  # occupations by name
    form = card.locator("form.reject-completion")
    form.locator("button").click()
    assert "驳回原因" in form.locator('.field-error[data-for="reason"]').inner_text()
    form.locator("input[name=reason]").fill("未录入考核成绩，请补录后重新申请")
    form.locator("button").click()
    card.locator(".result .rejected").wait_for()
    snap(page, screenshots, "dashboard-completion-rejected")
    plan_id = card.get_attribute("data-plan")
    page.reload()
    settled(page, "review")
    assert page.locator(f'article[data-plan="{plan_id}"]').count() == 0
    open_page(page, f"{server.url}/dashboard/#/audit?object_type=plan&object_id={plan_id}")
    row = page.locator("table.audit tbody tr", has_text="plan.completion_reject")
    row.wait_for()
    assert "未录入考核成绩" in row.inner_text() and "supervisor" in row.inner_text()
    snap(page, screenshots, "dashboard-audit")
    # Each kiosk links to its own trail (supervisors read devices of their region).
    open_page(page, f"{server.url}/dashboard/#/review?tab=kiosks")
    page.locator("tr[data-device] a", has_text="审计").first.click()
    settled(page, "audit")
    page.wait_for_function("() => !document.querySelector('#audit-out .loading')")
    assert page.locator("#audit-out .notice-error").count() == 0
    assert page.locator("select[name=object_type]").input_value() == "device"
    assert not errors, errors
    ctx.close()


def test_supervisor_revokes_a_certificate_and_the_claim_flags_it(browser, server, screenshots):
    number = _seed_certificate(server)
    ctx = new_context(browser, DESK)
    page = ctx.new_page()
    errors = watch_errors(page)
    login_staff(page, f"{server.url}/dashboard/", "supervisor2", DEMO_PASSWORD)
    open_page(page, f"{server.url}/dashboard/#/certificates")
    page.fill("#cert-form input[name=number]", number)
    page.click("#cert-form button")
    page.locator("#revoke-form").wait_for()
    assert "中式面点师（4-03-02-02）" in page.locator("[data-certificate]").inner_text()
    page.click("#revoke-form button")
    assert "撤销原因" in page.locator('#revoke-form .field-error[data-for="reason"]').inner_text()
    page.fill("#revoke-form input[name=reason]", "经核查冒名参训")
    page.once("dialog", lambda d: d.accept())
    page.click("#revoke-form button")
    page.locator("[data-certificate] .badge-error").wait_for()
    assert page.locator("#revoke-form").count() == 0
    open_page(page, f"{server.url}/dashboard/#/review?tab=subsidies")
    card = page.locator("article[data-claim]", has_text=CLAIM_PLAN)
    assert "审核人：supervisor" in card.inner_text() and "用户 #" not in card.inner_text()
    card.locator("details.lines summary").click()
    revoked = card.locator("tr.revoked")
    revoked.wait_for()
    assert "证书已撤销" in revoked.inner_text() and "经核查冒名参训" in revoked.inner_text()
    snap(page, screenshots, "dashboard-claim-revoked-certificate")
    assert not errors, errors
    ctx.close()


def test_statistics_error_in_place_and_expired_session_is_said(browser, server, screenshots):
    ctx = new_context(browser, DESK)
    page = ctx.new_page()
    errors = watch_errors(page)
    login_staff(page, f"{server.url}/dashboard/", "supervisor", DEMO_PASSWORD)
    open_page(page, f"{server.url}/dashboard/#/stats?region_code=3502")
    slot = page.locator('#filters .field-error[data-for="region_code"]')
    assert "超出您的监管范围" in slot.inner_text()
    assert page.locator("#out .notice-error").count() == 1
    assert page.locator("#filters").is_visible() and page.locator("nav#nav a").count() > 3
    snap(page, screenshots, "dashboard-stats-out-of-region")
    # The session ends under the user (tokens no longer accepted): the login page says so.
    page.evaluate("() => { localStorage.setItem('dash.access', 'expired'); localStorage.setItem('dash.refresh', 'expired'); }")
    page.click("nav#nav a[href='#/vouchers']")
    settled(page, "login")
    assert "登录已过期" in page.inner_text("#login-msg")
    login_staff(page, f"{server.url}/dashboard/", "supervisor", DEMO_PASSWORD)
    assert page.inner_text("#app")
    assert not [e for e in errors if "401" not in e], errors
    ctx.close()


def _register_kiosk(page, server, name: str) -> int:
    """The demo school registers a kiosk at its site from the console's 考勤机 page: its number, as shown."""
    login_staff(page, f"{server.url}/console/", "school", DEMO_PASSWORD)
    open_page(page, f"{server.url}/console/#/kiosks")
    page.fill("#device-form input[name=name]", name)
    page.click("#device-form button[type=submit]")
    page.locator("#secret-value").wait_for()
    return int(re.search(r"考勤机已登记（编号 (\d+)）", page.inner_text("#secret")).group(1))


def _console_kiosk_status(page, server, device_id: int) -> str:
    """What the console's 考勤机 page says of one kiosk (after a fresh load)."""
    open_page(page, f"{server.url}/console/#/kiosks?t={uuid.uuid4().hex[:6]}")
    return page.locator(f'tr[data-device="{device_id}"]').inner_text()


def test_supervisor_activates_then_revokes_a_kiosk(browser, server, screenshots):
    ctx = new_context(browser, DESK)
    school = ctx.new_page()
    name = f"二号教室考勤机-{uuid.uuid4().hex[:4]}"
    device_id = _register_kiosk(school, server, name)
    assert "待人社激活" in _console_kiosk_status(school, server, device_id)
    page = ctx.new_page()
    errors = watch_errors(page)
    login_staff(page, f"{server.url}/dashboard/", "supervisor", DEMO_PASSWORD)
    open_page(page, f"{server.url}/dashboard/#/review?tab=kiosks")
    row = page.locator(f'tr[data-device="{device_id}"]')
    assert "待激活" in row.inner_text()
    page.once("dialog", lambda d: d.accept())
    row.locator("button.activate").click()
    page.locator(f'tr[data-device="{device_id}"] button.activate').wait_for(state="detached")
    settled(page, "review")
    assert "离线" in page.locator(f'tr[data-device="{device_id}"]').inner_text()  # active, no heartbeat yet
    assert name in page.locator(f'tr[data-device="{device_id}"]').inner_text()
    assert "离线" in _console_kiosk_status(school, server, device_id)   # the school sees it activated
    snap(page, screenshots, "dashboard-kiosk-activated")
    page.once("dialog", lambda d: d.accept())
    page.locator(f'tr[data-device="{device_id}"] button.revoke').click()
    page.locator(f'tr[data-device="{device_id}"] button.revoke').wait_for(state="detached")
    settled(page, "review")
    assert "已停用" in page.locator(f'tr[data-device="{device_id}"]').inner_text()
    assert "已停用" in _console_kiosk_status(school, server, device_id)
    from backend.extensions import db
    from backend.models import Device
    with server.app.app_context():
        assert db.session.get(Device, device_id).status == "revoked"
        db.session.remove()
    page.locator(f'tr[data-device="{device_id}"] a', has_text="审计").click()
    settled(page, "audit")
    trail = page.locator("table.audit tbody").inner_text()
    assert "device.activate" in trail and "device.revoke" in trail, trail
    assert not errors, errors
    ctx.close()
