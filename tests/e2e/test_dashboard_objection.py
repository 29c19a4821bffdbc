"""A supervisor settles an objection raised during a claim's publicity (公示) from the review page:
the open objection is shown as holding the payout, and dismissing it is recorded with the note."""
from __future__ import annotations

import pytest

from .helpers import DESK, login_staff, new_context, open_page, watch_errors

pytestmark = pytest.mark.browser

DEMO_PASSWORD = "demo-pass-2026"
CLAIM_PLAN = "面点师（初级）岗前培训"  # demo_data.inserted(): the claim in publicity with an open objection


def test_supervisor_dismisses_a_publicity_objection(browser, server):
    ctx = new_context(browser, DESK)
    page = ctx.new_page()
    errors = watch_errors(page)
    login_staff(page, f"{server.url}/dashboard/", "supervisor2", DEMO_PASSWORD)
    open_page(page, f"{server.url}/dashboard/#/review?tab=subsidies")
    card = page.locator("article[data-claim]", has_text=CLAIM_PLAN)
    card.locator("details.lines summary").click()
    item = card.locator("li[data-objection]").first
    item.wait_for()
    assert "待处理" in item.inner_text() and "有群众反映第二周有两天未开课" in item.inner_text()
    page.once("dialog", lambda dialog: dialog.accept("已调取考勤与人脸记录，课程正常开展"))
    item.locator("button.resolve[data-decision=dismissed]").click()
    page.locator(".toast-ok").wait_for()
    assert item.locator("button.resolve").count() == 0
    # Read back from the server: settled, with the note, and no longer holding the payout.
    page.reload()
    card = page.locator("article[data-claim]", has_text=CLAIM_PLAN)
    card.locator("details.lines summary").click()
    item = card.locator("li[data-objection]").first
    item.wait_for()
    assert "异议不成立" in item.inner_text() and "课程正常开展" in item.inner_text()
    assert item.locator("button.resolve").count() == 0
    assert not errors, errors
    ctx.close()
