// Teaching sites: pick the point by coordinates (typed, or the browser's position) and a radius,
// with an SVG preview of the fence around it; clicking the preview moves the point.
import { $, formData, html, mount, showFieldErrors } from "../common/html.js";
import { emptyState, errorText, toast } from "../common/ui.js";
import { fieldErrors } from "../common/format.js";
import { fencePlot, fromLocal } from "../common/charts.js";
import { formDialog } from "../common/dialog.js";

function editSite(api, site, after) {
  formDialog({
    id: "site-edit", title: `修改场地：${site.name}`,
    fields: html`
      <label>场地名称<input name="name" value="${site.name}" maxlength="128" required></label>
      <small class="field-error" data-for="name"></small>
      <label>详细地址<input name="address" value="${site.address}" maxlength="255" required></label>
      <small class="field-error" data-for="address"></small>
      <div class="form-grid">
        <label>纬度（WGS-84）<input name="lat" inputmode="decimal" value="${Number(site.lat).toFixed(6)}"></label>
        <label>经度（WGS-84）<input name="lon" inputmode="decimal" value="${Number(site.lon).toFixed(6)}"></label>
      </div>
      <small class="field-error" data-for="lat"></small><small class="field-error" data-for="lon"></small>
      <label>签到半径（米）<input name="radius_m" type="number" min="10" max="2000" step="10" value="${site.radius_m}"></label>
      <small class="field-error" data-for="radius_m"></small>
      <label class="check"><input type="checkbox" name="require_site_qr" ${site.require_site_qr ? "checked" : ""}> 签到须扫描教室现场二维码</label>
      <p class="small muted">修改对尚未结束的课次生效；已结束课次的考勤按当时的场地判定。</p>`,
    check: (d) => {
      const p = {};
      if (!d.name) p.name = "请输入场地名称";
      if (!d.address) p.address = "请输入详细地址";
      if (!d.lat || Number.isNaN(Number(d.lat)) || Math.abs(Number(d.lat)) > 90) p.lat = "纬度应在 -90 到 90 之间";
      if (!d.lon || Number.isNaN(Number(d.lon)) || Math.abs(Number(d.lon)) > 180) p.lon = "经度应在 -180 到 180 之间";
      const r = Number(d.radius_m);
      if (!Number.isInteger(r) || r < 10 || r > 2000) p.radius_m = "半径应在 10 到 2000 米之间";
      return p;
    },
    submit: async (d) => {
      const body = {};
      if (d.name !== site.name) body.name = d.name;
      if (d.address !== site.address) body.address = d.address;
      if (Number(d.lat).toFixed(6) !== Number(site.lat).toFixed(6) || Number(d.lon).toFixed(6) !== Number(site.lon).toFixed(6)) {
        Object.assign(body, { lat: Number(d.lat), lon: Number(d.lon), coord_sys: "wgs84" });
      }
      if (Number(d.radius_m) !== site.radius_m) body.radius_m = Number(d.radius_m);
      if (d.require_site_qr !== site.require_site_qr) body.require_site_qr = d.require_site_qr;
      if (!Object.keys(body).length) return;
      await api.patch(`/sites/${site.id}`, body);
      toast("场地已修改", "ok");
      after();
    },
  });
}

const COORD = { wgs84: "WGS-84（GPS / 浏览器定位）", gcj02: "GCJ-02（高德、腾讯地图坐标）" };

export default {
  title: "培训场地",
  async render({ root, api }) {
    const { items } = await api.list("/sites", { per_page: 200 });
    mount(root, html`
      <h1>培训场地</h1>
      <section class="card">
        <h2>登记场地</h2>
        <div class="site-picker">
          <form id="site-form" novalidate>
            <div class="form-grid">
              <label>场地名称<input name="name" required maxlength="128"></label>
              <label>详细地址<input name="address" required maxlength="255"></label>
            </div>
            <small class="field-error" data-for="name"></small><small class="field-error" data-for="address"></small>
            <div class="form-grid">
              <label>纬度<input name="lat" inputmode="decimal" value="26.0785" required></label>
              <label>经度<input name="lon" inputmode="decimal" value="119.2965" required></label>
            </div>
            <small class="field-error" data-for="lat"></small><small class="field-error" data-for="lon"></small>
            <label>坐标系<select name="coord_sys">${Object.entries(COORD).map(([k, v]) => html`<option value="${k}">${v}</option>`)}</select></label>
            <label>签到半径：<b id="radius-text">200</b> 米<input name="radius_m" type="range" min="10" max="2000" step="10" value="200"></label>
            <small class="field-error" data-for="radius_m"></small>
            <label class="check"><input type="checkbox" name="require_site_qr"> 签到须扫描教室现场二维码（防止远程代签）</label>
            <div class="row" style="margin-top:10px">
              <button type="button" id="here">使用当前位置</button>
              <span class="spacer"></span>
              <button class="primary" type="submit">保存场地</button>
            </div>
            <div class="form-msg" id="site-msg" role="alert"></div>
          </form>
          <div>
            <div class="site-preview" id="preview"></div>
            <p class="small muted">预览：蓝圈为签到范围。点击图中任意位置可把场地中心移到该处。</p>
          </div>
        </div>
      </section>
      <section class="card">
        <h2>已登记场地（${items.length}）</h2>
        ${items.length ? html`<div class="table-wrap"><table>
          <thead><tr><th>名称</th><th>地址</th><th>坐标（WGS-84）</th><th>半径</th><th>现场码</th><th>操作</th></tr></thead>
          <tbody>${items.map((s) => html`<tr><td>${s.name}</td><td>${s.address}</td>
            <td class="mono">${Number(s.lat).toFixed(6)}, ${Number(s.lon).toFixed(6)}</td><td>${s.radius_m} 米</td>
            <td>${s.require_site_qr ? "需要" : "—"}</td>
            <td><button type="button" class="small" data-edit-site="${s.id}">修改</button></td></tr>`)}</tbody></table></div>` : emptyState("还没有登记场地")}
      </section>`);

    root.querySelectorAll("button[data-edit-site]").forEach((btn) => {
      btn.onclick = () => editSite(api, items.find((x) => x.id === Number(btn.dataset.editSite)),
        () => { location.hash = `#/sites?edited=${btn.dataset.editSite}&t=${Date.now()}`; });
    });
    const form = $(root, "#site-form");
    const preview = $(root, "#preview");
    let scale = 1;
    let size = 320;
    const draw = () => {
      const lat = Number(form.lat.value);
      const lon = Number(form.lon.value);
      const radius = Number(form.radius_m.value);
      $(root, "#radius-text").textContent = String(radius);
      if (!Number.isFinite(lat) || !Number.isFinite(lon) || Math.abs(lat) > 90 || Math.abs(lon) > 180) {
        mount(preview, html`<p class="muted">请输入有效的经纬度</p>`);
        return;
      }
      const plot = fencePlot({ lat, lon, radius_m: radius }, [], { title: "场地签到范围预览" });
      scale = plot.metresPerUnit;
      size = plot.size;
      mount(preview, plot.svg);
    };
    form.addEventListener("input", draw);
    draw();
    preview.addEventListener("click", (e) => {
      const svg = preview.querySelector("svg");
      if (!svg) return;
      const box = svg.getBoundingClientRect();
      const ux = ((e.clientX - box.left) / box.width) * size - size / 2;
      const uy = size / 2 - ((e.clientY - box.top) / box.height) * size;
      const p = fromLocal({ lat: Number(form.lat.value), lon: Number(form.lon.value) }, ux * scale, uy * scale);
      form.lat.value = p.lat.toFixed(6);
      form.lon.value = p.lon.toFixed(6);
      draw();
    });
    $(root, "#here").onclick = () => {
      if (!navigator.geolocation) { toast("浏览器不支持定位", "error"); return; }
      navigator.geolocation.getCurrentPosition((pos) => {
        form.lat.value = pos.coords.latitude.toFixed(6);
        form.lon.value = pos.coords.longitude.toFixed(6);
        form.coord_sys.value = "wgs84";
        draw();
        toast(`已取得当前位置（精度 ±${Math.round(pos.coords.accuracy)} 米）`, "ok");
      }, (err) => toast(err.code === 1 ? "未允许使用位置信息" : "无法获取当前位置", "error"), { enableHighAccuracy: true, timeout: 15000 });
    };
    form.onsubmit = async (e) => {
      e.preventDefault();
      const d = formData(form);
      const problems = {};
      if (!d.name) problems.name = "请输入场地名称";
      if (!d.address) problems.address = "请输入详细地址";
      if (!d.lat || Number.isNaN(Number(d.lat)) || Math.abs(Number(d.lat)) > 90) problems.lat = "纬度应在 -90 到 90 之间";
      if (!d.lon || Number.isNaN(Number(d.lon)) || Math.abs(Number(d.lon)) > 180) problems.lon = "经度应在 -180 到 180 之间";
      if (showFieldErrors(form, problems)) return;
      try {
        const s = await api.post("/sites", {
          name: d.name, address: d.address, lat: Number(d.lat), lon: Number(d.lon), coord_sys: d.coord_sys,
          radius_m: Number(d.radius_m), require_site_qr: d.require_site_qr,
        }, { idempotent: true });
        toast(`场地已保存（WGS-84：${s.lat.toFixed(6)}, ${s.lon.toFixed(6)}）`, "ok");
        location.hash = "#/sites?saved=" + s.id;
      } catch (err) {
        showFieldErrors(form, fieldErrors(err));
        $(root, "#site-msg").textContent = errorText(err);
      }
    };
  },
};
