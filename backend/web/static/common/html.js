// Escaping HTML templates: every interpolated value is escaped unless it is already a Safe
// fragment (from html`` or raw()). Pages build markup only through this, so data from the API
// (names, addresses, comments) can never become markup.

const ESCAPES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

export class Safe {
  constructor(text) { this.text = text; }
  toString() { return this.text; }
}

export function escape(value) {
  return String(value ?? "").replace(/[&<>"']/g, (c) => ESCAPES[c]);
}

function part(value) {
  if (value === null || value === undefined || value === false) return "";
  if (value instanceof Safe) return value.text;
  if (Array.isArray(value)) return value.map(part).join("");
  return escape(value);
}

/** Tagged template: html`<p>${name}</p>` escapes name. Arrays are joined. */
export function html(strings, ...values) {
  let out = strings[0];
  values.forEach((v, i) => { out += part(v) + strings[i + 1]; });
  return new Safe(out);
}

/** Trust a string as markup (only for markup the code itself produced). */
export const raw = (text) => new Safe(String(text));

/** Replace an element's content with a template result. */
export function mount(root, view) {
  root.innerHTML = part(view);
  return root;
}

/** querySelector shorthand scoped to a root. */
export const $ = (root, sel) => root.querySelector(sel);
export const $$ = (root, sel) => Array.from(root.querySelectorAll(sel));

/** Read a form's named fields into a plain object (strings, trimmed; checkboxes as booleans). */
export function formData(form) {
  const out = {};
  for (const el of form.elements) {
    if (!el.name || el.disabled) continue;
    if (el.type === "checkbox") out[el.name] = el.checked;
    else if (el.type === "file") out[el.name] = el.files;
    else if (el.type === "radio") { if (el.checked) out[el.name] = el.value; }
    else out[el.name] = el.value.trim();
  }
  return out;
}

/** Show field-level messages next to inputs (`<small class="field-error" data-for="name">`). */
export function showFieldErrors(form, fields) {
  form.querySelectorAll(".field-error").forEach((el) => { el.textContent = ""; });
  form.querySelectorAll("[aria-invalid]").forEach((el) => el.removeAttribute("aria-invalid"));
  let first = null;
  for (const [name, message] of Object.entries(fields || {})) {
    const slot = form.querySelector(`.field-error[data-for="${CSS.escape(name)}"]`);
    const input = form.elements[name];
    if (slot) slot.textContent = Array.isArray(message) ? message.join("；") : message;
    if (input && input.setAttribute) { input.setAttribute("aria-invalid", "true"); first = first || input; }
  }
  if (first) first.focus();
  return Boolean(first);
}
