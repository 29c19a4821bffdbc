// The one HTTP client of the pages: bearer tokens kept in localStorage under a per-client prefix,
// a single-flight refresh through /auth/refresh on 401, the API's JSON error shape turned into
// ApiError, collections with X-Total-Count, authenticated downloads and a fetch()-based
// server-sent-events reader (EventSource cannot send an Authorization header, and a token in the
// URL would end up in access logs).

export class ApiError extends Error {
  constructor(status, code, message, details, retryAfter = null) {
    super(message || code);
    this.status = status;
    this.code = code;
    this.details = details || {};
    this.retryAfter = retryAfter; // seconds, from the response's Retry-After (503 busy, 429), else null
  }
}

// A repeat of the same request is retried on its own only within these bounds: a longer Retry-After
// (a rate limit's minute) is the person's call, not the page's.
const MAX_AUTO_WAIT_S = 10;
function sleep(ms, signal) {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) { reject(signal.reason); return; }
    const onAbort = () => { clearTimeout(timer); reject(signal.reason); };
    const timer = setTimeout(() => { signal?.removeEventListener("abort", onAbort); resolve(); }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * How long to wait before sending the same request again after `err` on try number `attempt`, or null
 * (give up): for a request marked `retry` only. The server said "busy, retry after N s" (503, 429), a
 * proxy could not reach it (502, 504) or the network failed (only with `retry.network`: the request may
 * have arrived, so only for requests whose repeat the server answers with the first outcome). A random
 * share is added so that a whole class's phones, turned away together, do not come back together.
 */
export function retryDelayMs(err, attempt, retry, random = Math.random) {
  if (!retry || attempt >= (retry.attempts ?? 3) || !(err instanceof ApiError)) return null;
  let base;
  if ((err.status === 503 || err.status === 429) && err.retryAfter !== null) {
    if (err.retryAfter > MAX_AUTO_WAIT_S) return null;
    base = err.retryAfter * 1000;
  } else if (err.status === 503 || err.status === 502 || err.status === 504 || (err.status === 0 && retry.network)) {
    base = 1000 * 2 ** (attempt - 1);
  } else {
    return null;
  }
  return Math.round(base + random() * Math.max(500, base / 2));
}

/** A random UUID, also outside secure contexts (plain http on an intranet address). */
export function uuid() {
  if (globalThis.crypto?.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

// The server's clock as last seen in a response's X-Server-Time header, as an offset from this device's
// clock: time windows (check-in opens, QR expiry) are the server's rules, and a phone's clock may be off.
let clockOffsetMs = 0;
let clockKnown = false;

function noteServerTime(response) {
  const t = Date.parse(response.headers?.get("X-Server-Time") || "");
  if (!Number.isNaN(t)) { clockOffsetMs = t - Date.now(); clockKnown = true; }
}

/** The server's current time (this device's clock corrected by the last X-Server-Time seen). */
export function serverNow() {
  return new Date(Date.now() + clockOffsetMs);
}

/** Whether serverNow() has been calibrated by a server response yet. */
export const serverClockKnown = () => clockKnown;

function query(params) {
  if (!params) return "";
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== "") q.set(k, v);
  }
  const s = q.toString();
  return s ? `?${s}` : "";
}

async function errorFrom(response) {
  let body = null;
  try { body = await response.json(); } catch { /* not JSON (proxy page, HTML 502) */ }
  const e = body && body.error;
  const ra = (response.headers?.get("Retry-After") || "").trim();
  const retryAfter = /^\d+$/.test(ra) ? Number(ra) : null;
  if (e) return new ApiError(response.status, e.code, e.message, e.details, retryAfter);
  return new ApiError(response.status, `http_${response.status}`, `服务器返回错误（${response.status}）`, null, retryAfter);
}

/**
 * createApi({prefix, onLogout}) → client. `prefix` separates the stored tokens of the trainee
 * client, the console and the dashboard, which share one origin.
 */
export function createApi({ prefix, base = "/api/v1", onLogout = () => {} }) {
  const key = (k) => `${prefix}.${k}`;
  let refreshing = null;

  const tokens = {
    get access() { return localStorage.getItem(key("access")); },
    get refresh() { return localStorage.getItem(key("refresh")); },
    set(pair) {
      if (pair.access_token) localStorage.setItem(key("access"), pair.access_token);
      if (pair.refresh_token) localStorage.setItem(key("refresh"), pair.refresh_token);
    },
    clear() {
      localStorage.removeItem(key("access"));
      localStorage.removeItem(key("refresh"));
      localStorage.removeItem(key("user"));
    },
  };

  /**
   * Renew the pair through /auth/refresh (one flight at a time). Resolves to true (renewed), false
   * (the server refused the token: signed out), or an ApiError when the server could not answer now
   * (rate limited, unavailable, offline): the tokens are kept and the caller may try again later.
   */
  function refresh() {
    if (!refreshing) {
      refreshing = (async () => {
        const rt = tokens.refresh;
        if (!rt) return false;
        let r;
        try {
          r = await fetch(`${base}/auth/refresh`, {
            method: "POST",
            headers: { "Content-Type": "application/json" },
            body: JSON.stringify({ refresh_token: rt }),
          });
        } catch {
          return new ApiError(0, "network", "网络连接失败，请检查网络后重试");
        }
        if (r.ok) { tokens.set(await r.json()); return true; }
        // Only a refused token ends the session; a 429 or a 5xx says nothing about the token.
        if (r.status === 401 || r.status === 422) { tokens.clear(); return false; }
        return errorFrom(r);
      })().finally(() => { setTimeout(() => { refreshing = null; }, 0); });
    }
    return refreshing;
  }

  /**
   * Sign out: ask the server to revoke the refresh token's session (so a copied token is worthless),
   * then forget the tokens whatever the answer — an offline phone still signs out locally.
   */
  async function logout() {
    const rt = tokens.refresh;
    if (rt) {
      const controller = new AbortController();
      const timer = setTimeout(() => controller.abort(), 5000);
      try {
        await fetch(`${base}/auth/logout`, {
          method: "POST",
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify({ refresh_token: rt }),
          signal: controller.signal,
        });
      } catch { /* offline or slow: the local sign-out below still happens */ }
      clearTimeout(timer);
    }
    tokens.clear();
  }

  /**
   * One request. `opts.retry` = {attempts, network, onWait(err, waitMs, attempt), onResend(attempt)} sends
   * the very same request again when the server was busy or unreachable (retryDelayMs): only for requests
   * whose repeat changes nothing, such as a check-in with its event_id or one with an Idempotency-Key.
   * `opts.signal` also ends a wait between tries.
   */
  async function send(method, path, opts = {}) {
    if (opts.idempotent === true) opts = { ...opts, idempotent: uuid() }; // one key for every try
    const tell = (fn, ...args) => { try { fn?.(...args); } catch { /* a page's notice must not hide the outcome */ } };
    for (let attempt = 1; ; attempt += 1) {
      try {
        return await sendOnce(method, path, opts);
      } catch (err) {
        const wait = retryDelayMs(err, attempt, opts.retry);
        if (wait === null) throw err;
        tell(opts.retry.onWait, err, wait, attempt);
        await sleep(wait, opts.signal);
        tell(opts.retry.onResend, attempt);
      }
    }
  }

  async function sendOnce(method, path, opts = {}, retried = false) {
    const headers = { Accept: "application/json", ...(opts.headers || {}) };
    const hadSession = Boolean(tokens.access || tokens.refresh); // a refused refresh clears them below
    if (tokens.access) headers.Authorization = `Bearer ${tokens.access}`;
    let body;
    if (opts.json !== undefined) {
      headers["Content-Type"] = "application/json";
      body = JSON.stringify(opts.json);
    } else if (opts.form) {
      body = opts.form; // FormData: the browser sets the multipart boundary
    }
    if (opts.idempotent) headers["Idempotency-Key"] = opts.idempotent;
    let response;
    try {
      response = await fetch(base + path + query(opts.query), { method, headers, body, signal: opts.signal });
    } catch (err) {
      if (err.name === "AbortError") throw err;
      throw new ApiError(0, "network", "网络连接失败，请检查网络后重试");
    }
    noteServerTime(response);
    const isAuthCall = path.startsWith("/auth/");
    if (response.status === 401 && !retried && !isAuthCall && tokens.refresh) {
      const renewed = await refresh();
      if (renewed === true) return sendOnce(method, path, opts, true);
      if (renewed instanceof ApiError) throw renewed; // still signed in: try again later
    }
    if (response.status === 401 && !isAuthCall) {
      tokens.clear();
      // The reason is an extra argument: callers that take none keep working unchanged.
      onLogout({ reason: hadSession ? "expired" : "unauthorized" });
    }
    if (!response.ok) throw await errorFrom(response);
    if (opts.raw) return response;
    if (response.status === 204) return null;
    const type = response.headers.get("Content-Type") || "";
    return type.includes("json") ? response.json() : response.text();
  }

  /** GET a collection: {items, total}. */
  async function list(path, params) {
    const r = await send("GET", path, { query: params, raw: true });
    const items = await r.json();
    const total = Number(r.headers.get("X-Total-Count") ?? (Array.isArray(items) ? items.length : 0));
    return { items: Array.isArray(items) ? items : [], total };
  }

  /** Fetch a file with the bearer header and hand it to the browser as a download. */
  async function download(path, fallbackName, params) {
    const r = await send("GET", path, { query: params, raw: true, headers: { Accept: "*/*" } });
    const blob = await r.blob();
    const cd = r.headers.get("Content-Disposition") || "";
    const m = /filename\*=UTF-8''([^;]+)/i.exec(cd) || /filename="?([^";]+)"?/i.exec(cd);
    const name = m ? decodeURIComponent(m[1]) : fallbackName;
    const url = URL.createObjectURL(blob);
    const a = document.createElement("a");
    a.href = url;
    a.download = name;
    document.body.appendChild(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
    return name;
  }

  /** Fetch an image (QR code, make-up photo) with the bearer header; returns an object URL. */
  async function imageUrl(path, params) {
    const r = await send("GET", path, { query: params, raw: true, headers: { Accept: "image/*" } });
    return URL.createObjectURL(await r.blob());
  }

  /**
   * Read a text/event-stream with fetch(): onEvent({event, data, id}) per message, onState("open" |
   * "retrying" | "closed"). Reconnects with Last-Event-ID: after the server's `retry:` when it ended
   * the response itself (its maximum age, or a short stream from a server with no thread to lend),
   * with backoff after an error; returns {close()}.
   */
  function stream(path, { onEvent, onState = () => {}, params } = {}) {
    let closed = false;
    let controller = null;
    let lastId = null;
    let delay = 1000;
    let retryMs = 1000;
    let state = null;
    const setState = (next) => { if (next !== state) { state = next; onState(next); } };

    function dispatch(block) {
      const msg = { event: "message", data: "", id: null };
      const data = [];
      for (const line of block.split("\n")) {
        if (!line || line.startsWith(":")) continue;
        const i = line.indexOf(":");
        const field = i < 0 ? line : line.slice(0, i);
        const value = i < 0 ? "" : line.slice(i + 1).replace(/^ /, "");
        if (field === "event") msg.event = value;
        else if (field === "data") data.push(value);
        else if (field === "id") msg.id = value;
        else if (field === "retry" && /^\d+$/.test(value)) retryMs = Number(value);
      }
      if (msg.id) lastId = msg.id;
      if (!data.length) return;
      msg.data = data.join("\n");
      try { msg.json = JSON.parse(msg.data); } catch { msg.json = null; }
      onEvent(msg);
    }

    async function run() {
      while (!closed) {
        controller = new AbortController();
        let ended = false;
        try {
          const headers = { Accept: "text/event-stream" };
          if (lastId) headers["Last-Event-ID"] = lastId;
          const r = await send("GET", path, { query: params, raw: true, headers, signal: controller.signal });
          setState("open");
          delay = 1000;
          const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
          let buf = "";
          for (;;) {
            const { value, done } = await reader.read();
            if (done) { ended = true; break; }
            buf += value.replace(/\r\n?/g, "\n");
            let cut;
            while ((cut = buf.indexOf("\n\n")) >= 0) {
              dispatch(buf.slice(0, cut));
              buf = buf.slice(cut + 2);
            }
          }
        } catch (err) {
          if (closed) break;
          if (err instanceof ApiError && err.status === 401) { setState("closed"); return; }
        }
        if (closed) break;
        if (ended) {
          // A planned end: nothing was missed (the resume point came with the response), so the page
          // stays "open" and does not reload; back after the server's retry, as EventSource would.
          await new Promise((res) => setTimeout(res, retryMs));
          continue;
        }
        setState("retrying");
        await new Promise((res) => setTimeout(res, delay));
        delay = Math.min(delay * 2, 15000);
      }
      setState("closed");
    }

    run();
    return { close() { closed = true; if (controller) controller.abort(); } };
  }

  return {
    tokens,
    refresh,
    logout,
    list,
    download,
    imageUrl,
    stream,
    request: send,
    get: (p, params) => send("GET", p, { query: params }),
    post: (p, json, opts = {}) => send("POST", p, { json: json ?? {}, ...opts }),
    put: (p, json, opts = {}) => send("PUT", p, { json, ...opts }),
    patch: (p, json, opts = {}) => send("PATCH", p, { json, ...opts }),
    del: (p, opts = {}) => send("DELETE", p, opts),
    upload: (p, form, opts = {}) => send("POST", p, { form, ...opts }),
  };
}
