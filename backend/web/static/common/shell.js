// The frame of the staff clients (supervisor dashboard, institution console): login, a header with
// navigation, and a hash router that loads one page module per screen. A page module exports
// default {title, render(ctx)}; ctx = {root, api, user, params, query, navigate, onLeave}.

import { createApi } from "./api.js";
import { $, formData, html, mount, showFieldErrors } from "./html.js";
import { errorText } from "./ui.js";
import { fieldErrors } from "./format.js";
import { openPasswordDialog } from "./password.js";

export function startShell({ prefix, roles, appTitle, roleHint, nav, routes, home }) {
  const userKey = `${prefix}.user`;
  const main = document.getElementById("app");
  const navEl = document.getElementById("nav");
  const who = document.getElementById("who");
  let leaveHandlers = [];
  let renderSeq = 0;

  const expiredKey = `${prefix}.expired`;
  const api = createApi({ prefix, onLogout: (info) => {
    // A session that ended under the user (expired or revoked) is said on the login page, not silently.
    if (info?.reason === "expired") sessionStorage.setItem(expiredKey, "1");
    if (!location.hash.startsWith("#/login")) navigate("login");
  } });
  const getUser = () => { try { return JSON.parse(localStorage.getItem(userKey)); } catch { return null; } };

  function navigate(path, query) {
    const q = query ? `?${new URLSearchParams(query)}` : "";
    const target = `#/${path}${q}`;
    if (location.hash === target) route(); else location.hash = target;
  }

  function drawHeader(active) {
    const user = getUser();
    const loggedIn = Boolean(api.tokens.access && user);
    mount(navEl, loggedIn ? nav.map((n) => html`<a href="#/${n.path}" class="${active === n.path ? "active" : ""}">${n.label}</a>`) : "");
    mount(who, loggedIn ? html`<span class="who-name">${user.username || ""}</span><button type="button" class="link" id="change-password">修改密码</button><button type="button" class="link" id="logout">退出</button>` : "");
    const btn = $(who, "#logout");
    if (btn) btn.onclick = async () => { btn.disabled = true; await api.logout(); navigate("login"); };
    const pw = $(who, "#change-password");
    if (pw) pw.onclick = () => openPasswordDialog(api);
  }

  function loginPage(root) {
    document.title = `登录 - ${appTitle}`;
    mount(root, html`
      <section class="card narrow login-card">
        <h2>登录${appTitle}</h2>
        <p class="muted">${roleHint}</p>
        <form id="login-form" novalidate>
          <label>用户名<input name="username" autocomplete="username" required></label>
          <small class="field-error" data-for="username"></small>
          <label>密码<input name="password" type="password" autocomplete="current-password" required></label>
          <small class="field-error" data-for="password"></small>
          <div id="login-msg" class="form-msg" role="alert">${sessionStorage.getItem(expiredKey) ? "登录已过期或已在别处退出，请重新登录。" : ""}</div>
          <button class="primary block" type="submit">登录</button>
        </form>
      </section>`);
    const form = $(root, "#login-form");
    form.onsubmit = async (e) => {
      e.preventDefault();
      const msg = $(root, "#login-msg");
      const data = formData(form);
      const missing = {};
      if (!data.username) missing.username = "请输入用户名";
      if (!data.password) missing.password = "请输入密码";
      if (showFieldErrors(form, missing)) return;
      msg.textContent = "";
      const btn = form.querySelector("button[type=submit]");
      btn.disabled = true;
      try {
        const r = await api.post("/auth/login", { username: data.username, password: data.password });
        if (!roles.includes(r.user.role)) {
          msg.textContent = `该账号（${r.user.role}）不能使用${appTitle}。${roleHint}`;
          return;
        }
        api.tokens.set(r);
        sessionStorage.removeItem(expiredKey);
        localStorage.setItem(userKey, JSON.stringify(r.user));
        navigate(home);
      } catch (err) {
        showFieldErrors(form, fieldErrors(err));
        msg.textContent = err.code === "rate_limited" ? "登录失败次数过多，请稍后再试" : errorText(err);
      } finally {
        btn.disabled = false;
      }
    };
  }

  async function route() {
    const seq = ++renderSeq;
    leaveHandlers.forEach((fn) => { try { fn(); } catch { /* page already gone */ } });
    leaveHandlers = [];
    const [pathPart, queryPart] = location.hash.replace(/^#\/?/, "").split("?");
    const parts = pathPart.split("/").filter(Boolean);
    const name = parts[0] || home;
    const query = new URLSearchParams(queryPart || "");
    const loggedIn = Boolean(api.tokens.access && getUser());
    document.body.dataset.page = name;
    delete document.body.dataset.ready; // set again once the page has rendered (tests wait on it)
    if (name === "login" || !loggedIn) {
      drawHeader(null);
      if (name !== "login") { navigate("login"); return; }
      loginPage(main);
      document.body.dataset.ready = "login";
      return;
    }
    const loader = routes[name];
    if (!loader) { navigate(home); return; }
    drawHeader(nav.find((n) => n.path === name || (n.also || []).includes(name))?.path);
    mount(main, html`<p class="muted loading">加载中…</p>`);
    try {
      const mod = (await loader()).default;
      if (seq !== renderSeq) return;
      document.title = `${mod.title} - ${appTitle}`;
      main.innerHTML = "";
      await mod.render({
        root: main, api, user: getUser(), params: parts.slice(1), query, navigate,
        onLeave: (fn) => leaveHandlers.push(fn), isCurrent: () => seq === renderSeq,
      });
    } catch (err) {
      if (seq !== renderSeq) return;
      mount(main, html`<div class="notice notice-error" role="alert">${errorText(err)}</div>`);
    }
    if (seq === renderSeq) document.body.dataset.ready = name;
  }

  window.addEventListener("hashchange", route);
  route();
  return { api, navigate };
}
