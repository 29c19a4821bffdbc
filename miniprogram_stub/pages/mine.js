// "Mine": the trainee's identity and links to the personal screens.
import { $, html, mount } from "/static/common/html.js";

export default {
  title: "我的",
  auth: "login",
  onLoad({ root, app }) {
    const p = app.me?.person;
    mount(root, html`
      <section class="hero">
        <h2>${p ? p.name : "未实名认证"}</h2>
        <p>${p ? `${p.id_number_masked} · ${p.phone || ""}` : html`<a href="#/bind" style="color:#fff">去实名认证 ›</a>`}</p>
      </section>
      <ul class="menu">
        <li><a href="#/inbox">消息</a></li>
        <li><a href="#/my-vouchers">我的培训券</a></li>
        <li><a href="#/hours">我的课时</a></li>
        <li><a href="#/certificates">我的证书</a></li>
        <li><a href="#/subsidies">补贴进度</a></li>
        <li><a href="#/archive">终身培训档案</a></li>
        <li><a href="#/nearby">附近的培训机构</a></li>
        <li><a href="#/face">人脸信息${p?.face_enrolled ? "（已采集）" : ""}</a></li>
        <li><a href="#/pin">签到密码（刷卡+密码）</a></li>
        <li><a href="#/notify-settings">消息设置</a></li>
      </ul>
      <button type="button" class="block" id="logout">退出登录</button>`);
    $(root, "#logout").onclick = () => app.logout();
  },
};
