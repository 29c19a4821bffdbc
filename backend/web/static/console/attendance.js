// A lesson's attendance for the institution, and the same-day make-up (补卡) request with the
// sign-in sheet and a panorama photo of the room.
import { $, formData, html, mount, showFieldErrors } from "../common/html.js";
import { badge, busy, emptyState, errorText, toast } from "../common/ui.js";
import {
  ATTENDANCE_STATUS, FLAGS, MAKEUP_STATUS, SOURCE, fieldErrors, fmtDate, fmtDateTime, fmtHours, fmtTime, label,
} from "../common/format.js";

const STATUS_KIND = { complete: "ok", incomplete: "warn", absent: "" };
const MAX_PHOTO = 10 * 1024 * 1024;

export default {
  title: "课次考勤",
  async render({ root, api, params, navigate }) {
    const id = Number(params[0]);
    const [data, makeups] = await Promise.all([
      api.get(`/lessons/${id}/attendance`),
      api.list("/makeups", { per_page: 200 }),
    ]);
    const { lesson } = data;
    const mine = makeups.items.filter((m) => m.lesson_id === id);
    // What a make-up could still fix, as the server judges it (makeup_kinds): a missing check-in or
    // check-out, or one that earns nothing (a late check-in, an early check-out).
    const fixable = (t) => (Array.isArray(t.makeup_kinds) ? t.makeup_kinds : [
      ...(t.check_in_at ? [] : ["check_in"]), ...(t.check_out_at ? [] : ["check_out"])]);
    const missing = data.trainees.filter((t) => fixable(t).length);
    const gap = (t) => {
      const k = fixable(t);
      if (k.length === 2) return !t.check_in_at && !t.check_out_at ? "（缺签到和签退）" : "（签到签退均不计学时）";
      if (k[0] === "check_out") return t.check_out_at ? "（签退过早，不计学时）" : "（缺签退）";
      return t.check_in_at ? "（签到过晚，不计学时）" : "（缺签到）";
    };
    mount(root, html`
      <p><a href="#/plan/${lesson.plan_id}">‹ 返回方案</a></p>
      <section class="card">
        <div class="card-head"><h1>${lesson.title}</h1>
          <a class="button" href="#/projector/${id}" target="_blank" rel="noopener">打开现场签到码</a></div>
        <p class="muted">${fmtDate(lesson.starts_at)} ${fmtTime(lesson.starts_at)}–${fmtTime(lesson.ends_at)} · ${lesson.site ? `${lesson.site.name}（半径 ${lesson.site.radius_m} 米）` : "线上"} · ${fmtHours(lesson.class_hours)}</p>
      </section>
      <section class="card">
        <h2>学员考勤</h2>
        ${data.trainees.length ? html`<div class="table-wrap"><table>
          <thead><tr><th>姓名</th><th>签到</th><th>签退</th><th>认定课时</th><th>状态</th><th>来源</th><th>标记</th></tr></thead>
          <tbody>${data.trainees.map((t) => html`<tr><td>${t.name}</td><td>${fmtTime(t.check_in_at)}</td><td>${fmtTime(t.check_out_at)}</td>
            <td>${fmtHours(t.credited_hours)}</td><td>${badge(label(ATTENDANCE_STATUS, t.status), STATUS_KIND[t.status])}</td>
            <td>${(t.sources || []).map((s) => label(SOURCE, s)).join("、") || "—"}</td>
            <td>${(t.flags || []).map((f) => label(FLAGS, f)).join("、") || "—"}</td></tr>`)}</tbody></table></div>` : emptyState("没有参训学员")}
      </section>
      <section class="card">
        <h2>申请补卡</h2>
        <p class="small muted">仅限课程当天申请；须上传签到表照片和教室全景照片（JPEG/PNG，不超过 10 MB），经人社部门审核通过后计入课时。</p>
        <form id="makeup-form" novalidate>
          <fieldset class="makeup-people"><legend>学员（可多选，同一批照片和原因为每人各提交一份申请）</legend>
            ${missing.length > 1 ? html`<label class="check"><input type="checkbox" id="makeup-all"> 全选</label>` : ""}
            ${missing.map((t) => html`<label class="check"><input type="checkbox" name="p_${t.person_id}" data-person="${t.person_id}" ${missing.length === 1 ? "checked" : ""}> ${t.name}${gap(t)}</label>`)}
          </fieldset>
          <small class="field-error" data-for="people"></small>
          <label>补卡类型<select name="kind"><option value="auto">按所缺自动选择</option><option value="both">签到和签退</option><option value="check_in">签到</option><option value="check_out">签退</option></select></label>
          <label>原因<textarea name="reason" rows="2" maxlength="1000" required></textarea></label>
          <small class="field-error" data-for="reason"></small>
          <div class="form-grid">
            <label>签到表照片<input type="file" name="sign_sheet" accept="image/jpeg,image/png" required></label>
            <label>教室全景照片<input type="file" name="panorama" accept="image/jpeg,image/png" required></label>
          </div>
          <small class="field-error" data-for="sign_sheet"></small><small class="field-error" data-for="panorama"></small>
          <div class="form-msg" id="makeup-msg" role="alert"></div>
          <button class="primary" type="submit" ${missing.length ? "" : "disabled"}>提交补卡申请</button>
        </form>
        <div id="makeup-results" style="margin-top:10px"></div>
        ${mine.length ? html`<h3 style="margin-top:14px">本课次补卡记录</h3><ul>${mine.map((m) => html`<li>${m.name} · ${label(MAKEUP_STATUS, m.status)} · ${fmtDateTime(m.created_at)}${m.decision_note ? ` · ${m.decision_note}` : ""}</li>`)}</ul>` : ""}
      </section>`);
    const form = $(root, "#makeup-form");
    const all = $(root, "#makeup-all");
    if (all) all.onchange = () => form.querySelectorAll("input[data-person]").forEach((x) => { x.checked = all.checked; });
    const byPerson = new Map(missing.map((t) => [String(t.person_id), t]));
    const kindFor = (t, chosen) => {
      if (chosen !== "auto") return chosen;
      const k = fixable(t);
      return k.length === 2 ? "both" : k[0];
    };
    form.onsubmit = async (e) => {
      e.preventDefault();
      const d = formData(form);
      const people = Array.from(form.querySelectorAll("input[data-person]:checked")).map((x) => byPerson.get(x.dataset.person));
      const problems = {};
      if (!people.length) problems.people = "请至少选择一名学员";
      if (!d.reason) problems.reason = "请填写补卡原因";
      for (const f of ["sign_sheet", "panorama"]) {
        const file = d[f]?.[0];
        if (!file) problems[f] = "请选择照片";
        else if (file.size > MAX_PHOTO) problems[f] = "照片不能超过 10 MB";
      }
      if (showFieldErrors(form, problems)) {
        if (problems.people) $(form, ".field-error[data-for=people]").textContent = problems.people;
        return;
      }
      const out = $(root, "#makeup-results");
      await busy(form.querySelector("button"), async () => {
        const results = [];
        for (const t of people) {
          const fd = new FormData();
          fd.append("person_id", String(t.person_id));
          fd.append("kind", kindFor(t, d.kind));
          fd.append("reason", d.reason);
          fd.append("sign_sheet", d.sign_sheet[0]);
          fd.append("panorama", d.panorama[0]);
          try {
            await api.upload(`/lessons/${id}/makeups`, fd, { idempotent: true });
            results.push({ name: t.name, ok: true });
          } catch (err) {
            const fields = fieldErrors(err);
            if (people.length === 1) showFieldErrors(form, fields);
            results.push({ name: t.name, ok: false, text: errorText(err) });
          }
        }
        const okCount = results.filter((r) => r.ok).length;
        if (okCount === results.length) {
          toast(`已提交 ${okCount} 份补卡申请，等待审核`, "ok");
          navigate(`attendance/${id}`, { t: Date.now() });
          return;
        }
        mount(out, html`<div class="notice notice-warn">已提交 ${okCount} 份，${results.length - okCount} 份未能提交：</div>
          <ul class="makeup-results">${results.map((r) => html`<li class="${r.ok ? "ok" : "error"}">${r.name}：${r.ok ? "已提交" : r.text}</li>`)}</ul>`);
        if (people.length === 1) $(root, "#makeup-msg").textContent = results[0].text;
      });
    };
  },
};
