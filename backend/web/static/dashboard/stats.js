// Statistics of the region: voucher funnel, trainees by age band / gender / province, rejection
// reasons (total and per day), completion and subsidy money; CSV and xlsx export.
import { $, formData, html, mount, showFieldErrors } from "../common/html.js";
import { errorText, toast } from "../common/ui.js";
import { GENDER, REJECT_REASON, fieldErrors, fmtMoney, label, provinceName, shanghaiDay } from "../common/format.js";
import { hbarChart, stackedChart, vbarChart } from "../common/charts.js";

const FUNNEL = [["issued", "发放（额度）"], ["claimed", "领取"], ["used", "使用（报名）"], ["written_off", "核销"],
  ["returned", "退回"], ["expired", "过期"]];
const TREND_DAYS = 14;
const AGE_BANDS = ["under_16", "16-24", "25-34", "35-44", "45-54", "55+"]; // backend/services/stats.py

/** All age bands in order (empty ones too, so the shape of the population is visible). */
function ageColumns(byBand = {}) {
  const known = AGE_BANDS.filter((b) => b !== "under_16" || byBand[b]);
  const extra = Object.keys(byBand).filter((b) => !AGE_BANDS.includes(b));
  return [...known, ...extra].map((b) => ({ label: b === "under_16" ? "16岁以下" : `${b}岁`, value: byBand[b] || 0 }));
}

const dayOffset = (day, n) => {
  const d = new Date(`${day}T12:00:00+08:00`);
  d.setUTCDate(d.getUTCDate() + n);
  return shanghaiDay(d);
};

export default {
  title: "统计",
  async render({ root, api, user, query, isCurrent }) {
    const today = shanghaiDay();
    const filters = {
      region_code: query.get("region_code") || "",
      from: query.get("from") || "",
      to: query.get("to") || "",
    };
    mount(root, html`
      <div class="card-head"><h1>统计分析</h1>
        <div class="row"><button type="button" id="csv">导出 CSV</button><button type="button" id="xlsx">导出 Excel</button></div></div>
      <form class="card form-grid compact" id="filters">
        <label>行政区划代码<input name="region_code" value="${filters.region_code}" placeholder="${user.region_code || "全部"}" inputmode="numeric" maxlength="6">
          <small class="field-error" data-for="region_code"></small></label>
        <label>开始日期<input name="from" type="date" value="${filters.from}"><small class="field-error" data-for="from"></small></label>
        <label>结束日期<input name="to" type="date" value="${filters.to}" max="${today}"><small class="field-error" data-for="to"></small></label>
        <div style="align-self:end"><button class="primary block" type="submit">查询</button></div>
      </form>
      <div id="out"><p class="muted">加载中…</p></div>`);
    const params = () => Object.fromEntries(Object.entries(filters).filter(([, v]) => v));
    $(root, "#filters").onsubmit = (e) => {
      e.preventDefault();
      const data = formData(e.target);
      location.hash = `#/stats?${new URLSearchParams(Object.fromEntries(Object.entries(data).filter(([, v]) => v)))}`;
    };
    for (const fmt of ["csv", "xlsx"]) {
      $(root, `#${fmt}`).onclick = async () => {
        try {
          await api.download("/stats/export", `统计-${today}.${fmt}`, { ...params(), format: fmt });
        } catch (err) {
          toast(errorText(err), "error");
        }
      };
    }

    let data;
    try {
      data = await api.get("/stats/overview", params());
    } catch (err) {
      if (!isCurrent()) return;
      // In place: the filters stay, the region field says what is wrong (e.g. outside the user's region).
      const form = $(root, "#filters");
      const fields = fieldErrors(err);
      if (err.code === "out_of_scope" || err.status === 403) fields.region_code = `超出您的监管范围（${user.region_code || ""}）`;
      showFieldErrors(form, fields);
      mount($(root, "#out"), html`<div class="notice notice-error" role="alert">${errorText(err)}</div>`);
      return;
    }
    if (!isCurrent()) return;
    const v = data.vouchers || {};
    const t = data.trainees || {};
    const a = data.attendance || {};
    const s = data.subsidy || {};
    const rate = a.completion_rate == null ? "—" : `${(a.completion_rate * 100).toFixed(1)}%`;
    const entries = (obj) => Object.entries(obj || {});
    mount($(root, "#out"), html`
      <div class="stats-row" style="margin-bottom:12px">
        <div class="stat"><b>${v.claimed ?? 0}</b><span>已领券</span></div>
        <div class="stat"><b>${t.total ?? 0}</b><span>参训人数</span></div>
        <div class="stat"><b>${a.accepted ?? 0}</b><span>有效考勤</span></div>
        <div class="stat"><b>${a.rejected ?? 0}</b><span>被拒考勤</span></div>
        <div class="stat"><b>${rate}</b><span>结业率</span></div>
        <div class="stat"><b>${fmtMoney(s.disbursed_fen ?? 0)}</b><span>已拨付补贴</span></div>
      </div>
      <div class="grid-2">
        <section class="card">${hbarChart("培训券漏斗", FUNNEL.map(([k, name]) => ({ label: name, value: v[k] ?? 0 })), { unit: " 张" })}
          <p class="small muted">已核销券对应补贴 ${fmtMoney(v.written_off_fen ?? 0)}</p></section>
        <section class="card">${vbarChart("参训人员年龄结构", ageColumns(t.by_age_band), { unit: " 人" })}
          <p class="small muted">性别：${entries(t.by_gender).map(([k, n]) => `${label(GENDER, k)} ${n} 人`).join("，") || "—"}</p></section>
        <section class="card">${hbarChart("参训人员户籍省份", entries(t.by_province).sort((x, y) => y[1] - x[1]).map(([k, n]) => ({ label: provinceName(k), value: n })), { unit: " 人", color: "#2da44e" })}</section>
        <section class="card">${hbarChart("考勤拒绝原因（合计）", entries(a.by_reason).sort((x, y) => y[1] - x[1]).map(([k, n]) => ({ label: label(REJECT_REASON, k), value: n })), { unit: " 次", color: "#cf222e" })}</section>
        <section class="card" id="trend"><p class="muted">正在统计近 ${TREND_DAYS} 天的拒绝原因…</p></section>
        <section class="card">${hbarChart("补贴资金", [
          { label: "已审核（公示及以后）", value: (s.approved_fen ?? 0) / 100 },
          { label: "已拨付", value: (s.disbursed_fen ?? 0) / 100 },
        ], { unit: " 元", color: "#8250df" })}</section>
      </div>`);

    // Rejection reasons over time: the overview for each of the last days (one request per day keeps
    // the API unchanged; 14 small queries are cheap next to a page load).
    const end = filters.to || today;
    const days = Array.from({ length: TREND_DAYS }, (_, i) => dayOffset(end, i - TREND_DAYS + 1));
    try {
      const perDay = await Promise.all(days.map((d) => api.get("/stats/overview", { ...params(), from: d, to: d })));
      if (!isCurrent()) return;
      const names = Object.fromEntries(Object.keys(REJECT_REASON).map((k) => [k, REJECT_REASON[k]]));
      mount($(root, "#trend"), stackedChart(`考勤拒绝原因（近 ${TREND_DAYS} 天）`,
        perDay.map((o, i) => ({ label: days[i].slice(5), parts: o.attendance?.by_reason || {} })), names));
    } catch (err) {
      mount($(root, "#trend"), html`<div class="notice notice-error">${errorText(err)}</div>`);
    }
  },
};
