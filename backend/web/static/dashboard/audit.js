// The audit trail of one object (append-only, hash-chained): who did what, before → after, in Chinese
// (labels in common/audit_labels.js; the raw action key stays visible in small print for auditors).
// Without an object: a picker of the objects whose trail changed last (GET /audit/objects), filterable
// by type, so nobody types ids. Detail screens link here with ?object_type=&object_id= pre-filled.
import { $, formData, html, mount } from "../common/html.js";
import { emptyState, errorText } from "../common/ui.js";
import { fmtDateTime } from "../common/format.js";
import { OBJECT_TYPES, actionLabel, canonicalType, changeText, typeLabel } from "../common/audit_labels.js";
import { occupationLabel, occupationNames } from "../common/occupations.js";

const objectName = (x) => (x.label ? `${x.label}（#${x.object_id}）` : `#${x.object_id}`);

export default {
  title: "审计日志",
  async render({ root, api, query, navigate, isCurrent }) {
    const type = canonicalType(query.get("object_type") || "");
    const id = query.get("object_id") || "";
    mount(root, html`
      <h1>审计日志</h1>
      <form id="audit-form" class="card form-grid compact" novalidate>
        <label>对象类型<select name="object_type"><option value="">全部类型</option>
          ${Object.entries(OBJECT_TYPES).map(([k, v]) => html`<option value="${k}" ${k === type ? "selected" : ""}>${v}</option>`)}</select></label>
        <label>对象编号（可不填）<input name="object_id" value="${id}" inputmode="numeric" placeholder="不填则列出最近有记录的对象"></label>
        <div style="align-self:end"><button class="primary block" type="submit">查询</button></div>
      </form>
      <div id="audit-out"><p class="muted loading">加载中…</p></div>`);
    const form = $(root, "#audit-form");
    form.onsubmit = (e) => {
      e.preventDefault();
      const d = formData(e.target);
      navigate("audit", { object_type: d.object_type, object_id: d.object_id, t: Date.now() });
    };
    // Changing the type lists that type's recent objects straight away.
    form.elements.object_type.onchange = (e) => navigate("audit", { object_type: e.target.value, t: Date.now() });
    const out = $(root, "#audit-out");
    try {
      if (!id) {
        const { items } = await api.list("/audit/objects", { object_type: type || undefined, limit: 100 });
        if (!isCurrent()) return;
        mount(out, items.length ? html`<section class="card"><h2>最近有审计记录的${type ? typeLabel(type) : "对象"}</h2>
          <div class="table-wrap"><table class="audit-objects"><thead><tr><th>类型</th><th>对象</th><th>最近操作</th><th>时间</th><th>操作人</th><th>记录数</th><th></th></tr></thead>
          <tbody>${items.map((x) => html`<tr data-object="${x.object_type}:${x.object_id}"><td>${typeLabel(x.object_type)}</td>
            <td>${objectName(x)}</td><td>${actionLabel(x.last_action)}</td><td class="nowrap">${fmtDateTime(x.last_at)}</td>
            <td>${x.last_actor}</td><td>${x.entries}</td>
            <td><a class="small" href="#/audit?object_type=${x.object_type}&object_id=${x.object_id}">查看记录</a></td></tr>`)}</tbody></table></div></section>`
          : emptyState(type ? `辖区内没有${typeLabel(type)}的审计记录` : "辖区内还没有审计记录"));
        return;
      }
      if (!type) {
        mount(out, emptyState("请选择对象类型"));
        return;
      }
      const [{ items, total }, names] = await Promise.all([
        api.list("/audit", { object_type: type, object_id: id, per_page: 500 }), occupationNames(api)]);
      if (!isCurrent()) return;
      const occ = (c) => occupationLabel(names, c);
      mount(out, items.length ? html`<section class="card"><h2>${typeLabel(type)} #${id} 的记录（${total}）</h2>
        <div class="table-wrap"><table class="audit"><thead><tr><th>时间</th><th>操作人</th><th>操作</th><th>变更前</th><th>变更后</th></tr></thead>
        <tbody>${items.map((x) => html`<tr data-action="${x.action}"><td class="nowrap">${fmtDateTime(x.at)}</td><td>${x.actor}</td>
          <td>${actionLabel(x.action)}<br><code class="muted small">${x.action}</code></td>
          <td class="small">${changeText(x.object_type, x.before, x.action, occ)}</td>
          <td class="small">${changeText(x.object_type, x.after, x.action, occ)}</td></tr>`)}</tbody></table></div></section>`
        : emptyState("该对象没有审计记录"));
    } catch (err) {
      mount(out, html`<div class="notice notice-error" role="alert">${errorText(err)}</div>`);
    }
  },
};
