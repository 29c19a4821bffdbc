// The institution's overview: its plans by state, sites, kiosks and pending make-ups.
import { html, mount } from "../common/html.js";
import { badge } from "../common/ui.js";
import { PLAN_STATUS, fmtDate, label, regionName } from "../common/format.js";

export default {
  title: "概览",
  async render({ root, api, user }) {
    const [inst, plans, sites, devices, makeups] = await Promise.all([
      api.get(`/institutions/${user.institution_id}`),
      api.list("/plans", { per_page: 100 }),
      api.list("/sites", { per_page: 100 }),
      api.list("/devices", { per_page: 100 }),
      api.list("/makeups", { status: "pending", per_page: 1 }),
    ]);
    const byStatus = {};
    plans.items.forEach((p) => { byStatus[p.status] = (byStatus[p.status] || 0) + 1; });
    const running = plans.items.filter((p) => ["approved", "in_progress"].includes(p.status));
    mount(root, html`
      <h1>${inst.name}</h1>
      <p class="muted small">统一社会信用代码 ${inst.credit_code} · 行政区划 ${regionName(inst.region_code)}</p>
      <div class="stats-row" style="margin:12px 0">
        <div class="stat"><b>${plans.total}</b><span>培训方案</span></div>
        <div class="stat"><b>${running.length}</b><span>实施中</span></div>
        <div class="stat"><b>${byStatus.submitted || 0}</b><span>待审核</span></div>
        <div class="stat"><b>${sites.total}</b><span>培训场地</span></div>
        <div class="stat"><b>${devices.items.filter((d) => d.status === "active").length}</b><span>考勤机</span></div>
        <div class="stat"><b>${makeups.total}</b><span>补卡待审</span></div>
      </div>
      <section class="card">
        <div class="card-head"><h2>实施中的培训</h2><a href="#/plans">全部方案 ›</a></div>
        ${running.length ? html`<div class="table-wrap"><table><thead><tr><th>方案</th><th>日期</th><th>人数</th><th>状态</th></tr></thead>
          <tbody>${running.map((p) => html`<tr><td><a href="#/plan/${p.id}">${p.title}</a></td><td class="nowrap">${fmtDate(p.starts_on)} 至 ${fmtDate(p.ends_on)}</td>
          <td>${p.enrolled}</td><td>${badge(label(PLAN_STATUS, p.status), "info")}</td></tr>`)}</tbody></table></div>`
          : html`<p class="muted">暂无。<a href="#/plans">新建培训方案</a></p>`}
      </section>
      <section class="card">
        <h2>常用操作</h2>
        <div class="row">
          <a class="button" href="#/verify">核验培训券</a>
          <a class="button" href="#/sites">登记培训场地</a>
          <a class="button" href="#/plans">申报培训方案</a>
          <a class="button" href="#/kiosks">登记考勤机</a>
        </div>
      </section>`);
  },
};
