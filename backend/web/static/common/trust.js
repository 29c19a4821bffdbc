// How trust flags (shared/DESIGN.md "Trust") and the completion review's decisions look wherever they
// are shown: the supervisor's completion review, claim, lesson and live feed, and the institution's
// plan page. One rendering, so a school reads its flags the way the bureau will.
import { html } from "./html.js";
import { badge } from "./ui.js";
import { FLAGS, TRUST_FLAGS, fmtDateTime, isBlockingFlag, isTrustFlag, label } from "./format.js";

/**
 * Badge kind of an attendance flag code: held hours are an error, a blocking trust flag a warning,
 * gps_only plain (informational), the attendance flags (late, left early…) a warning as before.
 */
export function flagKind(code) {
  if (code === "held") return "error";
  if (isTrustFlag(code)) return isBlockingFlag(code) ? "warn" : "";
  return "warn";
}

const RANK = { error: 0, warn: 1, "": 2 };

/** One badge per flag code, labelled from the shared map, the most serious first (lesson rows, live feed). */
export function flagBadges(codes) {
  const sorted = [...(codes || [])].sort((a, b) => RANK[flagKind(a)] - RANK[flagKind(b)]);
  return html`<span class="flag-badges">${sorted.map((c) => badge(
    isTrustFlag(c) && !isBlockingFlag(c) ? `信息：${label(FLAGS, c)}` : label(FLAGS, c), flagKind(c)))}</span>`;
}

/** A flag from GET /plans/{id}/flags as a badge carrying the server's detail text. */
function planFlagBadge(f) {
  const text = f.detail || label(TRUST_FLAGS, f.code);
  const events = f.event_ids?.length ? `（${f.event_ids.length} 条考勤）` : "";
  return html`<span class="badge wrap ${f.blocking ? "badge-warn" : ""}" data-code="${f.code}"
    title="${f.code}">${f.blocking ? "⚠ " : "信息："}${text}${events}</span>`;
}

/** All flags of one trainee (GET /plans/{id}/flags item), blocking ones first. */
export function planFlagBadges(trainee) {
  const flags = [...(trainee.flags || [])].sort((a, b) => Number(b.blocking) - Number(a.blocking));
  return html`<span class="flag-badges">${flags.map(planFlagBadge)}</span>`;
}

/** A one-line count: "3 名学员有可信度标记，其中 2 名须人社逐人决定". */
export function flaggedSummary(items) {
  const blocking = items.filter((t) => t.blocking).length;
  if (!items.length) return "没有学员带可信度标记";
  return blocking
    ? `${items.length} 名学员有可信度标记，其中 ${blocking} 名须人社部门在结业审核时逐人决定（认可或排除）`
    : `${items.length} 名学员有提示信息（仅凭定位签到），不影响结业审核`;
}

/** Read-only table of a plan's flagged trainees (the institution console). */
export function flaggedTable(items) {
  return html`<div class="table-wrap"><table class="flagged">
    <thead><tr><th>学员</th><th>标记</th><th>结业审核</th></tr></thead>
    <tbody>${items.map((t) => html`<tr data-person="${t.person_id}"><td>${t.name}</td><td>${planFlagBadges(t)}</td>
      <td class="nowrap">${t.blocking ? badge("须人社决定", "warn") : badge("仅提示")}</td></tr>`)}</tbody></table></div>`;
}

/** The completion review's decisions as a claim shows them: who, accept or exclude, why, by whom, when. */
export function decisionsTable(decisions) {
  return html`<div class="table-wrap"><table class="decisions">
    <thead><tr><th>学员</th><th>决定</th><th>理由</th><th>标记</th><th>决定人</th><th>时间</th></tr></thead>
    <tbody>${decisions.map((d) => html`<tr data-person="${d.person_id}"><td>${d.name}</td>
      <td>${d.accept ? badge("认可", "ok") : badge("排除", "error")}</td><td>${d.reason}</td>
      <td>${(d.flags || []).map((c) => label(FLAGS, c)).join("、") || "—"}</td>
      <td>${d.decided_by_username || `用户 #${d.decided_by}`}</td>
      <td class="nowrap">${fmtDateTime(d.decided_at)}</td></tr>`)}</tbody></table></div>`;
}
