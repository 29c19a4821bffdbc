// Face enrolment with explicit consent (China's 2025 face-recognition Measures): what is kept,
// why, for how long, and that card + PIN always works instead. Consent can be withdrawn here.
import { $, html, mount } from "/static/common/html.js";
import { badge, confirmAction, errorText } from "/static/common/ui.js";

const CONSENT = [
  "为防止他人冒名顶替参加培训、骗取补贴，培训地点的考勤机可以通过“刷脸”核验是本人到场。",
  "采集后平台只保存由照片计算出的人脸特征值（加密存储），不保存照片本身；特征值只用于本平台的培训考勤和领券核验，不提供给其他机构或用于其他目的。",
  "人脸信息属于敏感个人信息。您可以不采集：在考勤机上刷社保卡并输入密码同样可以签到，不影响领券、培训和补贴。",
  "您可以随时在本页面撤回同意，平台会立即删除您的人脸特征值。",
  "培训记录按规定保存 4 年，人脸特征值在撤回同意或账号注销时删除。",
];

function fileToBase64(file) {
  return new Promise((resolve, reject) => {
    const r = new FileReader();
    r.onload = () => resolve(String(r.result).split(",")[1]);
    r.onerror = () => reject(new Error("读取照片失败"));
    r.readAsDataURL(file);
  });
}

const FACE_ERRORS = {
  no_face: "照片中没有找到人脸。请在光线充足处正对镜头重新拍摄。",
  multiple_faces: "照片中有不止一张人脸。请只拍本人。",
  consent_required: "请先阅读并勾选同意。",
};

export default {
  title: "人脸采集",
  auth: "bound",
  async onLoad({ root, app, onUnload }) {
    const me = await app.loadMe(true);
    const enrolled = Boolean(me?.person?.face_enrolled);
    mount(root, html`
      <section class="card">
        <div class="card-head"><h2>人脸信息</h2>${enrolled ? badge("已采集", "ok") : badge("未采集")}</div>
        <h3>个人信息处理告知</h3>
        <div class="consent" tabindex="0">${CONSENT.map((p) => html`<p>${p}</p>`)}</div>
      </section>
      <form class="card" id="enrol" novalidate>
        <h3>${enrolled ? "重新采集" : "采集人脸"}</h3>
        <img class="face-preview" id="preview" alt="照片预览" hidden>
        <label class="file-pick">
          <input id="photo" name="photo" type="file" accept="image/jpeg,image/png" capture="user">
          <span class="button">拍摄本人正脸照片</span><span class="small muted" id="photo-name">未选择照片</span></label>
        <small class="field-error" data-for="photo"></small>
        <label class="check"><input type="checkbox" name="consent" id="consent"> 我已阅读上述告知，同意平台采集并使用我的人脸特征值用于培训考勤核验。</label>
        <div class="result" id="msg"></div>
        <button class="primary block" type="submit">同意并提交</button>
      </form>
      ${enrolled ? html`<section class="card"><h3>撤回同意</h3><p class="small muted">撤回后立即删除人脸特征值，之后请在考勤机上使用社保卡 + 密码签到。</p>
        <button type="button" class="danger block" id="withdraw">撤回同意并删除人脸信息</button></section>` : ""}`);
    const form = $(root, "#enrol");
    const preview = $(root, "#preview");
    let url = null;
    onUnload(() => { if (url) URL.revokeObjectURL(url); });
    form.photo.onchange = () => {
      const f = form.photo.files[0];
      if (url) URL.revokeObjectURL(url);
      url = f ? URL.createObjectURL(f) : null;
      preview.hidden = !url;
      $(root, "#photo-name").textContent = f ? f.name : "未选择照片";
      if (url) preview.src = url;
    };
    form.onsubmit = async (e) => {
      e.preventDefault();
      const out = $(root, "#msg");
      if (!form.consent.checked) { mount(out, html`<div class="notice notice-warn">${FACE_ERRORS.consent_required}</div>`); return; }
      const file = form.photo.files[0];
      if (!file) { mount(out, html`<div class="notice notice-warn">请先拍摄照片</div>`); return; }
      if (file.size > 8 * 1024 * 1024) { mount(out, html`<div class="notice notice-warn">照片太大（超过 8 MB），请重新拍摄</div>`); return; }
      const btn = form.querySelector("button");
      btn.disabled = true;
      try {
        await app.api.put("/me/face", { image_base64: await fileToBase64(file), consent: true });
        app.toast("人脸采集成功", "ok");
        app.navigate("face", undefined, true);
      } catch (err) {
        mount(out, html`<div class="notice notice-error">${FACE_ERRORS[err.code] || errorText(err)}</div>`);
      } finally {
        btn.disabled = false;
      }
    };
    const withdraw = $(root, "#withdraw");
    if (withdraw) {
      withdraw.onclick = async () => {
        if (!confirmAction("确定撤回同意并删除人脸信息？")) return;
        try {
          await app.api.del("/me/face");
          app.toast("已删除人脸信息", "ok");
          app.navigate("face", undefined, true);
        } catch (err) {
          app.toast(errorText(err), "error");
        }
      };
    }
  },
};
