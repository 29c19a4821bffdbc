// The institution's training plans and the form to declare a new one (as a draft).
import { $, formData, html, mount, showFieldErrors } from "../common/html.js";
import { badge, emptyState, errorText } from "../common/ui.js";
import { occupationDatalist, occupationLabel, occupationNames } from "../common/occupations.js";
import { DELIVERY, PLAN_STATUS, PLAN_TYPE, fieldErrors, fmtDate, fmtHours, label, shanghaiDay } from "../common/format.js";

const STATUS_KIND = { approved: "info", in_progress: "info", completed: "ok", rejected: "error", submitted: "warn", completion_submitted: "warn" };

export default {
  title: "培训方案",
  async render({ root, api, navigate }) {
    const [{ items }, names] = await Promise.all([api.list("/plans", { per_page: 100 }), occupationNames(api)]);
    const today = shanghaiDay();
    mount(root, html`
      <h1>培训方案</h1>
      <section class="card">
        <div class="table-wrap"><table>
          <thead><tr><th>方案</th><th>职业（工种）</th><th>类型</th><th>日期</th><th>课时</th><th>人数</th><th>状态</th></tr></thead>
          <tbody>${items.length ? items.map((p) => html`<tr>
            <td><a href="#/plan/${p.id}">${p.title}</a></td><td>${occupationLabel(names, p.occupation_code, p.occupation_name)}</td>
            <td>${label(PLAN_TYPE, p.plan_type)} · ${label(DELIVERY, p.delivery)}</td>
            <td class="nowrap">${fmtDate(p.starts_on)} 至 ${fmtDate(p.ends_on)}</td>
            <td>${fmtHours(p.class_hours?.total)}</td><td>${p.enrolled}</td>
            <td>${badge(label(PLAN_STATUS, p.status), STATUS_KIND[p.status])}</td></tr>`) : ""}</tbody>
        </table></div>
        ${items.length ? "" : emptyState("还没有培训方案")}
      </section>
      <section class="card">
        <h2>申报新方案</h2>
        <form id="plan-form" novalidate>
          <div class="form-grid">
            <label>方案名称<input name="title" required maxlength="128"></label>
            <label>职业（工种）代码<input name="occupation_code" required placeholder="如 4-03-02-01（可输入名称查找）" maxlength="32" list="occupation-codes"></label>
            <label>培训类型<select name="plan_type">${Object.entries(PLAN_TYPE).map(([k, v]) => html`<option value="${k}">${v}</option>`)}</select></label>
            <label>培训方式<select name="delivery">${Object.entries(DELIVERY).map(([k, v]) => html`<option value="${k}">${v}</option>`)}</select></label>
            <label>开始日期<input name="starts_on" type="date" min="${today}" required></label>
            <label>结束日期<input name="ends_on" type="date" min="${today}" required></label>
            <label class="online-only" hidden>线上学习平台<input name="online_platform" maxlength="128"></label>
          </div>
          ${occupationDatalist(names)}
          <p class="small muted" id="occupation-name"></p>
          ${["title", "occupation_code", "plan_type", "delivery", "starts_on", "ends_on", "online_platform"].map((f) => html`<small class="field-error" data-for="${f}"></small>`)}
          <div class="form-msg" id="plan-msg" role="alert"></div>
          <button class="primary" type="submit">保存为草稿</button>
          <p class="small muted">保存后添加课次和参训名单，再提交人社部门审核。线上课时不得超过总课时的 40%。</p>
        </form>
      </section>`);
    const form = $(root, "#plan-form");
    const online = $(root, ".online-only");
    form.delivery.onchange = () => { online.hidden = form.delivery.value === "offline"; };
    form.occupation_code.oninput = () => {
      const name = names.get(form.occupation_code.value.trim());
      $(root, "#occupation-name").textContent = name ? `职业（工种）：${name}` : "";
    };
    form.onsubmit = async (e) => {
      e.preventDefault();
      const d = formData(form);
      const problems = {};
      for (const [k, msg] of [["title", "请输入方案名称"], ["occupation_code", "请输入职业（工种）代码"], ["starts_on", "请选择开始日期"], ["ends_on", "请选择结束日期"]]) {
        if (!d[k]) problems[k] = msg;
      }
      if (d.starts_on && d.ends_on && d.ends_on < d.starts_on) problems.ends_on = "结束日期不能早于开始日期";
      if (d.delivery !== "offline" && !d.online_platform) problems.online_platform = "线上或混合培训须填写学习平台";
      if (showFieldErrors(form, problems)) return;
      try {
        const body = { title: d.title, occupation_code: d.occupation_code, plan_type: d.plan_type, delivery: d.delivery,
          starts_on: d.starts_on, ends_on: d.ends_on, online_platform: d.delivery === "offline" ? null : d.online_platform };
        const plan = await api.post("/plans", body, { idempotent: true });
        navigate(`plan/${plan.id}`);
      } catch (err) {
        const fields = fieldErrors(err);
        if (err.details?.reason === "in_the_past") fields[err.details.field] = "日期不能早于今天";
        showFieldErrors(form, fields);
        $(root, "#plan-msg").textContent = errorText(err);
      }
    };
  },
};
