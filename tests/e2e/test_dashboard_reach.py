"""Operations that had no page until issue #15, driven from the dashboard's screens:

- a supervisor releases a trainee's wrong WeChat binding from the lesson's attendance row (解除绑定, with a
  reason, audited), after which that WeChat account signs in unbound;
- a supervisor allows, then stops, enrolment at the desk with the bare printed voucher code on the batch
  row of the voucher page (凭券码报名), each with a reason.

(Recording a publicity objection is in test_dashboard_objection.py.) Seeding goes straight to the database.
"""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from backend.extensions import db

from .helpers import (
    DESK,
    PHONE,
    login_staff,
    login_trainee,
    new_context,
    open_page,
    route_of,
    settled,
    snap,
    watch_errors,
)

pytestmark = pytest.mark.browser

DEMO_PASSWORD = "demo-pass-2026"
UNBIND_NAME = "吴十"
UNBIND_CODE = "e2e-unbind"  # the stub WeChat login turns a code into the openid "stub-<code>"
UNBIND_REASON = "经核实系他人冒用身份绑定"
BATCH = "2026年福州市职业技能培训券（烹饪）"  # backend.seed: the demo batch of region 3501


def _seed_bound_trainee(server) -> int:
    """Seed: a finished plan of the demo school with one lesson and one trainee whose WeChat is bound."""
    from backend.domain.attendance import SHANGHAI
    from backend.models import Enrollment, Lesson, Site, TrainingPlan, User, WechatAccount
    from backend.seed import REGION, demo_id
    from backend.services import persons

    with server.app.app_context():
        try:
            t = datetime.now(UTC)
            today = t.astimezone(SHANGHAI).date()
            template = db.session.get(TrainingPlan, server.seeded.plan_id)
            site = db.session.execute(db.select(Site)).scalars().first()
            approver = db.session.execute(db.select(User).where(User.username == "supervisor")).scalar_one()
            plan = TrainingPlan(institution_id=template.institution_id, region_code=template.region_code,
                                title="中式烹调师（五级）岗前培训", occupation_code="4-03-02-01", plan_type="pre_job",
                                delivery="offline", starts_on=today - timedelta(days=40),
                                ends_on=today - timedelta(days=40), status="completed",
                                submitted_at=t - timedelta(days=50), reviewed_by=approver.id,
                                reviewed_at=t - timedelta(days=49), completed_at=t - timedelta(days=30),
                                created_at=t - timedelta(days=55))
            db.session.add(plan)
            db.session.flush()
            day = today - timedelta(days=40)
            starts = datetime(day.year, day.month, day.day, 9, 0, tzinfo=SHANGHAI)
            lesson = Lesson(plan_id=plan.id, title="刀工基础", mode="offline", starts_at=starts,
                            ends_at=starts + timedelta(hours=3), class_hours=Decimal(4), site_id=site.id)
            person = persons.new_person(UNBIND_NAME, demo_id(REGION + "19870315", "071"), t, None, ["unemployed"])
            db.session.add_all([lesson, person])
            db.session.flush()
            db.session.add(Enrollment(plan_id=plan.id, person_id=person.id, status="active", eligible=True, reasons=[],
                                      groups=["unemployed"], created_at=t - timedelta(days=45)))
            db.session.add(WechatAccount(openid=f"stub-{UNBIND_CODE}", person_id=person.id,
                                         created_at=t - timedelta(days=45), bound_at=t - timedelta(days=45)))
            db.session.commit()
            return lesson.id
        finally:
            db.session.remove()


def _unbind_reasons(server, person_id: int) -> list[str]:
    from backend.models import AuditEntry

    with server.app.app_context():
        try:
            return [e.after["reason"] for e in db.session.execute(db.select(AuditEntry).where(
                AuditEntry.object_type == "person", AuditEntry.object_id == str(person_id),
                AuditEntry.action == "person.unbind")).scalars()]
        finally:
            db.session.remove()


def test_supervisor_unbinds_a_wrong_wechat_binding(browser, server, screenshots):
    lesson_id = _seed_bound_trainee(server)
    ctx = new_context(browser, DESK)
    page = ctx.new_page()
    errors = watch_errors(page)
    login_staff(page, f"{server.url}/dashboard/", "supervisor", DEMO_PASSWORD)
    open_page(page, f"{server.url}/dashboard/#/lesson/{lesson_id}")
    row = page.locator("table.attendance tbody tr", has_text=UNBIND_NAME)
    assert "已绑定" in row.locator("td.binding").inner_text()
    row.locator("button.unbind").click()
    dialog = page.locator("dialog#unbind-dialog")
    dialog.wait_for()
    assert f"解除 {UNBIND_NAME} 的微信绑定" in dialog.inner_text() and "记入审计" in dialog.inner_text()
    snap(page, screenshots, "dashboard-unbind-dialog")
    # No reason: said under the field, nothing sent.
    dialog.locator("button[type=submit]").click()
    assert "请填写解除原因" in dialog.locator('.field-error[data-for="reason"]').inner_text()
    assert dialog.is_visible()
    dialog.locator("input[name=reason]").fill(UNBIND_REASON)
    dialog.locator("button[type=submit]").click()
    page.locator(".toast-ok", has_text=f"已解除 {UNBIND_NAME} 的微信绑定").wait_for()
    page.locator("dialog#unbind-dialog").wait_for(state="detached")
    row = page.locator("table.attendance tbody tr", has_text=UNBIND_NAME)
    row.locator("td.binding", has_text="未绑定").wait_for()
    assert row.locator("button.unbind").count() == 0
    # Read back from the server, and the audit trail has the reason.
    page.reload()
    row = page.locator("table.attendance tbody tr", has_text=UNBIND_NAME)
    row.locator("td.binding", has_text="未绑定").wait_for()
    snap(page, screenshots, "dashboard-lesson-unbound")
    # The audit entry holds the reason, and the person's trail opened from the row shows it in Chinese.
    assert _unbind_reasons(server, int(row.get_attribute("data-person"))) == [UNBIND_REASON]
    row.locator("a.audit-link").click()
    settled(page, "audit")
    entry = page.locator('tr[data-action="person.unbind"]')
    entry.wait_for()
    assert "解除微信绑定" in entry.inner_text() and UNBIND_REASON in entry.inner_text()
    assert not errors, errors
    ctx.close()
    # The released WeChat account now signs in as nobody: the phone client asks it to bind again.
    phone = new_context(browser, PHONE)
    mpage = phone.new_page()
    login_trainee(mpage, server.url, UNBIND_CODE)
    assert route_of(mpage.url) == "bind", mpage.url
    phone.close()


def _code_enrollment_allowed(server) -> bool:
    from backend.models import VoucherBatch

    with server.app.app_context():
        try:
            return db.session.execute(db.select(VoucherBatch.code_enrollment_allowed)
                                      .where(VoucherBatch.name == BATCH)).scalar_one()
        finally:
            db.session.remove()


def _reset_code_enrollment(server) -> None:
    """Cleanup: the demo batch back to the default (the trainee's live QR needed), as other tests expect."""
    from backend.models import VoucherBatch

    with server.app.app_context():
        try:
            batch = db.session.execute(db.select(VoucherBatch).where(VoucherBatch.name == BATCH)).scalar_one()
            batch.code_enrollment_allowed = False
            db.session.commit()
        finally:
            db.session.remove()


def test_supervisor_allows_and_stops_code_enrollment_on_a_batch(browser, server, screenshots):
    assert _code_enrollment_allowed(server) is False  # the default: the live QR is needed
    ctx = new_context(browser, DESK)
    page = ctx.new_page()
    errors = watch_errors(page)
    try:
        login_staff(page, f"{server.url}/dashboard/", "supervisor", DEMO_PASSWORD)
        open_page(page, f"{server.url}/dashboard/#/vouchers")
        row = page.locator("table.batches tbody tr", has_text=BATCH)
        assert "须出示二维码" in row.locator("td.code-enrollment").inner_text()
        # Cancelling the prompt changes nothing.
        page.once("dialog", lambda d: d.dismiss())
        row.locator("button.toggle-code-enrollment", has_text="允许凭券码报名").click()
        assert "须出示二维码" in row.locator("td.code-enrollment").inner_text()
        prompts: list[str] = []

        def answer(reason):
            def accept(d):
                prompts.append(d.message)
                d.accept(reason)
            return accept

        page.once("dialog", answer("偏远乡镇学员多为老年人，无智能手机"))
        row.locator("button.toggle-code-enrollment", has_text="允许凭券码报名").click()
        page.locator(".toast-ok", has_text="已允许凭券码报名").wait_for()
        assert "无需本人到场出示实时二维码" in prompts[-1]
        row = page.locator("table.batches tbody tr", has_text=BATCH)
        row.locator("td.code-enrollment", has_text="允许").wait_for()
        assert row.locator("button.toggle-code-enrollment").inner_text() == "停止凭券码报名"
        snap(page, screenshots, "dashboard-batch-code-enrollment-allowed")
        page.reload()
        row = page.locator("table.batches tbody tr", has_text=BATCH)
        row.locator("button.toggle-code-enrollment", has_text="停止凭券码报名").wait_for()
        assert _code_enrollment_allowed(server) is True
        # And back: enrolment needs the trainee's live QR again.
        page.once("dialog", answer("乡镇学员已完成手机绑定"))
        row.locator("button.toggle-code-enrollment", has_text="停止凭券码报名").click()
        page.locator(".toast-ok", has_text="已停止凭券码报名").wait_for()
        row = page.locator("table.batches tbody tr", has_text=BATCH)
        row.locator("button.toggle-code-enrollment", has_text="允许凭券码报名").wait_for()
        assert "须出示二维码" in row.locator("td.code-enrollment").inner_text()
        assert _code_enrollment_allowed(server) is False
        # Both changes are in the batch's audit trail with their reasons.
        row.locator("a").first.click()
        page.locator("a", has_text="查看审计记录").click()
        page.locator("#app", has_text="voucher_batch.code_enrollment").wait_for()
        trail = page.inner_text("#app")
        assert "无智能手机" in trail and "已完成手机绑定" in trail
        assert not errors, errors
    finally:
        ctx.close()
        _reset_code_enrollment(server)
