// The voucher's dynamic QR code: a short-lived signed token, fetched again before it expires, with
// a visible countdown. A screenshot's QR stops working within a minute; the code printed under it is
// what a desk may type to look the voucher up (and to enrol only where the bureau allowed it), and the
// page says exactly that.
import { $, html, mount } from "/static/common/html.js";
import { errorText } from "/static/common/ui.js";

export default {
  title: "培训券二维码",
  auth: "bound",
  async onLoad({ root, app, query, onUnload, alive }) {
    const code = query.get("code");
    if (!code) { app.navigate("my-vouchers", undefined, true); return; }
    // Whether this voucher's batch lets a desk enrol with the typed code (else the code only looks it up).
    const { items: mine } = await app.api.list("/me/vouchers", { per_page: 100 }).catch(() => ({ items: [] }));
    const codeEnrols = Boolean(mine.find((v) => v.code === code)?.code_enrollment_allowed);
    mount(root, html`
      <section class="card qr-box">
        <h2>出示给培训机构扫码</h2>
        <img id="qr" alt="培训券二维码" width="320" height="320">
        <p class="mono">${code}</p>
        <p class="countdown" id="countdown" aria-live="polite">正在生成…</p>
        <progress id="bar" max="1" value="1"></progress>
        <div class="small muted" id="qr-rules">
          <p>二维码每 30 秒左右自动刷新，每个二维码约 1 分钟内有效：截图或转发的二维码很快就会失效，请在机构现场打开本页出示。</p>
          ${codeEnrols
            ? html`<p id="code-rule">二维码下方的券码：本批次经人社部门许可，机构工作人员输入券码即可查询并办理报名。券码与二维码同样有效，请勿告诉他人。</p>`
            : html`<p id="code-rule">二维码下方的券码：机构工作人员输入券码可以查询这张券是否有效，但不能凭券码报名；报名须您本人在场出示本页的动态二维码。</p>`}
        </div>
        <div id="msg"></div>
        <button type="button" id="refresh">立即刷新</button>
      </section>`);
    const img = $(root, "#qr");
    const cd = $(root, "#countdown");
    const bar = $(root, "#bar");
    let expiresAt = 0; // local epoch ms at which the current token expires
    let ttl = 60000;
    let refreshTimer = null;
    let objectUrl = null;
    const path = `/me/vouchers/${encodeURIComponent(code)}/qr`;

    async function refresh() {
      clearTimeout(refreshTimer);
      try {
        const r = await app.api.request("GET", path, { raw: true });
        const info = await r.json();
        // The server's clock is the reference: convert its expiry into local time via Date.
        const serverNow = Date.parse(r.headers.get("X-Server-Time") || r.headers.get("Date") || "") || Date.now();
        const remaining = Math.max(Date.parse(info.expires_at) - serverNow, 1000);
        const url = await app.api.imageUrl(path, { format: "svg" });
        if (!alive()) { URL.revokeObjectURL(url); return; }
        if (objectUrl) URL.revokeObjectURL(objectUrl);
        objectUrl = url;
        img.src = url;
        expiresAt = Date.now() + remaining;
        ttl = remaining;
        $(root, "#msg").innerHTML = "";
        const after = Math.min((info.refresh_after_s ?? 30) * 1000, remaining - 5000);
        refreshTimer = setTimeout(refresh, Math.max(after, 1000));
      } catch (err) {
        // A voucher that is no longer claimed (used, returned, expired) will not come back: stop.
        const final = err.status >= 400 && err.status < 500 && err.status !== 429;
        mount($(root, "#msg"), html`<div class="notice notice-error">${errorText(err)}${final ? html` <a href="#/my-vouchers">返回我的培训券</a>` : "，稍后自动重试"}</div>`);
        if (final) { img.hidden = true; expiresAt = 0; cd.textContent = "二维码不可用"; } else refreshTimer = setTimeout(refresh, 5000);
      }
    }

    function tick() {
      if (!expiresAt) return;
      const left = Math.max(0, Math.ceil((expiresAt - Date.now()) / 1000));
      cd.textContent = left > 0 ? `${left} 秒后失效` : "已失效，正在刷新…";
      cd.classList.toggle("soon", left <= 10);
      bar.value = Math.max(0, (expiresAt - Date.now()) / ttl);
    }

    const clock = setInterval(tick, 250);
    const onVisible = () => { if (document.visibilityState === "visible") refresh(); };
    document.addEventListener("visibilitychange", onVisible);
    $(root, "#refresh").onclick = refresh;
    onUnload(() => {
      clearInterval(clock);
      clearTimeout(refreshTimer);
      document.removeEventListener("visibilitychange", onVisible);
      if (objectUrl) URL.revokeObjectURL(objectUrl);
    });
    await refresh();
  },
};
