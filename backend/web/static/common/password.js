// "修改密码" for every staff client: a small dialog in the header. POST /auth/password checks the current
// password and the new one's strength, signs out every other session and hands this one a new token pair.
import { $, formData, html, mount, showFieldErrors } from "./html.js";
import { errorText, toast } from "./ui.js";
import { fieldErrors } from "./format.js";

const RULE = "至少 10 位，包含字母、数字、符号中的至少两类，不能包含用户名，不能与原密码相同。";
const REASONS = {
  too_short: "新密码至少 10 位", too_long: "新密码过长", same_as_old: "新密码不能与原密码相同",
  contains_username: "新密码不能包含用户名", too_repetitive: "新密码重复字符过多",
  too_simple: "新密码须包含字母、数字、符号中的至少两类", too_common: "新密码过于常见，请换一个",
};

/** Open the change-password dialog; `onDone(pair)` after success (the pair is already stored). */
export function openPasswordDialog(api, onDone = () => {}) {
  let dlg = document.getElementById("password-dialog");
  if (dlg) dlg.remove();
  dlg = document.createElement("dialog");
  dlg.id = "password-dialog";
  dlg.className = "dialog";
  mount(dlg, html`
    <form id="password-form" novalidate>
      <h2>修改密码</h2>
      <label>原密码<input name="old_password" type="password" autocomplete="current-password" required></label>
      <small class="field-error" data-for="old_password"></small>
      <label>新密码<input name="new_password" type="password" autocomplete="new-password" required></label>
      <small class="field-error" data-for="new_password"></small>
      <label>再次输入新密码<input name="confirm" type="password" autocomplete="new-password" required></label>
      <small class="field-error" data-for="confirm"></small>
      <p class="small muted">${RULE}修改后，其他设备上的登录将全部退出。</p>
      <div class="form-msg" id="password-msg" role="alert"></div>
      <div class="row">
        <button type="button" id="password-cancel">取消</button>
        <span class="spacer"></span>
        <button class="primary" type="submit">确认修改</button>
      </div>
    </form>`);
  document.body.appendChild(dlg);
  const form = $(dlg, "#password-form");
  $(dlg, "#password-cancel").onclick = () => dlg.close();
  dlg.addEventListener("close", () => dlg.remove());
  form.onsubmit = async (e) => {
    e.preventDefault();
    const d = formData(form);
    const problems = {};
    if (!d.old_password) problems.old_password = "请输入原密码";
    if (!d.new_password) problems.new_password = "请输入新密码";
    else if (d.new_password.length < 10) problems.new_password = REASONS.too_short;
    if (d.new_password && d.confirm !== d.new_password) problems.confirm = "两次输入的新密码不一致";
    if (showFieldErrors(form, problems)) return;
    const btn = form.querySelector("button[type=submit]");
    btn.disabled = true;
    $(dlg, "#password-msg").textContent = "";
    try {
      const pair = await api.post("/auth/password", { old_password: d.old_password, new_password: d.new_password });
      api.tokens.set(pair);
      dlg.close();
      toast("密码已修改，其他设备上的登录已退出", "ok");
      onDone(pair);
    } catch (err) {
      const fields = fieldErrors(err);
      if (err.code === "weak_password" && REASONS[err.details?.reason]) fields.new_password = REASONS[err.details.reason];
      if (!showFieldErrors(form, fields)) $(dlg, "#password-msg").textContent = errorText(err);
    } finally {
      btn.disabled = false;
    }
  };
  dlg.showModal();
  form.old_password.focus();
  return dlg;
}
