// Kiosk screen: renders the daemon's board, pushed as server-sent events from /events (no page reloads).
"use strict";
(function () {
  var $ = function (id) { return document.getElementById(id); };
  var HINTS = {
    face_mismatch: "请摘下帽子、口罩，正对镜头再试；或刷卡后输入密码",
    no_face: "请站在摄像头正前方，脸部露出并保持不动",
    not_on_roster: "您不在今天本站点的名单中，请联系工作人员",
    no_lesson_now: "现在不是您的上课时间，请核对课表",
    check_in_closed: "签到时间已过，请联系工作人员补签",
    already_checked_in: "您已签到，下课后再来签退",
    already_checked_out: "本节课已签退，无需重复",
    pin_wrong: "请重新刷卡并输入正确密码",
    pin_locked: "请在手机上重新设置密码后再来",
    pin_timeout: "请重新刷卡后输入密码",
    qr_offline: "网络不可用，请刷社保卡",
    qr_invalid: "请在手机上刷新二维码后重试",
    no_manifest: "考勤机尚未下载今日名单，请联系工作人员",
    camera_error: "请刷卡并输入密码",
    record_failed: "请重试，仍不行请联系工作人员"
  };
  var pin = "";
  var lastResultKey = null;
  var lastPreview = null;
  var lastSnapshot = null;

  // "请输入密码 / Please enter your PIN (2/3)" -> "请输入密码（第 2/3 次）": the Chinese half, with the attempt.
  function zh(text) {
    var s = String(text || "");
    var attempt = s.match(/\((\d+\/\d+)\)\s*$/);
    return s.split(" / ")[0] + (attempt ? "（第 " + attempt[1] + " 次）" : "");
  }
  function en(text) { var parts = String(text || "").split(" / "); return parts.length > 1 ? parts[1] : ""; }

  function tick() {
    $("clock").textContent = new Date().toLocaleTimeString("zh-CN", { timeZone: "Asia/Shanghai", hour12: false });
  }
  setInterval(tick, 1000); tick();

  function beep(ok) {
    try {
      var ctx = new (window.AudioContext || window.webkitAudioContext)();
      var osc = ctx.createOscillator(); var gain = ctx.createGain();
      osc.frequency.value = ok ? 880 : 220; gain.gain.value = 0.2;
      osc.connect(gain); gain.connect(ctx.destination);
      osc.start(); osc.stop(ctx.currentTime + (ok ? 0.15 : 0.5));
    } catch (e) { /* no audio device: the screen still says it */ }
  }

  function show(panel) {
    ["idle", "face", "pin", "busy", "result"].forEach(function (p) { $("panel-" + p).hidden = p !== panel; });
    document.body.dataset.panel = panel;
  }

  function steps(now, pinPath) {
    $("verify-label").textContent = pinPath ? "输入密码" : "看镜头";
    var order = ["scan", "verify", "done"];
    var at = order.indexOf(now);
    document.querySelectorAll("#steps li").forEach(function (li) {
      var i = order.indexOf(li.dataset.step);
      li.className = i === at ? "now" : (i < at ? "done" : "");
    });
  }

  function renderPin() { $("pin-dots").textContent = pin.replace(/./g, "●") || "\u00a0"; }

  function renderPreview(s) {
    var img = $("preview");
    if (s.preview && s.preview !== lastPreview) {
      lastPreview = s.preview;
      img.src = "/preview.jpg?v=" + s.preview;
    }
    $("preview-none").hidden = !!s.preview;
    var frame = $("face-frame");
    var box = s.preview_box;
    if (!s.preview || !box) { frame.hidden = true; return; }
    var place = function () {
      var w = img.clientWidth, h = img.clientHeight;
      frame.style.left = (box[0] * w) + "px"; frame.style.top = (box[1] * h) + "px";
      frame.style.width = ((box[2] - box[0]) * w) + "px"; frame.style.height = ((box[3] - box[1]) * h) + "px";
      frame.hidden = false;
    };
    if (img.complete && img.naturalWidth) { place(); } else { img.onload = place; }
  }

  function render(s) {
    lastSnapshot = s;
    $("site").textContent = s.site_name ? s.site_name + " · 培训考勤机" : "培训考勤机";
    var net = $("net");
    net.className = "net " + (s.refused ? "refused" : (s.online ? "online" : "offline"));
    // A refused signature is not "offline": staff must activate the kiosk or fix its secret.
    net.textContent = s.refused ? "设备未激活或密钥错误" : (s.online ? "在线" : "离线·照常签到");
    $("queue").textContent = "待上传 " + (s.queue_depth || 0) + " 条" + (s.manifest_loaded ? "" : " · 未下载今日名单");
    $("version").textContent = s.version_label || "";
    var lessons = $("lessons");
    lessons.innerHTML = "";
    (s.lessons || []).forEach(function (l) {
      var li = document.createElement("li");
      li.textContent = l.time + "  " + l.title;
      lessons.appendChild(li);
    });
    var late = s.late_rejections || [];
    $("late").hidden = late.length === 0;
    $("late").textContent = late.length ? "服务器未认可的记录：" + late.map(function (r) {
      return r.time + " " + (r.name || "") + " " + zh(r.message);
    }).join("；") + "。请联系工作人员。" : "";

    if (!s.pin_asked && pin) { pin = ""; renderPin(); }
    if (s.state === "showing_result" && s.results && s.results.length) {
      var r = s.results[0];
      var panel = $("panel-result");
      var asking = r.code === "confirm_check_out";
      panel.className = "panel " + (r.ok ? "ok" : (asking ? "ask" : "bad"));
      $("result-mark").textContent = r.ok ? "✓" : (asking ? "?" : "✗");
      $("result-text").textContent = zh(r.message);
      $("result-who").textContent = [r.name, r.lesson].filter(Boolean).join("  ");
      $("result-hint").textContent = r.ok ? "" : (HINTS[r.code] || "");
      $("result-en").textContent = en(r.message);
      steps("done", r.method === "card+pin");
      show("result");
      var key = r.at + r.code;
      if (key !== lastResultKey) { lastResultKey = key; beep(r.ok); }
      return;
    }
    if (s.state === "idle") { steps("scan", false); show("idle"); return; }
    if (s.pin_asked) {
      $("pin-prompt").textContent = zh(s.prompt) || "请输入密码";
      steps("verify", true); renderPin(); show("pin"); return;
    }
    if (s.state === "verifying" && (s.preview || /摄像头|镜头|转头/.test(s.prompt || ""))) {
      $("face-prompt").textContent = zh(s.prompt) || "请正对摄像头";
      steps("verify", false); renderPreview(s); show("face"); return;
    }
    $("busy-prompt").textContent = s.state === "recording" ? "正在记录…" : (zh(s.prompt) || "请稍候…");
    steps("verify", false); show("busy");
  }

  document.getElementById("pad").addEventListener("click", function (ev) {
    var key = ev.target.dataset && ev.target.dataset.key;
    if (!key) { return; }
    if (key === "clear") { pin = ""; }
    else if (key === "ok") {
      if (!pin) { return; }
      var typed = pin; pin = "";
      fetch("/pin", { method: "POST", headers: { "Content-Type": "application/json", "X-Kiosk-Screen": "1" },
                      body: JSON.stringify({ pin: typed }) })
        .then(function (resp) { if (resp.status !== 202) { $("pin-prompt").textContent = "请重新刷卡"; } })
        .catch(function () { $("pin-prompt").textContent = "请重新刷卡"; });
    } else if (pin.length < 12) { pin += key; }
    renderPin();
  });

  function connect() {
    var source = new EventSource("/events");
    source.onmessage = function (ev) { render(JSON.parse(ev.data)); };
    source.onerror = function () {
      $("net").className = "net offline";
      $("net").textContent = "考勤程序未响应，正在重连…";
    };
  }
  window.kioskScreen = { last: function () { return lastSnapshot; } };
  connect();
})();
