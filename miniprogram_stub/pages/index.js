// Home: who is logged in, shortcuts to every screen, and today's lessons at a glance.
import { html, mount } from "/static/common/html.js";

export default {
  title: "职业技能培训券",
  auth: "login",
  async onLoad({ root, app }) {
    const me = app.me || {};
    const person = me.person;
    mount(root, html`
      <section class="hero">
        <h2>${person ? `您好，${person.name}` : "您好"}</h2>
        <p>${person ? `身份证 ${person.id_number_masked}` : "完成实名认证后即可领取培训券、参加培训签到"}</p>
      </section>
      ${me.bound ? "" : html`<div class="notice notice-warn">您还没有实名认证。<a href="#/bind">立即认证</a></div>`}
      <div class="shortcuts">
        <a href="#/vouchers"><b>领</b>领取培训券</a>
        <a href="#/my-vouchers"><b>券</b>我的培训券</a>
        <a href="#/lessons"><b>签</b>今日签到</a>
        <a href="#/nearby"><b>近</b>附近培训</a>
        <a href="#/hours"><b>时</b>我的课时</a>
        <a href="#/certificates"><b>证</b>我的证书</a>
        <a href="#/subsidies"><b>补</b>补贴进度</a>
        <a href="#/archive"><b>档</b>培训档案</a>
        <a href="#/face"><b>脸</b>人脸采集</a>
      </div>
      <p class="muted small">培训券仅限本人使用，二维码会定时刷新，请勿截图转发。</p>`);
  },
};
