"""The audit viewer in /dashboard/ (#15): a supervisor opens a plan's trail from its review card and reads
its creation and roster import in Chinese (entries written under one object type), then finds the same
plan again in the picker of recently audited objects without typing an id."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from .helpers import DESK, login_staff, new_context, open_page, settled, snap, watch_errors

pytestmark = pytest.mark.browser

DEMO_PASSWORD = "demo-pass-2026"
TITLE = "养老护理员（五级）审计演示培训"


def _submitted_plan(server) -> int:
    """Through the API as the demo institution: a plan, its roster of one, a lesson, submitted for review."""
    from backend.domain.identity import id_check_digit
    from backend.extensions import db
    from backend.models import Site, User

    with server.app.app_context():
        school = db.session.execute(db.select(User).where(User.username == "school")).scalar_one()
        site_id = db.session.execute(db.select(Site.id).where(Site.institution_id == school.institution_id)).scalar()
        db.session.remove()
    client = server.app.test_client()
    r = client.post("/api/v1/auth/login", json={"username": "school", "password": DEMO_PASSWORD})
    h = {"Authorization": f"Bearer {r.get_json()['access_token']}"}
    today = datetime.now(UTC).date()
    r = client.post("/api/v1/plans", headers=h, json={
        "title": TITLE, "occupation_code": "4-10-01-05", "plan_type": "pre_job", "delivery": "offline",
        "starts_on": (today + timedelta(days=30)).isoformat(), "ends_on": (today + timedelta(days=40)).isoformat()})
    assert r.status_code == 201, r.get_json()
    plan_id = r.get_json()["id"]
    r = client.post(f"/api/v1/plans/{plan_id}/roster", headers=h, json={"trainees": [
        {"name": "吴十", "id_number": "35010219880808301" + id_check_digit("35010219880808301")}]})
    assert r.status_code == 200 and r.get_json()["imported"] == 1, r.get_json()
    d = today + timedelta(days=30)
    r = client.post(f"/api/v1/plans/{plan_id}/lessons", headers=h, json={
        "title": "生活照护", "mode": "offline", "starts_at": f"{d}T09:00:00+08:00", "ends_at": f"{d}T12:00:00+08:00",
        "class_hours": 4, "site_id": site_id})
    assert r.status_code == 201, r.get_json()
    assert client.post(f"/api/v1/plans/{plan_id}/submit", headers=h).status_code == 200
    return plan_id


def test_plan_trail_from_review_in_chinese_and_from_the_picker(browser, server, screenshots):
    plan_id = _submitted_plan(server)
    ctx = new_context(browser, DESK)
    page = ctx.new_page()
    errors = watch_errors(page)
    login_staff(page, f"{server.url}/dashboard/", "supervisor", DEMO_PASSWORD)
    open_page(page, f"{server.url}/dashboard/#/review?tab=plans")
    card = page.locator(f'article[data-plan="{plan_id}"]')
    card.locator("a", has_text="审计记录").click()
    settled(page, "audit")
    rows = page.locator("table.audit tbody tr")
    rows.first.wait_for()
    assert page.locator("select[name=object_type]").input_value() == "plan"
    # One trail: creation and roster import (once written as training_plan) with the completion-era entries.
    create = page.locator('tr[data-action="plan.create"]')
    assert "创建培训方案" in create.inner_text()
    assert "状态：草稿" in create.inner_text() and "4-10-01-05" in create.inner_text()
    roster = page.locator('tr[data-action="roster.import"]')
    assert all(t in roster.inner_text() for t in ("导入花名册", "导入条数：1", "来源：接口导入"))
    submit = page.locator('tr[data-action="plan.submit"]')
    assert "提交方案审核" in submit.inner_text() and "状态：待审核" in submit.inner_text()
    snap(page, screenshots, "dashboard-audit-plan-trail")
    # A reload reads the trail again from the server.
    page.reload()
    settled(page, "audit")
    page.locator('tr[data-action="roster.import"]').wait_for()
    assert "导入花名册" in page.locator("table.audit").inner_text()

    # The picker: no id typed; choose the type, pick the plan by its title.
    open_page(page, f"{server.url}/dashboard/#/audit")
    page.locator("table.audit-objects").wait_for()
    page.select_option("select[name=object_type]", "plan")
    settled(page, "audit")
    row = page.locator(f'table.audit-objects tr[data-object="plan:{plan_id}"]')
    row.wait_for()
    assert TITLE in row.inner_text() and "提交方案审核" in row.inner_text()
    assert set(page.locator("table.audit-objects tbody td:first-child").all_inner_texts()) == {"培训方案"}
    snap(page, screenshots, "dashboard-audit-picker")
    row.locator("a", has_text="查看记录").click()
    settled(page, "audit")
    page.locator('tr[data-action="plan.create"]').wait_for()
    assert not errors, errors
    ctx.close()
