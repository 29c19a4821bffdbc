"""Trust flags on screen (shared/DESIGN.md "Trust"): the school sees its flagged trainees before the
bureau; the supervisor sees held hours on the lesson, must decide per flagged trainee at the completion
review (the 409 names who is missing), excludes one and accepts one, and finds the decisions on the
claim; the live feed shows a flag raised after its event (`event: flag`).

The plan comes from demo_data.flagged_completion(): 张伟 (never bound, face enrolled by staff), 李娜
(server face re-check failed: hours held), 王芳 (GPS only: informational) and 陈静 (no flags)."""
from __future__ import annotations

from datetime import UTC, datetime

import pytest

from .demo_data import FLAGGED_PLAN_TITLE
from .helpers import (
    DESK,
    PHONE,
    login_staff,
    new_context,
    no_horizontal_scroll,
    open_page,
    settled,
    snap,
    watch_errors,
)

pytestmark = pytest.mark.browser

DEMO_PASSWORD = "demo-pass-2026"
EXCLUDE_REASON = "机构代采人脸且从未绑定手机，无法证明本人到课"
ACCEPT_REASON = "已调取现场监控录像，确认本人到课"


def _row(page, table: str, name: str):
    return page.locator(f"table.{table} tbody tr", has_text=name)


def test_school_sees_its_flagged_trainees(browser, server, screenshots):
    flagged = server.seeded.flagged
    ctx = new_context(browser, DESK)
    page = ctx.new_page()
    errors = watch_errors(page)
    login_staff(page, f"{server.url}/console/", "school", DEMO_PASSWORD)
    open_page(page, f"{server.url}/console/#/plan/{flagged['plan_id']}")
    # Every tab of the plan warns up front, and links to the list.
    assert "2 名学员带有须人社部门决定的可信度标记" in page.inner_text("#flags-hint")
    page.click("#flags-hint a")
    settled(page, "plan")
    section = page.locator("#plan-flags")
    section.wait_for()
    assert "3 名学员有可信度标记，其中 2 名须人社部门在结业审核时逐人决定" in section.inner_text()
    zhang = _row(page, "flagged", "张伟")
    assert "从未绑定手机，仅凭考勤机签到" in zhang.inner_text() and "人脸由机构人员代为采集" in zhang.inner_text()
    assert "须人社决定" in zhang.inner_text()
    assert "服务器复核人脸不一致：服务器距离 0.63" in _row(page, "flagged", "李娜").inner_text()
    wang = _row(page, "flagged", "王芳").inner_text()
    assert "信息：仅凭定位签到" in wang and "仅提示" in wang
    assert _row(page, "flagged", "陈静").count() == 0
    # Read-only: the institution has nothing to decide here.
    assert section.locator("input, button").count() == 0
    section.scroll_into_view_if_needed()
    snap(page, screenshots, "console-plan-trust-flags")
    assert not errors, errors
    ctx.close()


def test_completion_review_fits_a_phone(browser, server, screenshots):
    """Flag badges with long detail texts and the decision controls wrap instead of widening the page."""
    ctx = new_context(browser, PHONE)
    page = ctx.new_page()
    errors = watch_errors(page)
    login_staff(page, f"{server.url}/dashboard/", "supervisor", DEMO_PASSWORD)
    open_page(page, f"{server.url}/dashboard/#/review?tab=completions")
    card = page.locator(f'article[data-plan="{server.seeded.flagged["plan_id"]}"]')
    card.locator("li.trust-trainee", has_text="李娜").scroll_into_view_if_needed()
    width, inner = no_horizontal_scroll(page)
    assert width <= inner, (width, inner)
    snap(page, screenshots, "dashboard-completion-flags")
    assert not errors, errors
    ctx.close()


def test_supervisor_decides_flagged_trainees_at_completion(browser, server, screenshots):
    flagged = server.seeded.flagged
    base = f"{server.url}/dashboard/"
    ctx = new_context(browser, DESK)
    page = ctx.new_page()
    errors = watch_errors(page)
    login_staff(page, base, "supervisor", DEMO_PASSWORD)

    # The lesson: 李娜's hours are held by the failed re-check; the flags read in Chinese.
    lesson = f"{base}#/lesson/{flagged['lesson_ids'][0]}"
    open_page(page, lesson)
    li_na = _row(page, "attendance", "李娜")
    assert "学时暂扣" in li_na.inner_text() and "服务器复核人脸不一致" in li_na.inner_text()
    assert "0 课时（暂扣）" in li_na.inner_text()
    assert "学时暂扣 1 人：李娜" in page.inner_text(".held-note")
    zhang = _row(page, "attendance", "张伟").inner_text()
    assert "从未绑定手机，仅凭考勤机签到" in zhang and "人脸由机构人员代为采集" in zhang
    assert "信息：仅凭定位签到（未扫现场码）" in _row(page, "attendance", "王芳").inner_text()
    page.locator("table.attendance").scroll_into_view_if_needed()
    snap(page, screenshots, "dashboard-lesson-trust-flags")

    # The completion review lists the flagged trainees with the server's detail text.
    open_page(page, f"{base}#/review?tab=completions")
    card = page.locator(f'article[data-plan="{flagged["plan_id"]}"]')
    trainee = {name: card.locator("li.trust-trainee", has_text=name) for name in ("张伟", "李娜", "王芳")}
    trainee["张伟"].wait_for()
    assert "⚠ 人脸由机构人员代为采集" in trainee["张伟"].inner_text()
    assert "⚠ 服务器复核人脸不一致：服务器距离 0.63，考勤机报告 0.38" in trainee["李娜"].inner_text()
    assert "信息：仅凭定位签到（未扫现场码）" in trainee["王芳"].inner_text()
    assert trainee["王芳"].locator("input").count() == 0  # informational: nothing to decide
    assert card.locator("li.trust-trainee", has_text="陈静").count() == 0
    assert card.locator("details.more summary", has_text="查看学员课时").count() == 1
    card.scroll_into_view_if_needed()
    snap(page, screenshots, "dashboard-completion-flags")

    # Approve without decisions: the server's 409 marks exactly the two flagged trainees, in words.
    page.on("dialog", lambda d: d.accept())
    card.locator("button.complete").click()
    card.locator("li.trust-trainee.missing").nth(1).wait_for()
    assert card.locator("li.trust-trainee.missing").count() == 2
    assert not trainee["王芳"].evaluate("el => el.classList.contains('missing')")
    note = card.locator(".result .notice-warn").inner_text()
    assert "还有 2 名学员" in note and "张伟、李娜" in note, note
    assert card.locator(".result .notice-error").count() == 0  # never a generic error
    assert "尚未决定" in trainee["张伟"].locator('.field-error[data-for^="decision-"]').inner_text()
    card.locator(".result").scroll_into_view_if_needed()
    snap(page, screenshots, "dashboard-completion-decisions-required")

    # A choice without a reason is stopped on the page.
    trainee["张伟"].locator('input[value="exclude"]').check()
    card.locator("button.complete").click()
    assert "排除也须填写理由" in trainee["张伟"].locator('.field-error[data-for^="reason-"]').inner_text()
    assert card.locator(".notice-ok").count() == 0

    # Exclude 张伟, accept 李娜, both with reasons; approve.
    trainee["张伟"].locator('input[name^="reason-"]').fill(EXCLUDE_REASON)
    trainee["李娜"].locator('input[value="accept"]').check()
    trainee["李娜"].locator('input[name^="reason-"]').fill(ACCEPT_REASON)
    assert not trainee["李娜"].evaluate("el => el.classList.contains('missing')")
    card.locator("button.complete").click()
    done = card.locator(".result .notice-ok.approved")
    done.wait_for()
    text = done.inner_text()
    # Certificates: 李娜 (accepted, her held hours count again), 王芳 and 陈静; 张伟 is out.
    assert "发放证书 3 张" in text and "审核排除 1 人：张伟" in text and "认可 1 人：李娜" in text, text
    assert card.locator("button.complete").count() == 0
    assert trainee["张伟"].locator('input[value="exclude"]').is_disabled()
    snap(page, screenshots, "dashboard-completion-approved")

    # Accepted: 李娜's held hours now count on the lesson.
    open_page(page, lesson)
    li_na = _row(page, "attendance", "李娜").inner_text()
    assert "学时暂扣" not in li_na and "4 课时" in li_na, li_na
    assert page.locator(".held-note").count() == 0

    # The claim lists the decisions and explains 张伟's missing line.
    open_page(page, f"{base}#/review?tab=subsidies")
    claim = page.locator("article[data-claim]", has_text=FLAGGED_PLAN_TITLE)
    claim.locator("details.lines summary").click()
    decisions = claim.locator("table.decisions")
    decisions.wait_for()
    zhang = decisions.locator("tr", has_text="张伟").inner_text()
    assert "排除" in zhang and EXCLUDE_REASON in zhang and "supervisor" in zhang and "从未绑定手机" in zhang
    li_na = decisions.locator("tr", has_text="李娜").inner_text()
    assert "认可" in li_na and ACCEPT_REASON in li_na and "服务器复核人脸不一致" in li_na
    assert f"张伟：审核排除：{EXCLUDE_REASON}" in claim.locator("ul.explanations").inner_text()
    lines = claim.locator(".lines-body table").first.inner_text()
    assert "李娜" in lines and "张伟" not in lines
    decisions.scroll_into_view_if_needed()
    snap(page, screenshots, "dashboard-claim-decisions")
    assert not errors, errors
    ctx.close()


def test_live_feed_shows_flag_frames(browser, server, screenshots):
    """A flag raised after its event arrives as `event: flag`; GPS-only is shown but not counted."""
    from backend.extensions import db
    from backend.live.events import publish_attendance
    from backend.models import Person
    from backend.services.trust_flags import publish_flag

    lesson_id = server.seeded.lesson_id
    ctx = new_context(browser, DESK)
    page = ctx.new_page()
    errors = watch_errors(page)
    login_staff(page, f"{server.url}/dashboard/", "supervisor", DEMO_PASSWORD)
    page.wait_for_function("() => document.querySelector('#conn-text')?.textContent === '实时连接中'")
    flagged_before = page.inner_text("#feed-flagged")

    # What the server's re-verification publishes, sent through the real live path (stored, then fanned out).
    with server.app.app_context():
        li_si = db.session.execute(db.select(Person).where(Person.name == "李四")).scalar_one()
        now = datetime.now(UTC)
        publish_attendance({"kind": "check_in", "accepted": True, "source": "mobile", "flags": ["gps_only"],
                            "event_id": "e2e-gps-only", "received_at": now}, lesson_id,
                           {"id": li_si.id, "name": li_si.name}, "350102")
        publish_flag(lesson_id, li_si.id, "face_recheck_failed", None,
                     {"kiosk_distance": 0.41, "server_distance": 0.66, "reason": None}, now)
        db.session.commit()
        db.session.remove()

    line = page.locator("#feed li.flag-line").first
    line.wait_for()
    text = line.inner_text()
    assert "⚠ 李* 服务器复核人脸不一致" in text and "服务器距离 0.66，考勤机报告 0.41" in text and "学时暂扣" in text, text
    gps = page.locator("#feed li", has_text="信息：仅凭定位签到").first
    gps.wait_for()
    assert not gps.evaluate("el => el.classList.contains('flagged')")
    # Only the blocking flag counts as 异常.
    assert int(page.inner_text("#feed-flagged").split()[1]) == int(flagged_before.split()[1]) + 1
    snap(page, screenshots, "dashboard-live-flag-frame")
    assert not errors, errors
    ctx.close()
