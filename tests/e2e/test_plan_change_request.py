"""An approved plan's occupation changes from the screens (#15): the institution asks on the console with a
reason, the supervisor approves on the dashboard's 方案变更 review tab seeing before and after in Chinese,
and the plan page then shows the new occupation; until then it keeps the approved one.

Seeding goes straight to the database: an approved offline plan of the demo institution starting in 20 days
(well inside the change window) with one lesson.
"""
from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from backend.extensions import db

from .helpers import DESK, login_staff, new_context, open_page, settled, snap, watch_errors

DEMO_PASSWORD = "demo-pass-2026"
TITLE = "中式烹调师（初级）岗前培训（变更测试）"
OLD, NEW = "4-03-02-01", "4-03-02-02"  # 中式烹调师 → 中式面点师


def _seed_approved_plan(server) -> int:
    from backend.models import Lesson, TrainingPlan

    with server.app.app_context():
        demo = db.session.get(TrainingPlan, server.seeded.plan_id)
        now = datetime.now(UTC)
        starts = date.today() + timedelta(days=20)
        plan = TrainingPlan(institution_id=demo.institution_id, region_code=demo.region_code, title=TITLE,
                            occupation_code=OLD, plan_type="pre_job", delivery="offline", status="approved",
                            starts_on=starts, ends_on=starts + timedelta(days=5), submitted_at=now - timedelta(days=2),
                            reviewed_at=now - timedelta(days=1), created_at=now - timedelta(days=3),
                            policy_id=demo.policy_id, policy_params=demo.policy_params)
        db.session.add(plan)
        db.session.flush()
        first = datetime(starts.year, starts.month, starts.day, 1, 0, tzinfo=UTC)  # 09:00 Shanghai
        db.session.add(Lesson(plan_id=plan.id, title="刀工基础", mode="offline", starts_at=first,
                              ends_at=first + timedelta(hours=3), class_hours=Decimal("4"),
                              site_id=db.session.execute(db.select(Lesson.site_id).where(
                                  Lesson.plan_id == demo.id, Lesson.site_id.is_not(None))).scalar()))
        db.session.commit()
        return plan.id


def _plan_row(server, plan_id: int):
    from backend.models import PlanChangeRequest, TrainingPlan
    with server.app.app_context():
        plan = db.session.get(TrainingPlan, plan_id)
        reqs = db.session.execute(db.select(PlanChangeRequest).where(PlanChangeRequest.plan_id == plan_id)).scalars().all()
        return plan.occupation_code, [(r.status, r.requested_fields, r.decided_by is not None) for r in reqs]


def test_institution_requests_supervisor_approves_plan_shows_new_occupation(browser, server, screenshots):
    plan_id = _seed_approved_plan(server)
    school_ctx = new_context(browser, DESK)
    school = school_ctx.new_page()
    school_errors = watch_errors(school)
    login_staff(school, f"{server.url}/console/", "school", DEMO_PASSWORD)
    open_page(school, f"{server.url}/console/#/plan/{plan_id}")
    school.click("#edit-plan")
    dialog = school.locator("#plan-edit")
    dialog.locator("input[name=occupation_code]").fill(NEW)
    dialog.locator("button[type=submit]").click()
    # A change of occupation after approval needs a reason: the dialog says so before anything is sent.
    assert "须填写变更原因" in dialog.locator("[data-for=change_reason]").inner_text()
    dialog.locator("textarea[name=change_reason]").fill("合作企业面点岗位用工需求增加，调整培训职业")
    snap(school, screenshots, "console-plan-change-request-dialog")
    dialog.locator("button[type=submit]").click()
    dialog.wait_for(state="detached")
    open_page(school, f"{server.url}/console/#/plan/{plan_id}")
    box = school.locator("#change-requests")
    box.locator("[data-status=pending]").wait_for()
    assert "中式面点师（4-03-02-02）" in box.inner_text() and "待审核" in box.inner_text()
    # Filed, not applied: the plan keeps the approved occupation until the bureau decides.
    assert "中式烹调师" in school.locator("#plan-occupation").inner_text()
    assert _plan_row(server, plan_id) == (OLD, [("pending", {"occupation_code": NEW}, False)])
    snap(school, screenshots, "console-plan-change-request-pending")

    sup_ctx = new_context(browser, DESK)
    sup = sup_ctx.new_page()
    sup_errors = watch_errors(sup)
    login_staff(sup, f"{server.url}/dashboard/", "supervisor", DEMO_PASSWORD)
    open_page(sup, f"{server.url}/dashboard/#/review?tab=changes")
    card = sup.locator("article[data-change]", has_text=TITLE)
    card.wait_for()
    row = card.locator("tr[data-field=occupation_code]")
    assert row.locator("td.before").inner_text() == "中式烹调师（4-03-02-01）"
    assert row.locator("td.after").inner_text() == "中式面点师（4-03-02-02）"
    assert "合作企业面点岗位用工需求增加" in card.inner_text()
    snap(sup, screenshots, "dashboard-review-plan-change")
    card.locator("input[name=reason]").fill("用工需求属实，同意变更")
    card.locator("button.approve-change").click()
    card.wait_for(state="detached")
    sup.reload()
    settled(sup, "review")
    sup.locator("#tab-body p.muted").first.wait_for()
    assert sup.locator("article[data-change]", has_text=TITLE).count() == 0

    school.reload()  # the same address: a reload, so the page reads the plan again
    settled(school, "plan")
    school.locator("#change-requests [data-status=approved]").wait_for()
    assert "中式面点师" in school.locator("#plan-occupation").inner_text()
    assert "审核意见：用工需求属实，同意变更" in school.locator("#change-requests").inner_text()
    assert _plan_row(server, plan_id) == (NEW, [("approved", {"occupation_code": NEW}, True)])
    snap(school, screenshots, "console-plan-change-approved")
    assert not school_errors and not sup_errors, (school_errors, sup_errors)
    school_ctx.close()
    sup_ctx.close()
