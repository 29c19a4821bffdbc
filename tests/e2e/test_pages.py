"""Every main page of the three clients, on a phone (375×667) and a desk (1366×768): it renders
without a script error, never scrolls sideways, and leaves a screenshot in test-output/screenshots/."""
from __future__ import annotations

import pytest

from .helpers import (
    DESK,
    INSIDE,
    PHONE,
    login_staff,
    login_trainee,
    new_context,
    no_horizontal_scroll,
    open_page,
    snap,
    watch_errors,
)

pytestmark = pytest.mark.browser

DEMO_PASSWORD = "demo-pass-2026"
VIEWPORTS = [pytest.param(PHONE, id="phone"), pytest.param(DESK, id="desk")]


def _visit(page, url: str, name: str, screenshots, problems: list[str]) -> None:
    open_page(page, url)
    page.wait_for_timeout(150)  # let late images (QR codes, photos) land before the screenshot
    snap(page, screenshots, name)
    width, inner = no_horizontal_scroll(page)
    if width > inner:
        problems.append(f"{name}: scrollWidth {width} > innerWidth {inner}")


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_trainee_pages(browser, server, screenshots, viewport):
    ctx = new_context(browser, viewport, geolocation=INSIDE, permissions=["geolocation"])
    page = ctx.new_page()
    errors = watch_errors(page)
    problems: list[str] = []
    base = f"{server.url}/m/"
    _visit(page, f"{base}#/login", "m-login", screenshots, problems)
    # One demo trainee per viewport, so each run claims its own voucher through the page.
    login_trainee(page, server.url, "demo2" if viewport is PHONE else "demo3")
    _visit(page, f"{base}#/vouchers", "m-vouchers", screenshots, problems)
    page.locator("button.claim").first.click()
    page.locator("article.voucher .notice-ok").wait_for()
    open_page(page, f"{base}#/my-vouchers")
    code = page.locator("article.voucher[data-code]").first.get_attribute("data-code")
    for name in ("index", "my-vouchers", "lessons", "nearby", "mine", "hours", "certificates", "subsidies",
                 "archive", "face", "pin", "bind"):
        _visit(page, f"{base}#/{name}", f"m-{name}", screenshots, problems)
    _visit(page, f"{base}#/rating?plan_id={server.seeded.plan_id}", "m-rating", screenshots, problems)
    nearby = page.locator("#list article").first
    open_page(page, f"{base}#/nearby")
    nearby.wait_for()
    assert "福州市鼓楼区职业技能培训学校" in nearby.inner_text() and "可使用我的培训券" in nearby.inner_text()
    page.goto(f"{base}#/voucher-qr?code={code}")
    page.wait_for_function("() => document.querySelector('#qr')?.naturalWidth > 0")
    page.wait_for_function("() => /秒后失效/.test(document.querySelector('#countdown').textContent)")
    snap(page, screenshots, "m-voucher-qr")
    first = page.get_attribute("#qr", "src")
    page.click("#refresh")  # a new token, hence a new image, well before the first expires
    page.wait_for_function("(src) => document.querySelector('#qr').src !== src", arg=first)
    width, inner = no_horizontal_scroll(page)
    assert width <= inner, (width, inner)
    assert not problems, problems
    assert not errors, errors
    ctx.close()


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_dashboard_pages(browser, server, screenshots, viewport):
    ctx = new_context(browser, viewport)
    page = ctx.new_page()
    errors = watch_errors(page)
    problems: list[str] = []
    base = f"{server.url}/dashboard/"
    _visit(page, f"{base}#/login", "dashboard-login", screenshots, problems)
    login_staff(page, base, "supervisor", DEMO_PASSWORD)
    _visit(page, f"{base}#/live", "dashboard-live", screenshots, problems)
    _visit(page, f"{base}#/lesson/{server.seeded.lesson_id}", "dashboard-lesson", screenshots, problems)
    for tab in ("plans", "makeups", "completions", "subsidies", "kiosks"):
        _visit(page, f"{base}#/review?tab={tab}", f"dashboard-review-{tab}", screenshots, problems)
    _visit(page, f"{base}#/overdue", "dashboard-overdue", screenshots, problems)
    _visit(page, f"{base}#/policies", "dashboard-policies", screenshots, problems)
    for name in ("vouchers", "bureau", "certificates", "audit"):   # the bureau's administration
        _visit(page, f"{base}#/{name}", f"dashboard-{name}", screenshots, problems)
    _visit(page, f"{base}#/stats", "dashboard-stats", screenshots, problems)
    page.wait_for_selector("#trend figure")
    snap(page, screenshots, "dashboard-stats")
    for fmt, magic in (("csv", b"\xef\xbb\xbf"), ("xlsx", b"PK")):
        with page.expect_download() as dl:
            page.click(f"#{fmt}")
        assert dl.value.suggested_filename.endswith(f".{fmt}")
        with open(dl.value.path(), "rb") as fh:
            assert fh.read(3).startswith(magic)
    assert not problems, problems
    assert not errors, errors
    ctx.close()


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_console_pages(browser, server, screenshots, viewport):
    ctx = new_context(browser, viewport)
    page = ctx.new_page()
    errors = watch_errors(page)
    problems: list[str] = []
    base = f"{server.url}/console/"
    plan, lesson = server.seeded.plan_id, server.seeded.lesson_id
    _visit(page, f"{base}#/login", "console-login", screenshots, problems)
    login_staff(page, base, "school", DEMO_PASSWORD)
    pages = [("home", "home"), ("sites", "sites"), ("plans", "plans"), (f"plan/{plan}", "plan-lessons"),
             (f"plan/{plan}?tab=roster", "plan-roster"), (f"plan/{plan}?tab=results", "plan-results"),
             (f"plan/{plan}?tab=completion", "plan-completion"), (f"plan/{plan}?tab=online", "plan-online"),
             (f"attendance/{lesson}", "attendance"),
             ("verify", "verify"), ("kiosks", "kiosks")]
    for route, name in pages:
        _visit(page, f"{base}#/{route}", f"console-{name}", screenshots, problems)
    page.goto(f"{base}#/projector/{lesson}")
    page.wait_for_function("() => document.querySelector('#qr')?.naturalWidth > 0")
    snap(page, screenshots, "console-projector")
    width, inner = no_horizontal_scroll(page)
    assert width <= inner, (width, inner)
    # The check itself sees content that the page's overflow-x: hidden would clip rather than scroll.
    page.evaluate("() => { const d = document.createElement('div'); d.style.width = '2000px'; document.body.append(d); }")
    assert no_horizontal_scroll(page)[0] >= 2000
    assert not problems, problems
    assert not errors, errors
    ctx.close()


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_public_pages(browser, server, screenshots, viewport):
    ctx = new_context(browser, viewport)
    page = ctx.new_page()
    errors = watch_errors(page)
    problems: list[str] = []
    # Server-rendered pages (no client script marks them ready): the landing page with its certificate
    # lookup, the lookup form alone, and the publicity (公示) list with the demo claim in publicity.
    for path, name, text in (("/", "public-index", "证书"), ("/certificates/", "public-certificates", "证书编号"),
                             ("/publicity/", "public-publicity", "公示")):
        page.goto(f"{server.url}{path}")
        page.wait_for_load_state("load")
        assert text in page.inner_text("body"), (path, page.inner_text("body")[:200])
        snap(page, screenshots, name)
        width, inner = no_horizontal_scroll(page)
        if width > inner:
            problems.append(f"{name}: scrollWidth {width} > innerWidth {inner}")
    # A malformed number is explained on the same form, which still fits the screen.
    page.goto(f"{server.url}/certificates/")
    page.fill("input[name=number]", "12345")
    page.locator("form button[type=submit], form input[type=submit]").first.click()
    page.wait_for_load_state("load")
    assert "证书编号格式不正确" in page.inner_text("body")
    snap(page, screenshots, "public-certificates-error")
    width, inner = no_horizontal_scroll(page)
    if width > inner:
        problems.append(f"public-certificates-error: scrollWidth {width} > innerWidth {inner}")
    assert not problems, problems
    assert not errors, errors
    ctx.close()
