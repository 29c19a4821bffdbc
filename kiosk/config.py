"""Kiosk settings: a TOML file, then KIOSK_* environment variables on top (the environment wins).

There is no default device secret: the daemon refuses to start without one, because the secret
both signs requests and derives the manifest cache key (card keys use the site's salt from the manifest).
"""
from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path


class ConfigError(ValueError):
    """The configuration is missing something or has a value of the wrong kind."""


@dataclass(frozen=True)
class DeviceUrls:
    """Which adapter serves each role; see kiosk/devices/factory.py for the URL schemes."""

    qr: str = ""
    card: str = ""
    camera: str = ""
    pinpad: str = ""


@dataclass(frozen=True)
class KioskConfig:
    """Everything the daemon needs; durations in seconds."""

    server_url: str
    device_id: str
    device_secret: str
    data_dir: Path
    devices: DeviceUrls = field(default_factory=DeviceUrls)
    http_timeout_s: float = 10.0
    face_threshold: float = 0.5
    face_attempts: int = 3
    # Liveness (kiosk/core/liveness.py): a burst of frames after each face match must show a live head.
    liveness: bool = True
    liveness_frames: int = 8
    liveness_attempts: int = 2
    pin_attempts: int = 3
    pin_fallback: bool = True
    duplicate_window_s: float = 10.0
    result_display_s: float = 3.0
    confirm_check_out_s: float = 20.0
    batch_size: int = 500
    sync_interval_s: float = 5.0
    manifest_refresh_s: float = 600.0
    heartbeat_s: float = 60.0
    backoff_base_s: float = 1.0
    backoff_cap_s: float = 300.0
    status_port: int = 8765
    screen: bool = True  # serve the kiosk screen at / (the status page then at /status)
    once_idle_s: float = 1.0
    log_level: str = "INFO"

    @property
    def db_path(self) -> Path:
        """The SQLite file holding the outbox and the manifest cache."""
        return self.data_dir / "kiosk.sqlite3"


# Environment variable -> (section-less) field name. Device URLs have their own prefix below.
ENV_FIELDS = {
    "KIOSK_SERVER_URL": "server_url",
    "KIOSK_DEVICE_ID": "device_id",
    "KIOSK_DEVICE_SECRET": "device_secret",
    "KIOSK_DATA_DIR": "data_dir",
    "KIOSK_HTTP_TIMEOUT_S": "http_timeout_s",
    "KIOSK_FACE_THRESHOLD": "face_threshold",
    "KIOSK_FACE_ATTEMPTS": "face_attempts",
    "KIOSK_LIVENESS": "liveness",
    "KIOSK_LIVENESS_FRAMES": "liveness_frames",
    "KIOSK_LIVENESS_ATTEMPTS": "liveness_attempts",
    "KIOSK_PIN_ATTEMPTS": "pin_attempts",
    "KIOSK_PIN_FALLBACK": "pin_fallback",
    "KIOSK_DUPLICATE_WINDOW_S": "duplicate_window_s",
    "KIOSK_RESULT_DISPLAY_S": "result_display_s",
    "KIOSK_CONFIRM_CHECK_OUT_S": "confirm_check_out_s",
    "KIOSK_BATCH_SIZE": "batch_size",
    "KIOSK_SYNC_INTERVAL_S": "sync_interval_s",
    "KIOSK_MANIFEST_REFRESH_S": "manifest_refresh_s",
    "KIOSK_HEARTBEAT_S": "heartbeat_s",
    "KIOSK_STATUS_PORT": "status_port",
    "KIOSK_SCREEN": "screen",
    "KIOSK_ONCE_IDLE_S": "once_idle_s",
    "KIOSK_LOG_LEVEL": "log_level",
}
DEVICE_ENV = {"KIOSK_QR_URL": "qr", "KIOSK_CARD_URL": "card", "KIOSK_CAMERA_URL": "camera",
              "KIOSK_PINPAD_URL": "pinpad"}

# TOML layout: [server], [kiosk], [sync] hold scalar fields; [devices] holds the URLs.
_TOML_SECTIONS = {
    "server": {"url": "server_url", "device_id": "device_id", "device_secret": "device_secret",
               "timeout_s": "http_timeout_s"},
    "kiosk": {"data_dir": "data_dir", "face_threshold": "face_threshold", "face_attempts": "face_attempts",
              "liveness": "liveness", "liveness_frames": "liveness_frames", "liveness_attempts": "liveness_attempts",
              "pin_attempts": "pin_attempts", "pin_fallback": "pin_fallback",
              "duplicate_window_s": "duplicate_window_s", "result_display_s": "result_display_s",
              "confirm_check_out_s": "confirm_check_out_s",
              "status_port": "status_port", "screen": "screen", "log_level": "log_level",
              "once_idle_s": "once_idle_s"},
    "sync": {"batch_size": "batch_size", "interval_s": "sync_interval_s",
             "manifest_refresh_s": "manifest_refresh_s", "heartbeat_s": "heartbeat_s",
             "backoff_base_s": "backoff_base_s", "backoff_cap_s": "backoff_cap_s"},
}

_TYPES = {f.name: f.type for f in fields(KioskConfig)}


def _coerce(name: str, value):
    kind = _TYPES[name]
    try:
        if kind == "bool":
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in ("1", "true", "yes", "on"):
                return True
            if text in ("0", "false", "no", "off"):
                return False
            raise ValueError(value)
        if kind == "int":
            return int(value)
        if kind == "float":
            return float(value)
        if kind == "Path":
            return Path(str(value)).expanduser()
        return str(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name}: cannot read {value!r} as {kind}") from None


def _from_toml(data: dict) -> tuple[dict, dict]:
    values, devices = {}, {}
    for section, mapping in _TOML_SECTIONS.items():
        table = dict(data.get(section, {}))
        if section == "server" and "device_secret_file" in table:
            values["_secret_file"] = str(table.pop("device_secret_file"))
        unknown = set(table) - set(mapping)
        if unknown:
            raise ConfigError(f"[{section}]: unknown keys {sorted(unknown)}")
        for key, name in mapping.items():
            if key in table:
                values[name] = _coerce(name, table[key])
    table = data.get("devices", {})
    unknown = set(table) - {f.name for f in fields(DeviceUrls)}
    if unknown:
        raise ConfigError(f"[devices]: unknown keys {sorted(unknown)}")
    devices.update({k: str(v) for k, v in table.items()})
    return values, devices


def load_config(path: str | Path | None = None, environ: dict | None = None) -> KioskConfig:
    """Read the TOML file (optional) and apply KIOSK_* overrides; raise ConfigError if incomplete."""
    environ = os.environ if environ is None else environ
    values: dict = {}
    devices: dict = {}
    if path is not None:
        try:
            with open(path, "rb") as fh:
                values, devices = _from_toml(tomllib.load(fh))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"{path}: {exc}") from None
    for var, name in ENV_FIELDS.items():
        if environ.get(var, "") != "":
            values[name] = _coerce(name, environ[var])
    for var, role in DEVICE_ENV.items():
        if var in environ:
            devices[role] = environ[var]
    # A secret file keeps the secret out of `ps e` output and shell history (and out of the TOML file).
    secret_file = environ.get("KIOSK_DEVICE_SECRET_FILE") or values.pop("_secret_file", None)
    values.pop("_secret_file", None)
    if secret_file and not values.get("device_secret"):
        try:
            values["device_secret"] = Path(secret_file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"KIOSK_DEVICE_SECRET_FILE: {exc}") from None
    missing = [n for n in ("device_id", "device_secret", "data_dir") if not values.get(n)]
    if missing:
        raise ConfigError(f"missing settings: {', '.join(missing)} (see kiosk/kiosk.example.toml)")
    values.setdefault("server_url", "")
    config = KioskConfig(devices=DeviceUrls(**devices), **values)
    return _validated(config)


def _validated(config: KioskConfig) -> KioskConfig:
    if not 0 < config.face_threshold <= 1:
        raise ConfigError("face_threshold must be in (0, 1]")
    if not 1 <= config.batch_size <= 500:
        raise ConfigError("batch_size must be 1..500 (the server takes at most 500 events)")
    for name in ("face_attempts", "pin_attempts", "liveness_attempts"):
        if getattr(config, name) < 1:
            raise ConfigError(f"{name} must be at least 1")
    if not 3 <= config.liveness_frames <= 60:
        raise ConfigError("liveness_frames must be 3..60 (a burst of about a second)")
    if config.server_url and not config.server_url.startswith(("http://", "https://")):
        raise ConfigError("server_url must start with http:// or https://")
    return replace(config, server_url=config.server_url.rstrip("/"))
