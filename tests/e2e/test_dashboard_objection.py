"""A supervisor records an objection received during a claim's publicity (公示) on the review page and
settles it there: the new objection is shown as holding the payout, and dismissing it is recorded with
the note. (The claim also carries an older objection from demo_data.inserted(), which stays open.)"""
from __future__ import annotations

import pytest

from .helpers import DESK, login_staff, new_context, open_page, snap, watch_errors

pytestmark = pytest.mark.browser

DEMO_PASSWORD = "demo-pass-2026"
CLAIM_PLAN = "面点师（初级）岗前培训"  # demo_data.inserted(): the claim in publicity, one objection open
SEEDED = "有群众反映第二周有两天未开课"
NEW = "来电反映第三次课由他人代签到"


def _lines(page):
    card = page.locator("article[data-claim]", has_text=CLAIM_PLAN)
    card.locator("details.lines summary").click()
    card.locator("form.record-objection").wait_for()
    return card


def test_supervisor_records_and_dismisses_a_publicity_objection(browser, server, screenshots):
    ctx = new_context(browser, DESK)
    page = ctx.new_page()
    errors = watch_errors(page)
    login_staff(page, f"{server.url}/dashboard/", "supervisor2", DEMO_PASSWORD)
    open_page(page, f"{server.url}/dashboard/#/review?tab=subsidies")
    card = _lines(page)
    assert "待处理" in card.locator("li[data-objection]", has_text=SEEDED).inner_text()
    # Nothing typed: said under the field, nothing recorded.
    form = card.locator("form.record-objection")
    form.locator("button[type=submit]").click()
    assert "请填写异议内容" in form.locator('.field-error[data-for="text"]').inner_text()
    assert card.locator("li[data-objection]", has_text=NEW).count() == 0
    form.locator("textarea[name=text]").fill(NEW)
    form.locator("button[type=submit]").click()
    page.locator(".toast-ok", has_text="异议已记录").wait_for()
    item = card.locator("li[data-objection]", has_text=NEW)
    item.wait_for()
    assert "待处理" in item.inner_text() and item.locator("button.resolve").count() == 2
    assert card.locator("textarea[name=text]").input_value() == ""  # the form is fresh for the next one
    snap(page, screenshots, "dashboard-claim-objection-recorded")
    # Read back from the server, then settle the new objection.
    page.reload()
    card = _lines(page)
    item = card.locator("li[data-objection]", has_text=NEW)
    item.wait_for()
    assert "待处理" in item.inner_text()
    page.once("dialog", lambda dialog: dialog.accept("已调取考勤与人脸记录，课程正常开展"))
    item.locator("button.resolve[data-decision=dismissed]").click()
    page.locator(".toast-ok", has_text="异议已处理").wait_for()
    assert item.locator("button.resolve").count() == 0
    page.reload()
    card = _lines(page)
    item = card.locator("li[data-objection]", has_text=NEW)
    item.wait_for()
    assert "异议不成立" in item.inner_text() and "课程正常开展" in item.inner_text()
    assert item.locator("button.resolve").count() == 0
    # The older objection is still open and still holds the payout.
    assert card.locator("li[data-objection]", has_text=SEEDED).locator("button.resolve").count() == 2
    assert not errors, errors
    ctx.close()
