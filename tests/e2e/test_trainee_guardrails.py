"""Trainee guardrails on a 375×667 phone, from the screen only (the server's clock and seed rows are set
in-process, nothing else bypasses the pages): check-in follows the server's clock, an early check-out
asks first, the site QR is read from a (fake) camera by the vendored decoder with a fallback when there
is none, the voucher QR page tells the truth about its code, a revoked certificate says so, subsidy
steps follow the real order, an unrated institution is not given a score, an expired session is
explained, and the public pages (certificate lookup, publicity list, favicon) work."""
from __future__ import annotations

from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from backend.domain.attendance import SHANGHAI
from backend.extensions import db

from .conftest import CHROMIUM_ARGS, chromium_path
from .helpers import (
    INSIDE,
    PHONE,
    TIMEOUT_MS,
    login_trainee,
    new_context,
    open_page,
    settled,
    snap,
    watch_errors,
)

pytestmark = pytest.mark.browser


@contextmanager
def server_clock(server, at: datetime):
    """Run the server as if it were `at` (moving with the wall clock), then give it the wall clock back."""
    shift = at - datetime.now(UTC)
    server.app.config["CLOCK"] = lambda: datetime.now(UTC) + shift
    try:
        yield
    finally:
        server.app.config.pop("CLOCK", None)


def _in_app(server, fn):
    with server.app.app_context():
        try:
            out = fn()
            db.session.commit()
            return out
        finally:
            db.session.remove()


def _hm(t: datetime) -> str:
    return t.astimezone(SHANGHAI).strftime("%H:%M")


def _person_id(openid: str) -> int:
    from backend.models import WechatAccount
    return db.session.execute(db.select(WechatAccount.person_id).where(WechatAccount.openid == openid)).scalar_one()


def _later_lesson(server, starts: datetime) -> int:
    """A lesson of the demo plan that starts later (its check-in window not open yet)."""
    from backend.models import Lesson, Site, TrainingPlan

    def add():
        plan = db.session.get(TrainingPlan, server.seeded.plan_id)
        site = db.session.execute(db.select(Site)).scalars().first()
        lesson = Lesson(plan_id=plan.id, title="消防安全（稍后开课）", mode="offline", starts_at=starts,
                        ends_at=starts + timedelta(hours=3), class_hours=Decimal(4), site_id=site.id)
        db.session.add(lesson)
        db.session.flush()
        return lesson.id
    return _in_app(server, add)


def test_check_in_opens_by_the_server_clock_and_early_check_out_asks(browser, server, screenshots):
    starts = (datetime.now(UTC) + timedelta(hours=2)).replace(second=0, microsecond=0)
    lesson_id = _later_lesson(server, starts)
    day = starts.astimezone(SHANGHAI).date().isoformat()
    ctx = new_context(browser, PHONE, geolocation=INSIDE, permissions=["geolocation"])
    page = ctx.new_page()
    errors = watch_errors(page)
    # The phone's own clock says the lesson has begun: the page must not believe it.
    page.clock.set_system_time(starts + timedelta(minutes=10))
    login_trainee(page, server.url, "demo1")
    open_page(page, f"{server.url}/m/#/lessons?date={day}")
    card = page.locator(f'article.lesson[data-lesson="{lesson_id}"]')
    check_in = card.locator('button[data-kind="check_in"]')
    check_out = card.locator('button[data-kind="check_out"]')
    opens = starts - timedelta(minutes=30)
    assert check_in.is_disabled() and check_in.inner_text() == f"签到 {_hm(opens)} 开放"
    assert check_out.is_disabled()
    assert f"可签到 {_hm(opens)}–{_hm(starts + timedelta(hours=3))}" in card.locator(".windows").inner_text()
    card.scroll_into_view_if_needed()
    snap(page, screenshots, "m-lessons-check-in-not-open")

    # The server's clock reaches the window: the button is live.
    with server_clock(server, opens + timedelta(minutes=1)):
        page.reload()
        settled(page, "lessons")
        assert check_in.is_enabled() and check_in.inner_text() == "签到"
        assert check_out.is_disabled() and "开放" in check_out.inner_text()  # check-out opens at the start
        check_in.click()
        card.locator(".result .notice-ok").filter(has_text="签到成功").wait_for()

    # Half an hour into a three-hour lesson: check-out is open, and leaving now yields 0 hours, so it asks.
    with server_clock(server, starts + timedelta(minutes=30)):
        page.reload()
        settled(page, "lessons")
        assert check_out.is_enabled() and check_out.inner_text() == "签退"
        asked: list[str] = []
        page.once("dialog", lambda d: (asked.append(d.message), d.dismiss()))
        check_out.click()
        card.locator(".result .notice-info").filter(has_text="已取消签退").wait_for()
        assert "早退" in asked[0] and "0 课时" in asked[0] and _hm(starts + timedelta(hours=2, minutes=45)) in asked[0]
        assert check_out.is_enabled() and card.get_attribute("data-out") == ""
        card.locator(".result").scroll_into_view_if_needed()
        snap(page, screenshots, "m-lessons-early-check-out-cancelled")
        page.once("dialog", lambda d: (asked.append(d.message), d.accept()))
        check_out.click()
        card.locator(".result .notice-ok").filter(has_text="签退成功").wait_for()
        assert "早退" in card.locator(".result").inner_text() and len(asked) == 2
        assert check_out.is_disabled()
    assert not errors, errors
    ctx.close()


def test_expired_session_is_explained(browser, server, screenshots):
    ctx = new_context(browser, PHONE)
    page = ctx.new_page()
    errors = watch_errors(page)
    login_trainee(page, server.url, "demo1")
    open_page(page, f"{server.url}/m/#/mine")
    # Fifteen days later both tokens have run out (refresh: 14 days): the next page says why it asks again.
    with server_clock(server, datetime.now(UTC) + timedelta(days=15)):
        page.click("#tab-bar a[href='#/lessons']")
        page.locator("#session-expired").wait_for()
        assert "登录已过期" in page.locator("#session-expired").inner_text()
        assert page.evaluate("location.hash").startswith("#/login")
        snap(page, screenshots, "m-login-session-expired")
    login_trainee(page, server.url, "demo1")
    assert not errors, errors
    ctx.close()


def _certificates_for(server, openid: str, first_sequence: int) -> tuple[str, str]:
    """A valid and a revoked certificate for the trainee on the two finished demo plans: (valid, revoked)."""
    from backend.domain.certificates import certificate_number
    from backend.models import Certificate, Enrollment, TrainingPlan, User

    def add():
        person_id = _person_id(openid)
        plans = db.session.execute(
            db.select(TrainingPlan).join(Enrollment, Enrollment.plan_id == TrainingPlan.id)
            # in_progress too: the bureau's journey sends the 保育师 completion back (a rejected completion), and
            # whether it ran first depends on the test order, not on what this test checks.
            .where(Enrollment.person_id == person_id,
                   TrainingPlan.status.in_(["completed", "completion_submitted", "in_progress"]))
            .order_by(TrainingPlan.id)).scalars().all()
        sup = db.session.execute(db.select(User).where(User.username == "supervisor")).scalar_one()
        numbers = []
        for i, plan in enumerate(plans[:2]):
            revoked = {"revoked_at": datetime.now(UTC) if i else None, "revoked_by": sup.id if i else None,
                       "revoked_reason": "经核查考勤记录不实" if i else None}
            # Another journey may have issued this plan's certificate already (one per plan and person): reuse it.
            cert = db.session.execute(db.select(Certificate).where(
                Certificate.plan_id == plan.id, Certificate.person_id == person_id)).scalar_one_or_none()
            if cert is None:
                cert = Certificate(number=certificate_number(plan.region_code, date.today().year, first_sequence + i),
                                   plan_id=plan.id, person_id=person_id, institution_id=plan.institution_id,
                                   occupation_code=plan.occupation_code, issued_on=date.today() - timedelta(days=1))
                db.session.add(cert)
            for key, value in revoked.items():
                setattr(cert, key, value)
            numbers.append(cert.number)
        return numbers[0], numbers[1]
    return _in_app(server, add)


def _bound_trainee(server, code: str, name: str, birth: str) -> None:
    """A person already bound to the WeChat login `code` (stub openid "stub-<code>")."""
    from backend.models import WechatAccount
    from backend.seed import REGION, demo_id
    from backend.services import persons

    def add():
        t = datetime.now(UTC)
        person = persons.new_person(name, demo_id(REGION + birth, "071"), t, "13800000071", ["unemployed"])
        db.session.add(person)
        db.session.flush()
        db.session.add(WechatAccount(openid=f"stub-{code}", person_id=person.id, created_at=t, bound_at=t))
    _in_app(server, add)


def test_true_status_on_the_trainee_pages(browser, server, screenshots):
    valid, revoked = _certificates_for(server, "stub-demo2", 900)
    ctx = new_context(browser, PHONE, geolocation=INSIDE, permissions=["geolocation"])
    page = ctx.new_page()
    errors = watch_errors(page)
    login_trainee(page, server.url, "demo2")

    open_page(page, f"{server.url}/m/#/certificates")
    bad = page.locator(f'article.certificate[data-number="{revoked}"]')
    assert "已撤销" in bad.locator(".card-head").inner_text()
    assert "撤销原因：经核查考勤记录不实" in bad.locator(".revoked-note").inner_text()
    good = page.locator(f'article.certificate[data-number="{valid}"]')
    assert "有效" in good.locator(".card-head").inner_text() and good.locator(".revoked-note").count() == 0
    snap(page, screenshots, "m-certificates-revoked")
    with ctx.expect_page() as printed:
        good.locator("a.print-link").click()
    sheet = printed.value
    sheet.wait_for_load_state()
    assert "培训合格证书" in sheet.locator("h1").inner_text() and "李四" in sheet.inner_text("body")
    sheet.close()

    # The claim in publicity: 已申请 and 已审核 done, 公示中 is where it stands.
    open_page(page, f"{server.url}/m/#/subsidies")
    steps = page.locator("article .steps").first
    assert steps.locator("span.done").all_inner_texts() == ["已申请", "已审核"]
    assert steps.locator("span.now").all_inner_texts() == ["公示中"]
    assert "公示截止" in page.locator("article").first.inner_text()
    snap(page, screenshots, "m-subsidies-steps")

    # Nobody has rated the demo institution: no made-up score.
    open_page(page, f"{server.url}/m/#/nearby")
    first = page.locator("#list article").first
    first.wait_for()
    assert "评分：暂无评价" in first.inner_text() and "3.5 分" not in first.inner_text()

    assert not errors, errors
    ctx.close()

    # The voucher QR page says what the desk can do with the code printed under the QR, for a trainee of
    # its own who claims one here (the demo trainees' claims belong to the other tests).
    _bound_trainee(server, "e2e-qr", "钱八", "19930415")
    ctx = new_context(browser, PHONE)
    page = ctx.new_page()
    errors = watch_errors(page)
    login_trainee(page, server.url, "e2e-qr")
    open_page(page, f"{server.url}/m/#/vouchers")
    page.locator("button.claim").first.click()
    page.locator("article.voucher .notice-ok").wait_for()
    open_page(page, f"{server.url}/m/#/my-vouchers")
    code = page.locator("article.voucher[data-code]").first.get_attribute("data-code")
    page.goto(f"{server.url}/m/#/voucher-qr?code={code}")
    page.wait_for_function("() => document.querySelector('#qr')?.naturalWidth > 0")
    rules = page.locator("#qr-rules").inner_text()
    assert "截图或转发的二维码很快就会失效" in rules
    assert "输入券码可以查询" in rules and "不能凭券码报名" in rules
    snap(page, screenshots, "m-voucher-qr-rules")
    assert not errors, errors
    ctx.close()


def test_public_certificate_lookup_publicity_and_favicon(browser, server, screenshots):
    valid, revoked = _certificates_for(server, "stub-demo3", 910)
    ctx = new_context(browser, PHONE)
    page = ctx.new_page()
    errors = watch_errors(page)
    missing: list[str] = []
    page.on("response", lambda r: missing.append(r.url) if r.status == 404 else None)

    page.goto(f"{server.url}/")
    page.fill("#certificate-number", f"{valid[:6]} {valid[6:]}")
    page.click("#certificate-lookup button[type=submit]")
    page.wait_for_url(f"**/certificates/{valid}")
    assert "有效" in page.inner_text("body") and "王*" in page.inner_text("body")
    snap(page, screenshots, "public-certificate-valid")

    page.goto(f"{server.url}/certificates/")
    page.fill("#certificate-number", revoked)
    page.click("#certificate-lookup button[type=submit]")
    page.wait_for_url(f"**/certificates/{revoked}")
    assert "已撤销" in page.inner_text("body") and "撤销日期" in page.inner_text("body")

    page.goto(f"{server.url}/certificates/")
    page.fill("#certificate-number", "1234")
    page.click("#certificate-lookup button[type=submit]")
    page.locator("#lookup-error").wait_for()
    assert "证书编号格式不正确" in page.inner_text("#lookup-error")

    page.goto(f"{server.url}/publicity/")
    claim = page.locator("section.claim").first
    text = claim.inner_text()
    assert "面点师（初级）岗前培训" in text and "1,500.00 元" in text
    assert page.locator("section.claim td.name").all_inner_texts()[:2] == ["李*", "王*"]
    assert "840.00 元" in text and "660.00 元" in text and "李四" not in page.inner_text("body")
    width, inner = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    assert width <= inner
    snap(page, screenshots, "public-publicity")

    icon = page.goto(f"{server.url}/favicon.ico")
    assert icon.status == 200 and icon.headers["content-type"] == "image/x-icon"
    assert not missing, missing
    assert not errors, errors
    ctx.close()


def _y4m_of_qr(text: str, path) -> None:
    """A two-frame 640×480 Y4M video (what Chromium's fake camera plays) showing a QR code of `text`."""
    import qrcode
    from PIL import Image

    qr = qrcode.make(text, border=4, box_size=6).convert("L")
    frame = Image.new("L", (640, 480), 255)
    side = min(440, qr.size[0])
    qr = qr.resize((side, side), Image.NEAREST)
    frame.paste(qr, ((640 - side) // 2, (480 - side) // 2))
    chroma = bytes([128]) * (320 * 240)
    with open(path, "wb") as fh:
        fh.write(b"YUV4MPEG2 W640 H480 F10:1 Ip A1:1 C420jpeg\n")
        for _ in range(2):
            fh.write(b"FRAME\n" + frame.tobytes() + chroma + chroma)


def test_site_qr_is_read_from_the_camera_and_missing_camera_is_explained(browser, server, screenshots, tmp_path):
    from backend.domain.vouchers import site_token
    from backend.security.crypto import vault

    lesson_id = server.seeded.lesson_id

    # No camera at all: the page says so and keeps the typed way.
    ctx = new_context(browser, PHONE, geolocation=INSIDE, permissions=["geolocation"])
    page = ctx.new_page()
    login_trainee(page, server.url, "demo2")
    open_page(page, f"{server.url}/m/#/lessons")
    card = page.locator(f'article.lesson[data-lesson="{lesson_id}"]')
    card.locator("details.site-qr summary").click()
    card.locator("button.scan").click()
    card.locator(".scan-error").wait_for()
    assert "摄像头" in card.locator(".scan-error").inner_text()
    snap(page, screenshots, "m-lessons-no-camera")
    ctx.close()

    # A camera showing the classroom's current site QR: decoded in the page (no BarcodeDetector on desktop
    # Linux Chromium, so the vendored jsQR) and filled in, ready to go with the check-in.
    token = _in_app(server, lambda: site_token(vault().token_key, lesson_id, int(datetime.now(UTC).timestamp()),
                                               server.app.config["SITE_QR_PERIOD_S"]))
    video = tmp_path / "site-qr.y4m"
    _y4m_of_qr(token, video)
    cam_browser = browser.browser_type.launch(
        executable_path=chromium_path(),
        args=[*CHROMIUM_ARGS, "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
              f"--use-file-for-fake-video-capture={video}"])
    try:
        ctx = new_context(cam_browser, PHONE, geolocation=INSIDE, permissions=["geolocation", "camera"])
        page = ctx.new_page()
        errors = watch_errors(page)
        login_trainee(page, server.url, "demo1")
        open_page(page, f"{server.url}/m/#/lessons")
        card = page.locator(f'article.lesson[data-lesson="{lesson_id}"]')
        card.locator("details.site-qr summary").click()
        card.locator("button.scan").click()
        page.wait_for_function("([id, t]) => document.querySelector(`article[data-lesson=\"${id}\"] .site-token`)"
                               "?.value === t", arg=[lesson_id, token], timeout=TIMEOUT_MS)
        assert page.locator(".scan-overlay").count() == 0
        assert page.evaluate("() => typeof window.jsQR") == "function"
        assert "已读取现场二维码" in card.locator(".result").inner_text()
        snap(page, screenshots, "m-lessons-site-qr-scanned")
        assert not errors, errors
        ctx.close()
    finally:
        cam_browser.close()



def _check_in_card(browser, server):
    """demo1's phone on the lessons page, inside the fence, at a new lesson whose check-in window is open:
    (context, page, page errors, the lesson's card, lesson id)."""
    starts = (datetime.now(UTC) + timedelta(minutes=10)).replace(second=0, microsecond=0)
    lesson_id = _later_lesson(server, starts)  # its check-in window opened 20 minutes ago
    ctx = new_context(browser, PHONE, geolocation=INSIDE, permissions=["geolocation"])
    page = ctx.new_page()
    errors = watch_errors(page)
    login_trainee(page, server.url, "demo1")
    open_page(page, f"{server.url}/m/#/lessons?date={starts.astimezone(SHANGHAI).date().isoformat()}")
    return ctx, page, errors, page.locator(f'article.lesson[data-lesson="{lesson_id}"]'), lesson_id


def _busy(route, retry_after: int) -> None:
    """Answer a routed request as the server does when the database did not take it in time (errors.py)."""
    import json

    from backend.domain.messages import message_for
    route.fulfill(status=503, headers={"Retry-After": str(retry_after), "Content-Type": "application/json"},
                  body=json.dumps({"error": {"code": "service_busy", "message": message_for("service_busy", "zh"),
                                             "details": {}}}))


def test_check_in_rides_out_a_busy_server_and_a_lost_answer(browser, server, screenshots):
    """A 9:00 rush from the phone's side: the server answers 503 service_busy with Retry-After, the page
    says so and sends the same event again on its own; that try is recorded but its answer is lost on the
    way back (the phone sees a network failure), so the page sends it once more and the server answers
    with the first outcome. One event recorded, every try carried the same event id, and the person
    sees 签到成功 without tapping again."""
    from backend.models import AttendanceEvent

    ctx, page, errors, card, lesson_id = _check_in_card(browser, server)
    tries: list[dict] = []
    answers: list[int] = []

    def on_attendance(route):
        tries.append(route.request.post_data_json)
        if len(tries) == 1:  # turned away before the application: nothing written
            _busy(route, 1)
        elif len(tries) == 2:  # reaches the server and is recorded; the answer never reaches the phone
            answers.append(route.fetch().status)
            route.abort("connectionreset")
        else:
            response = route.fetch()
            answers.append(response.status)
            route.fulfill(response=response)

    page.route("**/api/v1/attendance", on_attendance)
    card.locator('button[data-kind="check_in"]').click()
    card.locator(".result .notice-info").filter(has_text="服务器繁忙").wait_for()
    assert "秒后自动重新提交签到（第 1 次重试）" in card.locator(".result").inner_text()
    snap(page, screenshots, "m-lessons-check-in-busy-retrying")
    card.locator(".result .notice-info").filter(has_text="网络不稳定").wait_for()
    card.locator(".result .notice-ok").filter(has_text="签到成功").wait_for()

    assert len(tries) == 3 and len({t["event_id"] for t in tries}) == 1
    assert answers == [201, 200]  # recorded once; the repeat got the first outcome back

    def recorded():
        pid = _person_id("stub-demo1")
        return db.session.execute(db.select(AttendanceEvent.event_id, AttendanceEvent.accepted).where(
            AttendanceEvent.person_id == pid, AttendanceEvent.lesson_id == lesson_id)).all()
    assert _in_app(server, recorded) == [(tries[0]["event_id"], True)]
    assert not errors, errors
    ctx.close()


def test_a_long_busy_wait_is_left_to_the_person_and_a_new_tap_is_a_new_event(browser, server):
    """Retry-After beyond what the page waits out on its own: the person is told how long, nothing is
    sent behind their back, and their next tap is a new event with the new position (repeating the old
    id could only replay an earlier outcome)."""
    ctx, page, errors, card, _lesson_id = _check_in_card(browser, server)
    tries: list[dict] = []

    def on_attendance(route):
        tries.append(route.request.post_data_json)
        if len(tries) == 1:
            _busy(route, 120)
        else:
            route.continue_()

    page.route("**/api/v1/attendance", on_attendance)
    button = card.locator('button[data-kind="check_in"]')
    button.click()
    card.locator(".result .notice-error").filter(has_text="服务器繁忙").wait_for()
    assert "请约 2 分钟后再点一次签到" in card.locator(".result").inner_text()
    page.wait_for_timeout(1500)  # the shortest automatic wait and then some: nothing was sent again
    assert len(tries) == 1 and button.is_enabled()
    button.click()
    card.locator(".result .notice-ok").filter(has_text="签到成功").wait_for()
    assert len(tries) == 2 and tries[0]["event_id"] != tries[1]["event_id"]
    assert button.is_disabled()
    assert not errors, errors
    ctx.close()
