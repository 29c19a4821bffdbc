// A modal form dialog for edits: the caller gives the fields' markup and a submit handler; server
// errors land under the right field (details.field / details.fields) or in the dialog's message line.
import { $, formData, html, mount, showFieldErrors } from "./html.js";
import { errorText } from "./ui.js";
import { fieldErrors } from "./format.js";

/**
 * formDialog({id, title, fields, submitLabel, check(d) -> {field: msg}, submit(d, form) -> Promise, fieldsFor(err)})
 * Resolves when the dialog closes; `submit` resolving closes it, throwing shows the error.
 */
export function formDialog({ id, title, fields, submitLabel = "保存", check = () => ({}), submit, fieldsFor }) {
  document.getElementById(id)?.remove();
  const dlg = document.createElement("dialog");
  dlg.id = id;
  dlg.className = "dialog";
  mount(dlg, html`
    <form novalidate>
      <h2>${title}</h2>
      ${fields}
      <div class="form-msg" data-role="msg" role="alert"></div>
      <div class="row" style="margin-top:10px">
        <button type="button" data-role="cancel">取消</button>
        <span class="spacer"></span>
        <button class="primary" type="submit">${submitLabel}</button>
      </div>
    </form>`);
  document.body.appendChild(dlg);
  const form = $(dlg, "form");
  const msg = $(dlg, "[data-role=msg]");
  $(dlg, "[data-role=cancel]").onclick = () => dlg.close();
  const done = new Promise((resolve) => dlg.addEventListener("close", () => { dlg.remove(); resolve(); }));
  form.onsubmit = async (e) => {
    e.preventDefault();
    const d = formData(form);
    if (showFieldErrors(form, check(d))) return;
    const btn = form.querySelector("button[type=submit]");
    btn.disabled = true;
    msg.textContent = "";
    try {
      await submit(d, form);
      dlg.close();
    } catch (err) {
      const fields = { ...fieldErrors(err), ...(fieldsFor ? fieldsFor(err) : {}) };
      showFieldErrors(form, fields);
      msg.textContent = errorText(err);
    } finally {
      btn.disabled = false;
    }
  };
  dlg.showModal();
  return { dialog: dlg, form, done };
}
