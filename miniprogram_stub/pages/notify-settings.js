// Notification settings (消息设置): which reminders to push, quiet hours, and the WeChat subscription
// consent per template. In the real mini-program the consent comes from wx.requestSubscribeMessage;
// this web stand-in asks with checkboxes and reports the answer the same way (PUT wechat_subscribed).
import { $, html, mount } from "/static/common/html.js";
import { errorText } from "/static/common/ui.js";
import { KIND_NAMES } from "../lib/notify.js";

export default {
  title: "消息设置",
  auth: "bound",
  async onLoad({ root, app }) {
    const prefs = await app.api.get("/me/notification-preferences");
    const kinds = Object.keys(KIND_NAMES);
    const quiet = prefs.quiet_hours;
    mount(root, html`
      <form class="card" id="prefs" novalidate>
        <h2>推送哪些提醒</h2>
        <p class="small muted">关闭后不再通过微信或短信推送，站内消息仍会保留。</p>
        ${kinds.map((k) => html`
          <label class="check"><input type="checkbox" name="kind" value="${k}" ${prefs.kinds[k] ? "checked" : ""}> ${KIND_NAMES[k]}</label>`)}
        <h2>免打扰时段</h2>
        <label class="check"><input type="checkbox" name="quiet_on" ${quiet ? "checked" : ""}> 开启（北京时间，期间的推送延后发送）</label>
        <div class="row">
          <label>开始<input type="time" name="quiet_from" value="${quiet ? quiet.from : "22:00"}"></label>
          <label>结束<input type="time" name="quiet_to" value="${quiet ? quiet.to : "07:30"}"></label>
        </div>
        <h2>微信订阅消息</h2>
        <p class="small muted">允许后通过微信服务通知提醒；未订阅时，如有登记手机号则以短信提醒。</p>
        ${kinds.map((k) => html`
          <label class="check"><input type="checkbox" name="wechat" value="${k}" ${prefs.wechat_subscribed[k] ? "checked" : ""}> ${KIND_NAMES[k]}</label>`)}
        <div class="result" id="msg"></div>
        <button class="primary block" type="submit">保存设置</button>
      </form>`);
    const form = $(root, "#prefs");
    form.onsubmit = async (e) => {
      e.preventDefault();
      const checked = (name) => new Set([...form.querySelectorAll(`input[name=${name}]:checked`)].map((i) => i.value));
      const on = checked("kind");
      const subscribed = checked("wechat");
      const body = {
        kinds: Object.fromEntries(kinds.map((k) => [k, on.has(k)])),
        wechat_subscribed: Object.fromEntries(kinds.map((k) => [k, subscribed.has(k)])),
        quiet_hours: form.quiet_on.checked ? { from: form.quiet_from.value, to: form.quiet_to.value } : null,
      };
      const btn = form.querySelector("button");
      btn.disabled = true;
      try {
        await app.api.put("/me/notification-preferences", body);
        mount($(root, "#msg"), html`<div class="notice notice-ok">设置已保存。</div>`);
      } catch (err) {
        mount($(root, "#msg"), html`<div class="notice notice-error">${err.code === "validation_error" ? "免打扰时间格式应为 HH:MM。" : errorText(err)}</div>`);
      } finally {
        btn.disabled = false;
      }
    };
  },
};
