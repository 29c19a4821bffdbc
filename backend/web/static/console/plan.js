// One plan: its state and actions (submit, withdraw, apply for completion), lessons (add; open
// attendance or the classroom QR), roster (template, upload with row-level results), results
// import, and completion / certificates / subsidy status, with the trainees' trust flags (read-only:
// the school sees what the bureau will decide on before it applies for completion).
import { $, formData, html, mount, showFieldErrors } from "../common/html.js";
import { badge, busy, confirmAction, emptyState, errorText, toast } from "../common/ui.js";
import {
  DELIVERY, GROUPS, claimStatusLabel, INELIGIBLE, PLAN_STATUS, PLAN_TYPE, fieldErrors, fmtDate, fmtDateTime,
  fmtHours, fmtMoney, fmtShort, fmtTime, label,
} from "../common/format.js";
import { decisionsTable, flaggedSummary, flaggedTable } from "../common/trust.js";
import { formDialog } from "../common/dialog.js";
import { serverNow } from "../common/api.js";
import { occupationDatalist, occupationLabel, occupationNames } from "../common/occupations.js";
import { REVIEWED_FIELDS, changeHistory } from "../common/plan_changes.js";

const TABS = [["lessons", "课次"], ["roster", "参训名单"], ["online", "线上学时"], ["results", "考核成绩"], ["completion", "结业与补贴"]];
// Why the server refused a field (details.reason), in words for the person at the desk.
const FIELD_REASONS = {
  overlaps_lesson: "与本方案其他课次时间重叠", outside_plan_dates: "超出方案的起止日期",
  not_a_site_of_this_institution: "请选择本机构登记的场地", online_lessons_have_no_site: "线上课次不需要场地",
  lesson_started: "课次已开始", new_time_too_soon: "新的上课时间距现在不足规定的提前量", in_the_past: "日期不能早于今天",
  contracts_only_for_in_post_plans: "只有岗位技能提升培训需要劳动合同",
};
const ROW_CODES = {
  no_id_number_in_name: "文件名中没有身份证号", invalid_id_number: "文件名中的身份证号不合法",
  not_on_roster: "该身份证号不在本方案名单中", unsupported_file_type: "只支持 PDF、JPG、PNG 文件",
  payload_too_large: "文件超过 10 MB", invalid_archive: "压缩包无法读取，或文件过多、过大", image_too_large: "图片像素过大", validation_error: "文件为空或不合法",
};
const LOCKED = ["completion_submitted", "completed"];

/** Field errors of a refused edit: the server's field, with its reason in words, mapped to the form's names. */
function reasonFields(err, rename = {}) {
  const d = err.details || {};
  const out = {};
  if (d.field) out[rename[d.field] || d.field] = FIELD_REASONS[d.reason] || err.message;
  for (const [k, v] of Object.entries(d.fields || {})) out[rename[k] || k] = Array.isArray(v) ? v.join("；") : String(v);
  return out;
}
const shDate = (iso) => String(iso).slice(0, 10);
const shTime = (iso) => String(iso).slice(11, 16);
const RESULT_ERRORS = {
  not_on_roster: "不在参训名单中", duplicate_row: "重复行", score_out_of_range: "成绩应在 0–100 之间",
  score_invalid: "成绩不是数字", score_required: "缺少成绩", passed_invalid: "是否合格应填“是/否”",
  passed_required: "缺少是否合格", invalid_id_number: "身份证号不合法", person_required: "缺少学员",
  person_mismatch: "学员编号与身份证号不符", person_id_invalid: "学员编号不正确", name_mismatch: "姓名不符",
};

function rowResults(result) {
  // Row-level outcome of a roster upload: every spreadsheet row with ok / error and why.
  return html`
    <div class="notice ${result.failed ? "notice-warn" : "notice-ok"}">导入成功 ${result.imported} 行${result.failed ? `，失败 ${result.failed} 行` : ""}${result.ineligible ? `，其中 ${result.ineligible} 人比对不符合补贴条件` : ""}。</div>
    <div class="table-wrap"><table class="roster-results">
      <thead><tr><th>行号</th><th>结果</th><th>身份证号</th><th>比对</th><th>说明</th></tr></thead>
      <tbody>${result.rows.map((r) => html`<tr class="${r.status === "ok" ? "row-ok" : "row-error"}" data-row="${r.row}">
        <td>${r.row}</td><td>${r.status === "ok" ? badge("成功", "ok") : badge("失败", "error")}</td>
        <td class="mono">${r.id_number_masked || "—"}</td>
        <td>${r.eligible === null || r.eligible === undefined ? "—" : r.eligible ? badge("符合", "ok") : badge("不符合", "warn")}</td>
        <td>${[...(r.errors || []).map((e) => e.message || e.code), ...(r.reasons || []).map((x) => label(INELIGIBLE, x))].join("；") || "—"}</td>
      </tr>`)}</tbody></table></div>`;
}

const IMPORT_COLUMNS = {
  title: "课次名称", mode: "方式", date: "日期", start: "开始时间", end: "结束时间", class_hours: "课时", site: "场地",
  require_site_qr: "须扫现场码", starts_at: "时间", ends_at: "时间", site_id: "场地",
};
const IMPORT_REASONS = {
  required: "必填", too_long: "过长", not_offline_or_online: "应为“线下”或“线上”", not_a_date: "日期格式应为 2026-03-10",
  not_a_time: "时间格式应为 09:00", not_a_number_0_5_to_24: "应为 0.5–24 的数字", unknown_site: "不是本机构登记的场地",
  required_for_offline: "线下课次须填写场地", yes_or_no: "应为“是”或“否”", ...FIELD_REASONS,
};
const IMPORT_CODES = {
  class_hours_too_long: "课时超过课次时长（每课时不少于 45 分钟）", online_share_exceeded: "线上课时超过总课时的 40%",
  change_window_closed: "已超过方案变更截止时间",
};

/** One row error of a lesson import in words: which column and why. */
function lessonRowError(e) {
  const col = IMPORT_COLUMNS[e.field] ? `${IMPORT_COLUMNS[e.field]}：` : "";
  return col + (IMPORT_CODES[e.code] || IMPORT_REASONS[e.reason] || e.reason || e.code);
}

function lessonTimes(d) {
  return { starts_at: `${d.date}T${d.start}:00+08:00`, ends_at: `${d.date}T${d.end}:00+08:00` };
}

function editLesson(api, plan, lesson, sites, after) {
  const offline = lesson.mode === "offline";
  const free = ["draft", "rejected"].includes(plan.status);
  formDialog({
    id: "lesson-edit", title: `修改课次：${lesson.title}`,
    fields: html`
      <label>课次名称<input name="title" value="${lesson.title}" maxlength="128" required></label>
      <small class="field-error" data-for="title"></small>
      <label>日期<input name="date" type="date" value="${shDate(lesson.starts_at)}" required></label>
      <small class="field-error" data-for="date"></small>
      <div class="form-grid">
        <label>开始时间<input name="start" type="time" value="${shTime(lesson.starts_at)}" required></label>
        <label>结束时间<input name="end" type="time" value="${shTime(lesson.ends_at)}" required></label>
      </div>
      <small class="field-error" data-for="start"></small><small class="field-error" data-for="end"></small>
      <label>课时<input name="class_hours" type="number" min="0.5" max="24" step="0.5" value="${lesson.class_hours}" ${free ? "" : "readonly"}></label>
      <small class="field-error" data-for="class_hours"></small>
      ${offline ? html`<label>场地<select name="site_id">${sites.map((s) => html`<option value="${s.id}" ${s.id === lesson.site_id ? "selected" : ""}>${s.name}</option>`)}</select></label>
        <small class="field-error" data-for="site_id"></small>` : ""}
      <p class="small muted">${free ? "草稿可自由调整时间和课时。" : "已报审或已通过的方案：调整时间须保持时长和课时不变，且在开课前 4 小时之前；更换场地随时可以。"}</p>`,
    check: (d) => (d.title ? {} : { title: "请输入课次名称" }),
    fieldsFor: (err) => reasonFields(err, { starts_at: "start", ends_at: "end" }),
    submit: async (d) => {
      const body = {};
      if (d.title !== lesson.title) body.title = d.title;
      const t = lessonTimes(d);
      if (new Date(t.starts_at).getTime() !== new Date(lesson.starts_at).getTime()
          || new Date(t.ends_at).getTime() !== new Date(lesson.ends_at).getTime()) Object.assign(body, t);
      if (free && Number(d.class_hours) !== Number(lesson.class_hours)) body.class_hours = Number(d.class_hours);
      if (offline && Number(d.site_id) !== lesson.site_id) body.site_id = Number(d.site_id);
      if (!Object.keys(body).length) return;
      await api.patch(`/lessons/${lesson.id}`, body);
      toast("课次已修改", "ok");
      await after();   // the dialog closes once the list behind it shows the change
    },
  });
}

async function lessonsTab(el, api, plan, reload) {
  const [sites, lessons] = await Promise.all([api.list("/sites", { per_page: 200 }), api.list(`/plans/${plan.id}/lessons`, { per_page: 500 })]);
  const siteName = new Map(sites.items.map((s) => [s.id, s.name]));
  const day = plan.starts_on;
  const now = Date.now();
  const editable = !LOCKED.includes(plan.status);
  mount(el, html`
    ${lessons.items.length ? html`<div class="table-wrap"><table id="lessons">
      <thead><tr><th>课次</th><th>方式</th><th>时间</th><th>课时</th><th>场地</th><th>操作</th></tr></thead>
      <tbody>${lessons.items.map((l) => html`<tr data-lesson="${l.id}">
        <td>${l.title}</td><td>${l.mode === "online" ? "线上" : "线下"}</td>
        <td class="nowrap">${fmtShort(l.starts_at)}–${fmtTime(l.ends_at)}</td><td>${l.class_hours}</td>
        <td>${l.site_id ? siteName.get(l.site_id) || `#${l.site_id}` : "—"}${l.require_site_qr ? html` ${badge("现场码")}` : ""}</td>
        <td><div class="lesson-actions">${l.mode === "offline" ? html`
          <a class="button small" href="#/attendance/${l.id}">考勤与补卡</a>
          <a class="button small" href="#/projector/${l.id}" target="_blank" rel="noopener">现场签到码</a>` : ""}
          ${editable && new Date(l.ends_at).getTime() > now ? html`<button type="button" class="small" data-edit="${l.id}">修改</button>` : ""}
          ${editable && new Date(l.starts_at).getTime() > now ? html`<button type="button" class="small danger" data-delete="${l.id}">删除</button>` : ""}</div></td>
      </tr>`)}</tbody></table></div>` : emptyState("还没有课次")}
    <div id="lesson-list-msg"></div>
    ${editable ? html`<section id="lesson-import" style="margin-top:16px">
      <h3>从模板批量导入课次</h3>
      <div class="row"><button type="button" id="lesson-template">下载课次模板（Excel）</button>
        <span class="small muted">模板列：课次名称、方式、日期、开始时间、结束时间、课时、场地、须扫现场码</span></div>
      <form id="lesson-import-form" style="margin-top:8px">
        <label>上传填好的课次表<input type="file" name="file" accept=".xlsx"></label>
        <button class="primary" type="submit" style="margin-top:8px">导入课次</button>
        <p class="small muted">整表校验：任何一行有误则全部不导入，请按提示修改后重新上传。</p>
      </form>
      <div id="lesson-import-result"></div>
    </section>` : ""}
    <h3 style="margin-top:16px">添加课次</h3>
    <form id="lesson-form" novalidate>
      <div class="form-grid">
        <label>课次名称<input name="title" required maxlength="128"></label>
        <label>方式<select name="mode"><option value="offline">线下</option><option value="online">线上</option></select></label>
        <label>日期<input name="date" type="date" value="${day}" required></label>
        <label>开始时间<input name="start" type="time" value="09:00" required></label>
        <label>结束时间<input name="end" type="time" value="12:00" required></label>
        <label>课时<input name="class_hours" type="number" min="0.5" max="24" step="0.5" value="4" required></label>
        <label class="offline-only">场地<select name="site_id">${sites.items.map((s) => html`<option value="${s.id}">${s.name}</option>`)}</select></label>
      </div>
      <label class="check offline-only"><input type="checkbox" name="require_site_qr"> 本课次签到须扫描现场二维码</label>
      ${["title", "start", "end", "class_hours", "site_id"].map((f) => html`<small class="field-error" data-for="${f}"></small>`)}
      <div class="form-msg" role="alert" id="lesson-msg"></div>
      <button class="primary" type="submit">添加课次</button>
      <p class="small muted">每课时不少于 45 分钟。时间为北京时间。</p>
    </form>`);
  const form = $(el, "#lesson-form");
  const syncMode = () => el.querySelectorAll(".offline-only").forEach((x) => { x.hidden = form.mode.value !== "offline"; });
  form.mode.onchange = syncMode;
  syncMode();
  const byId = new Map(lessons.items.map((l) => [l.id, l]));
  const tpl = $(el, "#lesson-template");
  if (tpl) tpl.onclick = () => busy(tpl, () => api.download(`/plans/${plan.id}/lessons/template.xlsx`, `课次-${plan.id}.xlsx`));
  const iform = $(el, "#lesson-import-form");
  if (iform) {
    iform.onsubmit = async (e) => {
      e.preventDefault();
      const out = $(el, "#lesson-import-result");
      if (!iform.file.files.length) { mount(out, html`<div class="notice notice-warn">请选择 Excel 文件</div>`); return; }
      const fd = new FormData();
      fd.append("file", iform.file.files[0]);
      await busy(iform.querySelector("button"), async () => {
        const r = await api.upload(`/plans/${plan.id}/lessons/import`, fd);
        toast(`已导入 ${r.imported} 个课次`, "ok");
        reload();
      }, (err) => {
        const rows = (err.details?.rows || []).filter((r) => (r.errors || []).length);
        mount(out, html`<div class="notice notice-error" role="alert">${errorText(err)}</div>
          ${rows.length ? html`<div class="table-wrap"><table class="lesson-import-errors"><thead><tr><th>行号</th><th>问题</th></tr></thead>
            <tbody>${rows.map((r) => html`<tr class="row-error" data-row="${r.row}"><td>${r.row}</td><td>${r.errors.map(lessonRowError).join("；")}</td></tr>`)}</tbody></table></div>` : ""}`);
      });
    };
  }
  el.querySelectorAll("button[data-edit]").forEach((btn) => {
    btn.onclick = () => editLesson(api, plan, byId.get(Number(btn.dataset.edit)), sites.items, reload);
  });
  el.querySelectorAll("button[data-delete]").forEach((btn) => {
    btn.onclick = () => {
      const l = byId.get(Number(btn.dataset.delete));
      if (!confirmAction(`确认删除课次“${l.title}”（${fmtShort(l.starts_at)}）？删除后不可恢复。`)) return;
      busy(btn, async () => {
        await api.del(`/lessons/${l.id}`);
        toast("课次已删除", "ok");
        reload();
      }, (err) => mount($(el, "#lesson-list-msg"), html`<div class="notice notice-error" role="alert">${err.code === "attendance_exists" ? "该课次已有考勤或补卡记录，不能删除。" : errorText(err)}</div>`));
    };
  });
  form.onsubmit = async (e) => {
    e.preventDefault();
    const d = formData(form);
    if (showFieldErrors(form, d.title ? {} : { title: "请输入课次名称" })) return;
    const body = { title: d.title, mode: d.mode, ...lessonTimes(d), class_hours: Number(d.class_hours) };
    if (d.mode === "offline") {
      if (!d.site_id) { $(el, "#lesson-msg").textContent = "请先在“培训场地”登记场地"; return; }
      body.site_id = Number(d.site_id);
      body.require_site_qr = d.require_site_qr || null;
    }
    try {
      await api.post(`/plans/${plan.id}/lessons`, body, { idempotent: true });
      toast("课次已添加", "ok");
      reload();
    } catch (err) {
      showFieldErrors(form, reasonFields(err, { starts_at: "start", ends_at: "end" }));
      $(el, "#lesson-msg").textContent = errorText(err);
    }
  };
}

function editEnrollment(api, e, after) {
  formDialog({
    id: "enrollment-edit", title: `修改学员信息：${e.name}`,
    fields: html`
      <p class="small muted">身份证号 ${e.id_number_masked}（姓名和身份证号不能修改；如有错误，请移出后重新导入）</p>
      <label>手机号<input name="phone" value="${e.phone || ""}" inputmode="numeric" maxlength="11"></label>
      <small class="field-error" data-for="phone"></small>
      <fieldset class="groups"><legend>人员类别</legend>
        ${Object.entries(GROUPS).map(([k, v]) => html`<label class="check"><input type="checkbox" name="g_${k}" ${(e.groups || []).includes(k) ? "checked" : ""}> ${v}</label>`)}
      </fieldset>
      <small class="field-error" data-for="groups"></small>`,
    check: (d) => (d.phone && !/^1\d{10}$/.test(d.phone) ? { phone: "请输入 11 位手机号" } : {}),
    submit: async (d) => {
      const groups = Object.keys(GROUPS).filter((k) => d[`g_${k}`]);
      await api.patch(`/enrollments/${e.id}`, { phone: d.phone || null, groups });
      toast("学员信息已修改", "ok");
      await after();   // the dialog closes once the list behind it shows the change
    },
  });
}

const FACE_ERRORS = {
  no_face: "照片中未检测到人脸，请正对镜头、光线充足后重拍", multiple_faces: "照片中有多张人脸，请只拍学员本人",
  consent_required: "须学员本人当面同意后勾选", face_already_enrolled: "该学员已采集人脸（本人采集的不能由机构替换）",
};

function readBase64(file) {
  return new Promise((resolve, reject) => {
    const r = new FileReader();
    r.onload = () => resolve(String(r.result).split(",", 2)[1] || "");
    r.onerror = () => reject(r.error);
    r.readAsDataURL(file);
  });
}

/** Staff face enrolment in person: a photo of the trainee and the consent they gave at the desk. */
function enrolFace(api, e, after) {
  formDialog({
    id: "face-enrol", title: `采集人脸：${e.name}`, submitLabel: "采集",
    fields: html`
      <p class="small">${e.name}（${e.id_number_masked}）。人脸信息仅用于考勤机核验本人，系统只保存加密的特征值，不保存照片；学员可随时撤回同意，撤回后改用社保卡 + 密码签到。</p>
      <label>学员正面照片（JPG/PNG）<input type="file" name="photo" accept="image/jpeg,image/png" capture="user"></label>
      <small class="field-error" data-for="photo"></small>
      <label class="check"><input type="checkbox" name="consent"> 已当面告知上述用途，学员本人同意采集人脸信息</label>
      <small class="field-error" data-for="consent"></small>`,
    check: (d) => {
      const p = {};
      if (!d.photo?.length) p.photo = "请选择或拍摄学员照片";
      else if (d.photo[0].size > 8 * 1024 * 1024) p.photo = "照片不能超过 8 MB";
      if (!d.consent) p.consent = "须学员本人当面同意后勾选";
      return p;
    },
    fieldsFor: (err) => (FACE_ERRORS[err.code] ? { [err.code === "consent_required" ? "consent" : "photo"]: FACE_ERRORS[err.code] } : {}),
    submit: async (d) => {
      await api.put(`/persons/${e.person_id}/face`, { image_base64: await readBase64(d.photo[0]), consent: true });
      toast(`${e.name} 的人脸已采集（同意已记录）`, "ok");
      await after();   // the dialog closes once the list behind it shows the change
    },
  });
}

function contractResults(result) {
  return html`
    <div class="notice ${result.failed ? "notice-warn" : "notice-ok"}">已上传 ${result.stored} 份劳动合同${result.failed ? `，${result.failed} 个文件未能匹配或不合格` : ""}。</div>
    <div class="table-wrap"><table class="contract-results">
      <thead><tr><th>文件</th><th>结果</th><th>学员</th><th>说明</th></tr></thead>
      <tbody>${result.rows.map((r) => html`<tr class="${r.status === "ok" ? "row-ok" : "row-error"}">
        <td>${r.filename}</td><td>${r.status === "ok" ? badge("成功", "ok") : badge("失败", "error")}</td>
        <td>${r.name ? `${r.name} ${r.id_number_masked}` : "—"}</td><td>${r.status === "ok" ? "—" : label(ROW_CODES, r.code)}</td>
      </tr>`)}</tbody></table></div>`;
}

/** Split files into requests under the server's 24 MB body limit (and 50 files each). */
function batches(files, maxBytes = 20 * 1024 * 1024, maxFiles = 50) {
  const out = [];
  let cur = [];
  let size = 0;
  for (const f of files) {
    if (cur.length && (size + f.size > maxBytes || cur.length >= maxFiles)) { out.push(cur); cur = []; size = 0; }
    cur.push(f);
    size += f.size;
  }
  if (cur.length) out.push(cur);
  return out;
}

async function rosterTab(el, api, plan, reload) {
  // Renders may overlap (a dialog's refresh, an upload's refresh): only the newest one may draw, so a slow
  // older list cannot land later and wipe the results an upload has just shown.
  const turn = (el.rosterTurn = (el.rosterTurn || 0) + 1);
  const { items, total } = await api.list(`/plans/${plan.id}/enrollments`, { per_page: 500, status: "active" });
  if (turn !== el.rosterTurn) return;
  const inPost = plan.plan_type === "in_post";
  const editable = !LOCKED.includes(plan.status);
  const missing = items.filter((e) => !e.contract_uploaded).length;
  const count = document.getElementById("plan-enrolled");
  if (count) count.textContent = String(total);   // the header follows the roster after each action
  mount(el, html`
    <div class="row">
      <button type="button" id="template">下载名单模板（Excel）</button>
      <span class="small muted">模板列：姓名、身份证号、手机号、人员类别、券码</span>
    </div>
    <form id="roster-form" style="margin-top:10px">
      <label>上传填好的名单<input type="file" name="file" accept=".xlsx,application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" required></label>
      <button class="primary" type="submit" style="margin-top:8px">上传并比对</button>
    </form>
    <div id="roster-result" style="margin-top:10px"></div>
    ${inPost ? html`<section class="contracts" id="contracts">
      <h3 style="margin-top:16px">劳动合同（岗位技能提升培训须逐人上传）</h3>
      <p class="small ${missing ? "" : "muted"}">${missing ? `还有 ${missing} 人未上传劳动合同，提交审核前须全部上传。` : "名单中的学员均已上传劳动合同。"}</p>
      <form id="contracts-form">
        <label>批量上传（可多选，也可上传 zip 压缩包；文件名须包含学员身份证号，如 350102199001011234-张三.pdf）
          <input type="file" name="files" multiple accept=".pdf,.jpg,.jpeg,.png,.zip,application/pdf,image/jpeg,image/png,application/zip"></label>
        <button class="primary" type="submit" style="margin-top:8px">上传并按身份证号匹配</button>
      </form>
      <div id="contracts-result" style="margin-top:10px"></div>
    </section>` : ""}
    <div class="row" style="margin-top:16px"><h3 style="margin:0">当前名单（${total} 人）</h3><span class="spacer"></span>
      <button type="button" class="small" data-export="roster">导出名单（Excel）</button></div>
    <div id="enrollments-msg"></div>
    ${items.length ? html`<div class="table-wrap"><table id="enrollments">
      <thead><tr><th>姓名</th><th>身份证号</th><th>性别</th><th>手机号</th><th>人员类别</th><th>比对</th><th>培训券</th>${inPost ? html`<th>劳动合同</th>` : ""}<th>操作</th></tr></thead>
      <tbody>${items.map((e) => html`<tr data-enrollment="${e.id}"><td>${e.name}</td><td class="mono">${e.id_number_masked}</td><td>${e.gender === "female" ? "女" : "男"}</td>
        <td>${e.phone || "—"}</td><td>${(e.groups || []).map((g) => label(GROUPS, g)).join("、") || "—"}</td>
        <td>${e.eligible ? badge("符合", "ok") : html`${badge("不符合", "warn")} <span class="small">${(e.reasons || []).map((r) => label(INELIGIBLE, r)).join("；")}</span>`}</td>
        <td class="mono">${e.voucher_code || "—"}</td>
        ${inPost ? html`<td class="contract-cell">${e.contract_uploaded ? html`${badge("已上传", "ok")} <button type="button" class="link small" data-contract-view="${e.id}">查看</button>` : badge("未上传", "warn")}
          ${editable ? html`<label class="button small file-button">${e.contract_uploaded ? "重新上传" : "上传"}<input type="file" hidden data-contract="${e.id}" accept=".pdf,.jpg,.jpeg,.png"></label>` : ""}</td>` : ""}
        <td><div class="lesson-actions">${editable ? html`<button type="button" class="small" data-edit-enrollment="${e.id}">修改</button>
          <button type="button" class="small" data-face="${e.id}">采集人脸</button>
          <button type="button" class="small danger" data-remove="${e.id}">移出名单</button>` : "—"}</div></td></tr>`)}</tbody></table></div>` : emptyState("名单为空")}`);
  $(el, "#template").onclick = (e) => busy(e.target, () => api.download(`/plans/${plan.id}/roster/template.xlsx`, `参训名单-${plan.id}.xlsx`));
  const form = $(el, "#roster-form");
  form.onsubmit = async (e) => {
    e.preventDefault();
    const out = $(el, "#roster-result");
    if (!form.file.files.length) { mount(out, html`<div class="notice notice-warn">请选择 Excel 文件</div>`); return; }
    const fd = new FormData();
    fd.append("file", form.file.files[0]);
    const btn = form.querySelector("button");
    await busy(btn, async () => {
      const result = await api.upload(`/plans/${plan.id}/roster`, fd);
      // The list below refreshes; the row results stay on screen above it.
      await rosterTab(el, api, plan, reload);
      mount($(el, "#roster-result"), rowResults(result));
    }, (err) => mount(out, html`<div class="notice notice-error">${err.code === "roster_frozen" ? "培训已开始，名单已锁定，不能再导入。" : errorText(err)}</div>`));
  };
  const byId = new Map(items.map((e) => [e.id, e]));
  const listMsg = (err) => mount($(el, "#enrollments-msg"), html`<div class="notice notice-error" role="alert">${
    err.code === "roster_frozen" ? "培训已开始，名单已锁定，不能再移出学员。"
      : err.code === "attendance_exists" ? "该学员已有考勤、补卡或线上学习记录，不能移出。" : errorText(err)}</div>`);
  el.querySelectorAll("button[data-edit-enrollment]").forEach((btn) => {
    btn.onclick = () => editEnrollment(api, byId.get(Number(btn.dataset.editEnrollment)), () => rosterTab(el, api, plan, reload));
  });
  el.querySelectorAll("button[data-face]").forEach((btn) => {
    btn.onclick = () => enrolFace(api, byId.get(Number(btn.dataset.face)), () => rosterTab(el, api, plan, reload));
  });
  el.querySelectorAll("button[data-remove]").forEach((btn) => {
    btn.onclick = () => {
      const e = byId.get(Number(btn.dataset.remove));
      if (!confirmAction(`确认将 ${e.name}（${e.id_number_masked}）移出名单？${e.voucher_code ? "其使用的培训券将退回学员，可再次使用。" : ""}`)) return;
      busy(btn, async () => {
        await api.del(`/plans/${plan.id}/enrollments/${e.id}`);
        toast(`已将 ${e.name} 移出名单`, "ok");
        await rosterTab(el, api, plan, reload);
      }, listMsg);
    };
  });
  el.querySelectorAll("input[data-contract]").forEach((input) => {
    input.onchange = async () => {
      if (!input.files.length) return;
      const fd = new FormData();
      fd.append("file", input.files[0]);
      try {
        await api.upload(`/enrollments/${input.dataset.contract}/contract`, fd);
        toast("劳动合同已上传", "ok");
        await rosterTab(el, api, plan, reload);
      } catch (err) {
        mount($(el, "#enrollments-msg"), html`<div class="notice notice-error" role="alert">${label(ROW_CODES, err.code) === err.code ? errorText(err) : label(ROW_CODES, err.code)}</div>`);
      }
    };
  });
  el.querySelectorAll("button[data-contract-view]").forEach((btn) => {
    btn.onclick = () => busy(btn, () => api.download(`/enrollments/${btn.dataset.contractView}/contract`, `劳动合同-${byId.get(Number(btn.dataset.contractView)).name}`));
  });
  const cform = $(el, "#contracts-form");
  if (cform) {
    cform.onsubmit = async (e) => {
      e.preventDefault();
      const out = $(el, "#contracts-result");
      const files = Array.from(cform.files.files);
      if (!files.length) { mount(out, html`<div class="notice notice-warn">请选择合同文件</div>`); return; }
      await busy(cform.querySelector("button"), async () => {
        const total = { stored: 0, failed: 0, rows: [] };
        for (const group of batches(files)) {
          const fd = new FormData();
          group.forEach((f) => fd.append("files", f, f.name));
          const r = await api.upload(`/plans/${plan.id}/contracts`, fd);
          total.stored += r.stored; total.failed += r.failed; total.rows.push(...r.rows);
        }
        await rosterTab(el, api, plan, reload);
        mount($(el, "#contracts-result"), contractResults(total));
      }, (err) => mount(out, html`<div class="notice notice-error">${errorText(err)}</div>`));
    };
  }
}

async function onlineTab(el, api, plan, reload) {
  const lessons = (await api.list(`/plans/${plan.id}/lessons`, { per_page: 500 })).items.filter((l) => l.mode === "online");
  const running = ["approved", "in_progress"].includes(plan.status);
  mount(el, html`
    <h3>导入线上学习时长</h3>
    ${plan.delivery === "offline" ? html`<div class="notice notice-info">本方案为线下培训，没有线上课次。</div>` : html`
      <p class="small">从线上学习平台导出 Excel，列为：<b>身份证号</b>（或人员编号）、<b>课次编号</b>、<b>学习时长（分钟）</b>。课次编号见下表；只能导入已开始的线上课次。同一学员同一课次再次导入时以新数据为准。</p>
      <div class="row"><button type="button" id="online-template">下载手工填报表（含名单和课次）</button>
        <span class="small muted">平台无法导出时使用：逐行填写学习分钟数，没有学习的填 0；尚未开始的课次请删除该行。</span></div>
      ${lessons.length ? html`<div class="table-wrap"><table id="online-lessons"><thead><tr><th>课次编号</th><th>课次</th><th>时间</th><th>课时</th></tr></thead>
        <tbody>${lessons.map((l) => html`<tr><td class="mono">${l.id}</td><td>${l.title}</td><td class="nowrap">${fmtShort(l.starts_at)}–${fmtTime(l.ends_at)}</td><td>${l.class_hours}</td></tr>`)}</tbody></table></div>`
        : emptyState("还没有线上课次")}
      ${running ? html`<form id="online-form" style="margin-top:10px">
        <label>上传平台导出的学习记录<input type="file" name="file" accept=".xlsx" required></label>
        <button class="primary" type="submit" style="margin-top:8px">导入学习时长</button>
      </form>` : html`<div class="notice notice-info">方案审核通过后才能导入线上学习时长。</div>`}
      <div id="online-result" style="margin-top:10px"></div>`}`);
  const tpl = $(el, "#online-template");
  if (tpl) tpl.onclick = () => busy(tpl, () => api.download(`/plans/${plan.id}/online-records/template.xlsx`, `线上学时-${plan.id}.xlsx`));
  const form = $(el, "#online-form");
  if (!form) return;
  form.onsubmit = async (e) => {
    e.preventDefault();
    const out = $(el, "#online-result");
    if (!form.file.files.length) { mount(out, html`<div class="notice notice-warn">请选择 Excel 文件</div>`); return; }
    const fd = new FormData();
    fd.append("file", form.file.files[0]);
    await busy(form.querySelector("button"), async () => {
      const r = await api.upload(`/plans/${plan.id}/online-records`, fd);
      mount(out, rowResults(r));
    }, (err) => mount(out, html`<div class="notice notice-error">${errorText(err)}</div>`));
  };
}

async function resultsTab(el, api, plan) {
  const { items } = await api.list(`/plans/${plan.id}/results`);
  mount(el, html`
    <div class="row"><button type="button" id="rtemplate">下载成绩模板（含名单）</button></div>
    <form id="results-form" style="margin-top:10px">
      <label>上传成绩表<input type="file" name="file" accept=".xlsx" required></label>
      <button class="primary" type="submit" style="margin-top:8px">导入成绩</button>
      <p class="small muted">整表校验：任何一行有误则全部不导入，请按提示修改后重新上传。</p>
    </form>
    <div id="results-out"></div>
    <h3 style="margin-top:16px">已录入成绩（${items.length}）</h3>
    ${items.length ? html`<div class="table-wrap"><table><thead><tr><th>姓名</th><th>身份证号</th><th>成绩</th><th>是否合格</th></tr></thead>
      <tbody>${items.map((r) => html`<tr><td>${r.name}</td><td class="mono">${r.id_number_masked}</td><td>${r.score}</td><td>${r.passed ? badge("合格", "ok") : badge("不合格", "error")}</td></tr>`)}</tbody></table></div>` : emptyState("尚未录入")}`);
  $(el, "#rtemplate").onclick = (e) => busy(e.target, () => api.download(`/plans/${plan.id}/results/template.xlsx`, `成绩-${plan.id}.xlsx`));
  const form = $(el, "#results-form");
  form.onsubmit = async (e) => {
    e.preventDefault();
    const out = $(el, "#results-out");
    if (!form.file.files.length) return;
    const fd = new FormData();
    fd.append("file", form.file.files[0]);
    await busy(form.querySelector("button"), async () => {
      const r = await api.upload(`/plans/${plan.id}/results`, fd);
      toast(`已导入 ${r.imported} 条成绩`, "ok");
      resultsTab(el, api, plan);
    }, (err) => {
      const rows = (err.details?.rows || []).filter((r) => (r.errors || []).length);
      mount(out, html`<div class="notice notice-error">${errorText(err)}</div>
        ${rows.length ? html`<div class="table-wrap"><table><thead><tr><th>行号</th><th>问题</th></tr></thead>
          <tbody>${rows.map((r) => html`<tr class="row-error"><td>${r.row}</td><td>${r.errors.map((c) => label(RESULT_ERRORS, c)).join("；")}</td></tr>`)}</tbody></table></div>` : ""}`);
    });
  };
}

/** The plan's trust flags as the bureau's completion review will see them (GET /plans/{id}/flags). */
function flagsSection(flags) {
  let body;
  if (flags === null) body = html`<div class="notice notice-error">可信度标记加载失败，请刷新重试。</div>`;
  else if (!flags.length) body = html`<p class="small">${badge("无", "ok")} 没有学员带可信度标记。</p>`;
  else {
    body = html`<div class="notice ${flags.some((t) => t.blocking) ? "notice-warn" : "notice-info"}">${flaggedSummary(flags)}。
        认可须人社部门写明理由；排除的学员不发证书、不计补贴。请提前核实并备好说明材料（如现场监控、纸质签到表）。</div>
      ${flaggedTable(flags)}`;
  }
  return html`<section class="trust" id="plan-flags"><h3 style="margin-top:16px">可信度标记</h3>${body}</section>`;
}

async function completionTab(el, api, plan, reload, flags) {
  const [hours, certs, claims] = await Promise.all([
    api.get(`/plans/${plan.id}/hours`),
    api.list(`/plans/${plan.id}/certificates`),
    api.list("/subsidy-claims", { per_page: 100 }),
  ]);
  const claimSummary = claims.items.find((c) => c.plan_id === plan.id);
  const claim = claimSummary ? await api.get(`/subsidy-claims/${claimSummary.id}`) : null;
  const required = plan.class_hours?.total || 0;
  const canApply = ["approved", "in_progress"].includes(plan.status);
  mount(el, html`
    <div class="row"><h3 style="margin:0">学员课时（结业需达到总课时 ${fmtHours(required)} 的 80%）</h3><span class="spacer"></span>
      <button type="button" class="small" data-export="hours">导出学时（Excel）</button></div>
    ${hours.trainees.length ? html`<div class="table-wrap"><table><thead><tr><th>姓名</th><th>线下</th><th>线上</th><th>合计</th><th>达标</th></tr></thead>
      <tbody>${hours.trainees.map((t) => html`<tr><td>${t.name}</td><td>${t.offline_hours}</td><td>${t.online_hours}</td><td>${t.total_hours}</td>
        <td>${required && t.total_hours >= required * 0.8 ? badge("是", "ok") : badge("否")}</td></tr>`)}</tbody></table></div>` : emptyState("名单为空")}
    ${flagsSection(flags)}
    ${canApply ? html`<div class="result" id="completion-msg"></div><button type="button" class="primary" id="apply">申请结业审核</button>
      <p class="small muted">全部课次结束后、培训结束 6 个月内申请；人社部门审核通过后向考核合格学员发证，并生成补贴申请。</p>` : ""}
    <h3 style="margin-top:16px">培训证书（${certs.items.length}）</h3>
    ${certs.items.length ? html`<div class="table-wrap"><table><thead><tr><th>证书编号</th><th>姓名</th><th>发证日期</th><th></th></tr></thead>
      <tbody>${certs.items.map((c) => html`<tr><td class="mono">${c.number}</td><td>${c.name}</td><td>${fmtDate(c.issued_on)}</td>
        <td>${c.print_url ? html`<a href="${c.print_url}" target="_blank" rel="noopener">打印</a>` : ""}</td></tr>`)}</tbody></table></div>` : emptyState("尚未发证")}
    <h3 style="margin-top:16px">补贴申请</h3>
    ${claim ? html`<div class="row"><span class="spacer"></span><button type="button" class="small" data-export="claim">导出补贴明细（Excel，金额单位：元）</button></div>
      <dl class="kv"><dt>状态</dt><dd>${badge(claimStatusLabel(claim, serverNow()), "info")}</dd><dt>金额</dt><dd>${fmtMoney(claim.total_fen)}</dd>
        ${claim.publicity_ends_at ? html`<dt>公示截止</dt><dd>${fmtDateTime(claim.publicity_ends_at)}</dd>` : ""}
        ${claim.disbursed_at ? html`<dt>拨付时间</dt><dd>${fmtDateTime(claim.disbursed_at)}</dd>` : ""}</dl>
      <div class="table-wrap"><table><thead><tr><th>学员</th><th>认定课时</th><th>培训券</th><th>金额</th></tr></thead>
        <tbody>${claim.lines.map((l) => html`<tr><td>${l.name}</td><td>${l.credited_hours}</td><td class="mono">${l.voucher_code || "—"}</td><td>${fmtMoney(l.amount_fen)}</td></tr>`)}</tbody></table></div>
      ${(claim.decisions || []).length ? html`<h4>结业审核决定（可信度标记）</h4>${decisionsTable(claim.decisions)}` : ""}`
      : emptyState("结业审核通过后自动生成")}`);
  const apply = $(el, "#apply");
  if (apply) {
    apply.onclick = () => busy(apply, async () => {
      if (!confirmAction("确认所有课次已结束、成绩已录入，提交结业审核？")) return;
      await api.post(`/plans/${plan.id}/completion`, {});
      toast("已提交结业审核", "ok");
      reload();
    }, (err) => mount($(el, "#completion-msg"), html`<div class="notice notice-error">${errorText(err)}</div>`));
  }
}

function editPlan(api, plan, names, after, pending) {
  // After approval, occupation, type and delivery are what the bureau reviewed: a change of them is filed as a
  // change request (with a reason) for the region's supervisor to decide; the other fields are edited directly.
  const approved = plan.status === "approved";
  formDialog({
    id: "plan-edit", title: "修改方案",
    fields: html`
      <label>方案名称<input name="title" value="${plan.title}" maxlength="128" required></label>
      <small class="field-error" data-for="title"></small>
      <label>职业（工种）代码<input name="occupation_code" value="${plan.occupation_code}" maxlength="32" list="occupation-codes-edit" required></label>
      ${occupationDatalist(names, "occupation-codes-edit")}
      <small class="field-error" data-for="occupation_code"></small>
      <label>培训类型<select name="plan_type">${Object.entries(PLAN_TYPE).map(([k, v]) => html`<option value="${k}" ${k === plan.plan_type ? "selected" : ""}>${v}</option>`)}</select></label>
      <small class="field-error" data-for="plan_type"></small>
      <label>培训方式<select name="delivery">${Object.entries(DELIVERY).map(([k, v]) => html`<option value="${k}" ${k === plan.delivery ? "selected" : ""}>${v}</option>`)}</select></label>
      <small class="field-error" data-for="delivery"></small>
      <div class="form-grid">
        <label>开始日期<input name="starts_on" type="date" value="${plan.starts_on}" required></label>
        <label>结束日期<input name="ends_on" type="date" value="${plan.ends_on}" required></label>
      </div>
      <small class="field-error" data-for="starts_on"></small><small class="field-error" data-for="ends_on"></small>
      <label>线上学习平台<input name="online_platform" value="${plan.online_platform || ""}" maxlength="128"></label>
      <small class="field-error" data-for="online_platform"></small>
      ${approved ? html`<p class="small notice notice-warn">方案已审核通过：名称、日期的修改直接生效并记入操作日志；职业（工种）、培训类型、培训方式的变更须提交变更申请，经人社部门审核批准后生效。变更截止 ${fmtDateTime(plan.change_deadline)}。</p>
        ${pending ? html`<p class="small notice notice-error" id="change-pending-hint">已有待审核的变更申请，审核结束前不能再提交新的变更申请。</p>` : ""}
        <label>变更原因（变更职业、类型或方式时必填，将提交人社部门审核）<textarea name="change_reason" maxlength="1000" rows="2"></textarea></label>
        <small class="field-error" data-for="change_reason"></small>` : ""}`,
    check: (d) => {
      const p = {};
      if (!d.title) p.title = "请输入方案名称";
      if (!d.occupation_code) p.occupation_code = "请输入职业（工种）代码";
      if (d.starts_on && d.ends_on && d.ends_on < d.starts_on) p.ends_on = "结束日期不能早于开始日期";
      if (d.delivery !== "offline" && !d.online_platform) p.online_platform = "线上或混合培训须填写学习平台";
      if (approved && REVIEWED_FIELDS.some((k) => d[k] !== plan[k]) && (d.change_reason || "").trim().length < 2) {
        p.change_reason = "变更职业、培训类型或方式须填写变更原因（至少 2 个字）";
      }
      return p;
    },
    fieldsFor: (err) => {
      const out = reasonFields(err);
      if (out.reason) { out.change_reason = out.reason; delete out.reason; }
      return out;
    },
    submit: async (d) => {
      const body = {};
      for (const k of ["title", "occupation_code", "plan_type", "delivery", "starts_on", "ends_on"]) {
        if (d[k] !== plan[k]) body[k] = d[k];
      }
      const platform = d.delivery === "offline" ? null : d.online_platform;
      if ((platform || null) !== (plan.online_platform || null)) body.online_platform = platform;
      if (!Object.keys(body).length) return;
      const reviewed = approved ? Object.keys(body).filter((k) => REVIEWED_FIELDS.includes(k)) : [];
      if (reviewed.length) {
        // The request carries the reviewed fields (and the platform a new delivery needs); the rest is a PATCH.
        const request = { reason: d.change_reason.trim() };
        for (const k of [...reviewed, "online_platform"]) if (k in body) { request[k] = body[k]; delete body[k]; }
        await api.post(`/plans/${plan.id}/change-requests`, request);
        toast("变更申请已提交，待人社部门审核", "ok");
      }
      if (Object.keys(body).length) {
        await api.patch(`/plans/${plan.id}`, body);
        toast("方案已修改", "ok");
      }
      await after();   // the dialog closes once the list behind it shows the change
    },
  });
}

export default {
  title: "方案详情",
  async render({ root, api, params, query, navigate }) {
    const id = Number(params[0]);
    const tab = TABS.some(([k]) => k === query.get("tab")) ? query.get("tab") : "lessons";
    // The flags load with the plan so every tab can say up front that the bureau will need decisions.
    const [plan, flags, names, changes] = await Promise.all([api.get(`/plans/${id}`), api.get(`/plans/${id}/flags`).catch(() => null),
      occupationNames(api), api.get(`/plans/${id}/change-requests`).catch(() => [])]);
    const pendingChange = changes.find((c) => c.status === "pending");
    const blocking = (flags || []).filter((t) => t.blocking).length;
    const reload = () => navigate(`plan/${id}`, { tab, t: Date.now() });
    const canEdit = ["draft", "rejected"].includes(plan.status)
      || (plan.status === "approved" && new Date(plan.change_deadline).getTime() > Date.now());
    mount(root, html`
      <p><a href="#/plans">‹ 全部方案</a></p>
      <section class="card">
        <div class="card-head"><h1>${plan.title}</h1>${badge(label(PLAN_STATUS, plan.status), "info")}</div>
        <dl class="kv">
          <dt>职业（工种）</dt><dd id="plan-occupation">${occupationLabel(names, plan.occupation_code, plan.occupation_name)}</dd>
          <dt>类型</dt><dd>${label(PLAN_TYPE, plan.plan_type)} · ${label(DELIVERY, plan.delivery)}</dd>
          <dt>日期</dt><dd>${fmtDate(plan.starts_on)} 至 ${fmtDate(plan.ends_on)}</dd>
          <dt>课时</dt><dd>线下 ${fmtHours(plan.class_hours?.offline)} · 线上 ${fmtHours(plan.class_hours?.online)}</dd>
          <dt>参训人数</dt><dd id="plan-enrolled">${plan.enrolled}</dd>
          ${plan.reject_reason ? html`<dt>驳回原因</dt><dd class="notice notice-error">${plan.reject_reason}</dd>` : ""}
        </dl>
        ${blocking ? html`<div class="notice notice-warn" id="flags-hint">⚠ ${blocking} 名学员带有须人社部门决定的可信度标记，结业审核时将逐人认可或排除。
          <a href="#/plan/${id}?tab=completion">查看可信度标记</a></div>` : ""}
        <div class="result" id="plan-msg"></div>
        <div class="row" style="margin-top:8px">
          ${["draft", "rejected"].includes(plan.status) ? html`<button type="button" class="primary" data-action="submit">提交审核</button>` : ""}
          ${plan.status === "submitted" ? html`<button type="button" data-action="withdraw">撤回审核</button>` : ""}
          ${canEdit ? html`<button type="button" id="edit-plan">修改方案</button>` : ""}
        </div>
        ${plan.status === "approved" ? html`<p class="small muted" id="change-deadline">方案变更截止：${fmtDateTime(plan.change_deadline)}（之后只能调整课次时间和场地）</p>` : ""}
        ${plan.status === "submitted" ? html`<p class="small muted">审核中的方案不能修改；如需修改，请先撤回审核。</p>` : ""}
        ${changes.length ? html`<section id="change-requests"><h3>变更申请</h3>
          ${pendingChange ? html`<p class="small notice notice-warn">有一项变更申请待人社部门审核，批准后方案内容才会更新。</p>` : ""}
          ${changeHistory(changes)}</section>` : ""}
      </section>
      <nav class="tabs">${TABS.map(([k, name]) => html`<a href="#/plan/${id}?tab=${k}" class="${k === tab ? "active" : ""}">${name}</a>`)}</nav>
      <section class="card" id="tab-body"><p class="muted">加载中…</p></section>`);
    root.querySelectorAll("button[data-action]").forEach((btn) => {
      btn.onclick = () => busy(btn, async () => {
        await api.post(`/plans/${id}/${btn.dataset.action}`, {});
        toast(btn.dataset.action === "submit" ? "已提交审核" : "已撤回", "ok");
        reload();
      }, (err) => mount($(root, "#plan-msg"), html`<div class="notice notice-error">${errorText(err)}</div>`));
    });
    const edit = $(root, "#edit-plan");
    if (edit) edit.onclick = () => editPlan(api, plan, names, reload, pendingChange);
    const el = $(root, "#tab-body");
    // Export buttons of any tab (roster, hours, claim): xlsx with Chinese headers, money in yuan.
    el.addEventListener("click", (e) => {
      const btn = e.target.closest("button[data-export]");
      if (!btn) return;
      const kind = btn.dataset.export;
      const name = { roster: "参训名单", hours: "学时", claim: "补贴明细" }[kind];
      busy(btn, () => api.download(`/plans/${id}/exports/${kind}`, `${name}-${plan.title}.xlsx`, { format: "xlsx" }));
    });
    if (tab === "lessons") await lessonsTab(el, api, plan, reload);
    else if (tab === "roster") await rosterTab(el, api, plan, reload);
    else if (tab === "online") await onlineTab(el, api, plan, reload);
    else if (tab === "results") await resultsTab(el, api, plan);
    else await completionTab(el, api, plan, reload, flags);
  },
};
