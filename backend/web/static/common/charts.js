// Hand-drawn inline SVG: bar charts for the statistics and the fence plot (check-in positions
// against a site's circle). No chart library and no map tiles: government intranets are offline,
// and a few dozen lines of SVG are easier to audit than a vendored bundle.

import { escape, raw } from "./html.js";

const PALETTE = ["#1f6feb", "#2da44e", "#d4a72c", "#cf222e", "#8250df", "#1b7c83", "#bc4c00", "#57606a"];
const num = (v) => Number(v) || 0;
const fmt = (v) => num(v).toLocaleString("zh-CN", { maximumFractionDigits: 1 });

function empty(title) {
  return raw(`<figure class="chart"><figcaption>${escape(title)}</figcaption><p class="muted">暂无数据</p></figure>`);
}

/**
 * Horizontal bars: rows [{label, value, note?}]. Scales to its container (viewBox); labels sit
 * above each bar so long Chinese names never force a wider layout.
 */
export function hbarChart(title, rows, { unit = "", color = PALETTE[0], format = fmt } = {}) {
  if (!rows.length) return empty(title);
  const W = 420;
  const rowH = 40;
  const H = rows.length * rowH + 8;
  const max = Math.max(...rows.map((r) => num(r.value)), 1);
  const bars = rows.map((r, i) => {
    const y = i * rowH + 4;
    const w = Math.max((num(r.value) / max) * (W - 4), num(r.value) > 0 ? 2 : 0);
    const text = `${format(r.value)}${unit}${r.note ? `（${r.note}）` : ""}`;
    return `<g><title>${escape(r.label)}：${escape(text)}</title>`
      + `<text x="0" y="${y + 13}" class="chart-label">${escape(r.label)}</text>`
      + `<rect x="0" y="${y + 18}" width="${W}" height="14" rx="3" class="chart-track"/>`
      + `<rect x="0" y="${y + 18}" width="${w.toFixed(1)}" height="14" rx="3" fill="${r.color || color}"/>`
      + `<text x="${W}" y="${y + 13}" text-anchor="end" class="chart-value">${escape(text)}</text></g>`;
  }).join("");
  return raw(`<figure class="chart"><figcaption>${escape(title)}</figcaption>`
    + `<svg viewBox="0 0 ${W} ${H}" role="img" aria-label="${escape(title)}" preserveAspectRatio="xMinYMin meet">${bars}</svg></figure>`);
}

/** Vertical bars: columns [{label, value}] (age bands, days). */
export function vbarChart(title, cols, { unit = "", color = PALETTE[0] } = {}) {
  if (!cols.length) return empty(title);
  const W = 420;
  const H = 240;
  const top = 22;
  const bottom = 30;
  const slot = W / cols.length;
  const bw = Math.min(slot * 0.7, 80);
  const max = Math.max(...cols.map((c) => num(c.value)), 1);
  const bars = cols.map((c, i) => {
    const h = (num(c.value) / max) * (H - top - bottom);
    const x = i * slot + (slot - bw) / 2;
    const y = H - bottom - h;
    return `<g><title>${escape(c.label)}：${fmt(c.value)}${escape(unit)}</title>`
      + `<rect x="${x.toFixed(1)}" y="${y.toFixed(1)}" width="${bw.toFixed(1)}" height="${h.toFixed(1)}" rx="3" fill="${c.color || color}"/>`
      + `<text x="${(x + bw / 2).toFixed(1)}" y="${(y - 6).toFixed(1)}" text-anchor="middle" class="chart-value">${fmt(c.value)}</text>`
      + `<text x="${(x + bw / 2).toFixed(1)}" y="${H - 10}" text-anchor="middle" class="chart-label">${escape(c.label)}</text></g>`;
  }).join("");
  return raw(`<figure class="chart"><figcaption>${escape(title)}</figcaption>`
    + `<svg viewBox="0 0 ${W} ${H}" role="img" aria-label="${escape(title)}">`
    + `<line x1="0" y1="${H - bottom}" x2="${W}" y2="${H - bottom}" class="chart-axis"/>${bars}</svg></figure>`);
}

/**
 * Stacked columns over time: days [{label, parts: {key: value}}], legend names for keys.
 * Used for rejection reasons per day.
 */
export function stackedChart(title, days, names = {}) {
  const keys = [...new Set(days.flatMap((d) => Object.keys(d.parts || {})))];
  if (!days.length || !keys.length) return empty(title);
  const W = 420;
  const H = 240;
  const top = 14;
  const bottom = 30;
  const slot = W / days.length;
  const bw = Math.min(slot * 0.7, 60);
  const totals = days.map((d) => keys.reduce((s, k) => s + num(d.parts[k]), 0));
  const max = Math.max(...totals, 1);
  const color = (k) => PALETTE[keys.indexOf(k) % PALETTE.length];
  const every = Math.ceil(days.length / 10);
  const bars = days.map((d, i) => {
    let y = H - bottom;
    const x = i * slot + (slot - bw) / 2;
    const segs = keys.map((k) => {
      const h = (num(d.parts[k]) / max) * (H - top - bottom);
      y -= h;
      return h > 0 ? `<rect x="${x.toFixed(1)}" y="${y.toFixed(1)}" width="${bw.toFixed(1)}" height="${h.toFixed(1)}" fill="${color(k)}"><title>${escape(d.label)} ${escape(names[k] || k)}：${fmt(d.parts[k])}</title></rect>` : "";
    }).join("");
    const lbl = i % every === 0 ? `<text x="${(x + bw / 2).toFixed(1)}" y="${H - 10}" text-anchor="middle" class="chart-label">${escape(d.label)}</text>` : "";
    return segs + lbl;
  }).join("");
  const legend = keys.map((k) => `<span class="legend"><i style="background:${color(k)}"></i>${escape(names[k] || k)}</span>`).join("");
  return raw(`<figure class="chart"><figcaption>${escape(title)}</figcaption>`
    + `<svg viewBox="0 0 ${W} ${H}" role="img" aria-label="${escape(title)}">`
    + `<line x1="0" y1="${H - bottom}" x2="${W}" y2="${H - bottom}" class="chart-axis"/>${bars}</svg>`
    + `<div class="legends">${legend}</div></figure>`);
}

// Local east/north metres around a centre: an equirectangular projection is exact enough inside
// a few kilometres, which is all a fence plot ever spans.
export function toLocal(center, p) {
  const R = 6371008.8;
  const rad = Math.PI / 180;
  return {
    x: (p.lon - center.lon) * rad * R * Math.cos(center.lat * rad),
    y: (p.lat - center.lat) * rad * R,
  };
}

/** Inverse of toLocal: the lat/lon `dx` metres east and `dy` metres north of the centre. */
export function fromLocal(center, dx, dy) {
  const R = 6371008.8;
  const rad = Math.PI / 180;
  return {
    lat: center.lat + dy / R / rad,
    lon: center.lon + dx / (R * Math.cos(center.lat * rad)) / rad,
  };
}

function niceStep(span) {
  const target = span / 4;
  const p = 10 ** Math.floor(Math.log10(target));
  for (const m of [1, 2, 5, 10]) if (m * p >= target) return m * p;
  return 10 * p;
}

/**
 * The fence plot: site {lat, lon, radius_m}, points [{lat, lon, accuracy_m?, accepted, label, kind}].
 * The view spans at most four radii so the fence stays readable; fixes further out sit on the
 * edge as arrows labelled with their distance. Returns {svg, metresPerUnit, size}; metresPerUnit
 * lets the console turn a click on the preview into a position.
 */
export function fencePlot(site, points = [], { size = 320, title = "签到位置分布" } = {}) {
  const r = num(site.radius_m) || 200;
  const local = points.filter((p) => p.lat != null && p.lon != null).map((p) => {
    const q = toLocal(site, p);
    return { ...p, ...q, dist: Math.hypot(q.x, q.y) };
  });
  const limit = r * 4;
  const far = Math.min(limit, Math.max(r * 1.25, ...local.map((p) => p.dist * 1.1 + 10)));
  const half = size / 2;
  const k = (half - 14) / far; // SVG units per metre
  const X = (m) => (half + m * k).toFixed(1);
  const Y = (m) => (half - m * k).toFixed(1);
  const step = niceStep(far * 2);
  const grid = [];
  for (let m = step; m < far; m += step) {
    grid.push(`<circle cx="${half}" cy="${half}" r="${(m * k).toFixed(1)}" class="plot-grid"/>`
      + `<text x="${(half + 3).toFixed(1)}" y="${(half - m * k - 3).toFixed(1)}" class="plot-ring">${m >= 1000 ? `${m / 1000}km` : `${m}m`}</text>`);
  }
  const dots = local.map((p) => {
    const cls = p.accepted === false ? "plot-out" : (p.dist > r ? "plot-warn" : "plot-in");
    const tip = `<title>${escape(p.label || "")}</title>`;
    if (p.dist > far * 0.96) {
      // Off the chart: an arrow on the edge pointing outwards, with the real distance.
      const ux = p.x / p.dist;
      const uy = p.y / p.dist;
      const edge = far * 0.93;
      const cx = half + ux * edge * k;
      const cy = half - uy * edge * k;
      const ang = (Math.atan2(-uy, ux) * 180) / Math.PI;
      const text = p.dist >= 1000 ? `${(p.dist / 1000).toFixed(1)}km` : `${Math.round(p.dist)}m`;
      const tx = Math.min(Math.max(cx - ux * 22, 22), size - 22);
      const ty = Math.min(Math.max(cy + uy * 22 + 4, 12), size - 6);
      return `<g>${tip}<path d="M 8 0 L -6 -6 L -6 6 Z" transform="translate(${cx.toFixed(1)} ${cy.toFixed(1)}) rotate(${ang.toFixed(1)})" class="plot-dot ${cls}"/>`
        + `<text x="${tx.toFixed(1)}" y="${ty.toFixed(1)}" text-anchor="middle" class="plot-far">${text}</text></g>`;
    }
    const acc = p.accuracy_m ? `<circle cx="${X(p.x)}" cy="${Y(p.y)}" r="${Math.max(num(p.accuracy_m) * k, 2).toFixed(1)}" class="plot-acc ${cls}"/>` : "";
    const shape = p.kind === "check_out"
      ? `<rect x="${(half + p.x * k - 5).toFixed(1)}" y="${(half - p.y * k - 5).toFixed(1)}" width="10" height="10" class="plot-dot ${cls}"/>`
      : `<circle cx="${X(p.x)}" cy="${Y(p.y)}" r="5.5" class="plot-dot ${cls}"/>`;
    return `<g>${tip}${acc}${shape}</g>`;
  }).join("");
  const bar = niceStep(far);
  const barPx = bar * k;
  const svg = `<svg viewBox="0 0 ${size} ${size}" class="fence-plot" role="img" aria-label="${escape(title)}">`
    + `<rect x="0" y="0" width="${size}" height="${size}" class="plot-bg"/>${grid.join("")}`
    + `<circle cx="${half}" cy="${half}" r="${(r * k).toFixed(1)}" class="plot-fence"/>`
    + `<line x1="${half - 8}" y1="${half}" x2="${half + 8}" y2="${half}" class="plot-center"/>`
    + `<line x1="${half}" y1="${half - 8}" x2="${half}" y2="${half + 8}" class="plot-center"/>`
    + dots
    + `<g class="plot-north"><path d="M ${size - 18} 26 l 6 -14 l 6 14 z"/><text x="${size - 12}" y="40" text-anchor="middle">北</text></g>`
    + `<line x1="10" y1="${size - 14}" x2="${(10 + barPx).toFixed(1)}" y2="${size - 14}" class="plot-scale"/>`
    + `<text x="10" y="${size - 20}" class="plot-scale-text">${bar >= 1000 ? `${bar / 1000} 公里` : `${bar} 米`}</text>`
    + `</svg>`;
  return { svg: raw(svg), metresPerUnit: 1 / k, size };
}
