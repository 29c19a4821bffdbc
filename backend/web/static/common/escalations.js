// Escalations (缺勤预警): missed check-ins and absence risks with counts, for the institution console
// (its own plans) and the supervisor dashboard (the region); the server scopes GET /escalations.
import { html, mount } from "./html.js";
import { badge, emptyState } from "./ui.js";
import { fmtDateTime } from "./format.js";

const KIND = { missed_check_in: "未签到", absence_risk: "缺勤预警" };
const REASON = { below_bar: "已无法达到结业学时", missed_two: "连续两次缺课" };

export default {
  title: "缺勤预警",
  async render({ root, api, planLink }) {
    const data = await api.get("/escalations");
    const link = (id, title) => (planLink ? html`<a href="${planLink(id)}">${title}</a>` : title);
    mount(root, html`
      <h1>缺勤预警</h1>
      <p class="muted small">课程开始 15 分钟仍未签到的学员，以及已无法达到结业学时或连续两次缺课的学员（同时已提醒学员本人）。</p>
      <div class="stats-row" style="margin:12px 0">
        <div class="stat" data-k="missed_check_in"><b>${data.counts.missed_check_in}</b><span>未签到</span></div>
        <div class="stat" data-k="absence_risk"><b>${data.counts.absence_risk}</b><span>缺勤预警</span></div>
      </div>
      <section class="card">
        <h2>按培训方案</h2>
        ${data.by_plan.length ? html`<div class="table-wrap"><table id="by-plan"><thead><tr><th>方案</th><th>未签到</th><th>缺勤预警</th></tr></thead>
          <tbody>${data.by_plan.map((p) => html`<tr data-plan="${p.plan_id}"><td>${link(p.plan_id, p.plan_title)}</td>
            <td>${p.missed_check_in}</td><td>${p.absence_risk ? badge(p.absence_risk, "warn") : 0}</td></tr>`)}</tbody></table></div>`
          : emptyState("暂无预警")}
      </section>
      <section class="card">
        <h2>最新</h2>
        ${data.items.length ? html`<div class="table-wrap"><table id="items"><thead><tr><th>时间</th><th>类型</th><th>学员</th><th>说明</th></tr></thead>
          <tbody>${data.items.map((i) => html`<tr><td class="nowrap">${fmtDateTime(i.created_at)}</td><td>${KIND[i.kind] || i.kind}</td>
            <td>${i.person_name}</td><td>${i.reason ? REASON[i.reason] || i.reason : i.lesson_id ? `课次 ${i.lesson_id}` : ""}</td></tr>`)}</tbody></table></div>`
          : emptyState("暂无")}
      </section>`);
  },
};
