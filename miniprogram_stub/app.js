// The trainee client's frame, shaped like a WeChat mini-program: app.json lists the pages and the
// tab bar; each page is a module in pages/ exporting default {title, auth, onLoad(ctx)}.
// `auth` is "none" (public), "login" (any logged-in trainee) or "bound" (real name bound).
// Navigation is by hash (#/lessons?date=...) so the page works from any static server.

import { createApi } from "/static/common/api.js";
import { html, mount } from "/static/common/html.js";
import { errorText, toast } from "/static/common/ui.js";

const root = document.getElementById("page");
const titleEl = document.getElementById("nav-title");
const backBtn = document.getElementById("nav-back");
const tabBar = document.getElementById("tab-bar");

const config = await (await fetch("./app.json")).json();
const pageNames = config.pages.map((p) => p.replace(/^pages\//, ""));
const tabNames = config.tabBar.list.map((t) => t.pagePath.replace(/^pages\//, ""));

let unloaders = [];
let seq = 0;
let me = null; // GET /me result, cached for the session

const api = createApi({
  prefix: "m",
  // The server refused the session (expired or signed out elsewhere): say so on the login page.
  onLogout: () => {
    me = null;
    if (current() !== "login") navigate("login", { next: location.hash.slice(1), expired: "1" });
  },
});

function current() {
  return location.hash.replace(/^#\/?/, "").split("?")[0] || "index";
}

/** Go to a page: navigate("lessons", {date: "2026-03-01"}); replace=true keeps history short. */
function navigate(name, query, replace = false) {
  const q = query ? `?${new URLSearchParams(query)}` : "";
  const target = `#/${name}${q}`;
  if (location.hash === target) { render(); return; }
  if (replace) { history.replaceState(null, "", target); render(); } else location.hash = target;
}

async function loadMe(force = false) {
  if (!api.tokens.access) { me = null; return null; }
  if (!me || force) me = await api.get("/me");
  return me;
}

const app = {
  api,
  navigate,
  toast,
  get me() { return me; },
  loadMe,
  /** Sign out on the server (the refresh token's session is revoked), then here. */
  async logout() { await api.logout(); me = null; navigate("login"); },
  /** Store tokens from /auth/wechat and remember whether the identity is bound. */
  signedIn(result) {
    api.tokens.set(result);
    me = { role: "trainee", bound: result.bound, person: result.person || null };
  },
};

function drawTabs(name) {
  mount(tabBar, config.tabBar.list.map((t) => {
    const page = t.pagePath.replace(/^pages\//, "");
    return html`<a href="#/${page}" class="${page === name ? "active" : ""}" aria-current="${page === name ? "page" : "false"}"><span class="tab-icon" aria-hidden="true">${t.icon}</span>${t.text}</a>`;
  }));
}

async function render() {
  const mySeq = ++seq;
  unloaders.forEach((fn) => { try { fn(); } catch { /* already gone */ } });
  unloaders = [];
  const [name0, queryString] = location.hash.replace(/^#\/?/, "").split("?");
  let name = name0 || "index";
  if (!pageNames.includes(name)) name = "index";
  const query = new URLSearchParams(queryString || "");
  const isTab = tabNames.includes(name);
  backBtn.hidden = isTab || name === "login";
  tabBar.hidden = !isTab; // like a mini-program: the tab bar only on tab pages
  document.body.classList.toggle("with-tabs", isTab);
  document.body.dataset.page = name;
  delete document.body.dataset.ready; // set again once the page has rendered (tests wait on it)
  drawTabs(name);
  mount(root, html`<p class="muted loading">加载中…</p>`);
  try {
    const page = (await import(`./pages/${name}.js`)).default;
    if (mySeq !== seq) return;
    if (page.auth !== "none") {
      if (!api.tokens.access) { navigate("login", { next: `/${name}${queryString ? `?${queryString}` : ""}` }, true); return; }
      await loadMe();
      if (mySeq !== seq) return;
      if (page.auth === "bound" && me && !me.bound) { navigate("bind", { next: `/${name}` }, true); return; }
    }
    titleEl.textContent = page.title || config.window.navigationBarTitleText;
    document.title = `${page.title} - ${config.window.navigationBarTitleText}`;
    root.innerHTML = "";
    root.scrollTop = 0;
    window.scrollTo(0, 0);
    await page.onLoad({ root, app, query, onUnload: (fn) => unloaders.push(fn), alive: () => mySeq === seq });
  } catch (err) {
    if (mySeq !== seq) return;
    mount(root, html`<div class="notice notice-error" role="alert">${errorText(err)}</div>
      <button type="button" class="block" id="retry">重试</button>`);
    root.querySelector("#retry").onclick = render;
  }
  if (mySeq === seq) document.body.dataset.ready = name;
}

backBtn.onclick = () => { if (history.length > 1) history.back(); else navigate("index"); };
window.addEventListener("hashchange", render);
render();
