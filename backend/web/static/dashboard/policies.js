// Policies per region (shared/DESIGN.md "Policy per region"): the parameters in force for a chosen region
// and day (with the version that set each one, and which differ from the built-in defaults), the versions
// the user may see, and a form to add a version. Kinds, bounds, defaults and every check come from the API
// (GET /policies/effective, POST /policies); the page only words them in Chinese.
import { $, $$, html, mount, showFieldErrors } from "../common/html.js";
import { badge, busy, emptyState, errorText, notice, toast } from "../common/ui.js";
import { GROUPS, fieldErrors, fmtDate, fmtDateTime, fmtMoney, label, regionName } from "../common/format.js";
import { occupationLabel, occupations } from "./catalogue.js";

// key → [Chinese name, unit]; unit "fen" shows money, "" a bare value. Unknown keys show the key itself.
const PARAM_TEXT = {
  checkin_open_before_min: ["课前开放签到", "分钟"],
  checkout_close_after_min: ["课后签退截止", "分钟"],
  credit_grace_min: ["迟到/早退宽限", "分钟"],
  accuracy_max_m: ["定位精度上限", "米"],
  default_radius_m: ["新场地默认签到半径", "米"],
  require_site_qr: ["手机签到须扫现场码", ""],
  kiosk_face_max_distance: ["考勤机人脸比对最大距离", ""],
  plan_change_days: ["方案变更截止（开班前）", "天"],
  lesson_change_hours: ["课次时间变更截止（课前）", "小时"],
  filing_lead_working_days: ["方案备案提前", "个工作日"],
  registration_lead_days: ["报名截止（开班前）", "天"],
  online_share_max_percent: ["线上课时占比上限", "%"],
  online_only_occupations: ["允许纯线上培训的职业（工种）", ""],
  completion_min_percent: ["结业所需课时比例", "%"],
  subsidy_rate_fen_per_hour: ["每课时补贴标准", "fen"],
  subsidy_standards_fen: ["按职业的项目补贴标准（每人）", "fen"],
  subsidy_ratio_percent: ["按人员类别的补贴比例（其他 100%）", "%"],
  annual_cap_fen: ["每人每年补贴上限", "fen"],
  claim_deadline_months: ["补贴申请期限（培训结束后）", "个月"],
  publicity_working_days: ["公示期", "个工作日"],
  review_deadline_working_days: ["结业审核时限", "个工作日"],
  payment_deadline_working_days: ["拨付时限（公示结束后）", "个工作日"],
  living_allowance_fen_per_day: ["线上培训生活费补贴（每天，0 为不发放）", "fen"],
  living_allowance_groups: ["生活费补贴适用人员类别", ""],
};
const paramName = (key) => (PARAM_TEXT[key] || [key])[0];
const paramUnit = (key) => (PARAM_TEXT[key] || [key, ""])[1];

// The reasons of 422 invalid_policy (backend/domain/policy.py, backend/services/policies.py), in words.
function policyReason(d) {
  const range = d.min !== undefined && d.max !== undefined ? `（${d.min}–${d.max}）` : "";
  switch (d.reason) {
    case "unknown_key": return "未知参数";
    case "not_boolean": return "请选择“是”或“否”";
    case "not_a_number": return "请输入数字";
    case "not_an_integer": return "须为整数";
    case "out_of_range": return `超出允许范围${range}`;
    case "not_a_list": return "须为代码列表";
    case "bad_item": return `代码格式不正确：${d.item ?? ""}`;
    case "not_a_mapping": return "格式应为 代码:数值";
    case "bad_key": return `代码格式不正确：${d.item ?? ""}`;
    case "bad_value": return `“${d.item ?? ""}”的数值须为 0–${d.max ?? ""} 的整数`;
    case "empty": return "请至少设置一个参数";
    case "in_the_past": return `生效日期不能早于今天（${d.today ?? ""}）`;
    default:
      if (d.field === "region_code") return "区划代码须为 2、4 或 6 位数字，全国留空";
      return "取值不正确";
  }
}

const regionText = (code) => regionName(code);

/** Canonical JSON of a parameter value (lists and mappings compared regardless of order). */
function canon(v) {
  if (Array.isArray(v)) return JSON.stringify([...v].map(String).sort());
  if (v && typeof v === "object") return JSON.stringify(Object.keys(v).sort().map((k) => [k, v[k]]));
  return JSON.stringify(v);
}
const sameValue = (a, b) => canon(a) === canon(b);

// The occupation catalogue (code → name), loaded once when the page renders.
let OCCUPATIONS = {};

/** A parameter value in words, with its unit. */
function fmtParam(key, kind, v) {
  const unit = paramUnit(key);
  if (kind === "bool") return v ? "是" : "否";
  if (kind === "codes") return v && v.length ? v.map((c) => occupationLabel(OCCUPATIONS, c)).join("、") : "不限";
  if (kind === "groups") return v && v.length ? v.map((g) => label(GROUPS, g)).join("、") : "（无）";
  if (kind === "fen_by_code") {
    const e = Object.entries(v || {});
    return e.length ? e.map(([k, n]) => `${occupationLabel(OCCUPATIONS, k)}：${fmtMoney(n)}`).join("；") : "（未设置）";
  }
  if (kind === "percent_by_group") {
    const e = Object.entries(v || {});
    return e.length ? e.map(([k, n]) => `${label(GROUPS, k)} ${n}%`).join("；") : "（未设置）";
  }
  if (unit === "fen") return `${fmtMoney(v)}（${v} 分）`;
  return unit ? `${v} ${unit}` : String(v);
}

/** How a kind is typed into the form. */
const INPUT_HINT = {
  int: "整数", number: "数字", bool: "",
  codes: "职业（工种）代码，逗号分隔，如 4-04-05-01", groups: "人员类别代码，逗号分隔，如 unemployed",
  fen_by_code: "职业代码:金额（分），逗号分隔，如 4-03-02-03:150000", percent_by_group: "人员类别:百分比，逗号分隔，如 unemployed:80",
};

const splitList = (text) => text.split(/[,，、;；\s]+/).map((s) => s.trim()).filter(Boolean);

/**
 * The value typed for a key, as the API takes it: undefined when left empty (not set by this version).
 * Numbers that do not parse go to the API as typed, so its validation (one rule, one place) words the error.
 */
function readValue(kind, raw) {
  const text = raw.trim();
  if (!text) return undefined;
  if (kind === "bool") return text === "true";
  if (kind === "int" || kind === "number") return /^-?\d+(\.\d+)?$/.test(text) ? Number(text) : text;
  if (kind === "codes" || kind === "groups") return splitList(text);
  const out = {};
  for (const item of splitList(text)) {
    const m = /^([^:：=]+)[:：=](-?\d+)$/.exec(item);
    if (!m) throw new Error(`“${item}”应写成 代码:数值`);
    out[m[1].trim()] = Number(m[2]);
  }
  return out;
}

function paramInput(key, spec, def) {
  const defText = `默认：${fmtParam(key, spec.kind, def)}`;
  const bounds = spec.min !== null && spec.min !== undefined ? `，范围 ${spec.min}–${spec.max}` : "";
  const unit = paramUnit(key) === "fen" ? "（单位：分）" : paramUnit(key) ? `（${paramUnit(key)}）` : "";
  const control = spec.kind === "bool"
    ? html`<select name="${key}"><option value="">不设置（沿用上级或默认）</option><option value="true">是</option><option value="false">否</option></select>`
    : html`<input name="${key}" autocomplete="off" inputmode="${spec.kind === "int" || spec.kind === "number" ? "decimal" : "text"}"
        placeholder="不设置（沿用上级或默认）">`;
  return html`
    <div class="param-field" data-key="${key}">
      <label>${paramName(key)}${unit} <span class="mono small muted">${key}</span>${control}</label>
      <small class="muted default-hint">${defText}${INPUT_HINT[spec.kind] ? `；${INPUT_HINT[spec.kind]}` : ""}${bounds}</small>
      <span class="diff-mark"></span>
      <small class="field-error" data-for="${key}"></small>
    </div>`;
}

export default {
  title: "政策参数",
  async render({ root, api, user, query, isCurrent }) {
    OCCUPATIONS = await occupations(api);
    const own = user.role === "admin" ? "" : (user.region_code || "");
    const chosen = { region_code: query.has("region_code") ? query.get("region_code") : own, on: query.get("on") || "" };
    const scopeText = user.role === "admin"
      ? "管理员可为任何区划（含全国）添加版本。"
      : `您可为本辖区（${own}）及其下级区划添加版本；全国和省级版本由上级部门或管理员设置。`;
    mount(root, html`
      <div class="card-head"><h1>政策参数</h1></div>
      <p class="muted small">每个地区的规则数值按版本保存：区划代码越长越优先（区县 → 市 → 省 → 全国 → 内置默认值），
        新版本从生效日期起适用，已提交的培训方案沿用提交时的版本。版本不能修改，调整即新增版本。${scopeText}</p>
      <div id="added"></div>
      <form class="card form-grid compact" id="choose" novalidate>
        <label>行政区划代码<input name="region_code" value="${chosen.region_code}" placeholder="全国" inputmode="numeric" maxlength="6"></label>
        <label>日期<input name="on" type="date" value="${chosen.on}"></label>
        <div style="align-self:end"><button class="primary block" type="submit">查看生效参数</button></div>
        <small class="field-error" data-for="region_code" style="grid-column:1/-1"></small>
      </form>
      <section class="card" id="effective"><p class="muted">加载中…</p></section>
      <section class="card" id="versions"><p class="muted">加载中…</p></section>
      <section class="card" id="add"><p class="muted">加载中…</p></section>`);

    $(root, "#choose").onsubmit = (e) => {
      e.preventDefault();
      const f = e.target;
      const q = { region_code: f.elements.region_code.value.trim() };
      if (f.elements.on.value) q.on = f.elements.on.value;
      location.hash = `#/policies?${new URLSearchParams(q)}`;
    };

    let eff;
    try {
      eff = await api.get("/policies/effective", { region_code: chosen.region_code, on: chosen.on });
    } catch (err) {
      if (!isCurrent()) return;
      showFieldErrors($(root, "#choose"), fieldErrors(err));
      mount($(root, "#effective"), html`<div class="notice notice-error" role="alert">${errorText(err)}</div>`);
      eff = await api.get("/policies/effective", { region_code: own });
    }
    const { items: versions, total } = await api.list("/policies", { per_page: 500 });
    if (!isCurrent()) return;
    const specs = eff.parameters || {};
    const defaults = eff.defaults || {};
    // The page's order (by topic: attendance, plans, online, subsidy, deadlines), then any key it does not know.
    const keys = [...Object.keys(PARAM_TEXT).filter((k) => k in specs), ...Object.keys(specs).filter((k) => !(k in PARAM_TEXT))];
    const kindOf = (key) => (specs[key] || {}).kind;
    const byId = new Map(versions.map((v) => [v.id, v]));

    // ---- in force for the chosen region and day
    if (!$(root, "#effective .notice-error")) {
      const differs = keys.filter((k) => !sameValue(eff.params[k], defaults[k]));
      const inForce = new Set(Object.values(eff.sources).filter((id) => id !== null));
      mount($(root, "#effective"), html`
        <div class="card-head"><h2>${regionText(eff.region_code)} ${fmtDate(eff.on)} 生效的参数</h2>
          <span class="muted small" id="differs-count">${differs.length} 项与内置默认值不同</span></div>
        <p class="small muted">生效版本：${inForce.size
          ? [...inForce].sort((a, b) => a - b).map((id) => {
            const v = byId.get(id);
            return v ? `#${id}（${regionText(v.region_code)}，${v.effective_from} 起）` : `#${id}`;
          }).join("、")
          : "无（全部为内置默认值）"}</p>
        <div class="table-wrap"><table class="effective">
          <thead><tr><th>参数</th><th>生效值</th><th>内置默认值</th><th>来源</th></tr></thead>
          <tbody>${keys.map((k) => {
            const diff = differs.includes(k);
            const src = eff.sources[k];
            return html`<tr data-key="${k}" class="${diff ? "differs" : ""}">
              <td>${paramName(k)}<br><span class="mono small muted">${k}</span></td>
              <td>${fmtParam(k, kindOf(k), eff.params[k])} ${diff ? badge("与默认不同", "warn") : ""}</td>
              <td class="muted">${fmtParam(k, kindOf(k), defaults[k])}</td>
              <td>${src === null || src === undefined ? html`<span class="muted">内置默认</span>`
                : html`版本 #${src}（${regionText(byId.get(src)?.region_code ?? "")}）`}</td></tr>`;
          })}</tbody></table></div>`);
    }

    // ---- versions the user can see
    const inForceIds = new Set(Object.values(eff.sources || {}).filter((id) => id !== null));
    mount($(root, "#versions"), html`
      <div class="card-head"><h2>政策版本</h2><span class="muted small">共 ${total} 个版本</span></div>
      ${versions.length ? html`<div class="table-wrap"><table class="versions">
        <thead><tr><th>版本</th><th>区划</th><th>生效日期</th><th>设置的参数</th><th>创建人</th><th>创建时间</th><th>说明</th><th></th></tr></thead>
        <tbody>${[...versions].reverse().map((v) => html`<tr data-version="${v.id}">
          <td class="nowrap">#${v.id} ${inForceIds.has(v.id) ? badge("生效中", "ok") : ""}</td>
          <td class="nowrap"><a href="#/policies?${new URLSearchParams({ region_code: v.region_code })}">${regionText(v.region_code)}</a></td>
          <td class="nowrap">${v.effective_from}</td>
          <td><ul class="param-list">${Object.entries(v.params || {}).map(([k, val]) => html`<li>
            ${paramName(k)}：${fmtParam(k, kindOf(k), val)}
            ${sameValue(val, defaults[k]) ? html`<span class="muted small">（同默认）</span>` : badge("与默认不同", "warn")}</li>`)}</ul></td>
          <td>${v.created_by_name || (v.created_by ? `#${v.created_by}` : "—")}</td>
          <td class="nowrap">${fmtDateTime(v.created_at)}</td>
          <td>${v.note || ""}</td>
          <td><a class="small audit-link" href="#/audit?object_type=policy&object_id=${v.id}">审计记录</a></td></tr>`)}</tbody></table></div>`
        : emptyState("尚无政策版本：各地区均使用内置默认值。")}`);

    // ---- add a version
    const addRegion = chosen.region_code || own;
    mount($(root, "#add"), html`
      <h2>新增政策版本</h2>
      <p class="small muted">只填写要调整的参数，留空的参数沿用上级区划或内置默认值。与内置默认值不同的参数会标出。</p>
      <form id="add-form" novalidate>
        <div class="form-grid">
          <div><label>行政区划代码<input name="region_code" value="${addRegion}" placeholder="全国留空" inputmode="numeric" maxlength="6"></label>
            <small class="field-error" data-for="region_code"></small></div>
          <div><label>生效日期<input name="effective_from" type="date" value="${eff.on}" min="${eff.on}"></label>
            <small class="field-error" data-for="effective_from"></small></div>
          <div><label>说明（可选）<input name="note" maxlength="500" placeholder="如：依据某某文件"></label>
            <small class="field-error" data-for="note"></small></div>
        </div>
        <small class="field-error" data-for="params"></small>
        <div class="param-grid">${keys.map((k) => paramInput(k, specs[k], defaults[k]))}</div>
        <div id="add-msg" class="form-msg" role="alert"></div>
        <button class="primary" type="submit">保存新版本</button>
      </form>`);
    const form = $(root, "#add-form");

    // Mark each filled parameter as differing from (or equal to) its built-in default while typing.
    const markDiff = (field) => {
      const key = field.dataset.key;
      const slot = $(field, ".diff-mark");
      let value;
      try { value = readValue(kindOf(key), form.elements[key].value); } catch { value = undefined; }
      field.classList.toggle("differs", value !== undefined && !sameValue(value, defaults[key]));
      if (value === undefined) mount(slot, "");
      else mount(slot, sameValue(value, defaults[key]) ? html`<span class="muted small">与默认值相同</span>` : badge("与默认不同", "warn"));
    };
    $$(form, ".param-field").forEach((field) => {
      const input = form.elements[field.dataset.key];
      input.addEventListener("input", () => markDiff(field));
      input.addEventListener("change", () => markDiff(field));
    });

    form.onsubmit = async (e) => {
      e.preventDefault();
      const msg = $(root, "#add-msg");
      msg.textContent = "";
      notice($(root, "#added"), null);
      const params = {};
      const local = {};
      for (const k of keys) {
        try {
          const v = readValue(kindOf(k), form.elements[k].value);
          if (v !== undefined) params[k] = v;
        } catch (err) {
          local[k] = err.message;
        }
      }
      if (showFieldErrors(form, local)) { msg.textContent = "请按提示修改标出的参数"; return; }
      const body = {
        region_code: form.elements.region_code.value.trim(),
        effective_from: form.elements.effective_from.value,
        params,
        note: form.elements.note.value.trim() || null,
      };
      const made = await busy(form.querySelector("button[type=submit]"), () => api.post("/policies", body), (err) => {
        if (err.code === "invalid_policy") {
          const d = err.details || {};
          showFieldErrors(form, { [d.field || "params"]: policyReason(d) });
          msg.textContent = d.field && d.field in PARAM_TEXT
            ? `政策参数不正确：${paramName(d.field)}${policyReason(d)}`
            : `政策参数不正确：${policyReason(d)}`;
        } else if (err.code === "forbidden") {
          const region = err.details?.region_code ?? body.region_code;
          showFieldErrors(form, { region_code: "无权为该区划添加版本" });
          msg.textContent = user.role === "supervisor"
            ? `无权为${region ? `区划 ${region} ` : "全国"}添加政策版本：监管人员只能为本辖区（${own}）及其下级区划添加，全国和上级区划的版本由管理员设置。`
            : errorText(err);
        } else {
          showFieldErrors(form, fieldErrors(err));
          msg.textContent = errorText(err);
        }
      });
      if (!made) return;
      toast(`已新增政策版本 #${made.id}`, "ok");
      // Show the region the version belongs to, on its first day, with what now differs from the defaults.
      location.hash = `#/policies?${new URLSearchParams({ region_code: made.region_code, on: made.effective_from, added: made.id })}`;
    };

    if (query.get("added")) {
      const id = Number(query.get("added"));
      const v = byId.get(id);
      if (v) notice($(root, "#added"), "ok", html`已新增版本 #${id}（${regionText(v.region_code)}，${v.effective_from} 起生效）。`);
    }
  },
};
