// Plan change requests (变更申请, issue #15): what an approved plan was reviewed as (occupation, type,
// delivery) changes only by the bureau's decision. Shared by the console (the institution files and
// follows its requests) and the dashboard (the supervisor decides): the fields in words, before → after.
import { html } from "./html.js";
import { badge } from "./ui.js";
import { DELIVERY, PLAN_TYPE, fmtDate, fmtDateTime, label } from "./format.js";

/** The plan fields a request may carry, in the order shown, with their names. */
export const CHANGE_FIELDS = {
  occupation_code: "职业（工种）", plan_type: "培训类型", delivery: "培训方式", online_platform: "线上学习平台",
  title: "方案名称", starts_on: "开始日期", ends_on: "结束日期",
};
/** What needs the bureau's review once a plan is approved (backend/domain/plans.py REVIEWED_FIELDS). */
export const REVIEWED_FIELDS = ["occupation_code", "plan_type", "delivery"];
export const CHANGE_STATUS = { pending: "待审核", approved: "已批准", rejected: "已驳回" };
const STATUS_KIND = { pending: "warn", approved: "ok", rejected: "error" };

function shown(field, value, occupationName) {
  if (value === null || value === undefined || value === "") return "—";
  if (field === "occupation_code") return occupationName ? `${occupationName}（${value}）` : value;
  if (field === "plan_type") return label(PLAN_TYPE, value);
  if (field === "delivery") return label(DELIVERY, value);
  if (field === "starts_on" || field === "ends_on") return fmtDate(value);
  return value;
}

/** A table of the requested changes: 项目 / 变更前 / 变更后. */
export function changeTable(req) {
  const names = req.occupation_names || {};
  const fields = Object.keys(CHANGE_FIELDS).filter((f) => f in (req.fields || {}));
  return html`<div class="table-wrap"><table class="change-fields">
    <thead><tr><th>项目</th><th>变更前</th><th>变更后</th></tr></thead>
    <tbody>${fields.map((f) => html`<tr data-field="${f}"><td>${CHANGE_FIELDS[f]}</td>
      <td class="before">${shown(f, (req.before || {})[f], names.before)}</td>
      <td class="after"><strong>${shown(f, req.fields[f], names.after)}</strong></td></tr>`)}</tbody></table></div>`;
}

/** The status badge of a request. */
export const changeBadge = (status) => badge(CHANGE_STATUS[status] || status, STATUS_KIND[status] || "info");

/** A plan's requests as a list (newest first), for the plan page. */
export function changeHistory(items) {
  return html`${items.map((r) => html`<article class="change-request" data-change="${r.id}" data-status="${r.status}">
    <div class="row">${changeBadge(r.status)}<span class="muted small">申请于 ${fmtDateTime(r.requested_at)}</span>
      ${r.decided_at ? html`<span class="muted small">· 审核于 ${fmtDateTime(r.decided_at)}</span>` : ""}</div>
    ${changeTable(r)}
    <p class="small">变更原因：${r.reason}</p>
    ${r.decision_reason ? html`<p class="small decision">审核意见：${r.decision_reason}</p>` : ""}
  </article>`)}`;
}
