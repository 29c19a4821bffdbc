"""`python -m kiosk provision`: set up a kiosk from the QR the console shows right after registration.

Reads one provisioning code (backend/domain/device_provisioning.py) from a scanner (default: the
terminal, where a keyboard-wedge scanner types), then writes the secret to a 0600 file and a
kiosk.toml (from kiosk/kiosk.example.toml) whose [server] section names the server, the device and
that file. The secret never goes into the TOML.
"""
from __future__ import annotations

import os
import re
import time
from pathlib import Path

from backend.domain.device_provisioning import decode

EXAMPLE = Path(__file__).resolve().parent / "kiosk.example.toml"


def read_code(scanner, timeout_s: float = 120.0, monotonic=time.monotonic) -> dict:
    """The first scanned text that is a provisioning code; ValueError after `timeout_s` without one."""
    deadline = monotonic() + timeout_s
    last_problem = "nothing was scanned"
    while monotonic() < deadline:
        text = scanner.read_code(min(1.0, max(0.0, deadline - monotonic())))
        if text is None:
            if getattr(scanner, "exhausted", False):
                break
            continue
        try:
            return decode(text)
        except ValueError as exc:
            last_problem = str(exc)
    raise ValueError(last_problem)


def write_config(code: dict, out_dir: Path, data_dir: Path | None = None) -> tuple[Path, Path]:
    """Write device.secret (0600) and kiosk.toml into `out_dir`; returns their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    secret_path = out_dir / "device.secret"
    fd = os.open(secret_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(code["secret"])
    os.chmod(secret_path, 0o600)  # an existing file keeps its old mode through O_CREAT
    text = EXAMPLE.read_text(encoding="utf-8")
    text = re.sub(r'^url = ".*?"(.*)$', lambda m: f'url = "{code["url"]}"{m.group(1)}', text, count=1, flags=re.M)
    text = re.sub(r'^device_id = ".*?"(.*)$', lambda m: f'device_id = "{code["device_id"]}"{m.group(1)}', text,
                  count=1, flags=re.M)
    text = text.replace("[server]\n", f'[server]\ndevice_secret_file = "{secret_path}"\n', 1)
    if data_dir is not None:
        text = re.sub(r'^data_dir = ".*?"(.*)$', lambda m: f'data_dir = "{data_dir}"{m.group(1)}', text, count=1,
                      flags=re.M)
    config_path = out_dir / "kiosk.toml"
    config_path.write_text(text, encoding="utf-8")
    return config_path, secret_path
