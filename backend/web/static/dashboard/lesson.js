// One lesson: where trainees checked in, drawn against the site's fence circle (no map tiles are
// reachable, so the plot is local metres around the site), and each trainee's attendance.
// Trust flags show per trainee with the shared labels; hours held by a failed server face re-check
// are marked, since they count for nothing until the completion review accepts the trainee.
// Reloads when the event stream reports an event (or a flag) for this lesson.
// A trainee's WeChat binding can be released here (解除绑定, audited with a reason): the row where a
// supervisor sees shared devices or identical coordinates is where a wrong binding shows.
import { $, html, mount } from "../common/html.js";
import { badge, emptyState, toast } from "../common/ui.js";
import { formDialog } from "../common/dialog.js";
import {
  ATTENDANCE_STATUS, KIND, REJECT_REASON, SOURCE, fmtDate, fmtHours, fmtMetres, fmtTime, label,
} from "../common/format.js";
import { flagBadges } from "../common/trust.js";
import { fencePlot } from "../common/charts.js";

const STATUS_KIND = { complete: "ok", incomplete: "warn", absent: "" };
const isHeld = (t) => (t.flags || []).includes("held");

/** Credited hours, or 0 marked as held (学时暂扣) when the server's face re-check did not confirm the face. */
const creditedCell = (t) => (isHeld(t) ? html`<b class="held">${fmtHours(t.credited_hours)}（暂扣）</b>` : fmtHours(t.credited_hours));

function heldNote(trainees) {
  const held = trainees.filter(isHeld);
  if (!held.length) return "";
  return html`<div class="notice notice-error held-note" role="status">学时暂扣 ${held.length} 人：${held.map((t) => t.name).join("、")}。
    服务器复核考勤机上传的人脸照片与本人不一致，这些签到暂不计学时；结业审核时人社部门逐人认可后才计入，排除则不计。</div>`;
}

/** Every fix of the lesson as plot points: trainees[].positions (accepted and refused attempts). */
export function positionsOf(data) {
  return data.trainees.flatMap((t) => (t.positions || []).map((p) => ({
    ...p,
    name: t.name,
    label: `${t.name} ${label(KIND, p.kind)} ${fmtTime(p.at)} ${p.accepted === false ? `被拒（${label(REJECT_REASON, p.reason)}）` : ""} 距 ${fmtMetres(p.distance_m)}，精度 ±${fmtMetres(p.accuracy_m)}`,
  })));
}

/** The binding cell: bound or not, and for a bound trainee the 解除绑定 action. */
const bindingCell = (t) => (t.bound
  ? html`${badge("已绑定", "ok")} <button type="button" class="small danger unbind">解除绑定</button>`
  : badge("未绑定"));

/** Ask for the reason and release the trainee's WeChat binding (POST /persons/{id}/unbind); resolves when closed. */
export function unbindDialog(api, t, onDone) {
  return formDialog({
    id: "unbind-dialog",
    title: `解除 ${t.name} 的微信绑定`,
    fields: html`<p class="small">解除后该微信号不能再以 ${t.name} 的身份签到；本人自设的考勤机密码、本人采集的人脸和绑定时填写的手机号一并清除，
        须重新绑定。已认定的课时不受影响。操作记入审计。</p>
      <label>解除原因（记入审计）<input name="reason" maxlength="1000" autocomplete="off" placeholder="如：经核实系他人冒用身份绑定"></label>
      <small class="field-error" data-for="reason"></small>`,
    submitLabel: "确认解除绑定",
    check: (d) => ((d.reason || "").trim().length >= 2 ? {} : { reason: "请填写解除原因（至少 2 个字）" }),
    submit: async (d) => {
      await api.post(`/persons/${t.person_id}/unbind`, { reason: d.reason.trim() });
      toast(`已解除 ${t.name} 的微信绑定`, "ok");
      await onDone();
    },
  }).done;
}

export default {
  title: "课次考勤",
  async render({ root, api, params, onLeave, isCurrent }) {
    const id = Number(params[0]);
    mount(root, html`<p><a href="#/live">‹ 返回实时考勤</a></p><div id="body"></div>`);
    const body = $(root, "#body");

    async function load() {
      const data = await api.get(`/lessons/${id}/attendance`);
      if (!isCurrent()) return;
      const { lesson } = data;
      const site = lesson.site;
      const points = positionsOf(data);
      const inside = points.filter((p) => p.accepted !== false).length;
      const plot = site ? fencePlot(site, points) : null;
      mount(body, html`
        <section class="card">
          <div class="card-head"><h1>${lesson.title}</h1><span class="muted">${fmtDate(lesson.starts_at)} ${fmtTime(lesson.starts_at)}–${fmtTime(lesson.ends_at)}</span></div>
          <p class="muted small">${site ? `${site.name} · ${site.address || ""} · 签到半径 ${site.radius_m} 米` : "线上课次"}
            · <a class="audit-link" href="#/audit?object_type=lesson&object_id=${lesson.id}">课程审计记录</a>
            · <a class="audit-link" href="#/audit?object_type=plan&object_id=${lesson.plan_id}">方案审计记录</a>
            ${site ? html`· <a class="audit-link" href="#/audit?object_type=site&object_id=${site.id}">场地审计记录</a>` : ""}</p>
        </section>
        ${site ? html`<section class="card">
          <h2>签到位置分布</h2>
          <div class="plot-wrap">
            <div id="plot">${plot.svg}</div>
            <div>
              <div class="plot-legend">
                <span><i style="background:var(--ok)"></i>范围内（已接受）</span>
                <span><i style="background:#d4a72c"></i>范围外但已接受（精度容差）</span>
                <span><i style="background:var(--error)"></i>被拒绝的尝试</span>
                <span>● 签到 ■ 签退；浅色圆为定位精度</span>
              </div>
              <p class="small muted">蓝色圆圈为签到范围（半径 ${site.radius_m} 米），中心十字为培训地点。共 ${points.length} 个定位点，其中 ${inside} 个被接受。</p>
              ${points.length ? html`<div class="table-wrap"><table class="fixes">
                <thead><tr><th>学员</th><th>时间</th><th>类型</th><th>距离</th><th>精度</th><th>结果</th></tr></thead>
                <tbody>${points.map((p) => html`<tr><td>${p.name}</td><td>${fmtTime(p.at)}</td><td>${label(KIND, p.kind)}</td>
                  <td>${fmtMetres(p.distance_m)}</td><td>±${fmtMetres(p.accuracy_m)}</td>
                  <td>${p.accepted === false ? badge(label(REJECT_REASON, p.reason), "error") : badge("接受", "ok")}</td></tr>`)}</tbody>
              </table></div>` : html`<p class="muted">暂无手机定位数据</p>`}
            </div>
          </div>
        </section>` : ""}
        <section class="card">
          <h2>学员考勤（${data.trainees.length} 人）</h2>
          ${heldNote(data.trainees)}
          ${data.trainees.length ? html`<div class="table-wrap"><table class="attendance">
            <thead><tr><th>姓名</th><th>签到</th><th>签退</th><th>认定课时</th><th>状态</th><th>来源</th><th>标记</th><th>微信绑定</th></tr></thead>
            <tbody>${data.trainees.map((t) => html`<tr data-person="${t.person_id}" class="${isHeld(t) ? "row-error" : ""}">
              <td>${t.name} <a class="small audit-link" href="#/audit?object_type=person&object_id=${t.person_id}" title="该人员的审计记录">审计</a></td><td>${fmtTime(t.check_in_at)}</td><td>${fmtTime(t.check_out_at)}</td>
              <td>${creditedCell(t)}</td>
              <td>${badge(label(ATTENDANCE_STATUS, t.status), STATUS_KIND[t.status])}</td>
              <td>${(t.sources || []).map((s) => label(SOURCE, s)).join("、") || "—"}</td>
              <td>${(t.flags || []).length ? flagBadges(t.flags) : "—"}</td>
              <td class="nowrap binding">${bindingCell(t)}</td>
            </tr>`)}</tbody></table></div>` : emptyState("没有参训学员")}
        </section>`);
      const byId = new Map(data.trainees.map((t) => [String(t.person_id), t]));
      body.querySelectorAll("button.unbind").forEach((btn) => {
        btn.onclick = () => unbindDialog(api, byId.get(btn.closest("tr").dataset.person), load);
      });
    }

    await load();
    let timer = null;
    const stream = api.stream("/live/stream", {
      onEvent: (msg) => {
        if (msg.json?.lesson_id !== id) return;
        clearTimeout(timer);
        timer = setTimeout(() => load().catch(() => {}), 300);
      },
    });
    onLeave(() => { stream.close(); clearTimeout(timer); });
  },
};
