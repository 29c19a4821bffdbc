// What the bureau is late with (004): completions not answered within the review deadline and approved
// claims not paid by their due day, each by the deadlines of its plan's policy (GET /stats/overdue).
import { html, mount } from "../common/html.js";
import { emptyState } from "../common/ui.js";
import { fmtMoney } from "../common/format.js";

export default {
  title: "逾期事项",
  async render({ root, api }) {
    const data = await api.get("/stats/overdue");
    const completions = data.completions || [];
    const payments = data.payments || [];
    const owed = payments.reduce((sum, p) => sum + (p.total_fen || 0), 0);
    mount(root, html`
      <div class="card-head"><h1>逾期事项</h1></div>
      <p class="muted small">按各培训方案提交时适用的政策计算：结业申请须在规定的工作日内审结，补贴须在公示结束后规定的工作日内拨付。
        到期日之后仍未办结的列在这里，逾期最久的在前。</p>
      <div class="stats-row" style="margin-bottom:12px">
        <div class="stat" id="count-completions"><b>${completions.length}</b><span>结业审核逾期</span></div>
        <div class="stat" id="count-payments"><b>${payments.length}</b><span>补贴拨付逾期</span></div>
        <div class="stat"><b>${fmtMoney(owed)}</b><span>逾期未拨付金额</span></div>
      </div>
      <section class="card" id="overdue-completions">
        <div class="card-head"><h2>结业审核逾期（${completions.length}）</h2><a href="#/review?tab=completions">去结业审核</a></div>
        ${completions.length ? html`<div class="table-wrap"><table class="overdue">
          <thead><tr><th>培训方案</th><th>培训机构</th><th>申请结业日期</th><th>应审结日期</th><th>逾期</th></tr></thead>
          <tbody>${completions.map((c) => html`<tr data-plan="${c.plan_id}">
            <td>${c.plan_title}</td><td>${c.institution}</td><td class="nowrap">${c.applied_on}</td>
            <td class="nowrap">${c.due_on}</td><td class="nowrap late">${c.days_late} 天</td></tr>`)}</tbody></table></div>`
          : emptyState("没有逾期未审的结业申请。")}
      </section>
      <section class="card" id="overdue-payments">
        <div class="card-head"><h2>补贴拨付逾期（${payments.length}）</h2><a href="#/review?tab=subsidies">去补贴拨付</a></div>
        ${payments.length ? html`<div class="table-wrap"><table class="overdue">
          <thead><tr><th>培训方案</th><th>培训机构</th><th>补贴金额</th><th>应拨付日期</th><th>逾期</th></tr></thead>
          <tbody>${payments.map((p) => html`<tr data-claim="${p.claim_id}">
            <td>${p.plan_title}<br><span class="muted small">补贴申请 #${p.claim_id}</span></td><td>${p.institution}</td>
            <td class="nowrap">${fmtMoney(p.total_fen)}</td><td class="nowrap">${p.due_on}</td>
            <td class="nowrap late">${p.days_late} 天</td></tr>`)}</tbody></table></div>`
          : emptyState("没有逾期未拨付的补贴。")}
      </section>`);
  },
};
