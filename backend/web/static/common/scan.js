// QR scanning with the camera. The decoder is the browser's BarcodeDetector where it exists (Chromium
// on Android, Edge, Chrome OS) and otherwise jsQR (Apache-2.0), vendored under /static/vendor/jsqr/ and
// loaded only when a scan starts: nothing comes from a CDN. Without a camera callers show manual entry:
// canScan() says whether a camera can be asked for at all, and scanQr() rejects with plain words when
// none is there or it is refused.

const JSQR_SRC = "/static/vendor/jsqr/jsQR.js";
const MAX_SIDE = 640; // frames are scaled down to this before jsQR reads them (speed on slow phones)

/** Whether this browser can ask for a camera (a secure context with getUserMedia). */
export const canScan = () => Boolean(navigator.mediaDevices?.getUserMedia);

let jsQrLoading = null;

/** Load the vendored jsQR once (a classic script defining window.jsQR); resolves with the decode function. */
export function loadJsQr() {
  if (window.jsQR) return Promise.resolve(window.jsQR);
  if (!jsQrLoading) {
    jsQrLoading = new Promise((resolve, reject) => {
      const script = document.createElement("script");
      script.src = JSQR_SRC;
      script.async = true;
      script.onload = () => (window.jsQR ? resolve(window.jsQR) : reject(new Error("扫码组件加载失败，请手动输入。")));
      script.onerror = () => { jsQrLoading = null; reject(new Error("扫码组件加载失败，请手动输入。")); };
      document.head.appendChild(script);
    });
  }
  return jsQrLoading;
}

/** BarcodeDetector for QR codes when the browser has one that reads them, else null. */
async function nativeDetector() {
  if (!("BarcodeDetector" in window)) return null;
  try {
    const formats = (await window.BarcodeDetector.getSupportedFormats?.()) ?? ["qr_code"];
    if (!formats.includes("qr_code")) return null;
    const detector = new window.BarcodeDetector({ formats: ["qr_code"] });
    return async (video) => {
      const codes = await detector.detect(video);
      return codes.length ? codes[0].rawValue : null;
    };
  } catch {
    return null;
  }
}

/** jsQR over a canvas copy of the current video frame. */
async function jsQrDetector() {
  const jsQR = await loadJsQr();
  const canvas = document.createElement("canvas");
  const ctx = canvas.getContext("2d", { willReadFrequently: true });
  return async (video) => {
    const w = video.videoWidth;
    const h = video.videoHeight;
    if (!w || !h) return null;
    const scale = Math.min(1, MAX_SIDE / Math.max(w, h));
    canvas.width = Math.round(w * scale);
    canvas.height = Math.round(h * scale);
    ctx.drawImage(video, 0, 0, canvas.width, canvas.height);
    const frame = ctx.getImageData(0, 0, canvas.width, canvas.height);
    const found = jsQR(frame.data, frame.width, frame.height, { inversionAttempts: "attemptBoth" });
    return found ? found.data : null;
  };
}

/** The plain-words reason a camera could not be opened. */
export function cameraError(err) {
  switch (err?.name) {
    case "NotAllowedError":
    case "SecurityError":
      return "您没有允许使用摄像头，无法扫码。请在浏览器设置中允许摄像头，或改用手动输入。";
    case "NotFoundError":
    case "OverconstrainedError":
      return "没有找到可用的摄像头，无法扫码。请改用手动输入。";
    case "NotReadableError":
      return "摄像头正被其他应用占用，请关闭其他应用后重试，或改用手动输入。";
    default:
      return "无法打开摄像头，请改用手动输入。";
  }
}

/**
 * Open a full-screen camera overlay and resolve with the first QR code's text, or null when the
 * user cancels. Rejects with a plain-words Error when there is no camera or it cannot be opened.
 */
export async function scanQr({ title = "扫描二维码" } = {}) {
  if (!canScan()) throw new Error("此浏览器无法使用摄像头扫码，请改用手动输入。");
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" }, audio: false });
  } catch (err) {
    throw new Error(cameraError(err));
  }
  let detect;
  try {
    detect = (await nativeDetector()) || (await jsQrDetector());
  } catch (err) {
    stream.getTracks().forEach((t) => t.stop());
    throw err;
  }
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
        const value = await detect(video);
        if (value) { finish(value); return; }
      } catch { /* frame not ready yet */ }
      setTimeout(tick, 200);
    };
    tick();
  });
}
