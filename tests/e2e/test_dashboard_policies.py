"""Policies per region and overdue items on the supervisor dashboard (#14; shared/DESIGN.md "Policy per
region"): the supervisor adds a version for a district of the city, sees the changed key marked as
different from the built-in default (and an unchanged one not), gets the API's validation error next to
the field and its refusal for a region above the city in Chinese, and finds an approved claim whose
payment is past due on the overdue list.

Dates come from the server's clock (backend.clock.now in the app context), so the tests hold whatever
clock the e2e server runs with."""
from __future__ import annotations

from datetime import timedelta

import pytest

from .helpers import (
    DESK,
    login_staff,
    new_context,
    settled,
    snap,
    watch_errors,
)

pytestmark = pytest.mark.browser

DEMO_PASSWORD = "demo-pass-2026"
# A district of the supervisor's city (3501) with no institution or plan: the version changes nothing the
# other browser tests on this shared server rely on.
DISTRICT = "350199"
OVERDUE_PLAN = "焊工（五级）岗前培训（逾期拨付）"


def _overdue_claim(server) -> dict:
    """A finished plan of the demo institution whose approved claim was due for payment weeks ago."""
    from backend.clock import now
    from backend.extensions import db
    from backend.models import SubsidyClaim, TrainingPlan, User
    from backend.services.persons import shanghai_today
    from backend.services.policies import plan_params
    from backend.services.subsidy import payment_due_on

    with server.app.app_context():
        t = now()
        today = shanghai_today(t)
        template = db.session.execute(db.select(TrainingPlan).order_by(TrainingPlan.id)).scalars().first()
        approver = db.session.execute(db.select(User).where(User.username == "supervisor2")).scalar_one()
        plan = TrainingPlan(institution_id=template.institution_id, region_code=template.region_code,
                            title=OVERDUE_PLAN, occupation_code="6-18-02-04", plan_type="pre_job", delivery="offline",
                            starts_on=today - timedelta(days=110), ends_on=today - timedelta(days=95),
                            status="completed", submitted_at=t - timedelta(days=120), reviewed_by=approver.id,
                            reviewed_at=t - timedelta(days=118), completion_submitted_at=t - timedelta(days=94),
                            completed_at=t - timedelta(days=90), created_at=t - timedelta(days=125))
        db.session.add(plan)
        db.session.flush()
        claim = SubsidyClaim(plan_id=plan.id, institution_id=plan.institution_id, region_code=plan.region_code,
                             status="approved", total_fen=123_400, explanations=[], created_at=t - timedelta(days=89),
                             approved_by=approver.id, approved_at=t - timedelta(days=88),
                             publicity_ends_at=t - timedelta(days=80))
        # The due day as the product computes it: the plan's payment deadline in working days after publicity.
        claim.payment_due_on = payment_due_on(claim, plan_params(plan, t))
        db.session.add(claim)
        db.session.commit()
        out = {"claim_id": claim.id, "due_on": claim.payment_due_on.isoformat(),
               "days_late": (today - claim.payment_due_on).days}
        db.session.remove()
    assert out["days_late"] > 0, out
    return out


def _add_form(page):
    return page.locator("#add-form")


def test_supervisor_adds_a_policy_version(browser, server, screenshots):
    base = f"{server.url}/dashboard/"
    ctx = new_context(browser, DESK)
    page = ctx.new_page()
    errors = watch_errors(page)
    login_staff(page, base, "supervisor", DEMO_PASSWORD)
    page.click("#nav a:has-text('政策参数')")
    settled(page, "policies")
    # The supervisor's own city first, every key from the built-in defaults (nothing set for 3501 yet).
    assert "3501" in page.inner_text("#effective h2")
    lead = page.locator("table.effective tr[data-key=registration_lead_days]")
    assert "0 天" in lead.inner_text() and "内置默认" in lead.inner_text()

    # Each parameter shows its built-in default; typing marks whether the value differs from it.
    form = _add_form(page)
    field = form.locator(".param-field[data-key=registration_lead_days]")
    assert "默认：0 天" in field.inner_text() and "范围 0–60" in field.inner_text()
    form.locator("input[name=region_code]").fill(DISTRICT)
    form.locator("input[name=registration_lead_days]").fill("3")
    assert "与默认不同" in field.locator(".diff-mark").inner_text()
    same = form.locator(".param-field[data-key=accuracy_max_m]")
    form.locator("input[name=accuracy_max_m]").fill("100")          # the built-in value again
    assert "与默认值相同" in same.locator(".diff-mark").inner_text()
    form.locator("input[name=note]").fill("沪式报名截止：开班前 3 天")
    form.locator("button[type=submit]").click()

    # Saved: the page shows the district on the version's first day, the changed key marked.
    page.locator("#added .notice-ok").wait_for()
    settled(page, "policies")
    assert DISTRICT in page.inner_text("#effective h2")
    lead = page.locator("table.effective tr[data-key=registration_lead_days]")
    assert "differs" in lead.get_attribute("class") and "3 天" in lead.inner_text()
    assert "与默认不同" in lead.inner_text() and "版本 #" in lead.inner_text()
    accuracy = page.locator("table.effective tr[data-key=accuracy_max_m]")
    assert "differs" not in (accuracy.get_attribute("class") or "") and "与默认不同" not in accuracy.inner_text()
    assert page.inner_text("#differs-count") == "1 项与内置默认值不同"
    version = page.locator("table.versions tbody tr", has_text=DISTRICT)
    assert version.count() == 1
    row = version.inner_text()
    assert "supervisor" in row and "生效中" in row and "报名截止（开班前）：3 天" in row and "（同默认）" in row, row
    snap(page, screenshots, "dashboard-policies-added")

    # A bad value: the API's field detail lands next to the field, in Chinese, and nothing is saved.
    total = page.inner_text("#versions .card-head span")
    form = _add_form(page)
    form.locator("input[name=registration_lead_days]").fill("99")
    form.locator("button[type=submit]").click()
    error = form.locator(".field-error[data-for=registration_lead_days]")
    page.wait_for_function("(el) => el.textContent.length > 0", arg=error.element_handle())
    assert error.inner_text() == "超出允许范围（0–60）"
    assert form.locator("input[name=registration_lead_days]").get_attribute("aria-invalid") == "true"
    assert "政策参数不正确：报名截止（开班前）超出允许范围（0–60）" in page.inner_text("#add-msg")
    snap(page, screenshots, "dashboard-policies-invalid")

    # The province is above the supervisor: the API's 403 is explained in words.
    form.locator("input[name=region_code]").fill("35")
    form.locator("input[name=registration_lead_days]").fill("3")
    form.locator("button[type=submit]").click()
    page.wait_for_function("() => document.querySelector('#add-msg').textContent.includes('无权')")
    msg = page.inner_text("#add-msg")
    assert "无权为区划 35 添加政策版本" in msg and "本辖区（3501）" in msg, msg
    assert form.locator(".field-error[data-for=region_code]").inner_text() == "无权为该区划添加版本"
    assert form.locator(".field-error[data-for=registration_lead_days]").inner_text() == ""
    assert page.inner_text("#versions .card-head span") == total
    assert not errors, errors
    ctx.close()


def test_overdue_list_shows_a_late_payment(browser, server, screenshots):
    late = _overdue_claim(server)
    ctx = new_context(browser, DESK)
    page = ctx.new_page()
    errors = watch_errors(page)
    login_staff(page, f"{server.url}/dashboard/", "supervisor", DEMO_PASSWORD)
    page.click("#nav a:has-text('逾期事项')")
    settled(page, "overdue")
    rows = page.locator("#overdue-payments tbody tr")
    row = page.locator(f"#overdue-payments tr[data-claim='{late['claim_id']}']")
    text = row.inner_text()
    assert OVERDUE_PLAN in text and "福州市鼓楼区职业技能培训学校" in text and "¥1,234.00" in text, text
    assert late["due_on"] in text and f"{late['days_late']} 天" in text, text
    count = rows.count()
    assert page.inner_text("#count-payments b") == str(count)
    assert f"补贴拨付逾期（{count}）" in page.inner_text("#overdue-payments h2")
    snap(page, screenshots, "dashboard-overdue")
    assert not errors, errors
    ctx.close()
