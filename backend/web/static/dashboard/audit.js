// The audit trail of one object (append-only, hash-chained): who did what, before → after. Supervisors
// read the trail of an object of their region; admins may also list by action.
import { $, formData, html, mount } from "../common/html.js";
import { emptyState, errorText } from "../common/ui.js";
import { fmtDateTime } from "../common/format.js";

const TYPES = {
  plan: "培训方案", training_plan: "培训方案（审核）", subsidy_claim: "补贴申请", voucher_batch: "券批次",
  voucher: "培训券", institution: "培训机构", device: "考勤机", certificate: "证书",
};
const show = (v) => (v == null ? "—" : Object.entries(v).map(([k, x]) => `${k}: ${typeof x === "object" ? JSON.stringify(x) : x}`).join("；"));

export default {
  title: "审计日志",
  async render({ root, api, query, navigate, isCurrent }) {
    const type = query.get("object_type") || "plan";
    const id = query.get("object_id") || "";
    mount(root, html`
      <h1>审计日志</h1>
      <form id="audit-form" class="card form-grid compact" novalidate>
        <label>对象类型<select name="object_type">${Object.entries(TYPES).map(([k, v]) => html`<option value="${k}" ${k === type ? "selected" : ""}>${v}</option>`)}</select></label>
        <label>对象编号<input name="object_id" value="${id}" inputmode="numeric"></label>
        <div style="align-self:end"><button class="primary block" type="submit">查询</button></div>
      </form>
      <div id="audit-out">${id ? html`<p class="muted">加载中…</p>` : emptyState("请选择对象类型并输入编号")}</div>`);
    $(root, "#audit-form").onsubmit = (e) => {
      e.preventDefault();
      const d = formData(e.target);
      navigate("audit", { object_type: d.object_type, object_id: d.object_id, t: Date.now() });
    };
    if (!id) return;
    const out = $(root, "#audit-out");
    try {
      const { items, total } = await api.list("/audit", { object_type: type, object_id: id, per_page: 500 });
      if (!isCurrent()) return;
      mount(out, items.length ? html`<section class="card"><h2>${TYPES[type] || type} #${id} 的记录（${total}）</h2>
        <div class="table-wrap"><table class="audit"><thead><tr><th>时间</th><th>操作人</th><th>操作</th><th>变更前</th><th>变更后</th></tr></thead>
        <tbody>${items.map((x) => html`<tr><td class="nowrap">${fmtDateTime(x.at)}</td><td>${x.actor}</td><td class="mono">${x.action}</td>
          <td class="small">${show(x.before)}</td><td class="small">${show(x.after)}</td></tr>`)}</tbody></table></div></section>`
        : emptyState("该对象没有审计记录"));
    } catch (err) {
      mount(out, html`<div class="notice notice-error" role="alert">${errorText(err)}</div>`);
    }
  },
};
