// One plan: its state and actions (submit, withdraw, apply for completion), lessons (add; open
// attendance or the classroom QR), roster (template, upload with row-level results), results
// import, and completion / certificates / subsidy status, with the trainees' trust flags (read-only:
// the school sees what the bureau will decide on before it applies for completion).
import { $, formData, html, mount, showFieldErrors } from "../common/html.js";
import { badge, busy, confirmAction, emptyState, errorText, toast } from "../common/ui.js";
import {
  CLAIM_STATUS, DELIVERY, GROUPS, INELIGIBLE, PLAN_STATUS, PLAN_TYPE, fieldErrors, fmtDate, fmtDateTime,
  fmtHours, fmtMoney, fmtShort, fmtTime, label,
} from "../common/format.js";
import { decisionsTable, flaggedSummary, flaggedTable } from "../common/trust.js";

const TABS = [["lessons", "课次"], ["roster", "参训名单"], ["results", "考核成绩"], ["completion", "结业与补贴"]];
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

async function lessonsTab(el, api, plan, reload) {
  const [sites, lessons] = await Promise.all([api.list("/sites", { per_page: 200 }), api.list(`/plans/${plan.id}/lessons`, { per_page: 500 })]);
  const siteName = new Map(sites.items.map((s) => [s.id, s.name]));
  const day = plan.starts_on;
  mount(el, html`
    ${lessons.items.length ? html`<div class="table-wrap"><table>
      <thead><tr><th>课次</th><th>方式</th><th>时间</th><th>课时</th><th>场地</th><th>操作</th></tr></thead>
      <tbody>${lessons.items.map((l) => html`<tr>
        <td>${l.title}</td><td>${l.mode === "online" ? "线上" : "线下"}</td>
        <td class="nowrap">${fmtShort(l.starts_at)}–${fmtTime(l.ends_at)}</td><td>${l.class_hours}</td>
        <td>${l.site_id ? siteName.get(l.site_id) || `#${l.site_id}` : "—"}${l.require_site_qr ? html` ${badge("现场码")}` : ""}</td>
        <td><div class="lesson-actions">${l.mode === "offline" ? html`
          <a class="button small" href="#/attendance/${l.id}">考勤与补卡</a>
          <a class="button small" href="#/projector/${l.id}" target="_blank" rel="noopener">现场签到码</a>` : ""}</div></td>
      </tr>`)}</tbody></table></div>` : emptyState("还没有课次")}
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
      ${["title", "starts_at", "ends_at", "class_hours", "site_id"].map((f) => html`<small class="field-error" data-for="${f}"></small>`)}
      <div class="form-msg" role="alert" id="lesson-msg"></div>
      <button class="primary" type="submit">添加课次</button>
      <p class="small muted">每课时不少于 45 分钟。时间为北京时间。</p>
    </form>`);
  const form = $(el, "#lesson-form");
  const syncMode = () => el.querySelectorAll(".offline-only").forEach((x) => { x.hidden = form.mode.value !== "offline"; });
  form.mode.onchange = syncMode;
  syncMode();
  form.onsubmit = async (e) => {
    e.preventDefault();
    const d = formData(form);
    if (showFieldErrors(form, d.title ? {} : { title: "请输入课次名称" })) return;
    const body = {
      title: d.title, mode: d.mode, starts_at: `${d.date}T${d.start}:00+08:00`, ends_at: `${d.date}T${d.end}:00+08:00`,
      class_hours: Number(d.class_hours),
    };
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
      showFieldErrors(form, fieldErrors(err));
      $(el, "#lesson-msg").textContent = errorText(err);
    }
  };
}

async function rosterTab(el, api, plan) {
  const { items, total } = await api.list(`/plans/${plan.id}/enrollments`, { per_page: 500 });
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
    <h3 style="margin-top:16px">当前名单（${total} 人）</h3>
    ${items.length ? html`<div class="table-wrap"><table id="enrollments">
      <thead><tr><th>姓名</th><th>身份证号</th><th>性别</th><th>手机号</th><th>人员类别</th><th>比对</th><th>培训券</th></tr></thead>
      <tbody>${items.map((e) => html`<tr><td>${e.name}</td><td class="mono">${e.id_number_masked}</td><td>${e.gender === "female" ? "女" : "男"}</td>
        <td>${e.phone || "—"}</td><td>${(e.groups || []).map((g) => label(GROUPS, g)).join("、") || "—"}</td>
        <td>${e.eligible ? badge("符合", "ok") : html`${badge("不符合", "warn")} <span class="small">${(e.reasons || []).map((r) => label(INELIGIBLE, r)).join("；")}</span>`}</td>
        <td class="mono">${e.voucher_code || "—"}</td></tr>`)}</tbody></table></div>` : emptyState("名单为空")}`);
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
      mount(out, rowResults(result));
    }, (err) => mount(out, html`<div class="notice notice-error">${err.code === "roster_frozen" ? "培训已开始，名单已锁定，不能再导入。" : errorText(err)}</div>`));
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
    <h3>学员课时（结业需达到总课时 ${fmtHours(required)} 的 80%）</h3>
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
    ${claim ? html`<dl class="kv"><dt>状态</dt><dd>${badge(label(CLAIM_STATUS, claim.status), "info")}</dd><dt>金额</dt><dd>${fmtMoney(claim.total_fen)}</dd>
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

export default {
  title: "方案详情",
  async render({ root, api, params, query, navigate }) {
    const id = Number(params[0]);
    const tab = TABS.some(([k]) => k === query.get("tab")) ? query.get("tab") : "lessons";
    // The flags load with the plan so every tab can say up front that the bureau will need decisions.
    const [plan, flags] = await Promise.all([api.get(`/plans/${id}`), api.get(`/plans/${id}/flags`).catch(() => null)]);
    const blocking = (flags || []).filter((t) => t.blocking).length;
    const reload = () => navigate(`plan/${id}`, { tab, t: Date.now() });
    mount(root, html`
      <p><a href="#/plans">‹ 全部方案</a></p>
      <section class="card">
        <div class="card-head"><h1>${plan.title}</h1>${badge(label(PLAN_STATUS, plan.status), "info")}</div>
        <dl class="kv">
          <dt>职业（工种）</dt><dd>${plan.occupation_code}</dd>
          <dt>类型</dt><dd>${label(PLAN_TYPE, plan.plan_type)} · ${label(DELIVERY, plan.delivery)}</dd>
          <dt>日期</dt><dd>${fmtDate(plan.starts_on)} 至 ${fmtDate(plan.ends_on)}</dd>
          <dt>课时</dt><dd>线下 ${fmtHours(plan.class_hours?.offline)} · 线上 ${fmtHours(plan.class_hours?.online)}</dd>
          <dt>参训人数</dt><dd>${plan.enrolled}</dd>
          ${plan.reject_reason ? html`<dt>驳回原因</dt><dd class="notice notice-error">${plan.reject_reason}</dd>` : ""}
        </dl>
        ${blocking ? html`<div class="notice notice-warn" id="flags-hint">⚠ ${blocking} 名学员带有须人社部门决定的可信度标记，结业审核时将逐人认可或排除。
          <a href="#/plan/${id}?tab=completion">查看可信度标记</a></div>` : ""}
        <div class="result" id="plan-msg"></div>
        <div class="row" style="margin-top:8px">
          ${["draft", "rejected"].includes(plan.status) ? html`<button type="button" class="primary" data-action="submit">提交审核</button>` : ""}
          ${plan.status === "submitted" ? html`<button type="button" data-action="withdraw">撤回审核</button>` : ""}
        </div>
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
    const el = $(root, "#tab-body");
    if (tab === "lessons") await lessonsTab(el, api, plan, reload);
    else if (tab === "roster") await rosterTab(el, api, plan);
    else if (tab === "results") await resultsTab(el, api, plan);
    else await completionTab(el, api, plan, reload, flags);
  },
};
