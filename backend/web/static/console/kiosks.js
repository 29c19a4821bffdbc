// Kiosks of the institution: register one at a site (the secret is shown exactly once, to be
// typed into the kiosk's configuration; the bureau activates it before it takes events), see
// their state and health, revoke.
import { $, formData, html, mount } from "../common/html.js";
import { badge, busy, confirmAction, emptyState, errorText, toast } from "../common/ui.js";
import { fmtDateTime } from "../common/format.js";

// What the technician types on the kiosk: the secret into a 0600 file (never into the TOML, which is
// often copied around), and the [server] section of kiosk.toml pointing at this server.
export function configSnippet(r) {
  return `install -d -m 700 /etc/peixunquan
printf '%s' '${r.secret}' > /etc/peixunquan/device.secret && chmod 600 /etc/peixunquan/device.secret

# /etc/peixunquan/kiosk.toml（其余设置见 kiosk/kiosk.example.toml）
[server]
url = "${location.origin}"
device_id = "${r.device_id}"
device_secret_file = "/etc/peixunquan/device.secret"`;
}

export default {
  title: "考勤机",
  async render({ root, api, navigate }) {
    const [sites, devices] = await Promise.all([api.list("/sites", { per_page: 200 }), api.list("/devices", { per_page: 200 })]);
    const siteName = new Map(sites.items.map((s) => [s.id, s.name]));
    mount(root, html`
      <h1>考勤机</h1>
      <section class="card">
        <h2>登记考勤机</h2>
        <form id="device-form" class="form-grid">
          <label>名称<input name="name" required maxlength="128" placeholder="如 一楼教室-1号机"></label>
          <label>所在场地<select name="site_id">${sites.items.map((s) => html`<option value="${s.id}">${s.name}</option>`)}</select></label>
          <div style="align-self:end"><button class="primary block" type="submit" ${sites.items.length ? "" : "disabled"}>登记</button></div>
        </form>
        <div id="secret"></div>
      </section>
      <section class="card">
        <h2>已登记（${devices.items.length}）</h2>
        ${devices.items.length ? html`<div class="table-wrap"><table>
          <thead><tr><th>编号</th><th>名称</th><th>场地</th><th>状态</th><th>最后心跳</th><th>时钟偏差</th><th>待上传</th><th></th></tr></thead>
          <tbody>${devices.items.map((d) => html`<tr data-device="${d.device_id}">
            <td>${d.device_id}</td><td>${d.name}</td><td>${siteName.get(d.site_id) || `#${d.site_id}`}</td>
            <td>${d.status === "revoked" ? badge("已停用") : d.status === "pending" ? badge("待人社激活", "warn") : html`${d.offline ? badge("离线", "error") : badge("在线", "ok")} ${d.clock_drift ? badge("时钟偏差", "warn") : ""}`}</td>
            <td class="nowrap">${fmtDateTime(d.last_heartbeat_at)}</td>
            <td>${d.clock_skew_s == null ? "—" : `${Math.round(d.clock_skew_s)} 秒`}</td><td>${d.queue_depth ?? "—"}</td>
            <td>${d.status !== "revoked" ? html`<button type="button" class="danger small revoke">停用</button>` : ""}</td></tr>`)}</tbody></table></div>` : emptyState("还没有考勤机")}
      </section>`);
    const form = $(root, "#device-form");
    form.onsubmit = async (e) => {
      e.preventDefault();
      const d = formData(form);
      if (!d.name) { toast("请输入名称", "error"); return; }
      await busy(form.querySelector("button"), async () => {
        const r = await api.post("/devices", { name: d.name, site_id: Number(d.site_id) }, { idempotent: true });
        mount($(root, "#secret"), html`<div class="secret" role="alert">
          <p><b>考勤机已登记（编号 ${r.device_id}）。以下密钥只显示这一次</b>，请立即填入考勤机配置；离开本页后无法再次查看，丢失只能停用后重新登记。</p>
          <p>考勤机须由所在地人社部门核实安装地点并<b>激活后</b>才能上传考勤；激活前它上传的数据会被拒绝。</p>
          <p class="mono" id="secret-value">${r.secret}</p>
          <button type="button" id="copy">复制密钥</button>
          ${r.provisioning_qr_svg ? html`<p>用考勤机自带的扫码器扫描下面的二维码即可完成配置（在考勤机上运行 <code>python -m kiosk provision</code>）；二维码含密钥，同样只显示这一次：</p>
          <img id="provisioning-qr" alt="考勤机配置二维码" width="240" height="240" src="data:image/svg+xml;charset=utf-8,${encodeURIComponent(r.provisioning_qr_svg)}">` : ""}
          <p>或在考勤机上（以运行考勤程序的用户身份）保存密钥并写入配置，然后运行 <code>python -m kiosk check</code> 逐项检查：</p>
          <pre class="mono" id="config-snippet">${configSnippet(r)}</pre>
          <button type="button" id="copy-config">复制配置</button></div>`);
        $(root, "#copy-config").onclick = () => navigator.clipboard?.writeText($(root, "#config-snippet").textContent)
          .then(() => toast("已复制", "ok"), () => toast("复制失败，请手动选择复制", "error"));
        $(root, "#copy").onclick = () => navigator.clipboard?.writeText(r.secret).then(() => toast("已复制", "ok"), () => toast("复制失败，请手动选择复制", "error"));
        form.reset();
      }, (err) => toast(errorText(err), "error"));
    };
    root.querySelectorAll("button.revoke").forEach((btn) => {
      btn.onclick = () => busy(btn, async () => {
        if (!confirmAction("停用后该考勤机立即无法上传数据，确定？")) return;
        await api.post(`/devices/${btn.closest("tr").dataset.device}/revoke`, {});
        toast("已停用", "ok");
        navigate("kiosks", { t: Date.now() });
      });
    });
  },
};
