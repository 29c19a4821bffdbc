// Nearby offline training: institutions whose sites are nearest to the phone, with distance,
// rating, and whether one of the trainee's vouchers can be used there.
import { $, html, mount } from "/static/common/html.js";
import { badge, emptyState, errorText } from "/static/common/ui.js";
import { fmtMetres } from "/static/common/format.js";
import { occupationLabel, occupationNames } from "/static/common/occupations.js";
import { getPosition } from "../lib/geo.js";

/** The rating in words: "暂无评价" until someone rated (the score alone is then only the prior), else score and count. */
export function ratingText(r, count) {
  const score = r !== null && typeof r === "object" ? r.score : r;
  const n = r !== null && typeof r === "object" ? r.count : count;
  if (score === null || score === undefined || n === 0) return "暂无评价";
  return `${Number(score).toFixed(1)} 分${n != null ? `（${n} 人评价）` : ""}`;
}

export default {
  title: "附近培训",
  auth: "bound",
  async onLoad({ root, app }) {
    let occupations = [];
    const names = await occupationNames(app.api);
    try {
      const mine = await app.api.list("/me/vouchers", { per_page: 100 });
      occupations = [...new Set(mine.items.filter((v) => v.status === "claimed")
        .flatMap((v) => v.occupation_codes || v.batch?.occupation_codes || []))];
    } catch { /* the filter is optional */ }
    mount(root, html`
      <div class="card">
        <label for="occ">职业（工种）</label>
        <select id="occ"><option value="">全部</option>${occupations.map((o) => html`<option value="${o}">${occupationLabel(names, o)}</option>`)}</select>
        <button type="button" class="primary block" id="locate">按我的位置查找</button>
        <p class="fix" id="fix" hidden></p>
      </div>
      <div id="list"></div>`);
    const list = $(root, "#list");
    const search = async () => {
      mount(list, html`<div class="notice notice-info">正在获取您的位置…</div>`);
      let fix;
      try { fix = await getPosition(); } catch (err) { mount(list, html`<div class="notice notice-error">${err.message}</div>`); return; }
      const fixEl = $(root, "#fix");
      fixEl.hidden = false;
      fixEl.textContent = `定位精度 ±${fmtMetres(fix.accuracy_m)}`;
      try {
        const { items } = await app.api.list("/institutions/nearby", {
          lat: fix.lat.toFixed(6), lon: fix.lon.toFixed(6), coord_sys: fix.coord_sys,
          occupation_code: $(root, "#occ").value, per_page: 20,
        });
        mount(list, items.length ? items.map((i) => html`
          <article class="card">
            <div class="card-head"><h3>${i.name}</h3><b>${fmtMetres(i.distance_m)}</b></div>
            <p class="small muted">${i.site_name || ""}${i.address ? ` · ${i.address}` : ""}</p>
            <p class="small">评分：${ratingText(i.rating, i.rating_count)}</p>
            ${(i.usable_vouchers || []).length
              ? html`<p>${badge("可使用我的培训券", "ok")} <span class="mono small">${(i.usable_vouchers || []).map((v) => (typeof v === "object" ? v.code : v)).join("、")}</span></p>`
              : html`<p>${badge("我的培训券不适用")}</p>`}
          </article>`) : emptyState("附近没有找到培训机构"));
      } catch (err) {
        mount(list, html`<div class="notice notice-error">${errorText(err)}</div>`);
      }
    };
    $(root, "#locate").onclick = search;
    search();
  },
};
