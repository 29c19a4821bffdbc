// The phone's position for check-in and nearby search, with every failure explained in plain words.
// Browsers report WGS-84 (coord_sys "wgs84"); the server converts GCJ-02 input when a real
// mini-program sends it.

export class LocationError extends Error {
  constructor(kind, message) {
    super(message);
    this.kind = kind; // denied | unavailable | timeout | unsupported
  }
}

const TIMEOUT_MS = 15000;

/** Resolve {lat, lon, accuracy_m, coord_sys, at} or reject with a LocationError. */
export function getPosition({ timeout = TIMEOUT_MS } = {}) {
  return new Promise((resolve, reject) => {
    if (!("geolocation" in navigator)) {
      reject(new LocationError("unsupported", "当前浏览器不支持定位，无法签到。请在微信或手机浏览器中打开本页面。"));
      return;
    }
    navigator.geolocation.getCurrentPosition(
      (pos) => resolve({
        lat: pos.coords.latitude,
        lon: pos.coords.longitude,
        accuracy_m: Math.round(pos.coords.accuracy * 10) / 10,
        coord_sys: "wgs84",
        at: new Date(pos.timestamp || Date.now()),
      }),
      (err) => {
        if (err.code === 1) {
          reject(new LocationError("denied", window.isSecureContext
            ? "您没有允许本页面使用位置信息，所以无法确认您是否在培训地点。请在手机设置或浏览器地址栏中允许“位置”权限，然后再点一次。"
            : "当前页面不是安全连接（https），浏览器不允许获取位置。请通过 https 地址打开本页面。"));
        } else if (err.code === 3) {
          reject(new LocationError("timeout", `等了 ${Math.round(timeout / 1000)} 秒仍没有拿到您的位置。请确认手机的定位（GPS）已打开，走到窗边或室外，再点一次。`));
        } else {
          reject(new LocationError("unavailable", "手机暂时无法确定您的位置。请打开定位（GPS）和网络，稍等片刻后再试。"));
        }
      },
      { enableHighAccuracy: true, timeout, maximumAge: 0 },
    );
  });
}
