"""Shared steps of the browser tests: contexts for a phone and a desk, logins, page checks."""
from __future__ import annotations

import json
import os
import re
import urllib.request
from pathlib import Path

PHONE = {"width": 375, "height": 667}
DESK = {"width": 1366, "height": 768}
TIMEOUT_MS = 15_000

# Offsets from the demo site (26.0785, 119.2965, radius 200 m): ~22 m east, and ~1.1 km north.
INSIDE = {"latitude": 26.0786, "longitude": 119.2967, "accuracy": 20}
OUTSIDE = {"latitude": 26.0885, "longitude": 119.2965, "accuracy": 20}


def new_context(browser, viewport: dict, geolocation: dict | None = None, permissions: list | None = None):
    """A fresh browser profile at a viewport; phones get touch and mobile emulation."""
    phone = viewport["width"] < 600
    ctx = browser.new_context(viewport=viewport, locale="zh-CN", timezone_id="Asia/Shanghai",
                              is_mobile=phone, has_touch=phone, geolocation=geolocation,
                              permissions=permissions if permissions is not None else [])
    ctx.set_default_timeout(TIMEOUT_MS)
    return ctx


def watch_errors(page) -> list[str]:
    """Collect uncaught page errors (and CSP violations) so a test can assert the pages ran cleanly."""
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    # Everything must come from the app itself: a Content-Security-Policy violation is a failure too.
    page.on("console", lambda msg: errors.append(msg.text) if "Content Security Policy" in msg.text else None)
    return errors


def settled(page, name: str | None = None) -> None:
    """Wait until the client has rendered its current page (body[data-ready], optionally that page)."""
    page.wait_for_function("(name) => { const r = document.body.dataset.ready; "
                           "return name ? r === name : Boolean(r); }", arg=name)


def login_trainee(page, base_url: str, code: str) -> None:
    """Stub WeChat login on the trainee client."""
    page.goto(f"{base_url}/m/#/login")
    page.fill("#code", code)
    page.click("#login-form button[type=submit]")
    page.wait_for_function("() => (document.body.dataset.ready || 'login') !== 'login'")


def login_staff(page, url: str, username: str, password: str) -> None:
    """Password login on the dashboard or the console."""
    page.goto(url)
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("#login-form button[type=submit]")
    page.wait_for_function("() => (document.body.dataset.ready || 'login') !== 'login'")


def route_of(url: str) -> str:
    """The page name a client URL shows: '/m/#/voucher-qr?code=X' -> 'voucher-qr'."""
    return url.split("#/", 1)[1].split("?", 1)[0].split("/", 1)[0] if "#/" in url else ""


def open_page(page, url: str) -> None:
    """Navigate to a client URL and wait until that page has rendered."""
    page.goto(url)
    settled(page, route_of(url) or None)


def no_horizontal_scroll(page) -> tuple[int, int]:
    """(scrollWidth, innerWidth) of the page. The staff pages set overflow-x: hidden on html and body, which
    clips over-wide content inside body instead of scrolling the document: body's scrollWidth still says it."""
    return tuple(page.evaluate("() => [Math.max(document.documentElement.scrollWidth, document.body.scrollWidth),"
                               " window.innerWidth]"))


def database_tag() -> str:
    """'sqlite' or 'postgres': which database the app under test runs on (TEST_DB)."""
    return "postgres" if os.environ.get("TEST_DB") == "postgres" else "sqlite"


def snap(page, directory: Path, name: str) -> Path:
    """Screenshot of the viewport, named after the page, the viewport size and the database (so the
    PostgreSQL pass does not overwrite the SQLite one): e.g. console-home-1366x768-sqlite.png."""
    size = page.viewport_size
    page.evaluate("() => document.querySelectorAll('.toast').forEach((t) => t.remove())")  # transient
    path = directory / f"{name}-{size['width']}x{size['height']}-{database_tag()}.png"
    page.screenshot(path=str(path))
    return path


DEMO_ADMIN = ("admin", "demo-pass-2026")


def _api(base_url: str, method: str, path: str, body: dict | None = None, token: str | None = None):
    req = urllib.request.Request(f"{base_url}/api/v1{path}", method=method,
                                 data=json.dumps(body).encode() if body is not None else None,
                                 headers={"Content-Type": "application/json",
                                          **({"Authorization": f"Bearer {token}"} if token else {})})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())


def sent_sms(base_url: str, phone: str) -> list[str]:
    """The codes the stub SMS outbox holds for a phone, newest first, read as the demo admin (GET /dev/sms)."""
    token = _api(base_url, "POST", "/auth/login", {"username": DEMO_ADMIN[0], "password": DEMO_ADMIN[1]})["access_token"]
    messages = _api(base_url, "GET", "/dev/sms?per_page=500", token=token)
    return [re.search(r"验证码 ?(\d{6})", m["text"]).group(1) for m in messages if m["phone"] == phone]


def enter_sms_code(page, base_url: str, phone: str) -> None:
    """On the bind page's code step, type the newest code sent to `phone` and submit."""
    page.locator("#code-form").wait_for()
    page.fill("#sms_code", sent_sms(base_url, phone)[0])
    page.click("#code-form button[type=submit]")
