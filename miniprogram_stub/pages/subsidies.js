// Subsidy progress: each of the trainee's subsidy lines with the claim's steps
// in the order they happen (已申请 → 已审核 → 公示中 → 已拨付, as the server states them) and who is paid.
import { html, mount } from "/static/common/html.js";
import { emptyState } from "/static/common/ui.js";
import { fmtDate, fmtHours, fmtMoney } from "/static/common/format.js";

const LIMITED = { hours: "按认定课时计算", voucher: "以培训券面值为限", annual_cap: "已按个人年度补贴上限核减" };

export default {
  title: "补贴进度",
  auth: "bound",
  async onLoad({ root, app }) {
    const { items } = await app.api.list("/me/subsidies", { per_page: 100 });
    mount(root, items.length ? items.map((s) => {
      const steps = s.steps || [];
      const current = steps.findIndex((st) => !st.done);
      // ends_at is the instant publicity ends (the midnight after its last day): the last day is shown.
      const publicity = steps.find((st) => st.step === "公示中");
      return html`<article class="card">
        <div class="card-head"><h3>${s.plan_title || "培训补贴"}</h3><b>${fmtMoney(s.amount_fen)}</b></div>
        <p class="small muted">${s.institution || ""}${s.line_type === "living_allowance" ? " · 生活费补贴" : ""}</p>
        ${s.status === "rejected" ? html`<div class="notice notice-error">申请未通过</div>`
          : html`<div class="steps">${steps.map((st, i) => html`<span class="${st.done ? "done" : i === current ? "now" : ""}" aria-current="${i === current ? "step" : "false"}" title="${st.at ? fmtDate(st.at) : ""}">${st.step}</span>`)}</div>`}
        <dl class="kv small">
          <dt>当前进度</dt><dd>${s.progress_label || s.status}</dd>
          <dt>认定课时</dt><dd>${fmtHours(s.credited_hours)}</dd>
          ${s.voucher_code ? html`<dt>培训券</dt><dd class="mono">${s.voucher_code}</dd>` : ""}
          <dt>补贴发放给</dt><dd>${s.payee_label || s.payee || "—"}</dd>
          ${s.limited_by && LIMITED[s.limited_by] ? html`<dt>金额说明</dt><dd>${LIMITED[s.limited_by]}</dd>` : ""}
          ${publicity?.ends_at && !publicity.done ? html`<dt>公示截止</dt><dd>${fmtDate(new Date(Date.parse(publicity.ends_at) - 1000))}</dd>` : ""}
        </dl>
      </article>`;
    }) : emptyState("暂无补贴记录：取得培训合格证书后由培训机构统一申请"));
  },
};
