// The trainee's training certificates, each with its public verification number, its true status
// (a revoked certificate says so, with the reason) and a link to the printable page.
import { html, mount } from "/static/common/html.js";
import { badge, emptyState } from "/static/common/ui.js";
import { fmtDate } from "/static/common/format.js";

export default {
  title: "我的证书",
  auth: "bound",
  async onLoad({ root, app }) {
    const { items } = await app.api.list("/me/certificates", { per_page: 100 });
    mount(root, items.length ? items.map((c) => {
      const revoked = c.valid === false;
      return html`
      <article class="card certificate ${revoked ? "revoked" : ""}" data-number="${c.number}">
        <div class="card-head"><h3>培训合格证书</h3>${revoked ? badge("已撤销", "error") : badge("有效", "ok")}</div>
        ${revoked ? html`<div class="notice notice-error revoked-note" role="status">此证书已于 ${fmtDate(c.revoked_on)} 被人社部门撤销，不再有效。${c.revoked_reason ? html`<br>撤销原因：${c.revoked_reason}` : ""}</div>` : ""}
        <dl class="kv">
          <dt>证书编号</dt><dd class="mono">${c.number}</dd>
          <dt>职业（工种）</dt><dd>${c.occupation_name || c.occupation_code}</dd>
          <dt>培训机构</dt><dd>${c.institution}</dd>
          <dt>发证日期</dt><dd>${fmtDate(c.issued_on)}</dd>
        </dl>
        <p class="small muted">任何人可凭证书编号在平台查验真伪。${c.verify_url ? html` <a class="verify-link" href="${c.verify_url}" target="_blank" rel="noopener">查验页面</a>` : ""}</p>
        ${c.print_url ? html`<a class="button print-link" href="${c.print_url}" target="_blank" rel="noopener">${revoked ? "查看证书（已撤销）" : "打印证书"}</a>` : ""}
      </article>`;
    }) : emptyState("暂无证书：完成培训并考核合格后发放"));
  },
};
