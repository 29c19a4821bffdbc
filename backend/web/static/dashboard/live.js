// Live attendance in the supervisor's region: lessons in session with expected / checked in /
// checked out / flagged counts, and a feed of every attendance event and of every trust flag raised
// after its event (`event: flag`, e.g. the server's face re-check), both updated from the event
// stream (read with fetch so the token stays in a header, not in the URL).
import { $, html, mount } from "../common/html.js";
import { badge, emptyState } from "../common/ui.js";
import {
  FLAGS, INFORMATIONAL_FLAGS, KIND, REJECT_REASON, SOURCE, fmtMetres, fmtSeconds, fmtTime, label,
} from "../common/format.js";
import { flagBadges } from "../common/trust.js";

const STATE = { open: ["on", "实时连接中"], retrying: ["retry", "连接中断，正在重连…"], closed: ["", "已断开"] };
const FEED_MAX = 200;

// gps_only is the normal case where a region does not require the site QR: shown, never counted.
const countsAsFlagged = (codes) => (codes || []).some((c) => !INFORMATIONAL_FLAGS.has(c));

/** Numbers a flag frame's `info` may carry (re-check distances), in words. */
function flagDetail(detail) {
  if (!detail || typeof detail !== "object") return "";
  const fmt = (v) => (typeof v === "number" ? v.toFixed(2) : v);
  if (detail.server_distance == null) return "";
  return `服务器距离 ${fmt(detail.server_distance)}${detail.kiosk_distance != null ? `，考勤机报告 ${fmt(detail.kiosk_distance)}` : ""}`;
}

export default {
  title: "实时考勤",
  async render({ root, api, onLeave, isCurrent }) {
    mount(root, html`
      <div class="card-head">
        <h1>实时考勤</h1>
        <span class="row small"><i class="dot" id="conn-dot"></i><span id="conn-text">正在连接…</span>
          <span class="muted">· 更新于 <span id="updated">—</span></span></span>
      </div>
      <div class="live-grid">
        <section>
          <h2 class="small muted">正在进行的线下课次</h2>
          <div class="grid" id="lessons"></div>
        </section>
        <section class="card">
          <div class="card-head"><h2>考勤动态</h2><span class="row small"><span class="badge" id="feed-count" title="动态条数">0</span>
            <span class="badge badge-warn" id="feed-flagged" title="带异常标记的条数（仅凭定位签到不计）">异常 0</span></span></div>
          <ul class="feed" id="feed" aria-live="polite"><li class="muted" id="feed-empty">等待新的签到、签退…</li></ul>
        </section>
      </div>`);
    const lessonsEl = $(root, "#lessons");
    const feed = $(root, "#feed");
    const titles = new Map();
    let count = 0;
    let flagged = 0;

    const tile = (l) => html`
      <a class="card lesson-tile" href="#/lesson/${l.lesson_id}" data-lesson="${l.lesson_id}">
        <div class="card-head"><h3>${l.title || `课次 ${l.lesson_id}`}</h3><span class="small muted">${fmtTime(l.starts_at)}–${fmtTime(l.ends_at)}</span></div>
        <p class="small muted">${l.site || ""}</p>
        <div class="counts">
          <div><b data-k="expected">${l.expected}</b><span>应到</span></div>
          <div><b data-k="checked_in">${l.checked_in}</b><span>已签到</span></div>
          <div><b data-k="checked_out">${l.checked_out}</b><span>已签退</span></div>
          <div class="flag"><b data-k="flagged">${l.flagged}</b><span>异常</span></div>
        </div>
        ${l.rejected ? html`<p class="small" style="margin-top:6px">${badge(`被拒 ${l.rejected} 次`, "warn")}</p>` : ""}
      </a>`;

    async function loadLessons() {
      const items = await api.get("/live/lessons");
      if (!isCurrent()) return;
      items.forEach((l) => titles.set(l.lesson_id, l.title));
      mount(lessonsEl, items.length ? items.map(tile) : emptyState("当前没有正在进行的线下课次"));
      $(root, "#updated").textContent = fmtSeconds(new Date());
    }

    let timer = null;
    const refreshSoon = () => { clearTimeout(timer); timer = setTimeout(() => loadLessons().catch(() => {}), 400); };

    function bump(ev) {
      const el = lessonsEl.querySelector(`[data-lesson="${ev.lesson_id}"] [data-k="${ev.kind === "check_in" ? "checked_in" : "checked_out"}"]`);
      if (!el || !ev.accepted) return;
      el.textContent = String(Number(el.textContent) + 1);
      el.parentElement.classList.remove("bump");
      void el.parentElement.offsetWidth; // restart the highlight animation
      el.parentElement.classList.add("bump");
    }

    function prepend(li, ev, isFlagged) {
      $(root, "#feed-empty")?.remove();
      li.dataset.lesson = ev.lesson_id;
      feed.prepend(li);
      while (feed.children.length > FEED_MAX) feed.lastElementChild.remove();
      $(root, "#feed-count").textContent = String(++count);
      if (isFlagged) $(root, "#feed-flagged").textContent = `异常 ${++flagged}`;
    }

    const lessonLink = (ev) => html`<a href="#/lesson/${ev.lesson_id}">${titles.get(ev.lesson_id) || `课次 ${ev.lesson_id}`}</a>`;

    function addToFeed(ev) {
      const li = document.createElement("li");
      const isFlagged = countsAsFlagged(ev.flags);
      li.className = `new${isFlagged ? " flagged" : ""}`;
      mount(li, html`
        <span class="small muted nowrap">${fmtSeconds(ev.at || new Date())}</span>
        <b>${ev.name_masked || `学员 ${ev.person_id}`}</b>
        <span>${label(KIND, ev.kind)}</span>
        ${ev.accepted ? badge("成功", "ok") : badge(`被拒：${label(REJECT_REASON, ev.reason)}`, "error")}
        ${ev.distance_m != null ? html`<span class="small">距 ${fmtMetres(ev.distance_m)}</span>` : ""}
        <span class="small muted">${label(SOURCE, ev.source)} · ${lessonLink(ev)}</span>
        ${(ev.flags || []).length ? flagBadges(ev.flags) : ""}`);
      prepend(li, ev, isFlagged);
    }

    /** `event: flag`: a flag raised after the event arrived, e.g. "⚠ 李* 服务器复核人脸不一致". */
    function addFlagToFeed(ev) {
      const li = document.createElement("li");
      const blocking = ev.blocking ?? countsAsFlagged([ev.code]);
      li.className = `new flag-line${blocking ? " flagged" : ""}`;
      li.dataset.code = ev.code;
      const detail = flagDetail(ev.info);
      mount(li, html`
        <span class="small muted nowrap">${fmtSeconds(ev.at || new Date())}</span>
        <b class="${blocking ? "warn-text" : ""}">${blocking ? "⚠" : "ℹ"} ${ev.name_masked || `学员 ${ev.person_id}`} ${label(FLAGS, ev.code)}</b>
        ${detail ? html`<span class="small">${detail}</span>` : ""}
        ${ev.code === "face_recheck_failed" ? badge("学时暂扣", "error") : ""}
        <span class="small muted">${lessonLink(ev)}</span>`);
      prepend(li, ev, blocking);
    }

    await loadLessons();
    const stream = api.stream("/live/stream", {
      onEvent: (msg) => {
        if (!msg.json) return;
        switch (msg.event) {
          case "attendance":
            addToFeed(msg.json);
            bump(msg.json);
            refreshSoon();
            break;
          case "flag":
            addFlagToFeed(msg.json);
            refreshSoon();
            break;
          default: // a frame kind this page does not know yet: ignore rather than misread
        }
      },
      onState: (state) => {
        const [cls, text] = STATE[state] || STATE.closed;
        const dot = $(root, "#conn-dot");
        if (!dot) return;
        dot.className = `dot ${cls}`;
        $(root, "#conn-text").textContent = text;
        if (state === "open") refreshSoon();
      },
    });
    // Lessons start and end on their own, without events: look again every minute.
    const poll = setInterval(() => loadLessons().catch(() => {}), 60000);
    onLeave(() => { stream.close(); clearInterval(poll); clearTimeout(timer); });
  },
};
