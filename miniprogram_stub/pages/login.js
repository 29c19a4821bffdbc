// Log in with a WeChat login code. In stub mode the server turns the code into openid "stub-<code>",
// so the code stands for "which WeChat user"; a real mini-program gets it from wx.login().
import { $, formData, html, mount, showFieldErrors } from "/static/common/html.js";
import { errorText } from "/static/common/ui.js";
import { fieldErrors } from "/static/common/format.js";

export default {
  title: "登录",
  auth: "none",
  onLoad({ root, app, query }) {
    const next = query.get("next");
    mount(root, html`
      <section class="hero"><h2>职业技能电子培训券</h2><p>领券 · 签到 · 课时 · 证书 · 补贴，一站办理</p></section>
      ${query.get("expired") ? html`<div class="notice notice-warn" id="session-expired" role="alert">登录已过期，请重新登录。登录后将回到刚才的页面。</div>` : ""}
      <form class="card" id="login-form" novalidate>
        <h2>微信登录</h2>
        <p class="muted small">演示环境：微信授权由“登录代码”模拟，同一代码代表同一微信用户（示例：demo1）。</p>
        <label for="code">登录代码</label>
        <input id="code" name="code" autocomplete="username" placeholder="例如 demo1" required>
        <small class="field-error" data-for="code"></small>
        <div class="form-msg" id="login-msg" role="alert"></div>
        <button class="primary block" type="submit">微信一键登录</button>
      </form>`);
    const form = $(root, "#login-form");
    form.onsubmit = async (e) => {
      e.preventDefault();
      const { code } = formData(form);
      if (showFieldErrors(form, code ? {} : { code: "请输入登录代码" })) return;
      const btn = form.querySelector("button");
      btn.disabled = true;
      try {
        const result = await app.api.post("/auth/wechat", { code });
        app.signedIn(result);
        if (!result.bound) app.navigate("bind", next ? { next } : undefined, true);
        else if (next) location.replace(`#${next}`);
        else app.navigate("index", undefined, true);
      } catch (err) {
        showFieldErrors(form, fieldErrors(err));
        $(root, "#login-msg").textContent = errorText(err);
      } finally {
        btn.disabled = false;
      }
    };
  },
};
