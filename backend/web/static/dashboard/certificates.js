// Certificates: look one up by its number and revoke it with a reason (audited; a revoked certificate is
// flagged on its subsidy claim and shows as invalid on the public verification page).
import { $, formData, html, mount, showFieldErrors } from "../common/html.js";
import { badge, busy, confirmAction, errorText, toast } from "../common/ui.js";
import { fieldErrors, fmtDate } from "../common/format.js";
import { occupationLabel, occupations } from "./catalogue.js";

export default {
  title: "证书管理",
  async render({ root, api, query, navigate }) {
    const number = query.get("number") || "";
    mount(root, html`
      <h1>证书管理</h1>
      <form id="cert-form" class="card form-grid compact" novalidate>
        <label>证书编号<input name="number" value="${number}" autocomplete="off"></label>
        <small class="field-error" data-for="number"></small>
        <div style="align-self:end"><button class="primary block" type="submit">查询</button></div>
      </form>
      <div id="cert-out"></div>`);
    const form = $(root, "#cert-form");
    form.onsubmit = (e) => {
      e.preventDefault();
      const d = formData(form);
      if (showFieldErrors(form, d.number ? {} : { number: "请输入证书编号" })) return;
      navigate("certificates", { number: d.number, t: Date.now() });
    };
    if (!number) return;
    const out = $(root, "#cert-out");
    let c;
    const names = await occupations(api);
    try {
      c = await api.get(`/certificates/${encodeURIComponent(number)}`);
    } catch (err) {
      showFieldErrors(form, { number: errorText(err) });
      return;
    }
    mount(out, html`<section class="card" data-certificate="${c.number}">
      <div class="card-head"><h2 class="mono">${c.number}</h2>${c.valid ? badge("有效", "ok") : badge("已撤销", "error")}</div>
      <dl class="kv small"><dt>持证人</dt><dd>${c.holder_name_masked}</dd><dt>职业（工种）</dt><dd>${occupationLabel(names, c.occupation_code)}</dd>
        <dt>培训机构</dt><dd>${c.institution}</dd><dt>发证日期</dt><dd>${fmtDate(c.issued_on)}</dd>
        ${c.revoked_on ? html`<dt>撤销日期</dt><dd>${fmtDate(c.revoked_on)}</dd>` : ""}</dl>
      <p class="small"><a class="audit-link" href="#/audit?object_type=certificate&object_id=${c.number}">审计记录</a></p>
      ${c.valid ? html`<form id="revoke-form" novalidate><label>撤销原因<input name="reason" maxlength="500"></label>
        <small class="field-error" data-for="reason"></small><button type="submit" class="danger">撤销证书</button></form>` : ""}
    </section>`);
    const rf = $(out, "#revoke-form");
    if (!rf) return;
    rf.onsubmit = (e) => {
      e.preventDefault();
      const reason = formData(rf).reason;
      if (showFieldErrors(rf, reason && reason.length >= 2 ? {} : { reason: "请填写撤销原因（至少 2 个字）" })) return;
      if (!confirmAction("撤销后证书在公开核验中显示为无效，并在补贴申请中标出。确定撤销？")) return;
      busy(rf.querySelector("button"), async () => {
        await api.post(`/certificates/${encodeURIComponent(number)}/revoke`, { reason });
        toast("证书已撤销", "ok");
        navigate("certificates", { number, t: Date.now() });
      }, (err) => { showFieldErrors(rf, fieldErrors(err)); toast(errorText(err), "error"); });
    };
  },
};
