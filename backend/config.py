"""Settings from the environment. Development keeps generated keys in instance/; production needs explicit ones."""
from __future__ import annotations

import base64
import json
import math
import os
import secrets
from collections import Counter
from pathlib import Path

# Rule parameters (DESIGN.md "Rules"); every one can be overridden by an environment variable
# of the same name, so a region can run with its own policy without a code change.
RULE_DEFAULTS: dict[str, object] = {
    "VOUCHER_QR_TTL_S": 60,
    "VOUCHER_QR_REFRESH_S": 30,
    "SITE_QR_PERIOD_S": 30,
    "PLAN_CHANGE_DAYS": 2,
    "LESSON_CHANGE_HOURS": 4,
    "ONLINE_MAX_SHARE": "0.4",
    "CHECK_IN_BEFORE_MIN": 30,
    "CHECK_OUT_AFTER_MIN": 30,
    "ATTENDANCE_GRACE_MIN": 15,
    "MAX_ACCURACY_M": 100,
    "FLAG_ACCURACY_M": 50,
    "MAX_SPEED_KMH": 120,
    "DEFAULT_RADIUS_M": 200,
    "FACE_MATCH_THRESHOLD": 0.5,
    "WORKING_AGE_MIN": 16,
    "WORKING_AGE_MAX": 60,
    # Roster comparison: household-region prefixes a trainee must come from (comma-separated; empty = any).
    "ROSTER_HOUSEHOLD_REGIONS": "",
    "COMPLETION_RATIO": "0.8",
    "SUBSIDY_RATE_FEN_PER_HOUR": 3000,
    "SUBSIDY_ANNUAL_CAP_FEN": 100000,
    "SUBSIDY_APPLICATION_MONTHS": 6,
    "PUBLICITY_WORKING_DAYS": 5,
    "LIVING_ALLOWANCE_ENABLED": False,
    "LIVING_ALLOWANCE_FEN_PER_DAY": 3000,
    # Source 002: 建档立卡/低保 households, 就业困难人员, 零就业家庭, rural graduates not continuing school.
    "LIVING_ALLOWANCE_GROUPS": "poverty_registered,subsistence_allowance,employment_difficulty,zero_employment_family,rural_graduate",
    "RETENTION_YEARS": 4,
    "DEVICE_MAX_SKEW_S": 300,
    "DEVICE_EVENT_MAX_AGE_DAYS": 7,
    "DEVICE_OFFLINE_AFTER_S": 300,
    "DEVICE_DRIFT_WARN_S": 120,
    # Trust (DESIGN.md "Trust"): kiosk events uploaded later than this after the lesson's end, by a
    # device not heard from while it ran, are flagged late_upload.
    "LATE_UPLOAD_AFTER_MIN": 120,
    # Share of accepted kiosk face events whose crop the worker re-verifies (every one of a flagged person).
    "RECHECK_SAMPLE_PERCENT": 10.0,
    # Seconds a manifest request may spend computing missing card keys (scrypt, ~40 ms each); the worker
    # computes the rest ahead of the lessons.
    "CARD_KEY_BUDGET_S": 3.0,
    "ACCESS_TOKEN_MINUTES": 15,
    "REFRESH_TOKEN_DAYS": 14,
}

# Authentication rate limits (README "Rate limits"); each can be overridden by an environment variable
# of the same name. Limit strings are Flask-Limiter's ("5 per minute;20 per hour").
AUTH_LIMIT_DEFAULTS: dict[str, object] = {
    # Failed password logins for one username from one client address: a short back-off first,
    # then an hourly cap for an address that keeps guessing.
    "LOGIN_FAILURES_PER_ADDRESS": "5 per minute;20 per hour",
    # Failed logins for one username from all addresses together: free up to this many within the
    # window, then an exponential lock (base doubling per failure, capped) for addresses the account
    # has not signed in from lately.
    "LOGIN_BACKOFF_FREE": 50,
    "LOGIN_BACKOFF_WINDOW_S": 3600,
    "LOGIN_BACKOFF_BASE_S": 15,
    "LOGIN_BACKOFF_CAP_S": 300,
    "LOGIN_KNOWN_ADDRESS_DAYS": 30,
    # Refresh (and logout) per verified refresh-token family, and per client address for tokens
    # whose signature does not verify (those never share a budget with real sessions).
    "REFRESH_LIMIT_PER_FAMILY": "30 per minute",
    "REFRESH_JUNK_LIMIT_PER_ADDRESS": "60 per minute",
}

_KEY_NAMES = ("SECRET_KEY", "DATA_KEY")
_MIN_KEY_BYTES = 32
# Production key strength (README "Keys"): the decoded bytes must look like random bytes, measured
# three ways. 32 random bytes show about 30 distinct values and 4.9 bits of Shannon entropy per byte
# (the most 32 samples can show is 5); the thresholds sit far enough below that no key made by
# secrets.token_urlsafe(32), `openssl rand -base64 32` or `openssl rand -hex 32` is refused (none of
# 200 000 of each in a trial), while repeated characters, words repeated, short alphabets and
# sequences like "abcd…" or "0123…" (caught by the entropy of the differences between neighbours) are.
_MIN_KEY_DISTINCT = 20
_MIN_KEY_BITS_PER_BYTE = 4.0
_MIN_KEY_STEP_BITS = 4.0


class ConfigError(RuntimeError):
    """The process cannot start with this configuration."""


def _coerce(default: object, raw: str) -> object:
    """Parse an environment string into the type of the default it overrides."""
    if isinstance(default, bool):
        return raw.strip().lower() in ("1", "true", "yes", "on")
    if isinstance(default, int):
        return int(raw)
    if isinstance(default, float):
        return float(raw)
    return raw


def _dev_keys(instance_path: Path) -> dict[str, str]:
    """Load or create the development keys file; say so once when it is created."""
    path = instance_path / "dev-keys.json"
    if path.exists():
        return json.loads(path.read_text())
    instance_path.mkdir(parents=True, exist_ok=True)
    keys = {name: base64.urlsafe_b64encode(secrets.token_bytes(32)).decode() for name in _KEY_NAMES}
    path.write_text(json.dumps(keys))
    os.chmod(path, 0o600)
    print(f"[config] generated development keys in {path} (set SECRET_KEY/DATA_KEY in production)")
    return keys


def key_bytes(value: str) -> bytes:
    """Decode a configured key (urlsafe base64, or raw text) and insist on 32+ bytes."""
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        if len(raw) < _MIN_KEY_BYTES:
            raw = value.encode()
    except (ValueError, TypeError):
        raw = value.encode()
    if len(raw) < _MIN_KEY_BYTES:
        raise ConfigError("keys must carry at least 32 bytes (e.g. `python -c 'import secrets;print(secrets.token_urlsafe(32))'`)")
    return raw


def _shannon_bits(data: bytes) -> float:
    """Shannon entropy of the byte-value distribution, in bits per byte."""
    n = len(data)
    return -sum(c / n * math.log2(c / n) for c in Counter(data).values()) if n else 0.0


def key_strength_problem(value: str) -> str | None:
    """Why a key is too weak for production (None when it passes); see the thresholds above."""
    raw = key_bytes(value)
    steps = bytes((b - a) % 256 for a, b in zip(raw, raw[1:], strict=False))
    if len(set(raw)) < _MIN_KEY_DISTINCT:
        return f"only {len(set(raw))} distinct byte values (at least {_MIN_KEY_DISTINCT})"
    if _shannon_bits(raw) < _MIN_KEY_BITS_PER_BYTE:
        return f"{_shannon_bits(raw):.2f} bits of entropy per byte (at least {_MIN_KEY_BITS_PER_BYTE})"
    if _shannon_bits(steps) < _MIN_KEY_STEP_BITS:
        return f"a regular sequence ({_shannon_bits(steps):.2f} bits per step, at least {_MIN_KEY_STEP_BITS})"
    return None


def _check_production_keys(cfg: dict) -> None:
    """Production keys must carry real entropy, and the two keys must differ."""
    for name in _KEY_NAMES:
        problem = key_strength_problem(str(cfg[name]))
        if problem:
            raise ConfigError(f"{name} is too weak for production: {problem}; generate one with "
                              "`python -c 'import secrets;print(secrets.token_urlsafe(32))'`")
    if key_bytes(str(cfg["SECRET_KEY"])) == key_bytes(str(cfg["DATA_KEY"])):
        raise ConfigError("SECRET_KEY and DATA_KEY must be different keys")


def _trusted_proxies(raw: object) -> int:
    """TRUSTED_PROXIES: how many reverse-proxy hops in front of the app append X-Forwarded-For."""
    try:
        hops = int(raw)
    except (TypeError, ValueError):
        raise ConfigError(f"TRUSTED_PROXIES must be a whole number of proxy hops, not {raw!r}") from None
    if hops < 0:
        raise ConfigError("TRUSTED_PROXIES cannot be negative")
    return hops


def load(instance_path: str, overrides: dict | None = None) -> dict:
    """Build the Flask config dict from defaults, the environment and explicit overrides."""
    env = os.environ
    overrides = dict(overrides or {})
    cfg: dict[str, object] = {}
    app_env = overrides.get("APP_ENV", env.get("APP_ENV", "development"))
    cfg["APP_ENV"] = app_env
    inst = Path(instance_path)
    db_default = f"sqlite:///{inst / 'peixunquan.db'}"
    cfg["SQLALCHEMY_DATABASE_URI"] = _normalise_db_url(env.get("DATABASE_URL", db_default))
    cfg["REDIS_URL"] = env.get("REDIS_URL") or None
    # Connections each worker keeps open to PostgreSQL. At least the requests a worker runs at once:
    # a smaller pool closes the extra connections after every burst, and each new one costs a
    # backend start plus fresh plans (2 ms for the check-in read). Overflow covers spikes.
    cfg["DB_POOL_SIZE"] = int(env.get("DB_POOL_SIZE", "20"))
    cfg["DB_MAX_OVERFLOW"] = int(env.get("DB_MAX_OVERFLOW", "10"))
    # Redis pub/sub channel of the live attendance stream (one per deployment sharing a Redis).
    cfg["LIVE_CHANNEL"] = env.get("LIVE_CHANNEL", "peixunquan:live:attendance")
    # How long the live stream holds an event behind a missing id (an uncommitted or rolled-back one).
    cfg["LIVE_GAP_HOLD_S"] = float(env.get("LIVE_GAP_HOLD_S", "0.5"))
    # Live streams one server process keeps open at once; unset, half of a threaded worker's threads
    # (none under a sync worker, no limit under gevent). Streams beyond it are short (backend/live/slots.py).
    streams = env.get("LIVE_STREAMS_PER_WORKER", "").strip()
    cfg["LIVE_STREAMS_PER_WORKER"] = int(streams) if streams else None
    cfg["WECHAT_MODE"] = env.get("WECHAT_MODE", "stub")
    cfg["WECHAT_APPID"] = env.get("WECHAT_APPID")
    cfg["WECHAT_SECRET"] = env.get("WECHAT_SECRET")
    cfg["WECHAT_CODE2SESSION_URL"] = env.get(
        "WECHAT_CODE2SESSION_URL", "https://api.weixin.qq.com/sns/jscode2session")
    _load_identity_and_sms(cfg, env)
    _load_notify(cfg, env)
    cfg["RATELIMIT_ENABLED"] = _coerce(True, env.get("RATELIMIT_ENABLED", "true"))
    cfg["UPLOAD_DIR"] = env.get("UPLOAD_DIR", str(inst / "uploads"))
    cfg["PUBLIC_BASE_URL"] = env.get("PUBLIC_BASE_URL", "http://127.0.0.1:5000")
    cfg["JWT_ISSUER"] = env.get("JWT_ISSUER", "peixunquan")
    cfg["MAX_CONTENT_LENGTH"] = 24 * 1024 * 1024
    # Background jobs (backend/jobs): how long a claimed due row stays leased to one worker, and whether
    # requests enqueue a sweep after their commit (a latency hint; the periodic sweeps run regardless).
    cfg["JOB_LEASE_S"] = float(env.get("JOB_LEASE_S", "120"))
    cfg["JOBS_ENQUEUE"] = _coerce(True, env.get("JOBS_ENQUEUE", "true"))
    # How much the job worker lowers its own CPU priority (nice) at start: on a machine it shares with the
    # web server, a face re-verification (~65 ms of CPU a crop) can wait; a check-in or a kiosk upload cannot.
    cfg["WORKER_NICE"] = int(env.get("WORKER_NICE", "10"))
    if not 0 <= cfg["WORKER_NICE"] <= 19:
        raise ConfigError("WORKER_NICE must be 0-19 (how much the worker lowers its own priority)")
    # Linux's SCHED_IDLE for the worker: it runs when no web process wants the CPU, and a waking request
    # preempts it at once (a nice value only weighs its share; measured in bench/README.md).
    cfg["WORKER_SCHED_IDLE"] = _coerce(True, env.get("WORKER_SCHED_IDLE", "true"))
    # Reverse-proxy hops whose X-Forwarded-For is believed (0: the peer address is the client).
    cfg["TRUSTED_PROXIES"] = env.get("TRUSTED_PROXIES", "0")
    for name, default in (RULE_DEFAULTS | AUTH_LIMIT_DEFAULTS).items():
        cfg[name] = _coerce(default, env[name]) if name in env else default
    for name in _KEY_NAMES:
        if env.get(name):
            cfg[name] = env[name]
    cfg.update(overrides)
    if cfg.get("LIVE_POLL_S") is None:
        # The live stream's database poll: without Redis it is what brings other workers' events
        # (so it must be quick); with Redis it is only a safety net behind pub/sub.
        cfg["LIVE_POLL_S"] = float(env.get("LIVE_POLL_S") or (5.0 if cfg.get("REDIS_URL") else 0.5))
    missing = [n for n in _KEY_NAMES if not cfg.get(n)]
    if missing:
        if app_env == "production":
            raise ConfigError(f"production refuses to start without {', '.join(missing)}")
        dev = _dev_keys(inst)
        for name in missing:
            cfg[name] = dev[name]
    for name in _KEY_NAMES:
        key_bytes(str(cfg[name]))
    if app_env == "production":
        _check_production_keys(cfg)
    cfg["TRUSTED_PROXIES"] = _trusted_proxies(cfg["TRUSTED_PROXIES"])
    if app_env == "production" and cfg["WECHAT_MODE"] == "stub":
        raise ConfigError("production refuses WECHAT_MODE=stub")
    _check_identity_and_sms(cfg, app_env)
    if cfg["NOTIFY_MODE"] not in ("stub", "live"):
        raise ConfigError(f"NOTIFY_MODE must be stub or live, not {cfg['NOTIFY_MODE']!r}")
    if app_env == "production" and cfg["NOTIFY_MODE"] == "stub":
        raise ConfigError("production refuses NOTIFY_MODE=stub")
    return cfg


def _load_notify(cfg: dict, env) -> None:
    """Notification push channels (backend/services/notify_channels.py)."""
    cfg["NOTIFY_MODE"] = env.get("NOTIFY_MODE", "stub")
    # Stub only: channels that fail every send (comma-separated: wechat, sms), to see retries and failures.
    cfg["NOTIFY_STUB_FAIL"] = env.get("NOTIFY_STUB_FAIL", "")
    cfg["WECHAT_API_BASE"] = env.get("WECHAT_API_BASE", "https://api.weixin.qq.com").rstrip("/")
    cfg["WECHAT_TIMEOUT_S"] = float(env.get("WECHAT_TIMEOUT_S", "5"))
    # Subscription-message template id per notification kind, as registered in the mini-program's console.
    try:
        templates = json.loads(env.get("WECHAT_TEMPLATES") or "{}")
    except ValueError as exc:
        raise ConfigError("WECHAT_TEMPLATES must be a JSON object {kind: template_id}") from exc
    if not isinstance(templates, dict):
        raise ConfigError("WECHAT_TEMPLATES must be a JSON object {kind: template_id}")
    cfg["WECHAT_TEMPLATES"] = templates
    # Pushes per channel in any minute, all workers together (the providers' rate limits); see notify_delivery.
    cfg["NOTIFY_WECHAT_PER_MIN"] = int(env.get("NOTIFY_WECHAT_PER_MIN", "600"))
    cfg["NOTIFY_SMS_PER_MIN"] = int(env.get("NOTIFY_SMS_PER_MIN", "100"))


def _load_identity_and_sms(cfg: dict, env) -> None:
    """Real-name verification provider and SMS gateway settings (stub in development)."""
    cfg["IDENTITY_MODE"] = env.get("IDENTITY_MODE", "stub")
    cfg["IDENTITY_VERIFY_URL"] = env.get("IDENTITY_VERIFY_URL") or None
    cfg["IDENTITY_APP_ID"] = env.get("IDENTITY_APP_ID") or None
    cfg["IDENTITY_APP_SECRET"] = env.get("IDENTITY_APP_SECRET") or None
    cfg["IDENTITY_TIMEOUT_S"] = float(env.get("IDENTITY_TIMEOUT_S", "5"))
    # Stub only: ID numbers the stub provider refuses (comma-separated), for tests and demos.
    cfg["IDENTITY_STUB_REFUSE"] = env.get("IDENTITY_STUB_REFUSE", "")
    cfg["SMS_MODE"] = env.get("SMS_MODE", "stub")
    cfg["SMS_API_URL"] = env.get("SMS_API_URL") or None
    cfg["SMS_APP_ID"] = env.get("SMS_APP_ID") or None
    cfg["SMS_APP_SECRET"] = env.get("SMS_APP_SECRET") or None
    cfg["SMS_TIMEOUT_S"] = float(env.get("SMS_TIMEOUT_S", "5"))
    # One-time binding codes: lifetime, wrong tries per code, wait before a new code, codes a day.
    cfg["SMS_CODE_TTL_S"] = int(env.get("SMS_CODE_TTL_S", "600"))
    cfg["SMS_CODE_MAX_ATTEMPTS"] = int(env.get("SMS_CODE_MAX_ATTEMPTS", "5"))
    cfg["SMS_RESEND_S"] = int(env.get("SMS_RESEND_S", "60"))
    cfg["SMS_DAILY_CAP"] = int(env.get("SMS_DAILY_CAP", "10"))


def _check_identity_and_sms(cfg: dict, app_env: str) -> None:
    """Refuse unknown modes, live modes without their URL, and stubs in production."""
    for mode_key, url_key in (("IDENTITY_MODE", "IDENTITY_VERIFY_URL"), ("SMS_MODE", "SMS_API_URL")):
        mode = cfg[mode_key]
        if mode not in ("stub", "live"):
            raise ConfigError(f"{mode_key} must be stub or live, not {mode!r}")
        if mode == "live" and not cfg.get(url_key):
            raise ConfigError(f"{mode_key}=live needs {url_key}")
        if app_env == "production" and mode == "stub":
            raise ConfigError(f"production refuses {mode_key}=stub")


def _normalise_db_url(url: str) -> str:
    """Make postgres URLs use psycopg 3, the driver we ship."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url
