// Rate the institution of a completed plan: teaching, facilities and organisation (1–5), once.
import { $, html, mount } from "/static/common/html.js";
import { errorText } from "/static/common/ui.js";

const ASPECTS = [["teaching", "教学质量"], ["facilities", "场地设施"], ["organisation", "组织管理"]];

export default {
  title: "评价培训机构",
  auth: "bound",
  onLoad({ root, app, query }) {
    const planId = Number(query.get("plan_id"));
    if (!planId) { app.navigate("archive", undefined, true); return; }
    mount(root, html`
      <form class="card" id="rate" novalidate>
        <h2>您的评价</h2>
        <p class="muted small">评价匿名汇总后公开，帮助其他学员选择培训机构。每个培训只能评价一次。</p>
        ${ASPECTS.map(([name, text]) => html`
          <fieldset class="stars-field"><legend>${text}</legend>
            <div class="stars" data-name="${name}">${[1, 2, 3, 4, 5].map((n) => html`
              <label title="${n} 星"><input type="radio" name="${name}" value="${n}" ${n === 5 ? "checked" : ""}><span>★</span></label>`)}</div>
          </fieldset>`)}
        <label for="comment">意见和建议（选填）</label>
        <textarea id="comment" name="comment" rows="3" maxlength="500"></textarea>
        <div class="form-msg" id="msg" role="alert"></div>
        <button class="primary block" type="submit">提交评价</button>
      </form>`);
    const form = $(root, "#rate");
    const paint = () => form.querySelectorAll(".stars").forEach((group) => {
      const value = Number(group.querySelector("input:checked")?.value || 0);
      group.querySelectorAll("label").forEach((l, i) => l.classList.toggle("on", i < value));
    });
    form.addEventListener("change", paint);
    paint();
    form.onsubmit = async (e) => {
      e.preventDefault();
      const body = { plan_id: planId, comment: form.comment.value.trim() };
      for (const [name] of ASPECTS) body[name] = Number(form.querySelector(`input[name=${name}]:checked`).value);
      const btn = form.querySelector("button");
      btn.disabled = true;
      try {
        await app.api.post("/me/evaluations", body, { idempotent: true });
        app.toast("感谢您的评价", "ok");
        app.navigate("archive", undefined, true);
      } catch (err) {
        $(root, "#msg").textContent = err.code === "not_completed" ? "完成培训后才能评价" : errorText(err);
        btn.disabled = false;
      }
    };
  },
};
