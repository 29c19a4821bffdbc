// Credited class hours per plan against what completion needs (80 % of the plan's hours).
import { html, mount } from "/static/common/html.js";
import { emptyState } from "/static/common/ui.js";
import { PLAN_STATUS, fmtHours, label } from "/static/common/format.js";
import { planEntries } from "../lib/archive.js";

export default {
  title: "我的课时",
  auth: "bound",
  async onLoad({ root, app }) {
    const plans = planEntries(await app.api.get("/me/archive"));
    mount(root, plans.length ? plans.map((p) => {
      const need = p.required ? Math.ceil(p.required * p.ratio * 10 - 1e-9) / 10 : null;
      const pct = p.required ? Math.min(100, (p.credited / p.required) * 100) : 0;
      return html`<article class="card">
        <div class="card-head"><h3>${p.title}</h3><span class="badge">${label(PLAN_STATUS, p.status)}</span></div>
        <p class="small muted">${p.institution}</p>
        <p>已认定 <b>${fmtHours(p.credited)}</b>${p.required ? ` / 共 ${fmtHours(p.required)}` : ""}</p>
        ${p.required ? html`<div class="progress-line" role="progressbar" aria-valuenow="${Math.round(pct)}" aria-valuemin="0" aria-valuemax="100"><i style="width:${pct.toFixed(1)}%"></i></div>
          <p class="small muted">结业需要至少 ${fmtHours(need)}${p.credited >= need ? "，已达到" : `，还差 ${fmtHours(Math.max(0, need - p.credited))}`}</p>` : ""}
        <p class="small muted">只有签到和签退都完成的课次才计入课时。</p>
      </article>`;
    }) : emptyState("您还没有参加培训"));
  },
};
