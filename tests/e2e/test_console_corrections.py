"""An institution corrects its work from the console alone (1366x768): edits a site, declares an in-post plan
and edits it, adds, moves and deletes lessons (a refused overlap shows under the time field), imports a
roster, edits and removes a trainee, uploads labour contracts in bulk matched by ID number, and changes its
password (a weak one is refused under the field; the new one signs in; then it is set back)."""
from __future__ import annotations

import io
from datetime import date, timedelta

import pytest
from openpyxl import load_workbook

from .helpers import DESK, login_staff, new_context, open_page, settled, snap, watch_errors

pytestmark = pytest.mark.browser

DEMO_PASSWORD = "demo-pass-2026"
NEW_PASSWORD = "Kecheng-2026-xin"
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
# Holds the page's next GET of an enrolment list for 4 s (fetch is then itself again); window.slowRosterLanded
# turns true half a second after that response came, time enough for whatever it redraws.
SLOW_NEXT_ROSTER_LIST = """() => {
  const real = window.fetch;
  window.slowRosterLanded = false;
  window.fetch = (url, opts = {}) => {
    if (/\\/enrollments\\?/.test(String(url)) && (opts.method || 'GET') === 'GET') {
      window.fetch = real;
      return new Promise((ok) => setTimeout(ok, 4000)).then(() => real(url, opts)).then((response) => {
        setTimeout(() => { window.slowRosterLanded = true; }, 500);
        return response;
      });
    }
    return real(url, opts);
  };
}"""


def _valid_id(first17: str) -> str:
    from backend.domain.identity import id_check_digit
    return first17 + id_check_digit(first17)


def _fill_template(raw: bytes, rows: list[list]) -> bytes:
    wb = load_workbook(io.BytesIO(raw))
    ws = wb.worksheets[0]
    header = next(r for r in range(1, 20) if ws.cell(r, 1).value == "姓名")
    for i, values in enumerate(rows, start=header + 1):
        for j, value in enumerate(values, start=1):
            ws.cell(i, j, value)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _change_password(page, old: str, new: str) -> None:
    page.click("#change-password")
    dlg = page.locator("#password-dialog")
    dlg.wait_for()
    dlg.locator("input[name=old_password]").fill(old)
    dlg.locator("input[name=new_password]").fill(new)
    dlg.locator("input[name=confirm]").fill(new)
    dlg.locator("button[type=submit]").click()


def _logout(page) -> None:
    page.click("#logout")
    settled(page, "login")


def test_institution_corrects_plans_roster_sites_and_password(browser, server, screenshots, tmp_path):
    ctx = new_context(browser, DESK)
    page = ctx.new_page()
    page.on("dialog", lambda d: d.accept())   # the confirmations before removing
    errors = watch_errors(page)
    login_staff(page, f"{server.url}/console/", "school", DEMO_PASSWORD)

    # ---- a site of its own, then corrected ----
    page.click("nav#nav a[href='#/sites']")
    settled(page, "sites")
    page.fill("#site-form input[name=name]", "仓山实训楼")
    page.fill("#site-form input[name=address]", "福州市仓山区建新镇1号")
    page.click("#site-form button[type=submit]")
    page.locator("td:has-text('仓山实训楼')").wait_for()
    page.locator("tr:has(td:text-is('仓山实训楼')) button[data-edit-site]").click()
    dlg = page.locator("#site-edit")
    dlg.locator("input[name=name]").fill("仓山实训楼（二层）")
    dlg.locator("input[name=radius_m]").fill("150")
    dlg.locator("button[type=submit]").click()
    row = page.locator("tr:has(td:text-is('仓山实训楼（二层）'))")
    row.wait_for()
    assert "150 米" in row.inner_text()
    snap(page, screenshots, "console-corrections-site")

    # ---- an in-post plan: occupation name shown, then the plan edited ----
    page.click("nav#nav a[href='#/plans']")
    settled(page, "plans")
    start = date.today() + timedelta(days=12)
    page.fill("#plan-form input[name=title]", "电工岗位技能提升培训")
    page.fill("#plan-form input[name=occupation_code]", "6-31-01-03")
    assert "电工" in page.inner_text("#occupation-name")
    page.select_option("#plan-form select[name=plan_type]", "in_post")
    page.fill("#plan-form input[name=starts_on]", start.isoformat())
    page.fill("#plan-form input[name=ends_on]", (start + timedelta(days=20)).isoformat())
    page.click("#plan-form button[type=submit]")
    settled(page, "plan")
    assert page.inner_text("#plan-occupation") == "电工（6-31-01-03）"
    page.click("#edit-plan")
    dlg = page.locator("#plan-edit")
    dlg.locator("input[name=title]").fill("电工（四级）岗位技能提升培训")
    dlg.locator("input[name=ends_on]").fill((start - timedelta(days=1)).isoformat())
    dlg.locator("button[type=submit]").click()
    assert "结束日期不能早于开始日期" in dlg.locator(".field-error[data-for=ends_on]").inner_text()
    dlg.locator("input[name=ends_on]").fill((start + timedelta(days=15)).isoformat())
    dlg.locator("button[type=submit]").click()
    page.locator("h1:text-is('电工（四级）岗位技能提升培训')").wait_for()
    assert f"{(start + timedelta(days=15)).isoformat()}" in page.inner_text("dl.kv")

    # ---- lessons: add two, a refused overlap under the time field, move one, delete one ----
    day = start.isoformat()
    form = page.locator("#lesson-form")
    for title, (s, e) in (("安全用电", ("09:00", "12:00")), ("线路安装", ("14:00", "17:00"))):
        form.locator("input[name=title]").fill(title)
        form.locator("input[name=date]").fill(day)
        form.locator("input[name=start]").fill(s)
        form.locator("input[name=end]").fill(e)
        form.locator("select[name=site_id]").select_option(label="仓山实训楼（二层）")
        form.locator("button[type=submit]").click()
        page.locator(f"#lessons td:text-is('{title}')").wait_for()
        form = page.locator("#lesson-form")
    form.locator("input[name=title]").fill("重叠的课次")
    form.locator("input[name=date]").fill(day)
    form.locator("input[name=start]").fill("10:00")
    form.locator("input[name=end]").fill("13:00")
    form.locator("button[type=submit]").click()
    overlap = page.locator("#lesson-form .field-error[data-for=start]")
    page.wait_for_function("() => document.querySelector(\"#lesson-form .field-error[data-for=start]\")?.textContent")
    assert "重叠" in overlap.inner_text()
    page.locator("#lessons tr:has(td:text-is('线路安装')) button[data-edit]").click()
    dlg = page.locator("#lesson-edit")
    dlg.locator("input[name=start]").fill("13:30")
    dlg.locator("input[name=end]").fill("16:30")
    dlg.locator("button[type=submit]").click()
    moved = page.locator("#lessons tr:has(td:text-is('线路安装'))")
    page.wait_for_function("() => /13:30/.test((document.querySelector('#lessons')?.innerText || ''))")
    assert "13:30" in moved.inner_text() and "16:30" in moved.inner_text()
    snap(page, screenshots, "console-corrections-lessons")
    page.locator("#lessons tr:has(td:text-is('安全用电')) button[data-delete]").click()
    page.wait_for_function("() => document.querySelectorAll('#lessons tbody tr').length === 1")
    assert page.locator("#lessons td:text-is('安全用电')").count() == 0

    # ---- lessons from the template: a bad sheet is refused whole with the row named, then a good one ----
    with page.expect_download() as dl:
        page.click("#lesson-template")
    lesson_tpl = tmp_path / "lessons.xlsx"
    dl.value.save_as(lesson_tpl)
    next_day = (start + timedelta(days=1)).isoformat()

    def lesson_sheet(rows):
        wb = load_workbook(lesson_tpl)
        ws = wb["课次"]
        for i, values in enumerate(rows, start=2):
            for j, value in enumerate(values, start=1):
                ws.cell(i, j, value)
        path = tmp_path / f"lessons-{len(rows)}.xlsx"
        wb.save(path)
        return str(path)

    page.set_input_files("#lesson-import-form input[name=file]", lesson_sheet([
        ["配电实操", "线下", next_day, "09:00", "12:00", 4, "仓山实训楼（二层）", "否"],
        ["故障排查", "线下", next_day, "14:00", "15:00", 4, "仓山实训楼（二层）", "否"],
    ]))
    page.click("#lesson-import-form button[type=submit]")
    bad_row = page.locator("table.lesson-import-errors tr[data-row='3']")
    bad_row.wait_for()
    assert "课时超过课次时长" in bad_row.inner_text()
    assert page.locator("#lessons td:text-is('配电实操')").count() == 0
    page.set_input_files("#lesson-import-form input[name=file]", lesson_sheet([
        ["配电实操", "线下", next_day, "09:00", "12:00", 4, "仓山实训楼（二层）", "否"],
        ["故障排查", "线下", next_day, "14:00", "17:00", 4, "仓山实训楼（二层）", "否"],
    ]))
    page.click("#lesson-import-form button[type=submit]")
    page.locator("#lessons td:text-is('故障排查')").wait_for()
    assert page.locator("#lessons tbody tr").count() == 3

    # ---- roster: import two, edit one, remove the other ----
    page.click("nav.tabs a:has-text('参训名单')")
    page.wait_for_selector("#roster-form")
    with page.expect_download() as dl:
        page.click("#template")
    template = tmp_path / "template.xlsx"
    dl.value.save_as(template)
    first = _valid_id("35010219900505" + "113")
    second = _valid_id("35010219910606" + "124")
    filled = tmp_path / "roster.xlsx"
    filled.write_bytes(_fill_template(template.read_bytes(), [
        ["周一", first, "13900000011", "企业职工", None],
        ["吴二", second, "13900000012", "企业职工", None],
    ]))
    page.set_input_files("#roster-form input[name=file]", str(filled))
    page.click("#roster-form button[type=submit]")
    page.locator("table.roster-results").wait_for()
    assert page.locator("#enrollments tbody tr").count() == 2
    page.locator("#enrollments tr:has(td:text-is('周一')) button[data-edit-enrollment]").click()
    dlg = page.locator("#enrollment-edit")
    dlg.locator("input[name=phone]").fill("1390000")
    dlg.locator("button[type=submit]").click()
    assert "11 位" in dlg.locator(".field-error[data-for=phone]").inner_text()
    dlg.locator("input[name=phone]").fill("13911112222")
    dlg.locator("input[name=g_migrant_worker]").check()
    dlg.locator("button[type=submit]").click()
    page.wait_for_function("() => /13911112222/.test((document.querySelector('#enrollments')?.innerText || ''))")
    assert "农民工" in page.locator("#enrollments tr:has(td:text-is('周一'))").inner_text()
    page.locator("#enrollments tr:has(td:text-is('吴二')) button[data-remove]").click()
    page.wait_for_function("() => document.querySelectorAll('#enrollments tbody tr').length === 1")
    assert "当前名单（1 人）" in page.inner_text("#tab-body")

    # ---- staff face enrolment: consent is required, and a photo without a face is refused under the field ----
    from PIL import Image
    blank = tmp_path / "blank.jpg"
    Image.new("RGB", (320, 240), (235, 235, 235)).save(blank)
    page.locator("#enrollments tr:has(td:text-is('周一')) button[data-face]").click()
    dlg = page.locator("#face-enrol")
    dlg.locator("input[name=photo]").set_input_files(str(blank))
    dlg.locator("button[type=submit]").click()
    assert "同意" in dlg.locator(".field-error[data-for=consent]").inner_text()
    dlg.locator("input[name=consent]").check()
    dlg.locator("button[type=submit]").click()
    page.wait_for_function("() => document.querySelector('#face-enrol .field-error[data-for=photo]')?.textContent")
    assert "未检测到人脸" in dlg.locator(".field-error[data-for=photo]").inner_text()
    # ... and a real portrait is taken, with the consent recorded (scikit-image's astronaut photo).
    from skimage import data as skimage_data
    portrait = tmp_path / "portrait.jpg"
    Image.fromarray(skimage_data.astronaut()).save(portrait, quality=92)
    dlg.locator("input[name=photo]").set_input_files(str(portrait))
    # The roster refresh after the dialog is made slow (as on a busy PostgreSQL server): the dialog must stay
    # open until the list behind it is redrawn, or that late redraw would wipe the contract upload below.
    page.evaluate(SLOW_NEXT_ROSTER_LIST)
    dlg.locator("button[type=submit]").click()
    page.locator(".toast", has_text="周一 的人脸已采集（同意已记录）").wait_for()
    dlg.wait_for(state="hidden")
    from backend.extensions import db
    from backend.models import Person
    with server.app.app_context():  # stored as a staff enrolment, with the consent time and a template
        zhou = db.session.execute(db.select(Person).where(Person.name == "周一")).scalars().one()
        assert (zhou.face_enrolled_by, zhou.face_consent_at is not None, zhou.face_template_enc is not None) == \
            ("institution", True, True)

    # ---- labour contracts in bulk, matched by the ID number in each file name ----
    good = tmp_path / f"{first}-周一.pdf"
    good.write_bytes(PDF)
    stray = tmp_path / "说明.pdf"
    stray.write_bytes(PDF)
    page.set_input_files("#contracts-form input[name=files]", [str(good), str(stray)])
    page.click("#contracts-form button[type=submit]")
    results = page.locator("table.contract-results")
    results.wait_for()
    # The slow roster list asked for when the face dialog closed has landed, and drew nothing over the results.
    page.wait_for_function("() => window.slowRosterLanded === true")
    assert results.is_visible()
    assert results.locator("tbody tr.row-ok").count() == 1
    assert "文件名中没有身份证号" in results.locator("tbody tr.row-error").inner_text()
    assert "已上传" in page.locator("#enrollments tr:has(td:text-is('周一'))").inner_text()
    from backend.models import Enrollment
    with server.app.app_context():
        zhou_enrolment = db.session.execute(db.select(Enrollment).join(Person).where(
            Person.name == "周一", Enrollment.status == "active")).scalars().one()
        first_contract, zhou_enrolment_id = zhou_enrolment.contract_path, zhou_enrolment.id
    assert first_contract

    # ---- ... and as one zip: 周一's newer contract replaces the first; 吴二 (removed above) is not matched ----
    import zipfile
    newer = PDF + b"% zip copy\n"
    bundle = tmp_path / "劳动合同.zip"
    with zipfile.ZipFile(bundle, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(f"合同/{first}-周一.pdf", newer)
        zf.writestr(f"合同/{second}-吴二.pdf", PDF)
        zf.writestr("__MACOSX/合同/._junk", b"x")      # what a Mac adds: skipped, not a row
    page.set_input_files("#contracts-form input[name=files]", str(bundle))
    page.click("#contracts-form button[type=submit]")
    results = page.locator("table.contract-results:has-text('劳动合同.zip/')")
    results.wait_for()
    assert results.locator("tbody tr").count() == 2
    ok_row = results.locator("tbody tr.row-ok")
    assert f"劳动合同.zip/{first}-周一.pdf" in ok_row.inner_text() and "周一" in ok_row.locator("td").nth(2).inner_text()
    bad_row = results.locator("tbody tr.row-error")
    assert f"劳动合同.zip/{second}-吴二.pdf" in bad_row.inner_text()
    assert "该身份证号不在本方案名单中" in bad_row.inner_text()
    assert "已上传 1 份劳动合同，1 个文件未能匹配或不合格" in page.inner_text("#contracts-result .notice")
    from pathlib import Path
    with server.app.app_context():   # the row points at the newer file, whose bytes are the zip's
        stored = db.session.get(Enrollment, zhou_enrolment_id).contract_path
    assert stored != first_contract
    assert (Path(server.app.config["UPLOAD_DIR"]) / stored).read_bytes() == newer
    snap(page, screenshots, "console-corrections-roster")
    with page.expect_download() as dl:
        page.click("button[data-export=roster]")
    exported = load_workbook(io.BytesIO(Path(dl.value.path()).read_bytes())).worksheets[0]
    table = [[c.value for c in row] for row in exported.iter_rows()]
    assert table[0][:2] == ["姓名", "身份证号"] and [r[0] for r in table[1:]] == ["周一"]
    assert table[1][3] == "13911112222" and table[1][8] == "已上传"

    # ---- the plan list refreshed: one trainee, the occupation by name ----
    page.click("nav#nav a[href='#/plans']")
    settled(page, "plans")
    plan_row = page.locator("tr:has(a:text-is('电工（四级）岗位技能提升培训'))")
    assert "电工（6-31-01-03）" in plan_row.inner_text()

    # ---- after the freeze: the running demo plan refuses removing a trainee, and says why ----
    open_page(page, f"{server.url}/console/#/plan/{server.seeded.plan_id}?tab=roster")
    page.locator("#enrollments").wait_for()
    before = page.locator("#enrollments tbody tr").count()
    page.locator("#enrollments button[data-remove]").first.click()
    page.locator("#enrollments-msg .notice-error").wait_for()
    assert "名单已锁定" in page.inner_text("#enrollments-msg")
    assert page.locator("#enrollments tbody tr").count() == before
    snap(page, screenshots, "console-corrections-frozen")

    # ---- password: a weak one refused under its field, a good one signs in, then set back ----
    _change_password(page, DEMO_PASSWORD, "12345678901")
    weak = page.locator("#password-dialog .field-error[data-for=new_password]")
    page.wait_for_function("() => document.querySelector(\"#password-dialog .field-error[data-for=new_password]\").textContent")
    assert "两类" in weak.inner_text()
    snap(page, screenshots, "console-corrections-password")
    page.locator("#password-dialog input[name=new_password]").fill(NEW_PASSWORD)
    page.locator("#password-dialog input[name=confirm]").fill(NEW_PASSWORD)
    page.locator("#password-dialog button[type=submit]").click()
    page.locator("#password-dialog").wait_for(state="detached")
    _logout(page)
    page.fill("input[name=username]", "school")
    page.fill("input[name=password]", DEMO_PASSWORD)
    page.click("#login-form button[type=submit]")
    page.locator("#login-msg:has-text('错误')").wait_for()
    login_staff(page, f"{server.url}/console/", "school", NEW_PASSWORD)
    _change_password(page, NEW_PASSWORD, DEMO_PASSWORD)
    page.locator("#password-dialog").wait_for(state="detached")
    # The supervisors' dashboard has the same widget in its header.
    login_staff(page, f"{server.url}/dashboard/", "supervisor", DEMO_PASSWORD)
    assert page.locator("#who #change-password").is_visible()
    assert not errors, errors
    ctx.close()
