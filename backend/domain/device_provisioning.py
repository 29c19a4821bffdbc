"""The kiosk provisioning code: what the console shows as a QR right after a kiosk is registered, and
what `python -m kiosk provision` reads from the kiosk's own scanner, so nobody types a 43-character
secret. "PXQK1:" + base64url(JSON {"url", "device_id", "secret"}); pure, shared by server and kiosk.
"""
from __future__ import annotations

import base64
import binascii
import json

PREFIX = "PXQK1:"
MAX_LEN = 1024


def encode(url: str, device_id: int, secret: str) -> str:
    """The provisioning text for one kiosk (it carries the secret: shown once, like the secret)."""
    body = json.dumps({"url": url.rstrip("/"), "device_id": int(device_id), "secret": secret},
                      separators=(",", ":")).encode()
    return PREFIX + base64.urlsafe_b64encode(body).decode().rstrip("=")


def decode(text: str) -> dict:
    """{"url", "device_id", "secret"} from a scanned provisioning text; ValueError saying what is wrong."""
    text = (text or "").strip()
    if not text.startswith(PREFIX) or len(text) > MAX_LEN:
        raise ValueError("not a kiosk provisioning code (it starts with PXQK1:)")
    raw = text[len(PREFIX):]
    try:
        data = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise ValueError("the provisioning code is damaged; scan it again") from None
    if not isinstance(data, dict):
        raise ValueError("the provisioning code is damaged; scan it again")
    url, device_id, secret = data.get("url"), data.get("device_id"), data.get("secret")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise ValueError("the provisioning code has no server address")
    if isinstance(device_id, bool) or not isinstance(device_id, int) or device_id <= 0:
        raise ValueError("the provisioning code has no device id")
    if not isinstance(secret, str) or not 32 <= len(secret) <= 128 or not secret.isprintable():
        raise ValueError("the provisioning code has no usable secret")
    return {"url": url.rstrip("/"), "device_id": device_id, "secret": secret}
