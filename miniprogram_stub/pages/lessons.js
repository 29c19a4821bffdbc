// Today's lessons with the trainee's own state, and check-in / check-out by the phone's position.
// Every refusal is explained in plain words: permission, timeout, distance to the fence, accuracy,
// time window. An optional site QR (shown on the classroom projector) can be scanned or typed.
// The buttons follow the lesson's windows as the server states them, read against the server's clock
// (X-Server-Time), never the phone's: a button outside its window says when it opens or that it closed.
import { $, html, mount } from "/static/common/html.js";
import { serverNow, uuid } from "/static/common/api.js";
import { canScan, scanQr } from "/static/common/scan.js";
import { badge, confirmAction, emptyState, errorText } from "/static/common/ui.js";
import { FLAGS, fmtMetres, fmtTime, label, shanghaiDay } from "/static/common/format.js";
import { getPosition } from "../lib/geo.js";

const WORD = { check_in: "签到", check_out: "签退" };
// What the page says while it waits to send a check-in again, by the status that made it wait.
const WAIT_REASON = { 0: "网络不稳定", 429: "提交过于频繁", 503: "服务器繁忙" };

/** "约 2 分钟后" / "约 30 秒后" for a Retry-After in seconds; "稍等片刻后" without one. */
export function waitWords(seconds) {
  if (!Number.isFinite(seconds) || seconds <= 0) return "稍等片刻后";
  return seconds >= 90 ? `约 ${Math.round(seconds / 60)} 分钟后` : `约 ${seconds} 秒后`;
}
const DEVICE_KEY = "m.device";

/** A random id of this phone's browser, kept across logins: one phone checking in several people is flagged. */
function deviceSession() {
  let id = localStorage.getItem(DEVICE_KEY);
  if (!id) { id = uuid(); localStorage.setItem(DEVICE_KEY, id); }
  return id;
}

/** Normalise a lesson of GET /me/lessons into the fields this page uses. */
function view(l) {
  const site = l.site && typeof l.site === "object" ? l.site : { name: l.site_name || l.site || "" };
  const att = l.attendance || l.own || {};
  return {
    id: l.id ?? l.lesson_id,
    title: l.title || l.plan_title || "课程",
    plan: l.plan_title || l.plan?.title || "",
    starts_at: l.starts_at,
    ends_at: l.ends_at,
    mode: l.mode || "offline",
    class_hours: l.class_hours,
    site,
    checkIn: l.check_in_at ?? l.checked_in_at ?? att.check_in_at ?? null,
    checkOut: l.check_out_at ?? l.checked_out_at ?? att.check_out_at ?? null,
    credited: l.credited_hours ?? att.credited_hours ?? null,
    needsQr: Boolean(site.require_site_qr ?? l.require_site_qr),
    windows: { check_in: l.check_in_window || null, check_out: l.check_out_window || null },
    creditOutFrom: l.check_out_credit_from || null,
  };
}

/** Where `now` lies against a window {opens_at, closes_at}: "before", "open" or "after" (no window: "open"). */
export function windowPhase(win, now) {
  if (!win) return "open";
  const t = now.getTime();
  if (t < Date.parse(win.opens_at)) return "before";
  if (t > Date.parse(win.closes_at)) return "after";
  return "open";
}

/** The button's words for a kind in a phase: "签到", "签到 15:30 开放", "签到已截止". */
export function buttonText(kind, win, phase) {
  if (phase === "before") return `${WORD[kind]} ${fmtTime(win.opens_at)} 开放`;
  if (phase === "after") return `${WORD[kind]}已截止`;
  return WORD[kind];
}

/** The plain-words explanation of a refused check-in/out. */
export function explain(err, kind, fix) {
  const d = err.details || {};
  const w = WORD[kind];
  switch (err.code) {
    case "out_of_fence":
      return `您现在距离培训地点约 ${fmtMetres(d.distance_m)}，要在 ${fmtMetres(d.radius_m)}以内才能${w}，所以这次没有${w}成功。请到培训地点后再点一次。`;
    case "low_accuracy":
      return `手机定位的误差约 ±${fmtMetres(d.accuracy_m ?? fix?.accuracy_m)}，超过了允许的 ${fmtMetres(d.max_accuracy_m ?? 100)}，无法确认您在现场。请打开 GPS，走到窗边或室外，等几秒后再试。`;
    case "outside_time_window":
      return `现在不在${w}时间内。这节课可以${w}的时间是 ${fmtTime(d.opens_at)} 至 ${fmtTime(d.closes_at)}。`;
    case "site_token_invalid":
      return "现场二维码无效或已过期。请扫描教室屏幕上正在显示的二维码后再试。";
    case "not_enrolled":
      return "您不在这门课的参训名单中，无法签到。如有疑问请联系培训机构。";
    case "already_checked_in":
      return "您已经签到过了，不用重复签到。";
    case "already_checked_out":
      return "您已经签退过了。";
    case "not_checked_in":
      return "您还没有签到，不能签退。如果忘了签到，请当天联系培训机构申请补卡。";
    case "not_offline_lesson":
      return "这是线上课程，不需要到现场签到。";
    case "network":
      return `网络不通，${w}可能没有提交成功。请检查网络后再点一次；如果已经${w}成功，会提示您已${w}，不会重复记录。`;
    case "service_busy":
      return `服务器繁忙，${w}没有提交成功。请${waitWords(err.retryAfter)}再点一次${w}。`;
    default:
      return errorText(err);
  }
}

export default {
  title: "今日课程签到",
  auth: "bound",
  async onLoad({ root, app, query, onUnload }) {
    // Leaving the page ends a check-in's waits between tries (nobody would see their outcome).
    const leaving = new AbortController();
    onUnload(() => leaving.abort());
    const { items } = await app.api.list("/me/lessons", query.get("date") ? { date: query.get("date") } : undefined);
    const today = shanghaiDay(serverNow()); // after the first response: the server's day, not the phone's
    const day = query.get("date") || today;
    const shift = (n) => {
      const d = new Date(`${day}T12:00:00+08:00`);
      d.setUTCDate(d.getUTCDate() + n);
      return shanghaiDay(d);
    };
    const lessons = items.map(view);
    const byId = new Map(lessons.map((l) => [String(l.id), l]));
    const stateOf = (l) => (l.checkOut ? "done" : l.checkIn ? "in" : "none");
    const stateBadge = (l) => (l.checkOut ? badge(`已签退 ${fmtTime(l.checkOut)}`, "ok")
      : l.checkIn ? badge(`已签到 ${fmtTime(l.checkIn)}`, "info") : badge("未签到"));
    const card = (l) => html`
      <article class="card lesson state-${stateOf(l)}" data-lesson="${l.id}" data-in="${l.checkIn ? "1" : ""}" data-out="${l.checkOut ? "1" : ""}">
        <div class="card-head"><h3>${l.title}</h3>${stateBadge(l)}</div>
        ${l.plan ? html`<p class="small muted">${l.plan}</p>` : ""}
        <p>${fmtTime(l.starts_at)} – ${fmtTime(l.ends_at)}${l.class_hours ? ` · ${Number(l.class_hours)} 课时` : ""}</p>
        ${l.mode !== "online" && l.windows.check_in && l.windows.check_out ? html`<p class="small muted windows">可签到 ${fmtTime(l.windows.check_in.opens_at)}–${fmtTime(l.windows.check_in.closes_at)} · 可签退 ${fmtTime(l.windows.check_out.opens_at)}–${fmtTime(l.windows.check_out.closes_at)}</p>` : ""}
        <p class="small muted">${l.mode === "online" ? "线上课程" : html`地点：${l.site.name || "—"}${l.site.address ? `（${l.site.address}）` : ""}`}</p>
        ${l.mode === "online" ? "" : html`
          <details class="site-qr" ${l.needsQr ? "open" : ""}>
            <summary class="small">${l.needsQr ? "本课需扫描现场二维码" : "使用现场二维码（可选）"}</summary>
            <div class="row">
              <input class="site-token" name="site_token" placeholder="现场二维码内容（扫码或手动输入）" aria-label="现场二维码内容" autocomplete="off">
              ${canScan() ? html`<button type="button" class="scan small">扫码</button>` : ""}
            </div>
          </details>
          <div class="actions">
            <button type="button" class="primary attend" data-kind="check_in" ${l.checkIn ? "disabled" : ""}>签到</button>
            <button type="button" class="attend" data-kind="check_out" ${!l.checkIn || l.checkOut ? "disabled" : ""}>签退</button>
          </div>`}
        <p class="fix" hidden></p>
        <div class="result" aria-live="polite"></div>
      </article>`;
    mount(root, html`
      <div class="row" style="margin-bottom:8px">
        <a class="button small" href="#/lessons?date=${shift(-1)}">‹ 前一天</a>
        <b class="spacer" style="text-align:center">${day === today ? `今天 ${day}` : day}</b>
        <a class="button small" href="#/lessons?date=${shift(1)}">后一天 ›</a>
      </div>
      <p class="muted small">签到时会读取您手机的位置，只用于确认您在培训地点。</p>
      ${lessons.length ? lessons.map(card) : emptyState("这一天没有您的课程")}`);

    root.querySelectorAll("button.scan").forEach((btn) => {
      btn.onclick = async () => {
        const article = btn.closest("article");
        const input = article.querySelector(".site-token");
        const out = $(article, ".result");
        try {
          const value = await scanQr({ title: "扫描教室屏幕上的二维码" });
          if (value) {
            input.value = value.trim();
            mount(out, html`<div class="notice notice-ok">已读取现场二维码，请点“签到”或“签退”。</div>`);
          }
        } catch (err) {
          // No camera, refused, or busy: the typed code works the same.
          mount(out, html`<div class="notice notice-error scan-error">${err.message}
            ${byId.get(article.dataset.lesson)?.needsQr ? "本课要求现场二维码：也可以把二维码内容粘贴到输入框，或请培训机构工作人员协助。" : "本课不要求现场二维码，不扫码也可以直接签到。"}</div>`);
          input.focus();
        }
      };
    });

    // Which buttons make sense now: inside the kind's window (server clock), check-in until done,
    // check-out only after check-in.
    const enable = (article) => {
      const l = byId.get(article.dataset.lesson);
      const now = serverNow();
      for (const kind of ["check_in", "check_out"]) {
        const btn = article.querySelector(`[data-kind="${kind}"]`);
        if (!btn || btn.dataset.busy) continue;
        const win = l?.windows[kind];
        const phase = windowPhase(win, now);
        const done = kind === "check_in" ? article.dataset.in === "1" : article.dataset.out === "1";
        const blocked = done || (kind === "check_out" && article.dataset.in !== "1");
        btn.dataset.phase = phase;
        btn.textContent = done ? WORD[kind] : buttonText(kind, win, phase);
        btn.disabled = blocked || phase !== "open";
      }
    };
    const refreshAll = () => root.querySelectorAll("article.lesson").forEach((a) => {
      if (a.querySelector("button.attend") && !a.dataset.submitting) enable(a);
    });
    refreshAll();
    const ticker = setInterval(refreshAll, 5000); // a window opening while the page is open lights the button
    onUnload(() => clearInterval(ticker));

    root.querySelectorAll("button.attend").forEach((btn) => {
      btn.onclick = async () => {
        const article = btn.closest("article");
        const kind = btn.dataset.kind;
        const out = $(article, ".result");
        const fixLine = $(article, ".fix");
        const l = byId.get(article.dataset.lesson);
        // Leaving before the credit line gives 0 hours for the lesson: ask first.
        if (kind === "check_out" && l?.creditOutFrom && serverNow() < new Date(l.creditOutFrom)) {
          const ok = confirmAction(`现在签退属于早退：这节课将不计课时（计 0 课时）。\n课程 ${fmtTime(l.ends_at)} 结束，${fmtTime(l.creditOutFrom)} 以后签退才能计入课时。\n确定现在签退吗？`);
          if (!ok) {
            mount(out, html`<div class="notice notice-info">已取消签退。请在 ${fmtTime(l.creditOutFrom)} 以后签退，以免本节课不计课时。</div>`);
            return;
          }
        }
        article.dataset.submitting = "1";
        article.querySelectorAll("button.attend").forEach((b) => { b.disabled = true; });
        mount(out, html`<div class="notice notice-info">正在获取您的位置…</div>`);
        let fix;
        try {
          fix = await getPosition();
        } catch (err) {
          mount(out, html`<div class="notice notice-error">${err.message}</div>`);
          delete article.dataset.submitting;
          enable(article);
          return;
        }
        fixLine.hidden = false;
        fixLine.textContent = `定位精度 ±${fmtMetres(fix.accuracy_m)}（${fix.accuracy_m <= 50 ? "良好" : fix.accuracy_m <= 100 ? "一般" : "较差"}）`;
        mount(out, html`<div class="notice notice-info">正在提交${WORD[kind]}…</div>`);
        const token = $(article, ".site-token")?.value.trim();
        try {
          // The automatic tries of one tap carry one event id: a try that arrived but whose answer was lost is
          // answered again with its outcome. A new tap is a new event (with the new position): repeating an id
          // would replay an earlier refusal; a check-in that did arrive is answered "already checked in".
          const r = await app.api.post("/attendance", {
            event_id: uuid(), lesson_id: Number(article.dataset.lesson), kind,
            lat: fix.lat, lon: fix.lon, accuracy_m: fix.accuracy_m, coord_sys: fix.coord_sys,
            client_time: new Date().toISOString(), ...(token ? { site_token: token } : {}),
          }, {
            headers: { "X-Device-Session": deviceSession() },
            signal: leaving.signal,
            // A 9:00 rush: the server says "busy, retry after N s"; the same event is sent again on its own.
            retry: {
              attempts: 4, network: true,
              onWait: (err, ms, n) => mount(out, html`<div class="notice notice-info">${WAIT_REASON[err.status] || "服务器暂时无法连接"}，${Math.ceil(ms / 1000)} 秒后自动重新提交${WORD[kind]}（第 ${n} 次重试）…</div>`),
              onResend: (n) => mount(out, html`<div class="notice notice-info">正在重新提交${WORD[kind]}（第 ${n} 次重试）…</div>`),
            },
          });
          const flags = (r.flags || []).map((f) => label(FLAGS, f));
          mount(out, html`<div class="notice notice-ok"><b>${WORD[kind]}成功</b>，距培训地点约 ${fmtMetres(r.distance_m)}。
            ${flags.length ? html`<br><span class="small">提示：${flags.join("、")}</span>` : ""}</div>`);
          const head = article.querySelector(".card-head .badge");
          const nowIso = serverNow().toISOString();
          if (head) mount(head, kind === "check_in" ? `已签到 ${fmtTime(nowIso)}` : `已签退 ${fmtTime(nowIso)}`);
          article.classList.remove("state-none", "state-in");
          article.classList.add(kind === "check_in" ? "state-in" : "state-done");
          article.dataset[kind === "check_in" ? "in" : "out"] = "1";
          delete article.dataset.submitting;
          enable(article);
        } catch (err) {
          mount(out, html`<div class="notice notice-error">${explain(err, kind, fix)}</div>`);
          if (err.code === "already_checked_in") article.dataset.in = "1";
          if (err.code === "already_checked_out") article.dataset.out = "1";
          delete article.dataset.submitting;
          enable(article);
        }
      };
    });
  },
};
