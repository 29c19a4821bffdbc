// Real-name binding: name, ID number and phone, each with its own error under the field (checked
// here first, then by the server, whose codes map back to the fields).
import { $, formData, html, mount, showFieldErrors } from "/static/common/html.js";
import { errorText } from "/static/common/ui.js";
import { fieldErrors } from "/static/common/format.js";
import { idNumberProblem, phoneProblem } from "../lib/idcard.js";

const FIELD_OF_CODE = {
  invalid_id_number: "id_number",
  invalid_phone: "phone",
  identity_mismatch: "name",
  identity_taken: "id_number",
};

const ID_REASON = {
  length: "身份证号应为 18 位",
  format: "身份证号格式不正确",
  check_digit: "身份证号校验位不正确，请逐位核对",
  region: "身份证号前 6 位（地区码）不正确",
  birth_date: "身份证号中的出生日期不正确",
};

export default {
  title: "实名认证",
  auth: "login",
  onLoad({ root, app, query }) {
    const me = app.me || {};
    if (me.bound && me.person) {
      mount(root, html`<div class="card"><h2>已完成实名认证</h2>
        <dl class="kv"><dt>姓名</dt><dd>${me.person.name}</dd><dt>身份证号</dt><dd>${me.person.id_number_masked}</dd>
        <dt>手机号</dt><dd>${me.person.phone || "—"}</dd></dl>
        <button class="block" type="button" id="home">返回首页</button></div>`);
      $(root, "#home").onclick = () => app.navigate("index");
      return;
    }
    mount(root, html`
      <form class="card" id="bind-form" novalidate>
        <h2>实名认证</h2>
        <p class="muted small">培训券和培训补贴只发给本人。请填写与身份证一致的信息，认证后不能更换微信账号。</p>
        <label for="name">姓名</label>
        <input id="name" name="name" autocomplete="name" required>
        <small class="field-error" data-for="name"></small>
        <label for="id_number">身份证号</label>
        <input id="id_number" name="id_number" maxlength="18" autocomplete="off" inputmode="text" required>
        <small class="field-error" data-for="id_number"></small>
        <label for="phone">手机号</label>
        <input id="phone" name="phone" type="tel" maxlength="11" autocomplete="tel" inputmode="numeric" required>
        <small class="field-error" data-for="phone"></small>
        <div class="form-msg" id="bind-msg" role="alert"></div>
        <button class="primary block" type="submit">提交认证</button>
        <button class="link" type="button" id="logout">切换微信账号</button>
      </form>`);
    const form = $(root, "#bind-form");
    $(root, "#logout").onclick = () => app.logout();
    form.onsubmit = async (e) => {
      e.preventDefault();
      const data = formData(form);
      const problems = {};
      if (!data.name) problems.name = "请输入姓名";
      const idp = idNumberProblem(data.id_number);
      if (idp) problems.id_number = idp;
      const pp = data.phone ? phoneProblem(data.phone) : "请输入手机号";
      if (pp) problems.phone = pp;
      $(root, "#bind-msg").textContent = "";
      if (showFieldErrors(form, problems)) return;
      const btn = form.querySelector("button[type=submit]");
      btn.disabled = true;
      try {
        const person = await app.api.post("/me/identity", {
          name: data.name, id_number: data.id_number.toUpperCase(), phone: data.phone,
        });
        app.signedIn({ bound: true, person });
        await app.loadMe(true);
        app.toast("实名认证成功", "ok");
        const next = query.get("next");
        if (next) location.replace(`#${next}`); else app.navigate("index", undefined, true);
      } catch (err) {
        const fields = fieldErrors(err);
        const field = FIELD_OF_CODE[err.code];
        if (field) {
          fields[field] = err.code === "invalid_id_number" && ID_REASON[err.details?.reason]
            ? ID_REASON[err.details.reason] : errorText(err);
        }
        if (!showFieldErrors(form, fields)) $(root, "#bind-msg").textContent = errorText(err);
      } finally {
        btn.disabled = false;
      }
    };
  },
};
