"""One journey from a plan to money, every task done from the screen (#15 Proof): the institution on
/console/, two supervisors on /dashboard/ (all at 1366x768) and a trainee on /m/ (375x667).

The plan is declared, rejected once, edited and resubmitted, approved; a second plan is submitted and
withdrawn; after the lessons the institution uploads results and applies for completion; with the clock
past the review deadline the completion is on the overdue list; the supervisor approves it (certificates
and a claim), rejects another claim (inserted, awaiting review) with a reason, approves the journey's
claim (公示 starts), records an objection about one trainee and upholds it
(the claim goes back to 待审核, approval and publicity cleared), approves again; after 公示 the approver
cannot pay (审核与拨付不能为同一人) and the second supervisor does; the trainee sees the certificate and
each subsidy step as it really is.

Nothing calls the API except to move the server's clock (app.config["CLOCK"], as in
test_trainee_guardrails.py) and to seed attendance: check-in and check-out from the trainee's phone
are covered by test_trainee_journey.py, so the lessons' accepted events are inserted as stored rows
(as tests/e2e/demo_data.py does). Database rows are read to check what the pages say.
"""
from __future__ import annotations

import io
import re
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest
from openpyxl import Workbook, load_workbook

from backend.domain.attendance import SHANGHAI
from backend.extensions import db

from . import demo_data
from .helpers import (
    DESK,
    PHONE,
    login_staff,
    login_trainee,
    new_context,
    open_page,
    settled,
    snap,
    watch_errors,
)

pytestmark = pytest.mark.browser

PASSWORD = "demo-pass-2026"
TITLE = "餐厅服务员（五级）岗前培训"
TITLE_FIXED = "餐厅服务员（五级）岗前培训（修改后）"
WITHDRAWN_TITLE = "客房服务员（五级）岗前培训"
NEW_TRAINEE = ("郑十一", "19950303", "087")   # not known to the system before the roster upload
REJECT_REASON = "课次安排与方案名称不符，请核对后重报"
OBJECTION = "来电反映学员郑十一第二次课由他人代签到"
REFUSED_TITLE = "西式面点师（五级）岗前培训（补贴申请待驳回）"
CLAIM_REJECT_REASON = "抽查发现结业考核材料缺失，不予拨付"


def _in_app(server, fn):
    with server.app.app_context():
        try:
            out = fn()
            db.session.commit()
            return out
        finally:
            db.session.remove()


@contextmanager
def clock(server):
    """Yield a setter moving the server's clock to a given instant (then moving with the wall clock);
    the wall clock is given back at the end, whatever happens (the server is shared by the session)."""
    def move(at: datetime) -> None:
        shift = at - datetime.now(UTC)
        server.app.config["CLOCK"] = lambda: datetime.now(UTC) + shift
    try:
        yield move
    finally:
        server.app.config.pop("CLOCK", None)


def _valid_id(first17: str) -> str:
    from backend.domain.identity import id_check_digit
    return first17 + id_check_digit(first17)


def _zhang(server) -> dict:
    """The bound demo trainee (stub WeChat code demo1): name and ID number, for the roster sheet."""
    from backend.models import Person, WechatAccount
    from backend.services.persons import id_number_of

    def read():
        person = db.session.execute(db.select(Person).join(WechatAccount, WechatAccount.person_id == Person.id)
                                    .where(WechatAccount.openid == "stub-demo1")).scalar_one()
        return {"id": person.id, "name": person.name, "id_number": id_number_of(person)}
    return _in_app(server, read)


def _roster_sheet(rows: list[tuple[str, str]]) -> bytes:
    wb = Workbook()
    ws = wb.active
    ws.append(["姓名", "身份证号", "手机号", "人员类别"])
    for name, id_number in rows:
        ws.append([name, id_number, None, "失业人员"])
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _desk(browser, server, who: str, path: str):
    """A fresh 1366x768 profile logged in as `who` (fresh after each clock move: tokens follow the server clock)."""
    ctx = new_context(browser, DESK)
    page = ctx.new_page()
    errors = watch_errors(page)
    prompts: list[str] = []
    page.on("dialog", lambda d: d.accept(prompts.pop(0)) if d.type == "prompt" else d.accept())
    login_staff(page, f"{server.url}{path}", who, PASSWORD)
    return ctx, page, errors, prompts


def _phone(browser, server):
    ctx = new_context(browser, PHONE)
    page = ctx.new_page()
    errors = watch_errors(page)
    login_trainee(page, server.url, "demo1")
    return ctx, page, errors


def _plan_row(server, plan_id: int):
    from backend.models import TrainingPlan
    return _in_app(server, lambda: (lambda p: {"status": p.status, "title": p.title, "reject_reason": p.reject_reason})(
        db.session.get(TrainingPlan, plan_id)))


def _claim_row(server, plan_id: int):
    from backend.models import SubsidyClaim, SubsidyLine, User

    def read():
        claim = db.session.execute(db.select(SubsidyClaim).where(SubsidyClaim.plan_id == plan_id)).scalar_one_or_none()
        if claim is None:
            return None
        name = lambda uid: db.session.get(User, uid).username if uid else None  # noqa: E731
        lines = {pid: fen for pid, fen in db.session.execute(db.select(SubsidyLine.person_id, SubsidyLine.amount_fen)
                                                             .where(SubsidyLine.claim_id == claim.id)).all()}
        return {"id": claim.id, "status": claim.status, "approved_by": name(claim.approved_by),
                "disbursed_by": name(claim.disbursed_by), "publicity_ends_at": claim.publicity_ends_at,
                "total_fen": claim.total_fen, "lines": lines, "explanations": claim.explanations}
    return _in_app(server, read)


def _certificate_number(server, plan_id: int, person_id: int) -> str:
    from backend.models import Certificate
    return _in_app(server, lambda: db.session.execute(db.select(Certificate.number).where(
        Certificate.plan_id == plan_id, Certificate.person_id == person_id)).scalar_one())


def _claim_to_refuse(server) -> int:
    """A finished plan of the demo institution with a claim awaiting review, inserted (its past is not the
    journey's), so the claim's other outcome, rejection, is also done from the dashboard."""
    from backend.clock import now
    from backend.models import SubsidyClaim, TrainingPlan, User
    from backend.services.persons import shanghai_today

    def add():
        t = now()
        today = shanghai_today(t)
        template = db.session.execute(db.select(TrainingPlan).order_by(TrainingPlan.id)).scalars().first()
        reviewer = db.session.execute(db.select(User).where(User.username == "supervisor2")).scalar_one()
        plan = TrainingPlan(institution_id=template.institution_id, region_code=template.region_code,
                            title=REFUSED_TITLE, occupation_code="4-03-02-04", plan_type="pre_job", delivery="offline",
                            starts_on=today - timedelta(days=40), ends_on=today - timedelta(days=30), status="completed",
                            submitted_at=t - timedelta(days=50), reviewed_by=reviewer.id,
                            reviewed_at=t - timedelta(days=49), completion_submitted_at=t - timedelta(days=25),
                            completed_at=t - timedelta(days=20), created_at=t - timedelta(days=55))
        db.session.add(plan)
        db.session.flush()
        claim = SubsidyClaim(plan_id=plan.id, institution_id=plan.institution_id, region_code=plan.region_code,
                             status="submitted", total_fen=60_000, explanations=[], created_at=t - timedelta(days=20))
        db.session.add(claim)
        db.session.flush()
        return claim.id
    return _in_app(server, add)


def _refused_state(server, claim_id: int) -> tuple[str, str | None]:
    from backend.models import SubsidyClaim
    return _in_app(server, lambda: (lambda c: (c.status, c.rejected_reason))(db.session.get(SubsidyClaim, claim_id)))


def _seed_attendance(server, plan_id: int) -> list[datetime]:
    """Accepted check-in/out rows for every enrolled trainee at every lesson (the phone's part is covered
    by test_trainee_journey.py); returns the lessons' end instants."""
    from backend.models import Enrollment, Lesson

    def add():
        lessons = db.session.execute(db.select(Lesson).where(Lesson.plan_id == plan_id)).scalars().all()
        people = db.session.execute(db.select(Enrollment.person_id).where(Enrollment.plan_id == plan_id,
                                                                          Enrollment.status == "active")).scalars().all()
        for lesson in lessons:
            for pid in people:
                db.session.add_all(demo_data._events(lesson, pid, "mobile", None, []))
        return [lesson.ends_at for lesson in lessons]
    return _in_app(server, add)


def _console_plan(page, server, plan_id: int, tab: str | None = None) -> None:
    _fresh(page, f"{server.url}/console/#/plan/{plan_id}?tab={tab or 'lessons'}")
    page.locator("#tab-body").filter(has_not_text="加载中…").wait_for()


def _status_badge(page) -> str:
    return page.locator("section.card .card-head .badge").first.inner_text()


def _declare(page, server, title: str, occupation: str, starts, lessons: list[tuple[str, int]], sheet: bytes, tmp_path) -> int:
    """Declare a plan on the console's plans page, add its lessons and upload its roster; returns its id."""
    open_page(page, f"{server.url}/console/#/plans")
    page.fill("#plan-form input[name=title]", title)
    page.fill("#plan-form input[name=occupation_code]", occupation)
    page.fill("#plan-form input[name=starts_on]", starts.isoformat())
    page.fill("#plan-form input[name=ends_on]", (starts + timedelta(days=2)).isoformat())
    page.click("#plan-form button[type=submit]")
    page.wait_for_url(re.compile(r"#/plan/\d+"))
    settled(page, "plan")
    plan_id = int(re.search(r"#/plan/(\d+)", page.url).group(1))
    assert _status_badge(page) == "草稿"
    for n, (lesson_title, day) in enumerate(lessons, start=1):
        form = page.locator("#lesson-form")
        form.locator("input[name=title]").fill(lesson_title)
        form.locator("input[name=date]").fill((starts + timedelta(days=day)).isoformat())
        form.locator("button[type=submit]").click()
        page.locator("#lessons tbody tr", has_text=lesson_title).wait_for()
        assert page.locator("#lessons tbody tr").count() == n
    page.click("nav.tabs a:has-text('参训名单')")
    page.wait_for_selector("#roster-form")
    path = tmp_path / f"roster-{plan_id}.xlsx"
    path.write_bytes(sheet)
    page.set_input_files("#roster-form input[name=file]", str(path))
    page.click("#roster-form button[type=submit]")
    page.locator("#enrollments tbody tr").nth(1).wait_for()
    assert page.locator("#enrollments tbody tr").count() == 2
    # Both pass the comparison (a second plan of the same occupation within a year would not).
    assert page.locator("#enrollments tbody .badge", has_text=re.compile(r"^符合$")).count() == 2
    assert page.locator("#enrollments tbody", has_text="不符合").count() == 0
    return plan_id


def _submit(page) -> None:
    page.click("button[data-action=submit]")
    page.locator("button[data-action=withdraw]").wait_for()
    assert _status_badge(page) == "待审核"


_visits = iter(range(1, 1_000_000))


def _fresh(page, url: str) -> None:
    """Render a client page anew, even one already on screen (a unique query; wait for its new render)."""
    page.evaluate("() => { delete document.body.dataset.ready; }")
    sep = "&" if "?" in url else "?"
    open_page(page, f"{url}{sep}visit={next(_visits)}")


def _progress(card) -> str:
    """The trainee's 当前进度 line of a subsidy card."""
    return card.locator("dl.kv dt:text-is('当前进度') + dd").inner_text().strip()


def _review_card(page, server, tab: str, title: str):
    _fresh(page, f"{server.url}/dashboard/#/review?tab={tab}")
    card = page.locator("article[data-plan], article[data-claim]", has_text=title)
    card.wait_for()
    return card


def test_plan_to_money_from_the_screen(browser, server, screenshots, tmp_path):
    shot = lambda page, name: snap(page, screenshots, f"journey-{name}")  # noqa: E731
    zhang = _zhang(server)
    newcomer_id = _valid_id("350102" + NEW_TRAINEE[1] + NEW_TRAINEE[2])
    sheet = _roster_sheet([(zhang["name"], zhang["id_number"]), (NEW_TRAINEE[0], newcomer_id)])
    today = datetime.now(SHANGHAI).date()
    starts = today + timedelta(days=20)   # past the filing lead (5 working days)
    all_errors = []

    # ---- institution: declare, add lessons and the roster, submit ----
    school, page, errors, _ = _desk(browser, server, "school", "/console/")
    all_errors.append(errors)
    plan_id = _declare(page, server, TITLE, "4-03-02-05", starts, [("餐前准备与摆台", 0), ("点菜与席间服务", 1)], sheet, tmp_path)
    _console_plan(page, server, plan_id)
    _submit(page)
    assert _plan_row(server, plan_id)["status"] == "submitted"
    shot(page, "console-plan-submitted")

    # ---- a second plan: submitted, then withdrawn back to draft ----
    other_id = _declare(page, server, WITHDRAWN_TITLE, "4-03-01-02", starts + timedelta(days=5), [("客房清扫", 0)], sheet, tmp_path)
    _console_plan(page, server, other_id)
    _submit(page)
    page.click("button[data-action=withdraw]")
    page.locator("button[data-action=submit]").wait_for()
    assert _status_badge(page) == "草稿"
    assert _plan_row(server, other_id)["status"] == "draft"
    shot(page, "console-plan-withdrawn")

    # ---- supervisor 1 rejects the plan with a reason ----
    sup1, dash, errors, prompts = _desk(browser, server, "supervisor", "/dashboard/")
    all_errors.append(errors)
    card = _review_card(dash, server, "plans", TITLE)
    assert dash.locator("article[data-plan]", has_text=WITHDRAWN_TITLE).count() == 0   # withdrawn: not in the queue
    shot(dash, "dashboard-plan-review")
    prompts.append(REJECT_REASON)
    card.locator("button.reject").click()
    card.wait_for(state="detached")
    assert _plan_row(server, plan_id) == {"status": "rejected", "title": TITLE, "reject_reason": REJECT_REASON}

    # ---- institution sees why, edits the plan and resubmits ----
    _console_plan(page, server, plan_id)
    assert _status_badge(page) == "已驳回"
    assert REJECT_REASON in page.locator("dd.notice-error").inner_text()
    shot(page, "console-plan-rejected")
    page.click("#edit-plan")
    dialog = page.locator("dialog[open]")
    dialog.locator("input[name=title]").fill(TITLE_FIXED)
    dialog.locator("button[type=submit]").click()
    page.locator("section.card h1", has_text=TITLE_FIXED).wait_for()
    _submit(page)
    assert page.locator("dd.notice-error").count() == 0   # the old reason is gone with the resubmission
    assert _plan_row(server, plan_id)["status"] == "submitted"

    # ---- supervisor 1 approves ----
    card = _review_card(dash, server, "plans", TITLE_FIXED)
    card.locator("button.approve").click()
    card.wait_for(state="detached")
    assert _plan_row(server, plan_id)["status"] == "approved"
    _console_plan(page, server, plan_id)
    assert _status_badge(page) == "已通过"
    shot(page, "console-plan-approved")
    for ctx in (school, sup1):
        ctx.close()

    # The lessons take place: attendance rows as the phones would have sent them.
    ends = _seed_attendance(server, plan_id)

    with clock(server) as move:
        # ---- after the lessons: results upload and the completion application ----
        move(max(ends) + timedelta(days=2))
        school, page, errors, _ = _desk(browser, server, "school", "/console/")
        all_errors.append(errors)
        _console_plan(page, server, plan_id, "results")
        with page.expect_download() as dl:
            page.click("#rtemplate")
        template = tmp_path / "results-template.xlsx"
        dl.value.save_as(template)
        wb = load_workbook(template)
        ws = wb.worksheets[0]
        headers = [c.value for c in ws[1]]
        score_col, passed_col = headers.index("成绩") + 1, headers.index("是否合格") + 1
        filled = 0
        for row in range(2, ws.max_row + 1):
            if ws.cell(row, 1).value is None:
                continue
            ws.cell(row, score_col, 88)
            ws.cell(row, passed_col, "是")
            filled += 1
        assert filled == 2
        results = tmp_path / "results.xlsx"
        wb.save(results)
        page.set_input_files("#results-form input[name=file]", str(results))
        page.click("#results-form button[type=submit]")
        page.locator("h3", has_text="已录入成绩（2）").wait_for()
        assert page.locator("#tab-body tbody tr", has_text="合格").count() == 2
        shot(page, "console-results")

        _console_plan(page, server, plan_id, "completion")
        page.click("#apply")
        page.locator("section.card .badge", has_text="结业待审").wait_for()
        assert _plan_row(server, plan_id)["status"] == "completion_submitted"
        shot(page, "console-completion-submitted")
        school.close()

        # ---- past the review deadline (15 working days): on the dashboard's overdue list ----
        move(max(ends) + timedelta(days=40))
        sup1, dash, errors, prompts = _desk(browser, server, "supervisor", "/dashboard/")
        all_errors.append(errors)
        _fresh(dash, f"{server.url}/dashboard/#/overdue")
        row = dash.locator(f"#overdue-completions tr[data-plan='{plan_id}']")
        row.wait_for()
        assert TITLE_FIXED in row.inner_text() and "天" in row.locator("td.late").inner_text()
        assert int(dash.inner_text("#count-completions b")) >= 1
        shot(dash, "dashboard-overdue-completions")

        # ---- supervisor 1 approves the completion: certificates and a claim ----
        card = _review_card(dash, server, "completions", TITLE_FIXED)
        card.locator(".evidence table tbody tr").nth(1).wait_for()
        assert card.locator(".evidence tbody tr", has_text="合格").count() == 2
        shot(dash, "dashboard-completion-review")
        card.locator("button.complete").click()
        done = card.locator(".result .approved")
        done.wait_for()
        assert "发放证书 2 张" in done.inner_text()
        assert _plan_row(server, plan_id)["status"] == "completed"
        claim = _claim_row(server, plan_id)
        assert claim["status"] == "submitted" and claim["total_fen"] > 0 and len(claim["lines"]) == 2, repr(claim)
        _fresh(dash, f"{server.url}/dashboard/#/overdue")
        assert dash.locator(f"#overdue-completions tr[data-plan='{plan_id}']").count() == 0

        # ---- a claim refused: supervisor 1 rejects it with a reason; nothing is paid ----
        refused_id = _claim_to_refuse(server)
        card = _review_card(dash, server, "subsidies", REFUSED_TITLE)
        prompts.append(CLAIM_REJECT_REASON)
        card.locator("button.reject-claim").click()
        card.locator(".result .notice-ok", has_text="申请已驳回").wait_for()
        assert card.locator("button.approve, button.disburse, button.reject-claim").count() == 0
        assert _refused_state(server, refused_id) == ("rejected", CLAIM_REJECT_REASON)
        _fresh(dash, f"{server.url}/dashboard/#/review?tab=subsidies")
        assert dash.locator("article[data-claim]", has_text=REFUSED_TITLE).count() == 0   # out of the queue

        # ---- the claim: supervisor 1 approves, 公示 starts ----
        card = _review_card(dash, server, "subsidies", TITLE_FIXED)
        assert "待审核" in card.inner_text()
        card.locator("button.approve").click()
        card.locator(".result .notice-ok", has_text="已审核通过，进入公示期").wait_for()
        claim = _claim_row(server, plan_id)
        assert claim["status"] == "approved" and claim["approved_by"] == "supervisor"
        first_publicity_end = claim["publicity_ends_at"]

        # The trainee, during 公示: the certificate, and the subsidy at its true step.
        phone, mobile, errors = _phone(browser, server)
        all_errors.append(errors)
        _fresh(mobile, f"{server.url}/m/#/subsidies")
        sub = mobile.locator("article.card", has_text=TITLE_FIXED)
        sub.wait_for()
        assert sub.locator(".steps span.done").all_inner_texts() == ["已申请", "已审核"]
        assert sub.locator(".steps span.now").inner_text() == "公示中"
        assert _progress(sub) == "公示中" and "公示截止" in sub.inner_text()
        shot(mobile, "m-subsidy-publicity")
        phone.close()

        # ---- an objection about one trainee, recorded and upheld: the claim goes back to review ----
        card = _review_card(dash, server, "subsidies", TITLE_FIXED)
        card.locator("details.lines summary").click()
        form = card.locator("form.record-objection")
        form.wait_for()
        assert card.locator("table tbody tr", has_text=NEW_TRAINEE[0]).count() == 1
        form.locator("textarea[name=text]").fill(OBJECTION)
        form.locator("button[type=submit]").click()
        item = card.locator("li[data-objection]", has_text=OBJECTION)
        item.wait_for()
        assert "待处理" in item.inner_text()
        prompts.append("经调取考勤照片核实，第二次课确系他人代签")
        item.locator("button.resolve[data-decision=upheld]").click()
        dash.locator(".toast-ok", has_text="异议成立，申请已退回待审核").wait_for()
        claim = _claim_row(server, plan_id)
        # Upheld (services.subsidy.resolve_objection): back to submitted, approval and publicity cleared.
        assert claim["status"] == "submitted" and claim["approved_by"] is None and claim["publicity_ends_at"] is None
        card = _review_card(dash, server, "subsidies", TITLE_FIXED)
        assert "待审核" in card.locator("p.small.muted").first.inner_text()
        assert card.locator("button.approve").count() == 1 and card.locator("button.disburse").count() == 0
        card.locator("details.lines summary").click()
        upheld = card.locator("li[data-objection]", has_text=OBJECTION)
        upheld.wait_for()
        assert "异议成立" in upheld.inner_text() and upheld.locator("button.resolve").count() == 0
        shot(dash, "dashboard-objection-upheld")

        # The trainee's steps go back too: approval withdrawn.
        phone, mobile, errors = _phone(browser, server)
        all_errors.append(errors)
        _fresh(mobile, f"{server.url}/m/#/subsidies")
        sub = mobile.locator("article.card", has_text=TITLE_FIXED)
        sub.wait_for()
        assert sub.locator(".steps span.done").all_inner_texts() == ["已申请"]
        assert sub.locator(".steps span.now").inner_text() == "已审核"
        phone.close()

        # ---- reviewed again: approved with a new 公示 ----
        card = _review_card(dash, server, "subsidies", TITLE_FIXED)
        card.locator("button.approve").click()
        card.locator(".result .notice-ok", has_text="已审核通过，进入公示期").wait_for()
        claim = _claim_row(server, plan_id)
        assert claim["status"] == "approved" and claim["approved_by"] == "supervisor"
        assert claim["publicity_ends_at"] >= first_publicity_end
        sup1.close()

        # ---- after 公示: the approver may not pay ----
        move(claim["publicity_ends_at"] + timedelta(days=1))
        sup1, dash, errors, prompts = _desk(browser, server, "supervisor", "/dashboard/")
        all_errors.append(errors)
        card = _review_card(dash, server, "subsidies", TITLE_FIXED)
        two = card.locator(".two-person")
        assert "审核与拨付不能为同一人" in two.inner_text() and "（您）" in two.inner_text()
        assert card.locator("button.disburse").is_disabled()
        # 公示 is over on the server's clock: the badge no longer says 公示中.
        assert "公示期满，待拨付" in card.inner_text() and "公示中" not in card.locator(".badge").all_inner_texts()
        shot(dash, "dashboard-disburse-refused-approver")
        assert _claim_row(server, plan_id)["status"] == "approved"
        sup1.close()

        # ---- the second supervisor pays ----
        sup2, dash, errors, prompts = _desk(browser, server, "supervisor2", "/dashboard/")
        all_errors.append(errors)
        card = _review_card(dash, server, "subsidies", TITLE_FIXED)
        two = card.locator(".two-person")
        assert "审核人 supervisor" in two.inner_text().replace("\n", " ") and "（您）" not in two.inner_text()
        button = card.locator("button.disburse")
        assert button.is_enabled()
        button.click()
        card.locator(".result .notice-ok", has_text="已拨付").wait_for()
        claim = _claim_row(server, plan_id)
        assert claim["status"] == "disbursed" and claim["disbursed_by"] == "supervisor2"
        assert claim["approved_by"] == "supervisor"
        # Read back: the paid claim leaves the queue and is listed with both names.
        _fresh(dash, f"{server.url}/dashboard/#/review?tab=subsidies")
        paid = dash.locator("#recently-disbursed li[data-disbursed]", has_text=TITLE_FIXED)
        paid.wait_for()
        assert paid.locator(".approver").inner_text() == "supervisor"
        assert paid.locator(".disburser").inner_text() == "supervisor2"
        assert dash.locator("article[data-claim]", has_text=TITLE_FIXED).count() == 0
        shot(dash, "dashboard-disbursed")
        sup2.close()

        # ---- the institution sees the claim paid ----
        school, page, errors, _ = _desk(browser, server, "school", "/console/")
        all_errors.append(errors)
        _console_plan(page, server, plan_id, "completion")
        assert "已拨付" in page.locator("dl.kv", has_text="拨付时间").inner_text()
        shot(page, "console-claim-disbursed")
        school.close()

        # ---- the trainee: the certificate, and the subsidy paid ----
        phone, mobile, errors = _phone(browser, server)
        all_errors.append(errors)
        number = _certificate_number(server, plan_id, zhang["id"])
        _fresh(mobile, f"{server.url}/m/#/certificates")
        cert = mobile.locator(f"article.certificate[data-number='{number}']")
        cert.wait_for()
        assert "有效" in cert.inner_text() and "福州市鼓楼区职业技能培训学校" in cert.inner_text()
        shot(mobile, "m-certificate")
        _fresh(mobile, f"{server.url}/m/#/subsidies")
        sub = mobile.locator("article.card", has_text=TITLE_FIXED)
        sub.wait_for()
        assert sub.locator(".steps span.done").all_inner_texts() == ["已申请", "已审核", "公示中", "已拨付"]
        assert sub.locator(".steps span.now").count() == 0
        assert _progress(sub) == "已拨付"
        yuan = claim["lines"][zhang["id"]] / 100
        assert f"{yuan:,.2f}" in sub.locator(".card-head b").inner_text()
        shot(mobile, "m-subsidy-disbursed")
        phone.close()

    assert not [e for errs in all_errors for e in errs], all_errors
