// Real-name binding: name, ID number and phone, each with its own error under the field (checked
// here first, then by the server, whose codes map back to the fields). When an institution already
// recorded the person's phone, the server answers 409 verification_required and sends a 6-digit code
// to THAT phone: the page then shows the code step (masked phone, code input, resend with countdown)
// and submits again with `sms_code`.
import { $, formData, html, mount, showFieldErrors } from "/static/common/html.js";
import { errorText } from "/static/common/ui.js";
import { fieldErrors } from "/static/common/format.js";
import { idNumberProblem, phoneProblem } from "../lib/idcard.js";

const FIELD_OF_CODE = {
  invalid_id_number: "id_number",
  invalid_phone: "phone",
  identity_mismatch: "name",
  identity_taken: "id_number",
  identity_not_verified: "id_number",
};

const ID_REASON = {
  length: "身份证号应为 18 位",
  format: "身份证号格式不正确",
  check_digit: "身份证号校验位不正确，请逐位核对",
  region: "身份证号前 6 位（地区码）不正确",
  birth_date: "身份证号中的出生日期不正确",
};

const CODE_REASON = {
  expired: "验证码已过期，请重新获取",
  too_many_attempts: "错误次数过多，该验证码已失效，请重新获取",
};

/** The message under the code field for a refused code. */
export function codeProblem(err) {
  if (err.code === "validation_error") return "请输入 6 位数字验证码";
  if (err.code === "rate_limited") return "今天获取验证码的次数已达上限，请明天再试或联系培训机构";
  if (err.code !== "invalid_code") return "";
  const d = err.details || {};
  if (CODE_REASON[d.reason]) return CODE_REASON[d.reason];
  if (d.attempts_left === 0) return CODE_REASON.too_many_attempts;
  if (typeof d.attempts_left === "number") return `验证码不正确，还可再试 ${d.attempts_left} 次`;
  return "验证码不正确";
}

export default {
  title: "实名认证",
  auth: "login",
  onLoad({ root, app, query, onUnload }) {
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
      </form>
      <div id="code-step"></div>`);
    const form = $(root, "#bind-form");
    const step = $(root, "#code-step");
    let identity = null; // {name, id_number, phone} being verified
    let timer = null;
    const stopTimer = () => { if (timer) clearInterval(timer); timer = null; };
    onUnload(stopTimer);
    $(root, "#logout").onclick = () => app.logout();

    const submit = (extra = {}) => app.api.post("/me/identity", { ...identity, ...extra });

    async function bound(person) {
      stopTimer();
      app.signedIn({ bound: true, person });
      await app.loadMe(true);
      app.toast("实名认证成功", "ok");
      const next = query.get("next");
      if (next) location.replace(`#${next}`); else app.navigate("index", undefined, true);
    }

    function countdown(seconds) {
      const btn = $(step, "#resend");
      if (!btn) return;
      stopTimer();
      let left = Math.max(0, Math.round(seconds || 0));
      const draw = () => {
        btn.disabled = left > 0;
        btn.textContent = left > 0 ? `重新发送（${left} 秒）` : "重新发送验证码";
        btn.dataset.left = String(left);
      };
      draw();
      if (left > 0) timer = setInterval(() => { left -= 1; draw(); if (left <= 0) stopTimer(); }, 1000);
    }

    function showCodeStep(details) {
      form.hidden = true;
      const minutes = Math.round((details.expires_in_s || 600) / 60);
      mount(step, html`
        <form class="card" id="code-form" novalidate>
          <h2>短信验证</h2>
          <p id="code-sent">验证码已发送至 <strong class="mono">${details.phone_masked}</strong></p>
          <p class="muted small">该手机号由培训机构登记。请输入短信中的 6 位验证码，${minutes} 分钟内有效。如该号码不是您的或已停用，请联系培训机构或当地人社部门。</p>
          <label for="sms_code">验证码</label>
          <input id="sms_code" name="sms_code" maxlength="6" inputmode="numeric" autocomplete="one-time-code"
            pattern="[0-9]*" required>
          <small class="field-error" data-for="sms_code"></small>
          <div class="form-msg" id="code-msg" role="alert"></div>
          <button class="primary block" type="submit">验证并完成认证</button>
          <div class="row">
            <button class="link" type="button" id="resend" disabled>重新发送</button>
            <button class="link" type="button" id="edit">修改信息</button>
          </div>
        </form>`);
      const codeForm = $(step, "#code-form");
      const msg = $(step, "#code-msg");
      countdown(details.resend_after_s);
      $(step, "#sms_code").focus();
      $(step, "#edit").onclick = () => { stopTimer(); mount(step, ""); form.hidden = false; };

      const sentTo = (d, again) => {
        mount($(step, "#code-sent"), html`${again ? "验证码已重新发送至" : "验证码已发送至"} <strong class="mono">${d.phone_masked}</strong>`);
      };

      $(step, "#resend").onclick = async () => {
        showFieldErrors(codeForm, {});
        msg.textContent = "";
        try {
          await bound(await submit());
        } catch (err) {
          if (err.code === "verification_required") {
            sentTo(err.details, err.details.code_sent);
            if (!err.details.code_sent) msg.textContent = `请在 ${err.details.resend_after_s} 秒后重新获取`;
            countdown(err.details.resend_after_s);
          } else {
            const problem = codeProblem(err);
            if (problem) showFieldErrors(codeForm, { sms_code: problem }); else msg.textContent = errorText(err);
          }
        }
      };

      codeForm.onsubmit = async (e) => {
        e.preventDefault();
        msg.textContent = "";
        const code = formData(codeForm).sms_code.replace(/\s+/g, "");
        if (!/^[0-9]{6}$/.test(code)) { showFieldErrors(codeForm, { sms_code: "请输入 6 位数字验证码" }); return; }
        showFieldErrors(codeForm, {});
        const btn = codeForm.querySelector("button[type=submit]");
        btn.disabled = true;
        try {
          await bound(await submit({ sms_code: code }));
        } catch (err) {
          if (err.code === "verification_required") {
            // The phone on record changed, or the code was for another account: a new code may be on its way.
            sentTo(err.details, err.details.code_sent);
            showFieldErrors(codeForm, { sms_code: err.details.code_sent ? "请输入新收到的验证码"
              : `该验证码已失效，请在 ${err.details.resend_after_s} 秒后重新获取` });
            countdown(err.details.resend_after_s);
          } else {
            const problem = codeProblem(err);
            if (problem) showFieldErrors(codeForm, { sms_code: problem }); else msg.textContent = errorText(err);
            if (err.code === "invalid_code" && err.details?.reason !== "wrong_code") countdown(0);
          }
        } finally {
          btn.disabled = false;
        }
      };
    }

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
      identity = { name: data.name, id_number: data.id_number.toUpperCase(), phone: data.phone };
      try {
        await bound(await submit());
      } catch (err) {
        if (err.code === "verification_required") { showCodeStep(err.details); return; }
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
