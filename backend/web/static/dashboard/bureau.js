// Institutions and staff accounts: register an institution (unified social credit code checked by the API)
// and create accounts. Admins create supervisors (and admins); supervisors create institution accounts of
// their region only (separation of duties, shared/DESIGN.md "Trust").
import { $, $$, formData, html, mount, showFieldErrors } from "../common/html.js";
import { busy, emptyState, errorText, toast } from "../common/ui.js";
import { fieldErrors, regionName } from "../common/format.js";

const KIND = { training_org: "培训机构", enterprise: "企业", college: "院校" };
const ROLE = { admin: "系统管理员", supervisor: "人社监管人员", institution: "机构工作人员" };
// The API's codes for the fields it checks itself, in words.
const CODE_TEXT = {
  invalid_credit_code: "统一社会信用代码不正确（18 位，含校验位）",
  credit_code_taken: "该统一社会信用代码已登记",
  invalid_region_code: "行政区划代码不正确（6 位数字）",
  username_taken: "该用户名已被使用",
};

function errorsOf(err, fallbackField) {
  const fields = fieldErrors(err);
  const field = err.details?.field || (err.code === "invalid_credit_code" ? "credit_code" : err.code === "invalid_region_code" ? "region_code" : null);
  if (CODE_TEXT[err.code]) fields[field || fallbackField] = CODE_TEXT[err.code];
  return fields;
}

export default {
  title: "机构与账号",
  async render({ root, api, user, navigate }) {
    const admin = user.role === "admin";
    const [insts, users] = await Promise.all([api.list("/institutions", { per_page: 500 }), api.list("/users", { per_page: 500 })]);
    const instName = new Map(insts.items.map((i) => [i.id, i.name]));
    const roles = admin ? ["supervisor", "institution", "admin"] : ["institution"];
    mount(root, html`
      <h1>机构与账号</h1>
      <div class="grid-2">
        <section class="card"><h2>登记培训机构</h2>
          <form id="inst-form" novalidate>
            <label>机构名称<input name="name" maxlength="128"></label><small class="field-error" data-for="name"></small>
            <label>统一社会信用代码<input name="credit_code" maxlength="18" autocomplete="off"></label><small class="field-error" data-for="credit_code"></small>
            <label>所在区划代码（6 位）<input name="region_code" maxlength="6" inputmode="numeric" value="${(user.region_code || "").length === 6 ? user.region_code : ""}"></label>
            <small class="field-error" data-for="region_code"></small>
            <label>类型<select name="kind">${Object.entries(KIND).map(([k, v]) => html`<option value="${k}">${v}</option>`)}</select></label>
            <div class="form-msg" id="inst-msg" role="alert"></div>
            <button class="primary" type="submit">登记</button>
          </form></section>
        <section class="card"><h2>创建账号</h2>
          ${admin ? "" : html`<p class="small muted">监管人员只能为辖区内的培训机构创建账号；监管人员账号由系统管理员创建。</p>`}
          <form id="user-form" novalidate>
            <label>用户名<input name="username" maxlength="64" autocomplete="off"></label><small class="field-error" data-for="username"></small>
            <label>初始密码（至少 10 位）<input name="password" type="password" autocomplete="new-password"></label><small class="field-error" data-for="password"></small>
            <label>角色<select name="role">${roles.map((r) => html`<option value="${r}">${ROLE[r]}</option>`)}</select></label><small class="field-error" data-for="role"></small>
            <label class="for-supervisor">监管区划代码（2、4 或 6 位）<input name="region_code" maxlength="6" inputmode="numeric"></label><small class="field-error" data-for="region_code"></small>
            <label class="for-institution">所属机构<select name="institution_id"><option value="">请选择</option>${insts.items.map((i) => html`<option value="${i.id}">${i.name}</option>`)}</select></label>
            <small class="field-error" data-for="institution_id"></small>
            <div class="form-msg" id="user-msg" role="alert"></div>
            <button class="primary" type="submit">创建账号</button>
          </form></section>
      </div>
      <section class="card"><h2>培训机构（${insts.total}）</h2>
        ${insts.items.length ? html`<div class="table-wrap"><table class="institutions"><thead><tr><th>编号</th><th>名称</th><th>统一社会信用代码</th><th>区划</th><th>类型</th><th></th></tr></thead>
          <tbody>${insts.items.map((i) => html`<tr data-institution="${i.id}"><td>${i.id}</td><td>${i.name}</td><td class="mono">${i.credit_code}</td>
            <td>${regionName(i.region_code)}</td><td>${KIND[i.kind] || i.kind}</td>
            <td><a class="small" href="#/audit?object_type=institution&object_id=${i.id}">审计记录</a></td></tr>`)}</tbody></table></div>` : emptyState("还没有登记的机构")}</section>
      <section class="card"><h2>账号（${users.total}）</h2>
        ${users.items.length ? html`<div class="table-wrap"><table class="users"><thead><tr><th>用户名</th><th>角色</th><th>区划</th><th>机构</th><th></th></tr></thead>
          <tbody>${users.items.map((u) => html`<tr data-user="${u.id}"><td>${u.username}</td><td>${ROLE[u.role] || u.role}</td><td>${u.region_code ? regionName(u.region_code) : "全部"}</td>
            <td>${u.institution_id ? instName.get(u.institution_id) || `#${u.institution_id}` : "—"}</td>
            <td><a class="small audit-link" href="#/audit?object_type=user&object_id=${u.id}">审计记录</a></td></tr>`)}</tbody></table></div>` : emptyState("没有账号")}</section>`);

    const instForm = $(root, "#inst-form");
    instForm.onsubmit = (e) => {
      e.preventDefault();
      const d = formData(instForm);
      const missing = {};
      if (!d.name) missing.name = "请输入机构名称";
      if (!d.credit_code) missing.credit_code = "请输入统一社会信用代码";
      if (!d.region_code) missing.region_code = "请输入区划代码";
      if (showFieldErrors(instForm, missing)) return;
      busy(instForm.querySelector("button[type=submit]"), async () => {
        const inst = await api.post("/institutions", d, { idempotent: true });
        toast(`已登记“${inst.name}”（编号 ${inst.id}）`, "ok");
        navigate("bureau", { t: Date.now() });
      }, (err) => {
        showFieldErrors(instForm, errorsOf(err, "name"));
        $(root, "#inst-msg").textContent = errorText(err);
      });
    };

    const userForm = $(root, "#user-form");
    const sync = () => {
      const role = userForm.elements.role.value;
      $$(userForm, ".for-supervisor").forEach((x) => { x.hidden = role !== "supervisor"; });
      $$(userForm, ".for-institution").forEach((x) => { x.hidden = role !== "institution"; });
    };
    userForm.elements.role.onchange = sync;
    sync();
    userForm.onsubmit = (e) => {
      e.preventDefault();
      const d = formData(userForm);
      const missing = {};
      if (!d.username || d.username.length < 3) missing.username = "用户名至少 3 个字符";
      if (!d.password || d.password.length < 10) missing.password = "密码至少 10 位";
      if (d.role === "institution" && !d.institution_id) missing.institution_id = "请选择所属机构";
      if (d.role === "supervisor" && !d.region_code) missing.region_code = "请输入监管区划代码";
      if (showFieldErrors(userForm, missing)) return;
      const body = { username: d.username, password: d.password, role: d.role };
      if (d.role === "supervisor") body.region_code = d.region_code;
      if (d.role === "institution") body.institution_id = Number(d.institution_id);
      busy(userForm.querySelector("button[type=submit]"), async () => {
        const u = await api.post("/users", body, { idempotent: true });
        toast(`已创建账号 ${u.username}`, "ok");
        navigate("bureau", { t: Date.now() });
      }, (err) => {
        showFieldErrors(userForm, errorsOf(err, "username"));
        $(root, "#user-msg").textContent = err.code === "forbidden" ? "无权创建该类账号：监管人员账号只能由系统管理员创建" : errorText(err);
      });
    };
  },
};
