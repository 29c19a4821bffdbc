// The in-app inbox (消息): every notification the platform sent, newest first; opening one marks it read.
import { $$, html, mount } from "/static/common/html.js";
import { badge, emptyState, errorText } from "/static/common/ui.js";
import { fmtDateTime } from "/static/common/format.js";
import { KIND_NAMES } from "../lib/notify.js";

// Where a notification's object is shown in this client.
const TARGET = { voucher: "#/my-vouchers", lesson: "#/lessons", plan: "#/hours", makeup: "#/hours",
                 certificate: "#/certificates", subsidy_claim: "#/subsidies" };

export default {
  title: "消息",
  auth: "bound",
  async onLoad({ root, app }) {
    const { items } = await app.api.list("/me/notifications", { per_page: 100 });
    const unread = items.filter((n) => !n.read_at).length;
    mount(root, html`
      <section class="card">
        <h2>消息 ${unread ? badge(`${unread} 条未读`, "warn") : ""}</h2>
        <p class="small muted"><a href="#/notify-settings">消息设置（提醒类型、免打扰时段、微信订阅）›</a></p>
      </section>
      ${items.length ? items.map((n) => html`
        <article class="card notification ${n.read_at ? "read" : "unread"}" data-id="${n.id}" tabindex="0" role="button">
          <h3>${n.read_at ? "" : html`<span class="dot" aria-label="未读">●</span> `}${n.title}</h3>
          <p>${n.body}</p>
          <p class="small muted">${KIND_NAMES[n.kind] || n.kind} · ${fmtDateTime(n.created_at)}
            ${TARGET[n.object_type] ? html` · <a href="${TARGET[n.object_type]}">查看 ›</a>` : ""}</p>
        </article>`) : emptyState("暂无消息")}`);
    for (const el of $$(root, "article.notification.unread")) {
      const open = async () => {
        try {
          await app.api.post(`/me/notifications/${el.dataset.id}/read`);
          el.classList.replace("unread", "read");
          el.querySelector(".dot")?.remove();
        } catch (err) {
          app.toast(errorText(err), "error");
        }
      };
      el.addEventListener("click", open, { once: true });
    }
  },
};
