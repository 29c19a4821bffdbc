// The trainee's training certificates, each with its public verification number.
import { html, mount } from "/static/common/html.js";
import { emptyState } from "/static/common/ui.js";
import { fmtDate } from "/static/common/format.js";

export default {
  title: "我的证书",
  auth: "bound",
  async onLoad({ root, app }) {
    const { items } = await app.api.list("/me/certificates", { per_page: 100 });
    mount(root, items.length ? items.map((c) => html`
      <article class="card">
        <h3>培训合格证书</h3>
        <dl class="kv">
          <dt>证书编号</dt><dd class="mono">${c.number}</dd>
          <dt>职业（工种）</dt><dd>${c.occupation_name || c.occupation_code}</dd>
          <dt>培训机构</dt><dd>${c.institution}</dd>
          <dt>发证日期</dt><dd>${fmtDate(c.issued_on)}</dd>
        </dl>
        <p class="small muted">任何人可凭证书编号在平台查验真伪。${c.verify_url ? html` <a href="${c.verify_url}" target="_blank" rel="noopener">查验页面</a>` : ""}</p>
      </article>`) : emptyState("暂无证书：完成培训并考核合格后发放"));
  },
};
