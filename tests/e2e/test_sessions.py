"""Sessions in the clients: signing out ends the session on the server (POST /auth/logout before the
tokens are dropped), and a refresh the server cannot answer right now (429) does not sign anyone out
(issue 13, findings 4 and 7)."""
from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from .helpers import DESK, PHONE, login_staff, login_trainee, new_context, open_page, settled, watch_errors

pytestmark = pytest.mark.browser

DEMO_PASSWORD = "demo-pass-2026"


def _refresh_status(base_url: str, refresh_token: str) -> int:
    req = urllib.request.Request(f"{base_url}/api/v1/auth/refresh", method="POST",
                                 data=json.dumps({"refresh_token": refresh_token}).encode(),
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status
    except urllib.error.HTTPError as err:
        return err.code


def test_staff_logout_revokes_the_session(browser, server):
    ctx = new_context(browser, DESK)
    page = ctx.new_page()
    errors = watch_errors(page)
    login_staff(page, f"{server.url}/dashboard/", "supervisor", DEMO_PASSWORD)
    refresh_token = page.evaluate("() => localStorage.getItem('dash.refresh')")
    assert refresh_token
    with page.expect_request("**/api/v1/auth/logout") as sent:
        page.click("#logout")
    assert json.loads(sent.value.post_data) == {"refresh_token": refresh_token}
    page.locator("#login-form").wait_for()
    assert page.evaluate("() => localStorage.getItem('dash.refresh')") is None
    # A copy of the token taken before signing out is worthless now.
    assert _refresh_status(server.url, refresh_token) == 401
    assert not errors, errors
    ctx.close()


def test_trainee_logout_revokes_the_session(browser, server):
    ctx = new_context(browser, PHONE)
    page = ctx.new_page()
    errors = watch_errors(page)
    login_trainee(page, server.url, "logout-trainee")
    refresh_token = page.evaluate("() => localStorage.getItem('m.refresh')")
    assert refresh_token
    open_page(page, f"{server.url}/m/#/mine")
    with page.expect_response("**/api/v1/auth/logout") as answered:
        page.click("#logout")
    assert answered.value.status == 200
    settled(page, "login")
    assert page.evaluate("() => localStorage.getItem('m.refresh')") is None
    assert _refresh_status(server.url, refresh_token) == 401
    assert not errors, errors
    ctx.close()


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
