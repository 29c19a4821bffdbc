"""Sessions in the clients: a refresh the server cannot answer right now (429) does not sign anyone out
(issue 13, finding 4)."""
from __future__ import annotations

import json

import pytest

from .helpers import DESK, login_staff, new_context, settled

pytestmark = pytest.mark.browser

DEMO_PASSWORD = "demo-pass-2026"


def test_a_rate_limited_refresh_keeps_the_session(browser, server):
    """A 429 from /auth/refresh used to clear the tokens: junk traffic from others logged people out."""
    ctx = new_context(browser, DESK)
    page = ctx.new_page()
    login_staff(page, f"{server.url}/dashboard/", "supervisor", DEMO_PASSWORD)
    refresh_token = page.evaluate("() => localStorage.getItem('dash.refresh')")
    page.evaluate("() => localStorage.setItem('dash.access', 'expired-access-token')")
    page.route("**/api/v1/auth/refresh", lambda route: route.fulfill(
        status=429, headers={"Retry-After": "30"}, content_type="application/json",
        body=json.dumps({"error": {"code": "rate_limited", "message": "请求过于频繁，请稍后再试", "details": {}}})))
    with page.expect_response("**/api/v1/auth/refresh"):
        page.reload()
    page.wait_for_timeout(300)
    assert page.evaluate("() => localStorage.getItem('dash.refresh')") == refresh_token
    assert "#/login" not in page.url
    # Once the server answers again the same session carries on.
    page.unroute("**/api/v1/auth/refresh")
    with page.expect_response("**/api/v1/auth/refresh") as renewed:
        page.reload()
    assert renewed.value.status == 200
    settled(page)
    assert "#/login" not in page.url and page.locator("#logout").count() == 1
    ctx.close()
