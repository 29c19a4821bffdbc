// Voucher batches of the region (券定义): define a batch with its targeting, publish and close it, see its
// claimants (masked) with each voucher's status, void a voucher with a reason, and check a voucher by code.
// Per batch the bureau allows (or stops) enrolment at the desk with the bare printed voucher code instead of the
// trainee's live QR (凭券码报名), audited with a reason.
import { $, $$, formData, html, mount, showFieldErrors } from "../common/html.js";
import { badge, busy, confirmAction, emptyState, errorText, notice, toast } from "../common/ui.js";
import {
  BATCH_STATUS, GROUPS, VERIFY_REASON, VOUCHER_STATUS, fieldErrors, fmtDateTime, fmtMoney, label, regionName, shanghaiDay,
} from "../common/format.js";
import { occupationLabel, occupations } from "./catalogue.js";

const VOIDABLE = new Set(["claimed", "used"]);
const list = (text) => text.split(/[,，\s]+/).map((x) => x.trim()).filter(Boolean);

function batchRow(b, names) {
  return html`<tr data-batch="${b.id}">
    <td><a href="#/vouchers?batch=${b.id}">${b.name}</a></td>
    <td>${badge(label(BATCH_STATUS, b.status), b.status === "published" ? "ok" : b.status === "draft" ? "warn" : "")}</td>
    <td>${b.occupation_codes.map((c) => occupationLabel(names, c)).join("、")}</td>
    <td class="nowrap">${b.remaining} / ${b.quantity}</td>
    <td class="nowrap">${fmtMoney(b.face_value_fen)}</td>
    <td>${b.funding_source || "—"}</td>
    <td class="nowrap small">${fmtDateTime(b.claim_starts_at)}<br>至 ${fmtDateTime(b.claim_ends_at)}</td>
    <td class="nowrap code-enrollment">${b.code_enrollment_allowed ? badge("允许", "warn") : badge("须出示二维码")}
      <button type="button" class="small toggle-code-enrollment" data-allowed="${b.code_enrollment_allowed ? "false" : "true"}">${
        b.code_enrollment_allowed ? "停止凭券码报名" : "允许凭券码报名"}</button></td>
    <td class="nowrap">${b.status === "draft" ? html`<button type="button" class="primary small publish">发布</button>` : ""}
      ${b.status === "published" ? html`<button type="button" class="small close-batch">结束发放</button>` : ""}</td>
  </tr>`;
}

// Major groups (N-00-00-00) name a whole field of work, not an occupation a batch or plan can cover.
const isOccupation = (code) => !/^\d-00-00-00$/.test(code);

function createForm(user, names) {
  const today = shanghaiDay();
  return html`<details class="card" id="new-batch"><summary><b>新建培训券批次</b></summary>
    <form id="batch-form" class="form-grid" novalidate>
      <label>批次名称<input name="name" maxlength="128" required></label><small class="field-error" data-for="name"></small>
      <label>发放区划代码<input name="region_code" value="${user.region_code || ""}" maxlength="6" inputmode="numeric"></label>
      <small class="field-error" data-for="region_code"></small>
      <label>适用职业（工种）<input type="search" class="occupation-filter" placeholder="按名称或代码筛选，如 电工、6-31" autocomplete="off">
        <select name="occupation_codes" multiple size="8">${Object.entries(names).filter(([c]) => isOccupation(c)).map(([c, n]) => html`<option value="${c}">${n}（${c}）</option>`)}</select></label>
      <small class="field-error" data-for="occupation_codes"></small>
      <label>发放数量（张）<input name="quantity" type="number" min="1" value="100"></label><small class="field-error" data-for="quantity"></small>
      <label>面值（元）<input name="face_value_yuan" type="number" min="0" step="0.01" value="1500"></label><small class="field-error" data-for="face_value_fen"></small>
      <label>领取开始<input name="claim_starts_on" type="date" value="${today}"></label><small class="field-error" data-for="claim_starts_at"></small>
      <label>领取截止<input name="claim_ends_on" type="date"></label><small class="field-error" data-for="claim_ends_at"></small>
      <label>领取后有效天数<input name="valid_days" type="number" min="1" value="90"></label><small class="field-error" data-for="valid_days"></small>
      <label>资金来源<input name="funding_source" maxlength="64" placeholder="如：就业补助资金"></label><small class="field-error" data-for="funding_source"></small>
      <label>限定机构（编号，逗号分隔；留空为辖区内全部机构）<input name="institution_ids"></label><small class="field-error" data-for="institution_ids"></small>
      <fieldset><legend>人员类别（不选为不限）</legend>${Object.entries(GROUPS).map(([k, v]) => html`<label class="check"><input type="checkbox" name="group_${k}"> ${v}</label>`)}</fieldset>
      <label>最小年龄<input name="age_min" type="number" min="0" max="150"></label><small class="field-error" data-for="eligibility"></small>
      <label>最大年龄<input name="age_max" type="number" min="0" max="150"></label>
      <label>户籍区划（前缀，逗号分隔；留空不限）<input name="household_regions"></label>
      <label>定向发放身份证号（每行一个；留空为不定向）<textarea name="directed_id_numbers" rows="2"></textarea></label>
      <small class="field-error" data-for="directed_id_numbers"></small>
      <label class="check"><input type="checkbox" name="claim_requires_face"> 领取时须人脸核验</label>
      <div id="batch-msg" class="form-msg" role="alert"></div>
      <button class="primary" type="submit">保存为草稿</button>
    </form></details>`;
}

function batchBody(d) {
  const groups = Object.keys(GROUPS).filter((k) => d[`group_${k}`]);
  const num = (v) => (v === "" || v === undefined ? null : Number(v));
  const day = (v, end) => (v ? `${v}T${end ? "23:59:59" : "00:00:00"}+08:00` : "");
  return {
    name: d.name, region_code: d.region_code, occupation_codes: d.occupation_codes,
    institution_ids: d.institution_ids ? list(d.institution_ids).map(Number) : null,
    eligibility: { groups: groups.length ? groups : null, age_min: num(d.age_min), age_max: num(d.age_max),
      household_regions: d.household_regions ? list(d.household_regions) : null },
    directed_id_numbers: d.directed_id_numbers ? list(d.directed_id_numbers) : null,
    quantity: num(d.quantity), face_value_fen: Math.round(Number(d.face_value_yuan || 0) * 100),
    claim_starts_at: day(d.claim_starts_on), claim_ends_at: day(d.claim_ends_on, true),
    valid_days: num(d.valid_days), funding_source: d.funding_source, claim_requires_face: d.claim_requires_face,
  };
}

async function listView(root, api, user, navigate) {
  const [{ items, total }, names] = await Promise.all([api.list("/voucher-batches", { per_page: 200 }), occupations(api)]);
  mount(root, html`
    <h1>培训券发放</h1>
    ${createForm(user, names)}
    <section class="card"><h2>券批次（${total}）</h2>
      ${items.length ? html`<div class="table-wrap"><table class="batches">
        <thead><tr><th>名称</th><th>状态</th><th>适用职业</th><th>剩余/总量</th><th>面值</th><th>资金来源</th><th>领取期</th><th>凭券码报名</th><th></th></tr></thead>
        <tbody>${items.map((b) => batchRow(b, names))}</tbody></table></div>` : emptyState("辖区内还没有培训券批次")}
    </section>
    <section class="card"><h2>培训券核验</h2>
      <form id="verify-form" class="row" novalidate><label>券码<input name="code" autocomplete="off"></label>
        <button type="submit">核验</button></form><small class="field-error" data-for="code"></small>
      <div id="verify-out"></div></section>`);
  const form = $(root, "#batch-form");
  // The catalogue holds some 1,600 occupations: narrow the list by name or code (chosen ones stay visible).
  $(form, ".occupation-filter").oninput = (e) => {
    const q = e.target.value.trim();
    $$(form, "select[name=occupation_codes] option").forEach((o) => { o.hidden = Boolean(q) && !o.selected && !o.textContent.includes(q); });
  };
  form.onsubmit = (e) => {
    e.preventDefault();
    const d = formData(form);
    d.occupation_codes = $$(form, "select[name=occupation_codes] option").filter((o) => o.selected).map((o) => o.value);
    const missing = {};
    if (!d.name) missing.name = "请输入批次名称";
    if (!d.occupation_codes.length) missing.occupation_codes = "请至少选择一个职业（工种）";
    if (!d.claim_ends_on) missing.claim_ends_at = "请选择领取截止日期";
    if (showFieldErrors(form, missing)) return;
    busy(form.querySelector("button[type=submit]"), async () => {
      const b = await api.post("/voucher-batches", batchBody(d), { idempotent: true });
      toast(`已保存草稿“${b.name}”`, "ok");
      navigate("vouchers", { t: Date.now() });
    }, (err) => {
      const fields = fieldErrors(err);
      if (fields.face_value_fen) fields.face_value_yuan = fields.face_value_fen;
      showFieldErrors(form, fields);
      mount($(root, "#batch-msg"), html`${errorText(err)}`);
    });
  };
  const act = (sel, verb, done) => $$(root, sel).forEach((btn) => {
    btn.onclick = () => busy(btn, async () => {
      if (verb === "close" && !confirmAction("结束发放后不能再领取，已领取的券仍然有效。确定？")) return;
      await api.post(`/voucher-batches/${btn.closest("tr").dataset.batch}/${verb}`, {});
      toast(done, "ok");
      navigate("vouchers", { t: Date.now() });
    }, (err) => toast(errorText(err), "error"));
  });
  act("button.publish", "publish", "已发布，劳动者可在领取期内领取");
  act("button.close-batch", "close", "已结束发放");
  $$(root, "button.toggle-code-enrollment").forEach((btn) => {
    btn.onclick = () => busy(btn, async () => {
      const allowed = btn.dataset.allowed === "true";
      const reason = window.prompt(allowed
        ? "允许后，机构前台凭印在券上的券码即可为持券人报名，无需本人到场出示实时二维码。请填写原因（记入审计）："
        : "停止后，报名须由本人到场出示实时二维码。请填写原因（记入审计）：");
      if (reason === null) return;
      if (reason.trim().length < 2) { toast("请填写原因（至少 2 个字）", "error"); return; }
      await api.post(`/voucher-batches/${btn.closest("tr").dataset.batch}/code-enrollment`, { allowed, reason: reason.trim() });
      toast(allowed ? "已允许凭券码报名" : "已停止凭券码报名，报名须出示实时二维码", "ok");
      navigate("vouchers", { t: Date.now() });
    }, (err) => toast(errorText(err), "error"));
  });
  const vf = $(root, "#verify-form");
  vf.onsubmit = (e) => {
    e.preventDefault();
    const code = formData(vf).code;
    const out = $(root, "#verify-out");
    if (!code) { mount(root.querySelector('[data-for="code"]'), html`请输入券码`); return; }
    root.querySelector('[data-for="code"]').textContent = "";
    busy(vf.querySelector("button"), async () => {
      const r = await api.post("/vouchers/verify", { code });
      const v = r.voucher;
      notice(out, r.valid ? "ok" : "warn", html`${r.valid ? "有效" : `不可用：${label(VERIFY_REASON, r.reason)}`}
        ${v ? html`<br>券码 <span class="mono">${v.code}</span> · ${v.batch.name} · ${fmtMoney(v.batch.face_value_fen)} ·
          持券人 ${v.holder.name_masked}（${v.holder.id_number_masked}）· 状态 ${label(VOUCHER_STATUS, v.status)}` : ""}`);
    }, (err) => notice(out, "error", errorText(err)));
  };
}

async function batchView(root, api, id, navigate) {
  const [b, names, { items, total }] = await Promise.all([
    api.get(`/voucher-batches/${id}`), occupations(api), api.list(`/voucher-batches/${id}/vouchers`, { per_page: 500 })]);
  const el = b.eligibility || {};
  mount(root, html`
    <p><a href="#/vouchers">← 全部批次</a></p>
    <section class="card" data-batch="${b.id}"><div class="card-head"><h1>${b.name}</h1>${badge(label(BATCH_STATUS, b.status))}</div>
      <dl class="kv small">
        <dt>适用职业</dt><dd>${b.occupation_codes.map((c) => occupationLabel(names, c)).join("、")}</dd>
        <dt>发放区划</dt><dd>${regionName(b.region_code)}</dd>
        <dt>数量</dt><dd>剩余 ${b.remaining} / 共 ${b.quantity} 张，面值 ${fmtMoney(b.face_value_fen)}</dd>
        <dt>资金来源</dt><dd class="funding">${b.funding_source || "—"}</dd>
        <dt>领取期</dt><dd>${fmtDateTime(b.claim_starts_at)} 至 ${fmtDateTime(b.claim_ends_at)}，领取后 ${b.valid_days} 天内有效</dd>
        <dt>适用人员</dt><dd>${(el.groups || []).map((g) => label(GROUPS, g)).join("、") || "不限类别"}${el.age_min != null || el.age_max != null ? `，年龄 ${el.age_min ?? "—"}–${el.age_max ?? "—"} 岁` : ""}${(el.household_regions || []).length ? `，户籍 ${el.household_regions.join("、")}` : ""}${b.directed ? "，定向发放" : ""}</dd>
        <dt>适用机构</dt><dd>${b.institution_ids ? b.institution_ids.map((i) => `#${i}`).join("、") : "辖区内全部机构"}</dd>
        <dt>人脸核验</dt><dd>${b.claim_requires_face ? "领取时须人脸核验" : "否"}</dd>
      </dl>
      <p class="small"><a href="#/audit?object_type=voucher_batch&object_id=${b.id}">查看审计记录</a></p></section>
    <section class="card"><h2>领取名单（${total}）</h2>
      ${items.length ? html`<div class="table-wrap"><table class="claimants">
        <thead><tr><th>券码</th><th>持券人</th><th>身份证号</th><th>状态</th><th>领取时间</th><th>有效期至</th><th></th></tr></thead>
        <tbody>${items.map((v) => html`<tr data-code="${v.code}"><td class="mono">${v.code}</td><td>${v.name_masked}</td>
          <td class="mono">${v.id_number_masked}</td><td class="status">${label(VOUCHER_STATUS, v.status)}</td>
          <td class="nowrap">${fmtDateTime(v.claimed_at)}</td><td class="nowrap">${fmtDateTime(v.expires_at)}</td>
          <td>${VOIDABLE.has(v.status) ? html`<button type="button" class="danger small void">作废</button>` : ""}</td></tr>`)}</tbody></table></div>`
        : emptyState("还没有人领取")}</section>`);
  $$(root, "button.void").forEach((btn) => {
    btn.onclick = () => busy(btn, async () => {
      const reason = window.prompt("请填写作废原因（记入审计）：");
      if (!reason || !reason.trim()) return;
      await api.post(`/vouchers/${btn.closest("tr").dataset.code}/void`, { reason: reason.trim() });
      toast("已作废", "ok");
      navigate("vouchers", { batch: id, t: Date.now() });
    }, (err) => toast(errorText(err), "error"));
  });
}

export default {
  title: "培训券",
  async render({ root, api, user, query, navigate }) {
    const id = query.get("batch");
    if (id) await batchView(root, api, id, navigate);
    else await listView(root, api, user, navigate);
  },
};
