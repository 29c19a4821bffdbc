// QR scanning with the camera through the browser's BarcodeDetector (Chromium on Android, Edge,
// Chrome OS). Where it is missing, callers show manual entry instead: canScan() says which.

export const canScan = () => "BarcodeDetector" in window && Boolean(navigator.mediaDevices?.getUserMedia);

/**
 * Open a full-screen camera overlay and resolve with the first QR code's text, or null when the
 * user cancels. Rejects with a plain-words Error when the camera cannot be opened.
 */
export async function scanQr({ title = "扫描二维码" } = {}) {
  if (!canScan()) throw new Error("此浏览器不支持扫码，请手动输入。");
  const formats = await window.BarcodeDetector.getSupportedFormats?.() ?? ["qr_code"];
  if (!formats.includes("qr_code")) throw new Error("此设备不支持识别二维码，请手动输入。");
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" }, audio: false });
  } catch (err) {
    throw new Error(err.name === "NotAllowedError"
      ? "您没有允许使用摄像头，无法扫码。请在浏览器设置中允许摄像头，或手动输入。"
      : "无法打开摄像头，请手动输入。");
  }
  const detector = new window.BarcodeDetector({ formats: ["qr_code"] });
  const overlay = document.createElement("div");
  overlay.className = "scan-overlay";
  overlay.innerHTML = `<div class="scan-box"><p class="scan-title"></p><video class="scanner" playsinline muted></video>
    <p class="muted small">将二维码放入画面中</p><button type="button" class="block">取消</button></div>`;
  overlay.querySelector(".scan-title").textContent = title;
  document.body.appendChild(overlay);
  const video = overlay.querySelector("video");
  video.srcObject = stream;
  await video.play().catch(() => {});
  return new Promise((resolve) => {
    let done = false;
    const finish = (value) => {
      if (done) return;
      done = true;
      stream.getTracks().forEach((t) => t.stop());
      overlay.remove();
      resolve(value);
    };
    overlay.querySelector("button").onclick = () => finish(null);
    const tick = async () => {
      if (done) return;
      try {
        const codes = await detector.detect(video);
        if (codes.length) { finish(codes[0].rawValue); return; }
      } catch { /* frame not ready yet */ }
      setTimeout(tick, 250);
    };
    tick();
  });
}
