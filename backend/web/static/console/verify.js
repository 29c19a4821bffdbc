// Voucher verification at the desk: scan the trainee's live QR (a USB scanner types the token into the
// field, or the camera where the browser has BarcodeDetector) or type the code, see validity and the
// masked holder, then enrol the holder on a plan, which uses the voucher. Enrolment needs the live QR
// (the trainee at the desk) unless the bureau allowed the bare code for the batch.
import { $, html, mount } from "../common/html.js";
import { canScan, scanQr } from "../common/scan.js";
import { badge, busy, errorText, toast } from "../common/ui.js";
import { occupationLabel, occupationNames } from "../common/occupations.js";
import { PLAN_STATUS, VERIFY_REASON, VOUCHER_STATUS, fmtDate, fmtMoney, label } from "../common/format.js";

export default {
  title: "券核验",
  async render({ root, api }) {
    const names = await occupationNames(api);
    const plans = (await api.list("/plans", { per_page: 200 })).items
      .filter((p) => ["draft", "submitted", "approved", "rejected"].includes(p.status));
    mount(root, html`
      <h1>培训券核验</h1>
      <section class="card">
        <form id="verify-form" novalidate>
          <label for="code">学员培训券二维码 / 券码</label>
          <div class="row"><input id="code" name="code" placeholder="用扫码枪扫描学员手机上的二维码，或输入券码" autocomplete="off" style="flex:1;margin-top:0">
            <button class="primary" type="submit">核验</button>
            ${canScan() ? html`<button type="button" id="scan">扫码核验</button>` : ""}</div>
          <p class="small muted">报名须学员本人在场出示手机上的动态二维码（截图无效）；仅凭券码只能查询，除非人社部门对该批次另有许可。</p>
          ${canScan() ? "" : html`<p class="small muted">此浏览器不支持摄像头扫码，请用扫码枪扫描，或输入券码查询。</p>`}
        </form>
      </section>
      <div id="result"></div>`);
    const out = $(root, "#result");
    let last = null; // {token} or {code} of the verified voucher, reused to enrol

    async function check(input) {
      mount(out, html`<p class="muted">核验中…</p>`);
      try {
        const r = await api.post("/vouchers/verify", input);
        last = input;
        const v = r.voucher;
        mount(out, html`
          <section class="card verify-result ${r.valid && r.usable_here ? "valid" : "invalid"}">
            <h2>${r.valid && r.usable_here ? "✔ 培训券有效，可在本机构使用" : `✘ ${label(VERIFY_REASON, r.reason) || "培训券不可用"}`}</h2>
            ${v ? html`<dl class="kv">
              <dt>券码</dt><dd class="mono">${v.code}</dd>
              <dt>状态</dt><dd>${label(VOUCHER_STATUS, v.status)}</dd>
              <dt>批次</dt><dd>${v.batch.name}</dd>
              <dt>面值</dt><dd>${fmtMoney(v.batch.face_value_fen)}</dd>
              <dt>适用职业</dt><dd>${(v.batch.occupation_codes || []).map((c) => occupationLabel(names, c)).join("、")}</dd>
              <dt>持券人</dt><dd>${v.holder.name_masked}（${v.holder.id_number_masked}）</dd>
              <dt>有效期至</dt><dd>${fmtDate(v.expires_at)}</dd></dl>` : ""}
            ${r.valid && r.usable_here ? html`
              <h3 style="margin-top:12px">报名到培训方案（使用此券）</h3>
              <div class="row"><select id="plan" style="flex:1;margin-top:0">${plans.map((p) => html`<option value="${p.id}">${p.title}（${occupationLabel(names, p.occupation_code, p.occupation_name)}，${label(PLAN_STATUS, p.status)}）</option>`)}</select>
                <button type="button" class="primary" id="enrol" ${plans.length ? "" : "disabled"}>确认报名</button></div>
              <p class="small muted">报名后券状态变为“已使用”，不能再用于其他培训。二维码仅能使用一次。</p>
              <div id="enrol-msg"></div>` : ""}
          </section>`);
        const enrol = $(out, "#enrol");
        if (enrol) {
          enrol.onclick = () => busy(enrol, async () => {
            const body = last.token ? { voucher_token: last.token } : { voucher_code: last.code };
            const e = await api.post(`/plans/${$(out, "#plan").value}/enrollments`, body, { idempotent: true });
            toast("报名成功", "ok");
            mount($(out, "#enrol-msg"), html`<div class="notice notice-ok">${e.name || "学员"} 已加入名单，券已使用。</div>`);
            enrol.disabled = true;
          }, (err) => mount($(out, "#enrol-msg"), html`<div class="notice notice-error">${VERIFY_REASON[err.details?.reason] || VERIFY_REASON[err.code] || errorText(err)}</div>`));
        }
      } catch (err) {
        mount(out, html`<div class="notice notice-error">${errorText(err)}</div>`);
      }
    }

    $(root, "#verify-form").onsubmit = (e) => {
      e.preventDefault();
      const code = e.target.code.value.trim();
      if (!code) { toast("请扫描二维码或输入券码", "error"); return; }
      // A scanned QR token is 45 base32 characters; a voucher code is 16 + check characters with separators.
      const compact = code.replace(/[\s-]/g, "").toUpperCase();
      check(/^[A-Z2-7]{40,}$/.test(compact) ? { token: compact } : { code });
    };
    const scan = $(root, "#scan");
    if (scan) {
      scan.onclick = async () => {
        try {
          const token = await scanQr({ title: "扫描学员出示的培训券二维码" });
          if (token) check({ token });
        } catch (err) {
          toast(err.message, "error");
        }
      };
    }
  },
};
