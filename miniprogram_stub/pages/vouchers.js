// Voucher batches open for claiming, each with whether the trainee is eligible and, if not, why.
import { html, mount } from "/static/common/html.js";
import { emptyState, errorText } from "/static/common/ui.js";
import { INELIGIBLE, fmtDate, fmtMoney, label } from "/static/common/format.js";
import { occupationLabel, occupationNames } from "/static/common/occupations.js";

function fileToBase64(file) {
  return new Promise((resolve, reject) => {
    const r = new FileReader();
    r.onload = () => resolve(String(r.result).split(",")[1]);
    r.onerror = () => reject(new Error("读取照片失败"));
    r.readAsDataURL(file);
  });
}

export default {
  title: "领取培训券",
  auth: "bound",
  async onLoad({ root, app }) {
    const [{ items }, names] = await Promise.all([app.api.list("/voucher-batches", { per_page: 50 }), occupationNames(app.api)]);
    const occupations = (b) => (b.occupation_codes || []).map((c) => occupationLabel(names, c)).join("、") || "不限";
    const card = (b) => {
      if (b.claimed_code) {
        return html`<article class="card voucher" data-batch="${b.id}">
          <div class="card-head"><h3>${b.name}</h3><span class="value">${fmtMoney(b.face_value_fen)}</span></div>
          <p class="small muted">适用职业（工种）：${occupations(b)}</p>
          <p>您已领取本批次培训券 <span class="mono">${b.claimed_code}</span></p>
          <a class="button primary" href="#/voucher-qr?code=${encodeURIComponent(b.claimed_code)}">出示二维码</a>
        </article>`;
      }
      const eligible = b.eligible !== false;
      const reasons = b.ineligible_reasons || [];
      return html`
        <article class="card voucher ${eligible ? "" : "ineligible"}" data-batch="${b.id}">
          <div class="card-head"><h3>${b.name}</h3><span class="value">${fmtMoney(b.face_value_fen)}</span></div>
          <p class="small muted">适用职业（工种）：${occupations(b)}</p>
          <p class="small muted">领取时间：${fmtDate(b.claim_starts_at)} 至 ${fmtDate(b.claim_ends_at)} · 剩余 ${b.remaining ?? "—"} / ${b.quantity ?? "—"} 张</p>
          ${eligible ? "" : html`<p class="small"><b>暂不能领取：</b></p><ul class="reasons">${reasons.map((r) => html`<li>${label(INELIGIBLE, r)}${r === "face_not_enrolled" ? html` <a href="#/face">去采集</a>` : ""}</li>`)}</ul>`}
          ${b.claim_requires_face && eligible ? html`<label class="small">领取需人脸核验，请拍摄本人正脸照片
            <input type="file" accept="image/*" capture="user" class="face-input"></label>` : ""}
          <div class="result" role="status"></div>
          ${eligible ? html`<button type="button" class="primary block claim" ${b.remaining === 0 ? "disabled" : ""}>${b.remaining === 0 ? "已领完" : "立即领取"}</button>` : ""}
        </article>`;
    };
    mount(root, items.length ? items.map(card) : emptyState("目前没有可领取的培训券批次"));
    root.querySelectorAll("button.claim").forEach((btn) => {
      btn.onclick = async () => {
        const article = btn.closest("article");
        const out = article.querySelector(".result");
        const body = {};
        const faceInput = article.querySelector(".face-input");
        if (faceInput) {
          if (!faceInput.files.length) { mount(out, html`<div class="notice notice-warn">请先拍摄本人正脸照片</div>`); return; }
          body.face_image_base64 = await fileToBase64(faceInput.files[0]);
        }
        btn.disabled = true;
        try {
          const v = await app.api.post(`/voucher-batches/${article.dataset.batch}/claims`, body, { idempotent: true });
          app.toast("领取成功", "ok");
          mount(out, html`<div class="notice notice-ok">领取成功，券码 <span class="mono">${v.code}</span>，有效期至 ${fmtDate(v.expires_at)}。
            <a href="#/my-vouchers">查看我的培训券</a></div>`);
          btn.hidden = true;
        } catch (err) {
          const reasons = err.details?.reasons;
          mount(out, html`<div class="notice notice-error">${errorText(err)}${reasons?.length ? html`：${reasons.map((r) => label(INELIGIBLE, r)).join("；")}` : ""}</div>`);
          btn.disabled = false;
        }
      };
    });
  },
};
