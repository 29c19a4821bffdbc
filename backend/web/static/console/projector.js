// The classroom projector page: the lesson's rotating site QR, full screen, refreshed before it
// expires. Trainees scan it during check-in, which proves presence in the room itself.
import { $, html, mount } from "../common/html.js";
import { errorText } from "../common/ui.js";
import { fmtTime } from "../common/format.js";

export default {
  title: "现场签到码",
  async render({ root, api, params, onLeave, isCurrent }) {
    const id = Number(params[0]);
    const path = `/lessons/${id}/site-qr`;
    let lesson = null;
    try { lesson = await api.get(`/lessons/${id}`); } catch { /* the QR still works without the title */ }
    mount(root, html`
      <section class="projector">
        <h1>${lesson ? lesson.title : `课次 ${id}`}</h1>
        <p class="muted">${lesson ? `${fmtTime(lesson.starts_at)}–${fmtTime(lesson.ends_at)}` : ""} · 请用“培训券”小程序签到时扫描此码</p>
        <img id="qr" alt="现场签到二维码" width="600" height="600">
        <p class="countdown" id="countdown">正在生成…</p>
        <div id="msg"></div>
        <div class="controls"><button type="button" id="fs">全屏显示</button><a class="button" href="#/attendance/${id}">返回考勤</a></div>
      </section>`);
    const img = $(root, "#qr");
    let objectUrl = null;
    let nextAt = 0; // local time of the next rotation
    let timer = null;
    async function refresh() {
      clearTimeout(timer);
      try {
        const r = await api.request("GET", path, { raw: true });
        const info = await r.json();
        const serverNow = Date.parse(r.headers.get("Date") || "") || Date.now();
        const remaining = Math.max(Date.parse(info.expires_at) - serverNow, 1000);
        const url = await api.imageUrl(path, { format: "svg" });
        if (!isCurrent()) { URL.revokeObjectURL(url); return; }
        if (objectUrl) URL.revokeObjectURL(objectUrl);
        objectUrl = url;
        img.src = url;
        $(root, "#msg").innerHTML = "";
        const wait = Math.max(1000, Math.min((info.refresh_after_s ?? 30) * 1000, remaining - 3000));
        nextAt = Date.now() + wait;
        timer = setTimeout(refresh, wait);
      } catch (err) {
        const final = err.status >= 400 && err.status < 500 && err.status !== 429;
        mount($(root, "#msg"), html`<div class="notice notice-error">${errorText(err)}</div>`);
        if (!final) timer = setTimeout(refresh, 5000);
      }
    }
    const tick = setInterval(() => {
      if (!nextAt) return;
      const left = Math.max(0, Math.ceil((nextAt - Date.now()) / 1000));
      $(root, "#countdown").textContent = `二维码定时自动更换，截图无效 · ${left} 秒后更换`;
    }, 500);
    $(root, "#fs").onclick = () => document.documentElement.requestFullscreen?.().catch(() => {});
    onLeave(() => { clearTimeout(timer); clearInterval(tick); if (objectUrl) URL.revokeObjectURL(objectUrl); });
    await refresh();
  },
};
