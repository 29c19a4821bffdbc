"""The interactive API docs (/api/v1/docs) under their Content-Security-Policy: Swagger UI still renders
the operations from local assets with no CSP violation, and inline code that is not the page's own is
refused (issue 13, finding 7)."""
from __future__ import annotations

import pytest

from .helpers import DESK, new_context, snap, watch_errors

pytestmark = pytest.mark.browser


def test_docs_render_under_their_csp(browser, server, screenshots):
    ctx = new_context(browser, DESK)
    page = ctx.new_page()
    errors = watch_errors(page)
    response = page.goto(f"{server.url}/api/v1/docs")
    csp = response.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src 'self' 'sha256-" in csp and "unsafe-inline" not in csp
    page.locator(".opblock-summary-path").first.wait_for()
    paths = page.locator(".opblock-summary-path").all_inner_texts()
    assert "/api/v1/auth/logout" in [p.strip().replace("\u200b", "") for p in paths]
    # Open one operation: its schema and responses render too (models come from the same page script).
    page.locator(".opblock-summary-path", has_text="/api/v1/auth/login").first.click()
    page.locator(".opblock.is-open .responses-table").first.wait_for()
    snap(page, screenshots, "api-docs")
    assert not errors, errors
    ctx.close()


def test_docs_csp_refuses_injected_inline_script(browser, server):
    ctx = new_context(browser, DESK)
    page = ctx.new_page()
    violations: list[str] = []
    page.on("console", lambda msg: violations.append(msg.text) if "Content Security Policy" in msg.text else None)
    page.goto(f"{server.url}/api/v1/docs")
    page.locator(".opblock-summary-path").first.wait_for()
    page.evaluate("""() => { const s = document.createElement('script');
        s.textContent = 'window.__injected = true'; document.body.appendChild(s); }""")
    page.wait_for_timeout(100)
    assert page.evaluate("() => window.__injected === undefined")
    assert violations, "the browser reported no CSP violation for the injected script"
    ctx.close()
