// The lifelong training archive: every plan with hours, result, certificate and subsidy, and a
// link to rate the institution once a plan is completed.
import { html, mount } from "/static/common/html.js";
import { emptyState } from "/static/common/ui.js";
import { CLAIM_STATUS, PLAN_STATUS, fmtDate, fmtHours, fmtMoney, label } from "/static/common/format.js";
import { planEntries } from "../lib/archive.js";

export default {
  title: "培训档案",
  auth: "bound",
  async onLoad({ root, app }) {
    const plans = planEntries(await app.api.get("/me/archive"));
    mount(root, plans.length ? plans.map((p) => html`
      <article class="card">
        <div class="card-head"><h3>${p.title}</h3><span class="badge">${label(PLAN_STATUS, p.status)}</span></div>
        <dl class="kv small">
          <dt>培训机构</dt><dd>${p.institution || "—"}</dd>
          <dt>职业（工种）</dt><dd>${p.occupation || "—"}</dd>
          ${p.startsOn ? html`<dt>培训日期</dt><dd>${fmtDate(p.startsOn)} 至 ${fmtDate(p.endsOn)}</dd>` : ""}
          <dt>认定课时</dt><dd>${fmtHours(p.credited)}${p.required ? ` / ${fmtHours(p.required)}` : ""}</dd>
          <dt>考核成绩</dt><dd>${p.result ? `${Number(p.result.score)} 分 · ${p.result.passed ? "合格" : "不合格"}` : "—"}</dd>
          <dt>证书</dt><dd><span class="mono">${p.certificate?.number || "—"}</span>${p.certificate?.valid === false ? html` <span class="badge badge-error">已撤销</span>${p.certificate.revoked_reason ? html`<br><span class="small">撤销原因：${p.certificate.revoked_reason}</span>` : ""}` : ""}</dd>
          <dt>补贴</dt><dd>${p.subsidies.length ? p.subsidies.map((s) => `${fmtMoney(s.amount_fen)} · ${s.progress_label || label(CLAIM_STATUS, s.status)}`).join("；") : "—"}</dd>
        </dl>
        ${p.completed && !p.evaluated ? html`<a class="button primary" href="#/rating?plan_id=${p.planId}">评价培训机构</a>` : ""}
        ${p.evaluated ? html`<p class="small muted">已评价，感谢您的反馈。</p>` : ""}
      </article>`) : emptyState("档案中还没有培训记录"));
  },
};
