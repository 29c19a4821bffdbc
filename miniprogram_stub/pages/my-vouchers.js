// The trainee's vouchers with status and expiry: show the QR of a claimed one, or return it.
import { html, mount } from "/static/common/html.js";
import { badge, confirmAction, emptyState, errorText } from "/static/common/ui.js";
import { VOUCHER_STATUS, fmtDate, fmtMoney, label } from "/static/common/format.js";

const KIND = { claimed: "info", used: "ok", written_off: "ok", returned: "", expired: "warn", voided: "error" };

export default {
  title: "我的培训券",
  auth: "bound",
  async onLoad({ root, app }) {
    const { items } = await app.api.list("/me/vouchers", { per_page: 100 });
    const card = (v) => html`
      <article class="card voucher ${v.status === "claimed" ? "" : "ineligible"}" data-code="${v.code}">
        <div class="card-head"><h3>${v.batch_name || v.batch?.name || "培训券"}</h3>${badge(label(VOUCHER_STATUS, v.status), KIND[v.status])}</div>
        <p class="mono">${v.code}</p>
        <p class="small muted">${v.face_value_fen != null ? `面值 ${fmtMoney(v.face_value_fen)} · ` : ""}有效期至 ${fmtDate(v.expires_at)}</p>
        <div class="result"></div>
        ${v.status === "claimed" ? html`<div class="row">
          <a class="button primary" href="#/voucher-qr?code=${encodeURIComponent(v.code)}">出示二维码</a>
          <span class="spacer"></span><button type="button" class="danger return">退回</button></div>` : ""}
      </article>`;
    mount(root, items.length ? items.map(card) : html`${emptyState("您还没有培训券")}<a class="button" href="#/vouchers">去领取</a>`);
    root.querySelectorAll("button.return").forEach((btn) => {
      btn.onclick = async () => {
        const article = btn.closest("article");
        if (!confirmAction("退回后该券作废，名额退回券池，您可以重新领取。确定退回？")) return;
        btn.disabled = true;
        try {
          await app.api.post(`/me/vouchers/${encodeURIComponent(article.dataset.code)}/return`, {});
          app.toast("已退回", "ok");
          app.navigate("my-vouchers", undefined, true);
        } catch (err) {
          mount(article.querySelector(".result"), html`<div class="notice notice-error">${errorText(err)}</div>`);
          btn.disabled = false;
        }
      };
    });
  },
};
