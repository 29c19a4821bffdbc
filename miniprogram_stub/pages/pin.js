// The card PIN: with the social-security card it is the non-face way to check in at a kiosk,
// so a trainee who declines face collection still attends (DESIGN.md: face is never the only way).
import { $, html, mount } from "/static/common/html.js";
import { errorText } from "/static/common/ui.js";

const PIN_ERRORS = {
  pin_format: "密码须为 6 至 12 位数字。",
  pin_too_simple: "密码过于简单（如 123456、000000），请换一个。",
  pin_mismatch: "原密码不正确。",
};

export default {
  title: "签到密码",
  auth: "bound",
  async onLoad({ root, app }) {
    mount(root, html`
      <section class="card">
        <h2>考勤机签到密码</h2>
        <p class="small muted">在培训地点的考勤机上刷社保卡后输入此密码即可签到，无需刷脸。密码只以加密摘要保存。</p>
      </section>
      <form class="card" id="pin-form" novalidate>
        <label>原密码（首次设置可不填）<input name="current_pin" type="password" inputmode="numeric" autocomplete="current-password"></label>
        <label>新密码（6–12 位数字）<input name="pin" type="password" inputmode="numeric" autocomplete="new-password" required></label>
        <label>再次输入新密码<input name="again" type="password" inputmode="numeric" autocomplete="new-password" required></label>
        <div class="result" id="msg"></div>
        <button class="primary block" type="submit">保存密码</button>
      </form>`);
    const form = $(root, "#pin-form");
    form.onsubmit = async (e) => {
      e.preventDefault();
      const out = $(root, "#msg");
      if (form.pin.value !== form.again.value) {
        mount(out, html`<div class="notice notice-warn">两次输入的新密码不一致。</div>`);
        return;
      }
      const btn = form.querySelector("button");
      btn.disabled = true;
      try {
        const body = { pin: form.pin.value };
        if (form.current_pin.value) body.current_pin = form.current_pin.value;
        await app.api.put("/me/pin", body);
        form.reset();
        mount(out, html`<div class="notice notice-ok">密码已保存，考勤机下次更新名单后生效。</div>`);
      } catch (err) {
        mount(out, html`<div class="notice notice-error">${PIN_ERRORS[err.code] || errorText(err)}</div>`);
      } finally {
        btn.disabled = false;
      }
    };
  },
};
