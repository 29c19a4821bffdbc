// Review queues of the region: plans to approve, change requests of approved plans (occupation, type,
// delivery: before → after, approve or reject with a reason), make-ups (with both photos), completions (with the
// trainees' trust flags, and a decision for each trainee a blocking flag holds), subsidy claims
// (approve; record objections received during publicity and settle them; reject; disburse by a second person after
// publicity once no objection is open; the completion's decisions listed) and kiosks: activation of
// kiosks institutions registered, and those offline or whose clocks drift.
import { $, html, mount, showFieldErrors } from "../common/html.js";
import { badge, busy, confirmAction, emptyState, errorText, loading, toast } from "../common/ui.js";
import {
  DELIVERY, claimStatusLabel, FLAGS, KIND, PLAN_TYPE, fmtDate, fmtDateTime, fmtHours, fmtMoney, fmtShort, fmtTime, label,
  fieldErrors,
} from "../common/format.js";
import { serverNow } from "../common/api.js";
import { decisionsTable, flaggedSummary, planFlagBadges } from "../common/trust.js";
import { occupationLabel, occupations } from "./catalogue.js";
import { changeTable } from "../common/plan_changes.js";

const OBJECTION_STATUS = { open: "待处理", dismissed: "异议不成立", upheld: "异议成立" };

const TABS = [
  ["plans", "方案审核"], ["changes", "方案变更"], ["makeups", "补卡审核"], ["completions", "结业审核"], ["subsidies", "补贴审核与拨付"],
  ["kiosks", "考勤机状态"],
];
const LIMITED = { hours: "按课时", voucher: "券面值封顶", annual_cap: "年度上限核减" };
const NOT_PAID = {
  not_completed: "课时未达结业要求", not_passed: "考核不合格", not_eligible: "不符合补贴条件",
  voucher_not_usable: "培训券不可用", no_certificate: "无培训证书", excluded: "审核排除",
};

const institutionNames = new Map();
async function institutionName(api, id) {
  if (!institutionNames.has(id)) {
    institutionNames.set(id, api.get(`/institutions/${id}`).then((i) => i.name).catch(() => `机构 #${id}`));
  }
  return institutionNames.get(id);
}

async function plansTab(el, api, status) {
  const { items, total } = await api.list("/plans", { status, per_page: 50 });
  const [names, occ] = await Promise.all([Promise.all(items.map((p) => institutionName(api, p.institution_id))), occupations(api)]);
  const approving = status === "submitted";
  mount(el, html`
    <p class="muted small">共 ${total} 个${approving ? "待审核方案" : "结业申请"}。</p>
    ${items.length ? items.map((p, i) => html`
      <article class="card" data-plan="${p.id}">
        <div class="card-head"><h3>${p.title}</h3><span class="muted small">${names[i]}</span></div>
        <dl class="kv small">
          <dt>职业（工种）</dt><dd>${occupationLabel(occ, p.occupation_code)}</dd>
          <dt>类型</dt><dd>${label(PLAN_TYPE, p.plan_type)} · ${label(DELIVERY, p.delivery)}${p.online_platform ? `（${p.online_platform}）` : ""}</dd>
          <dt>培训日期</dt><dd>${fmtDate(p.starts_on)} 至 ${fmtDate(p.ends_on)}</dd>
          <dt>课时</dt><dd>线下 ${fmtHours(p.class_hours?.offline)} · 线上 ${fmtHours(p.class_hours?.online)}</dd>
          <dt>参训人数</dt><dd>${p.enrolled}</dd>
          ${approving ? html`<dt>提交时间</dt><dd>${fmtDateTime(p.submitted_at)}</dd>`
            : p.completion_submitted_at ? html`<dt>结业申请</dt><dd>${fmtDateTime(p.completion_submitted_at)}</dd>` : ""}
        </dl>
        ${approving ? "" : html`<section class="evidence">${loading("正在加载成绩与课时…")}</section>
          <section class="trust">${loading("正在加载可信度标记…")}</section>`}
        <details class="more"><summary>${approving ? "查看课次安排" : "查看学员课时"}</summary><div class="more-body">加载中…</div></details>
        <div class="result"></div>
        <div class="row">
          ${approving
            ? html`<button type="button" class="primary approve">通过</button><button type="button" class="danger reject">驳回</button>`
            : html`<button type="button" class="primary complete">通过结业审核（发证并生成补贴申请）</button>`}
          <a class="small" href="#/audit?object_type=plan&object_id=${p.id}">审计记录</a>
        </div>
        ${approving ? "" : html`<form class="reject-completion" novalidate>
          <label>驳回原因（将告知培训机构，机构修改后可重新申请）<input name="reason" maxlength="1000" autocomplete="off"></label>
          <small class="field-error" data-for="reason"></small>
          <button type="submit" class="danger">驳回结业申请</button></form>`}
      </article>`) : emptyState(approving ? "没有待审核的培训方案" : "没有待审核的结业申请")}`);

  el.querySelectorAll("details.more").forEach((d) => {
    d.addEventListener("toggle", async () => {
      if (!d.open || d.dataset.loaded) return;
      d.dataset.loaded = "1";
      const id = d.closest("article").dataset.plan;
      const box = d.querySelector(".more-body");
      try {
        if (approving) {
          const plan = await api.get(`/plans/${id}`);
          mount(box, html`<div class="table-wrap"><table><thead><tr><th>课次</th><th>方式</th><th>时间</th><th>课时</th></tr></thead>
            <tbody>${(plan.lessons || []).map((l) => html`<tr><td>${l.title}</td><td>${l.mode === "online" ? "线上" : "线下"}</td>
              <td class="nowrap">${fmtShort(l.starts_at)}–${fmtTime(l.ends_at)}</td><td>${l.class_hours}</td></tr>`)}</tbody></table></div>`);
        } else {
          const h = await api.get(`/plans/${id}/hours`);
          mount(box, html`<div class="table-wrap"><table><thead><tr><th>姓名</th><th>线下</th><th>线上</th><th>合计</th></tr></thead>
            <tbody>${h.trainees.map((t) => html`<tr><td>${t.name}</td><td>${t.offline_hours}</td><td>${t.online_hours}</td><td>${t.total_hours}</td></tr>`)}</tbody></table></div>`);
        }
      } catch (err) {
        mount(box, html`<div class="notice notice-error">${errorText(err)}</div>`);
      }
    });
  });
  const act = (sel, fn) => el.querySelectorAll(sel).forEach((btn) => {
    btn.onclick = () => {
      const card = btn.closest("article");
      busy(btn, () => fn(card, card.dataset.plan), (err) => mount($(card, ".result"), html`<div class="notice notice-error">${errorText(err)}</div>`));
    };
  });
  act("button.approve", async (card, id) => {
    await api.post(`/plans/${id}/approve`, {});
    toast("已通过", "ok");
    card.remove();
  });
  act("button.reject", async (card, id) => {
    const reason = window.prompt("请填写驳回原因（将告知培训机构）：");
    if (!reason || !reason.trim()) return;
    await api.post(`/plans/${id}/reject`, { reason: reason.trim() });
    toast("已驳回", "ok");
    card.remove();
  });
  act("button.complete", (card, id) => approveCompletion(api, card, id));
  el.querySelectorAll("form.reject-completion").forEach((form) => {
    form.onsubmit = (e) => {
      e.preventDefault();
      const card = form.closest("article");
      const reason = form.elements.reason.value.trim();
      if (showFieldErrors(form, reason.length >= 2 ? {} : { reason: "请填写驳回原因（至少 2 个字）" })) return;
      busy(form.querySelector("button"), async () => {
        await api.post(`/plans/${card.dataset.plan}/completion/reject`, { reason });
        mount($(card, ".result"), html`<div class="notice notice-ok rejected">已驳回结业申请：${reason}。培训机构修改后可重新申请。</div>`);
        card.querySelectorAll("button.complete, form.reject-completion, .trust input").forEach((x) => { if (x.matches("input")) x.disabled = true; else x.remove(); });
      }, (err) => { showFieldErrors(form, fieldErrors(err)); mount($(card, ".result"), html`<div class="notice notice-error">${errorText(err)}</div>`); });
    };
  });
  if (!approving) {
    await Promise.all(Array.from(el.querySelectorAll("article[data-plan]"), (card) => Promise.all([loadTrust(api, card), loadEvidence(api, card)])));
  }
}

const SOURCE_NAME = { mobile: "手机", kiosk: "考勤机", makeup: "补卡", online: "线上" };
const sourceName = (key) => key.split("+").map((k) => SOURCE_NAME[k] || k).join("+");
const NO_SUBSIDY = { not_completed: "课时未达标", not_passed: "考核不合格", not_eligible: "不符合补贴条件", voucher_not_usable: "培训券不可用" };

/** Per trainee: the result, credited hours by how they were proven, the trust flags and the subsidy the policy
 * would pay if the completion is approved now (GET /plans/{id}/completion/preview). */
async function loadEvidence(api, card) {
  const box = $(card, ".evidence");
  const id = card.dataset.plan;
  try {
    const [h, preview, flags] = await Promise.all([
      api.get(`/plans/${id}/hours`), api.get(`/plans/${id}/completion/preview`, { per_page: 500 }), api.get(`/plans/${id}/flags`)]);
    const byPerson = new Map(preview.map((r) => [r.person_id, r]));
    const flagged = new Map(flags.map((f) => [f.person_id, f]));
    const total = preview.reduce((sum, r) => sum + (r.amount_fen || 0), 0);
    mount(box, html`<h4>学员成绩、认定课时与补贴测算</h4><div class="table-wrap"><table class="evidence-table">
      <thead><tr><th>姓名</th><th>成绩</th><th>认定课时（按来源）</th><th>合计</th><th>可信度</th><th>补贴测算</th></tr></thead>
      <tbody>${h.trainees.map((t) => {
        const r = byPerson.get(t.person_id) || {};
        const f = flagged.get(t.person_id);
        const sources = Object.entries(t.by_source || {});
        return html`<tr data-person="${t.person_id}"><td>${t.name}</td>
          <td>${r.score == null ? badge("未录入", "warn") : html`${r.score} ${r.passed ? badge("合格", "ok") : badge("不合格", "error")}`}</td>
          <td class="small">${sources.length ? sources.map(([k, v]) => `${sourceName(k)} ${v}`).join("，") : "—"}</td>
          <td><b>${t.total_hours}</b>${r.completed === false ? html` ${badge("未达标", "warn")}` : ""}</td>
          <td>${f ? planFlagBadges(f) : "—"}</td>
          <td class="nowrap amount">${r.amount_fen == null ? html`<span class="small muted">${(r.reasons || []).map((x) => NO_SUBSIDY[x] || x).join("、") || "—"}</span>` : fmtMoney(r.amount_fen)}</td></tr>`;
      })}</tbody></table></div>
      <p class="small muted">补贴测算合计 ${fmtMoney(total)}：按方案适用的政策版本测算，未计可信度标记的决定；通过审核后逐人核定，见“补贴审核与拨付”。</p>`);
  } catch (err) {
    mount(box, html`<div class="notice notice-error">成绩与课时加载失败：${errorText(err)}</div>`);
  }
}

// ---- completion review: trust flags and a decision per flagged trainee ------------------------------

/** One flagged trainee: the flags, and for a blocking one the decision (accept or exclude, both with a reason). */
function flaggedTrainee(t) {
  const pid = t.person_id;
  return html`<li class="trust-trainee ${t.blocking ? "needs-decision" : ""}" data-person="${pid}" data-name="${t.name}">
    <div class="row"><b>${t.name}</b>${planFlagBadges(t)}</div>
    ${t.blocking ? html`<div class="decision" role="group" aria-label="${t.name} 的审核决定">
        <label class="check"><input type="radio" name="decision-${pid}" value="accept"> 认可（须填写理由）</label>
        <label class="check"><input type="radio" name="decision-${pid}" value="exclude"> 排除（不发证书、不计补贴）</label>
        <label class="reason">理由<input name="reason-${pid}" maxlength="500" autocomplete="off"
          placeholder="如：已调取现场监控，确认本人到课"></label>
        <small class="field-error" data-for="decision-${pid}"></small>
        <small class="field-error" data-for="reason-${pid}"></small>
      </div>` : html`<p class="small muted">仅提示信息，无需决定。</p>`}
  </li>`;
}

function trustView(items) {
  if (!items.length) return html`<p class="small">${badge("无可信度标记", "ok")} 本方案学员没有可信度标记，无需逐人决定。</p>`;
  const blocking = items.some((t) => t.blocking);
  return html`<h4>可信度标记</h4>
    <p class="small">${flaggedSummary(items)}。${blocking
      ? "认可须写明核实依据；排除的学员不发证书、不计补贴。决定记入审计，并在补贴申请中列明。" : ""}</p>
    <form class="decisions" novalidate><ul class="trust-list">${items.map(flaggedTrainee)}</ul></form>`;
}

/** Load GET /plans/{id}/flags into the card; keeps what the supervisor already chose. */
async function loadTrust(api, card) {
  const box = $(card, ".trust");
  const before = $(card, "form.decisions") ? readChoices($(card, "form.decisions")) : {};
  try {
    const items = await api.get(`/plans/${card.dataset.plan}/flags`);
    mount(box, trustView(items));
    const form = $(box, "form.decisions");
    if (form) {
      form.onsubmit = (e) => e.preventDefault(); // Enter in a reason field must not approve
      form.addEventListener("change", (e) => settleMissing(e.target.closest("li")));
      restoreChoices(form, before);
    }
  } catch (err) {
    mount(box, html`<div class="notice notice-error">可信度标记加载失败：${errorText(err)}</div>`);
  }
}

/** A choice was made: the trainee is no longer marked as missing a decision. */
function settleMissing(li) {
  if (!li || !li.classList.contains("missing")) return;
  li.classList.remove("missing");
  const slot = li.querySelector('.field-error[data-for^="decision-"]');
  if (slot) slot.textContent = "";
}

/** {person_id: {choice, reason}} as typed so far, for every trainee with a decision control. */
function readChoices(form) {
  const out = {};
  form.querySelectorAll("li[data-person]").forEach((li) => {
    const pid = li.dataset.person;
    const radios = form.elements[`decision-${pid}`];
    if (!radios) return;
    out[pid] = { choice: radios.value || "", reason: (form.elements[`reason-${pid}`]?.value || "").trim() };
  });
  return out;
}

function restoreChoices(form, choices) {
  for (const [pid, c] of Object.entries(choices)) {
    const radio = form.querySelector(`input[name="decision-${pid}"][value="${c.choice}"]`);
    if (radio) radio.checked = true;
    if (form.elements[`reason-${pid}`]) form.elements[`reason-${pid}`].value = c.reason;
  }
}

/** The decisions to send, and field errors for a choice without a reason (the API wants ≥ 2 characters). */
function collectDecisions(form) {
  const decisions = [];
  const errors = {};
  for (const [pid, c] of Object.entries(readChoices(form))) {
    if (!c.choice) continue; // undecided: the server's 409 names everyone still missing
    if (c.reason.length < 2) errors[`reason-${pid}`] = c.choice === "accept" ? "认可须填写理由（至少 2 个字）" : "排除也须填写理由（至少 2 个字）";
    else decisions.push({ person_id: Number(pid), accept: c.choice === "accept", reason: c.reason });
  }
  return { decisions, errors };
}

const nameIn = (card, pid) => $(card, `li[data-person="${pid}"]`)?.dataset.name || `学员 #${pid}`;

/** 409 decisions_required: mark each trainee still without a decision, with the codes the server named. */
async function markMissing(api, card, details) {
  const ids = (details.person_ids || []).map(String);
  // A flag raised since the page loaded (a re-verification) names someone not on screen yet: reload.
  if (ids.some((pid) => !$(card, `li[data-person="${pid}"] input[type=radio]`))) await loadTrust(api, card);
  const form = $(card, "form.decisions");
  const errors = {};
  for (const pid of ids) {
    const codes = (details.flags || {})[pid] || [];
    errors[`decision-${pid}`] = `尚未决定：请选择“认可”或“排除”并填写理由${codes.length ? `（${codes.map((c) => label(FLAGS, c)).join("、")}）` : ""}`;
  }
  if (form) {
    showFieldErrors(form, errors);
    form.querySelectorAll("li.missing").forEach((li) => li.classList.remove("missing"));
    ids.forEach((pid) => $(form, `li[data-person="${pid}"]`)?.classList.add("missing"));
    $(form, "li.missing input[type=radio]")?.focus();
  }
  mount($(card, ".result"), html`<div class="notice notice-warn" role="alert">
    还有 ${ids.length} 名学员带有须决定的可信度标记，尚未作出决定：<b>${ids.map((pid) => nameIn(card, pid)).join("、")}</b>。
    请逐人选择“认可”（写明理由）或“排除”后再通过结业审核。</div>`);
}

async function approveCompletion(api, card, id) {
  const form = $(card, "form.decisions");
  const { decisions, errors } = form ? collectDecisions(form) : { decisions: [], errors: {} };
  if (form) {
    showFieldErrors(form, errors);
    if (Object.keys(errors).length) return;
  }
  const excluded = decisions.filter((d) => !d.accept).length;
  if (!confirmAction(`通过后将向合格学员发放证书，并生成补贴申请${excluded ? `（审核排除 ${excluded} 人，不发证书、不计补贴）` : ""}。确定？`)) return;
  let r;
  try {
    r = await api.post(`/plans/${id}/completion/approve`, { decisions });
  } catch (err) {
    if (err.code === "decisions_required") { await markMissing(api, card, err.details); return; }
    throw err;
  }
  showApproved(card, r, decisions);
}

function showApproved(card, r, decisions) {
  const excluded = (r.excluded || []).map((pid) => nameIn(card, pid));
  const accepted = decisions.filter((d) => d.accept).map((d) => nameIn(card, d.person_id));
  mount($(card, ".result"), html`<div class="notice notice-ok approved">
    已通过结业审核，发放证书 ${r.certificates_issued} 张${r.subsidy_claim_id ? html`，补贴申请 #${r.subsidy_claim_id} 已生成，请在“补贴审核与拨付”中处理` : ""}。
    ${excluded.length ? html`<br>审核排除 ${excluded.length} 人：<b class="excluded">${excluded.join("、")}</b>（不发证书、不计补贴）。` : ""}
    ${accepted.length ? html`<br>认可 ${accepted.length} 人：${accepted.join("、")}。` : ""}</div>`);
  card.querySelectorAll(".trust input").forEach((input) => { input.disabled = true; });
  card.querySelector("button.complete").remove();
}

const PHOTO = { sign_sheet: "签到表照片", panorama: "现场全景照片" };

async function changesTab(el, api) {
  const { items, total } = await api.list("/change-requests", { status: "pending", per_page: 50 });
  const names = await Promise.all(items.map((r) => institutionName(api, r.institution_id)));
  mount(el, html`
    <p class="muted small">共 ${total} 条待审核的方案变更申请。方案审核通过后，职业（工种）、培训类型、培训方式的变更须经审核批准才生效；批准时将按当前规则重新核验（变更期限、课时比例、名单中培训券的适用职业）。</p>
    ${items.length ? items.map((r, i) => html`
      <article class="card" data-change="${r.id}" data-plan="${r.plan_id}">
        <div class="card-head"><h3>${r.plan_title}</h3><span class="muted small">${names[i]} · 申请于 ${fmtDateTime(r.requested_at)}</span></div>
        ${changeTable(r)}
        <p>变更原因：<span class="change-reason">${r.reason}</span></p>
        <div class="result"></div>
        <form class="decide-change" novalidate>
          <label>审核意见（驳回时必填，将告知培训机构）<input name="reason" maxlength="1000" autocomplete="off"></label>
          <small class="field-error" data-for="reason"></small>
          <div class="row"><button type="button" class="primary approve-change">批准变更</button>
            <button type="button" class="danger reject-change">驳回变更</button>
            <a class="small" href="#/audit?object_type=plan_change_request&object_id=${r.id}">审计记录</a></div>
        </form>
      </article>`) : emptyState("没有待审核的方案变更申请")}`);
  el.querySelectorAll("form.decide-change").forEach((form) => {
    form.onsubmit = (e) => e.preventDefault();
    form.querySelectorAll("button.approve-change, button.reject-change").forEach((btn) => {
      btn.onclick = () => {
        const card = form.closest("article");
        const approve = btn.classList.contains("approve-change");
        const reason = form.elements.reason.value.trim();
        if (showFieldErrors(form, approve || reason.length >= 2 ? {} : { reason: "驳回须填写原因（至少 2 个字）" })) return;
        busy(btn, async () => {
          await api.post(`/plans/${card.dataset.plan}/change-requests/${card.dataset.change}/${approve ? "approve" : "reject"}`,
            reason ? { reason } : {});
          toast(approve ? "变更已批准，方案已更新" : "变更申请已驳回", "ok");
          card.remove();
        }, (err) => { showFieldErrors(form, fieldErrors(err)); mount($(card, ".result"), html`<div class="notice notice-error">${errorText(err)}</div>`); });
      };
    });
  });
}

async function makeupsTab(el, api, onLeave) {
  const { items, total } = await api.list("/makeups", { status: "pending", per_page: 50 });
  mount(el, html`
    <p class="muted small">共 ${total} 条待审核补卡。补卡只能在课程当天申请，需要签到表照片和现场全景照片。</p>
    ${items.length ? items.map((m) => html`
      <article class="card" data-makeup="${m.id}">
        <div class="card-head"><h3>${m.name || `学员 ${m.person_id}`} · 补${label(KIND, m.kind)}</h3><span class="muted small">申请于 ${fmtDateTime(m.created_at)} · <a class="audit-link" href="#/audit?object_type=makeup_request&object_id=${m.id}">审计记录</a></span></div>
        <p><a href="#/lesson/${m.lesson_id}">${m.lesson_title ? `${m.lesson_title}（${fmtDateTime(m.lesson_starts_at)}）` : `课次 #${m.lesson_id}`}</a> · 原因：${m.reason}</p>
        <div class="photos">
          <figure><img alt="签到表照片" data-photo="sign_sheet" title="点击放大"><figcaption>签到表（点击放大）</figcaption></figure>
          <figure><img alt="现场全景照片" data-photo="panorama" title="点击放大"><figcaption>现场全景（点击放大）</figcaption></figure>
        </div>
        ${(m.photo_reused || []).length ? html`<div class="notice notice-warn photo-reused">疑似重复使用照片：
          ${m.photo_reused.map((r, i) => html`${i ? "；" : ""}本申请的${PHOTO[r.photo] || r.photo}与补卡申请 #${r.makeup_id} 的${PHOTO[r.other_photo] || r.other_photo}是同一张照片`)}。请核实后再决定。</div>` : ""}
        <div class="result"></div>
        <div class="row"><button type="button" class="primary approve">通过（计入课时）</button><button type="button" class="danger reject">驳回</button></div>
      </article>`) : emptyState("没有待审核的补卡申请")}`);
  const urls = [];
  onLeave(() => urls.forEach((u) => URL.revokeObjectURL(u)));
  el.querySelectorAll("img[data-photo]").forEach(async (img) => {
    // Click to see the photo at full size (again, or Esc, to close): a sign sheet's names must be legible.
    img.onclick = () => img.classList.toggle("zoomed");
    img.onkeydown = (e) => { if (e.key === "Escape") img.classList.remove("zoomed"); };
    img.tabIndex = 0;
    const id = img.closest("article").dataset.makeup;
    try {
      const url = await api.imageUrl(`/makeups/${id}/photos/${img.dataset.photo}`);
      urls.push(url);
      img.src = url;
    } catch {
      img.alt = "照片无法加载";
    }
  });
  el.querySelectorAll("button.approve, button.reject").forEach((btn) => {
    btn.onclick = () => {
      const card = btn.closest("article");
      const approve = btn.classList.contains("approve");
      busy(btn, async () => {
        let note = null;
        if (!approve) {
          note = window.prompt("请填写驳回原因：");
          if (!note || !note.trim()) return;
        }
        await api.post(`/makeups/${card.dataset.makeup}/${approve ? "approve" : "reject"}`, note ? { reason: note.trim() } : {});
        toast(approve ? "补卡已通过" : "补卡已驳回", "ok");
        card.remove();
      }, (err) => mount($(card, ".result"), html`<div class="notice notice-error">${errorText(err)}</div>`));
    };
  });
}

/** Why a trainee has no subsidy line; an exclusion at the completion review carries the supervisor's reason. */
function notPaidText(x) {
  return (x.reasons || []).map((r) => (r === "excluded" ? `${label(NOT_PAID, r)}：${x.decision_reason || "—"}` : label(NOT_PAID, r))).join("、");
}

/** The form recording an objection received during publicity (公示): it holds the payout until settled. */
function objectionForm() {
  return html`<form class="record-objection" novalidate>
    <label>记录公示期间收到的异议（来信、来电、来访的内容，记入审计）
      <textarea name="text" rows="2" maxlength="2000" placeholder="如：有学员反映第三次课未实际开课"></textarea></label>
    <small class="field-error" data-for="text"></small>
    <button type="submit" class="small">记录异议</button></form>`;
}

function disburseBlock(c, me) {
  // The two-person rule, stated before anyone clicks: the approver may not pay, and not before 公示 ends.
  if (c.status !== "approved") return "";
  const mine = c.approved_by === me.id;
  // The server's clock (X-Server-Time), not this computer's: it is the one that refuses a payout during 公示.
  const publicityOpen = c.publicity_ends_at && new Date(c.publicity_ends_at) > serverNow();
  const why = mine ? "审核与拨付不能为同一人：您是本申请的审核人。按“审核与拨付分离”的两人原则，拨付必须由另一名监管人员操作。"
    : publicityOpen ? `公示期至 ${fmtDateTime(c.publicity_ends_at)} 结束，期满无异议后才能拨付。` : "";
  return html`<div class="notice notice-warn two-person small">
      两人原则：审核人 <b class="approver">${c.approved_by_name || `用户 #${c.approved_by}`}</b>${mine ? "（您）" : ""}，于 ${fmtDateTime(c.approved_at)} 审核通过；拨付人须为另一人。
      ${why ? html`<br><b>${why}</b>` : ""}</div>
    <button type="button" class="primary disburse" ${why ? "disabled" : ""}>拨付并核销培训券</button>`;
}

const RECENT_PAID = 10;

/** The most recently disbursed claims (the list is oldest first: its last page), newest first. */
async function recentlyDisbursed(api) {
  const first = await api.list("/subsidy-claims", { status: "disbursed", per_page: RECENT_PAID });
  const last = Math.ceil(first.total / RECENT_PAID);
  const page = last > 1 ? await api.list("/subsidy-claims", { status: "disbursed", per_page: RECENT_PAID, page: last }) : first;
  return { items: [...page.items].reverse(), total: first.total };
}

/** A paid claim, read-only: who approved it and who paid it (the two-person rule, after the fact). */
function disbursedCard(c) {
  return html`<li data-disbursed="${c.id}"><b>${c.plan_title}</b> · ${fmtMoney(c.total_fen)} · ${c.institution} · 申请 #${c.id}
    <br><span class="small">审核人：<b class="approver">${c.approved_by_name || "—"}</b> · 拨付人：<b class="disburser">${c.disbursed_by_name || "—"}</b>
    ${c.disbursed_at ? ` · 拨付于 ${fmtDateTime(c.disbursed_at)}` : ""} · <a href="#/audit?object_type=subsidy_claim&object_id=${c.id}">审计记录</a></span></li>`;
}

async function subsidiesTab(el, api, user) {
  const [submitted, approved, paid] = await Promise.all([
    api.list("/subsidy-claims", { status: "submitted", per_page: 50 }),
    api.list("/subsidy-claims", { status: "approved", per_page: 50 }),
    recentlyDisbursed(api),
  ]);
  const claims = [...submitted.items, ...approved.items];
  mount(el, html`
    <p class="muted small">待审核 ${submitted.total} 个，公示中/待拨付 ${approved.total} 个。补贴资金须两人办理：一人审核，公示期满后由另一人拨付。</p>
    ${claims.length ? claims.map((c) => html`
      <article class="card" data-claim="${c.id}">
        <div class="card-head"><h3>${c.plan_title}</h3><b>${fmtMoney(c.total_fen)}</b></div>
        <p class="small muted">${c.institution} · 申请 #${c.id} · ${fmtDateTime(c.created_at)} · ${badge(claimStatusLabel(c, serverNow()), c.status === "approved" ? "info" : "")}</p>
        ${c.publicity_ends_at ? html`<p class="small">公示截止：${fmtDateTime(c.publicity_ends_at)}</p>` : ""}
        ${c.approved_by_name ? html`<p class="small">审核人：${c.approved_by_name}${c.disbursed_by_name ? ` · 拨付人：${c.disbursed_by_name}` : ""}</p>` : ""}
        <p class="small"><a href="#/audit?object_type=subsidy_claim&object_id=${c.id}">审计记录</a></p>
        <details class="lines"><summary>查看补贴明细</summary><div class="lines-body">加载中…</div></details>
        <div class="result"></div>
        ${c.status === "submitted" ? html`<button type="button" class="primary approve">审核通过（开始公示）</button>` : disburseBlock(c, user)}
        <button type="button" class="reject-claim">驳回申请</button>
      </article>`) : emptyState("没有待处理的补贴申请")}
    ${paid.total ? html`<section class="card" id="recently-disbursed"><h3>最近拨付（共 ${paid.total} 个，显示最近 ${paid.items.length} 个）</h3>
      <ul class="disbursed">${paid.items.map(disbursedCard)}</ul></section>` : ""}`);
  el.querySelectorAll("details.lines").forEach((d) => {
    d.addEventListener("toggle", async () => {
      if (!d.open || d.dataset.loaded) return;
      d.dataset.loaded = "1";
      const box = d.querySelector(".lines-body");
      try {
        const c = await api.get(`/subsidy-claims/${d.closest("article").dataset.claim}`);
        mount(box, html`<div class="table-wrap"><table>
          <thead><tr><th>学员</th><th>认定课时</th><th>培训券</th><th>金额</th><th>说明</th></tr></thead>
          <tbody>${c.lines.map((l) => html`<tr class="${l.certificate_revoked ? "row-error revoked" : ""}"><td>${l.name}${l.certificate_revoked ? html` ${badge("证书已撤销", "error")}<br><span class="small">${l.revoked_certificate}：${l.revoked_reason || ""}</span>` : ""}</td><td>${l.credited_hours}</td><td class="mono">${l.voucher_code || "—"}</td>
            <td>${fmtMoney(l.amount_fen)}</td><td>${label(LIMITED, l.limited_by) || ""}${l.capped ? " · 已封顶" : ""}</td></tr>`)}</tbody></table></div>
          ${(c.explanations || []).length ? html`<h4>未纳入补贴的学员</h4><ul class="explanations">${c.explanations.map((x) => html`<li data-person="${x.person_id}">${x.name}：${notPaidText(x)}</li>`)}</ul>` : ""}
          ${(c.decisions || []).length ? html`<h4>结业审核决定（可信度标记）</h4>${decisionsTable(c.decisions)}` : ""}
          ${(c.objections || []).length || c.status === "approved" ? html`<h4>公示异议</h4><p class="small muted">未处理的异议会暂停拨付：核实后驳回异议即可继续拨付；异议成立则退回重审，重新审核后重新公示。</p>
            <ul class="objections">${(c.objections || []).map((o) => html`<li data-objection="${o.id}">${fmtShort(o.recorded_at)} ${o.text}
              ${badge(OBJECTION_STATUS[o.status] || o.status, o.status === "open" ? "warn" : "")}${o.resolution ? html` <span class="small muted">${o.resolution}</span>` : ""}
              ${o.status === "open" && c.status === "approved" ? html`<button type="button" class="small resolve" data-decision="dismissed">异议不成立</button>
                <button type="button" class="small resolve" data-decision="upheld">异议成立，退回重审</button>` : ""}</li>`)}</ul>` : ""}
          ${c.status === "approved" ? objectionForm() : ""}`);
        const of = box.querySelector("form.record-objection");
        if (of) {
          of.onsubmit = (e) => {
            e.preventDefault();
            const text = of.elements.text.value.trim();
            if (showFieldErrors(of, text.length >= 2 ? {} : { text: "请填写异议内容（至少 2 个字）" })) return;
            busy(of.querySelector("button[type=submit]"), async () => {
              await api.post(`/subsidy-claims/${c.id}/objections`, { text });
              toast("异议已记录，处理前暂停拨付", "ok");
              delete d.dataset.loaded;
              d.dispatchEvent(new Event("toggle")); // reload the lines with the new objection
            }, (err) => { showFieldErrors(of, fieldErrors(err)); toast(errorText(err), "error"); });
          };
        }
        box.querySelectorAll("button.resolve").forEach((btn) => {
          btn.onclick = () => busy(btn, async () => {
            const note = window.prompt("请填写核查结论：");
            if (note === null) return;
            const li = btn.closest("li");
            const r = await api.post(`/subsidy-claims/${c.id}/objections/${li.dataset.objection}/resolve`,
              { decision: btn.dataset.decision, note: note.trim() || null });
            toast(r.status === "upheld" ? "异议成立，申请已退回待审核" : "异议已处理，可继续拨付", "ok");
            li.querySelectorAll("button.resolve").forEach((b) => b.remove());
          }, (err) => toast(errorText(err), "error"));
        });
      } catch (err) {
        mount(box, html`<div class="notice notice-error">${errorText(err)}</div>`);
      }
    });
  });
  el.querySelectorAll("button.reject-claim").forEach((btn) => {
    btn.onclick = () => {
      const card = btn.closest("article");
      busy(btn, async () => {
        const reason = window.prompt("请填写驳回原因（驳回后不拨付，培训券不核销）：");
        if (!reason || !reason.trim()) return;
        await api.post(`/subsidy-claims/${card.dataset.claim}/reject`, { reason: reason.trim() });
        mount($(card, ".result"), html`<div class="notice notice-ok">申请已驳回。</div>`);
        card.querySelectorAll("button.approve, button.disburse, button.reject-claim").forEach((b) => b.remove());
      }, (err) => mount($(card, ".result"), html`<div class="notice notice-error">${errorText(err)}</div>`));
    };
  });
  el.querySelectorAll("button.approve, button.disburse").forEach((btn) => {
    btn.onclick = () => {
      const card = btn.closest("article");
      const approve = btn.classList.contains("approve");
      busy(btn, async () => {
        if (!approve && !confirmAction("拨付后该申请中的培训券全部核销，不可撤回。确定拨付？")) return;
        const r = await api.post(`/subsidy-claims/${card.dataset.claim}/${approve ? "approve" : "disburse"}`, {});
        mount($(card, ".result"), html`<div class="notice notice-ok">${approve
          ? `已审核通过，进入公示期（至 ${fmtDateTime(r.publicity_ends_at)}）。拨付须由另一名监管人员在公示期满后操作。`
          : `已拨付 ${fmtMoney(r.total_fen)}，核销培训券 ${r.vouchers_written_off} 张。`}</div>`);
        btn.remove();
      }, (err) => mount($(card, ".result"), html`<div class="notice notice-error">${errorText(err)}</div>`));
    };
  });
}

async function kiosksTab(el, api, navigate) {
  const [{ items }, sites] = await Promise.all([api.list("/devices", { per_page: 200 }), api.list("/sites", { per_page: 500 })]);
  const siteName = new Map(sites.items.map((s) => [s.id, s.name]));
  const pending = items.filter((d) => d.status === "pending");
  const active = items.filter((d) => d.status === "active");
  const problems = active.filter((d) => d.offline || d.clock_drift);
  const order = [...pending, ...problems, ...items.filter((d) => !pending.includes(d) && !problems.includes(d))];
  const state = (d) => {
    if (d.status === "revoked") return badge("已停用");
    if (d.status === "pending") return badge("待激活", "warn");
    return html`${d.offline ? badge("离线", "error") : badge("在线", "ok")} ${d.clock_drift ? badge("时钟偏差", "warn") : ""}`;
  };
  mount(el, html`
    <p class="muted small">待激活 ${pending.length} 台；在用 ${active.length} 台，其中离线或时钟偏差 ${problems.length} 台（超过 5 分钟无心跳视为离线，时钟偏差超过 2 分钟告警）。</p>
    ${pending.length ? html`<div class="notice">机构登记的考勤机须经人社部门核实安装地点后激活，激活前不能上传任何考勤。</div>` : ""}
    ${items.length ? html`<div class="table-wrap"><table>
      <thead><tr><th>考勤机</th><th>场地</th><th>状态</th><th>登记时间</th><th>最后心跳</th><th>时钟偏差</th><th>待上传</th><th>版本</th><th></th></tr></thead>
      <tbody>${order.map((d) => html`<tr data-device="${d.device_id}" class="${d.status === "active" && (d.offline || d.clock_drift) ? "row-error" : ""}">
        <td>${d.name}</td><td>${siteName.get(d.site_id) || `#${d.site_id}`}</td>
        <td>${state(d)}</td>
        <td class="nowrap">${fmtDateTime(d.created_at)}</td>
        <td class="nowrap">${fmtDateTime(d.last_heartbeat_at)}</td>
        <td>${d.clock_skew_s == null ? "—" : `${Math.round(d.clock_skew_s)} 秒`}</td>
        <td>${d.queue_depth ?? "—"}</td><td>${d.version || "—"}</td>
        <td class="nowrap">${d.status === "pending" ? html`<button type="button" class="primary small activate">激活</button>` : ""}
          ${d.status !== "revoked" ? html`<button type="button" class="danger small revoke">停用</button>` : ""}
          <a class="small" href="#/audit?object_type=device&object_id=${d.device_id}">审计</a></td></tr>`)}</tbody></table></div>` : emptyState("辖区内没有登记的考勤机")}`);
  el.querySelectorAll("button.activate").forEach((btn) => {
    btn.onclick = () => busy(btn, async () => {
      if (!confirmAction("请确认该考勤机已安装在登记的培训场地。激活后它上传的考勤将计入学时，确定激活？")) return;
      await api.post(`/devices/${btn.closest("tr").dataset.device}/activate`, {});
      toast("已激活", "ok");
      navigate("review", { tab: "kiosks", t: Date.now() });
    }, (err) => toast(errorText(err), "error"));
  });
  el.querySelectorAll("button.revoke").forEach((btn) => {
    btn.onclick = () => busy(btn, async () => {
      if (!confirmAction("停用后该考勤机立即无法上传数据，确定？")) return;
      await api.post(`/devices/${btn.closest("tr").dataset.device}/revoke`, {});
      toast("已停用", "ok");
      navigate("review", { tab: "kiosks", t: Date.now() });
    }, (err) => toast(errorText(err), "error"));
  });
}

export default {
  title: "审核",
  async render({ root, api, query, user, navigate, onLeave }) {
    const tab = TABS.some(([k]) => k === query.get("tab")) ? query.get("tab") : "plans";
    mount(root, html`
      <h1>审核</h1>
      <nav class="tabs" aria-label="审核类别">${TABS.map(([k, name]) => html`<a href="#/review?tab=${k}" class="${k === tab ? "active" : ""}">${name}</a>`)}</nav>
      <div id="tab-body"><p class="muted">加载中…</p></div>`);
    const el = $(root, "#tab-body");
    if (tab === "plans") await plansTab(el, api, "submitted");
    else if (tab === "completions") await plansTab(el, api, "completion_submitted");
    else if (tab === "changes") await changesTab(el, api);
    else if (tab === "makeups") await makeupsTab(el, api, onLeave);
    else if (tab === "subsidies") await subsidiesTab(el, api, user);
    else if (tab === "kiosks") await kiosksTab(el, api, navigate);
    else navigate("review");
  },
};
