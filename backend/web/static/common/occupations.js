// The occupation catalogue (GET /occupations, from backend/data/occupations.json): names instead of
// bare codes on screen, and a list to pick from in forms. Loaded once per page load.
import { html } from "./html.js";

let cached = null;

/** Map code -> name (empty when the catalogue cannot be loaded: codes are then shown alone). */
export function occupationNames(api) {
  if (!cached) {
    cached = api.list("/occupations", { per_page: 500 })
      .then(({ items }) => new Map(items.map((o) => [o.code, o.name])))
      .catch(() => { cached = null; return new Map(); });
  }
  return cached;
}

/** "中式烹调师（4-03-02-01）", or the code alone when unknown. */
export function occupationLabel(names, code, name) {
  const known = name || names?.get(code);
  return known ? `${known}（${code}）` : code || "—";
}

/** A <datalist> of the catalogue for an occupation code input (`list="${id}"`). */
export function occupationDatalist(names, id = "occupation-codes") {
  // Major groups (N-00-00-00) are shown by name elsewhere but are not offered as a plan's occupation.
  return html`<datalist id="${id}">${[...names].filter(([code]) => !/^\d-00-00-00$/.test(code)).map(([code, name]) => html`<option value="${code}">${name}</option>`)}</datalist>`;
}
