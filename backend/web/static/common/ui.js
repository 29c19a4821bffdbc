// Small UI pieces shared by the clients: toasts, inline notices, error text, busy buttons.

import { html, mount } from "./html.js";

let toastBox = null;

/** A transient message at the bottom of the screen (kind: info | ok | error). */
export function toast(message, kind = "info", ms = 3500) {
  if (!toastBox) {
    toastBox = document.createElement("div");
    toastBox.className = "toasts";
    toastBox.setAttribute("role", "status");
    toastBox.setAttribute("aria-live", "polite");
    document.body.appendChild(toastBox);
  }
  const el = document.createElement("div");
  el.className = `toast toast-${kind}`;
  el.textContent = message;
  toastBox.appendChild(el);
  setTimeout(() => el.remove(), ms);
}

/** The people-facing text of an error (the server's zh message, or a network hint). */
export function errorText(err) {
  if (!err) return "";
  if (err.code === "network") return err.message;
  return err.message || "操作失败，请稍后重试";
}

/** Render a notice box (kind: info | ok | warn | error) into an element. */
export function notice(el, kind, content) {
  if (!el) return;
  if (!content) { el.hidden = true; el.innerHTML = ""; return; }
  el.hidden = false;
  mount(el, html`<div class="notice notice-${kind}" role="${kind === "error" ? "alert" : "status"}">${content}</div>`);
}

/** Run an async action with the button disabled and a busy label; errors go to onError. */
export async function busy(button, fn, onError) {
  const label = button ? button.textContent : "";
  if (button) { button.disabled = true; button.dataset.busy = "1"; button.textContent = "处理中…"; }
  try {
    return await fn();
  } catch (err) {
    if (onError) onError(err);
    else toast(errorText(err), "error");
    return undefined;
  } finally {
    if (button) { button.disabled = false; delete button.dataset.busy; button.textContent = label; }
  }
}

/** Ask for a confirmation (native dialog keeps this dependency-free and accessible). */
export function confirmAction(message) {
  return window.confirm(message);
}

/** Loading placeholder. */
export const loading = (text = "加载中…") => html`<p class="muted loading">${text}</p>`;

/** Empty-state placeholder. */
export const emptyState = (text) => html`<p class="muted empty">${text}</p>`;

/** Status badge. */
export const badge = (text, kind = "") => html`<span class="badge ${kind ? `badge-${kind}` : ""}">${text}</span>`;

/** Render an error into a container (replacing it). */
export function showError(el, err) {
  mount(el, html`<div class="notice notice-error" role="alert">${errorText(err)}</div>`);
}
