"""Signed JSON POSTs to the configured third-party gateways (identity provider, SMS), with urllib.

Headers: `X-App-Id`, `X-Timestamp` (unix seconds), `X-Nonce`, and `X-Signature` = hex
HMAC-SHA256(app secret, "TIMESTAMP\\nNONCE\\nSHA256_HEX(BODY)"); the secret itself is never sent.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import time
import urllib.error
import urllib.parse
import urllib.request

log = logging.getLogger(__name__)


class GatewayError(Exception):
    """The gateway could not be reached or gave no usable answer; `reason` is a stable word."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def signature_headers(app_id: str | None, secret: str | None, body: bytes, timestamp: int, nonce: str) -> dict:
    """The authentication headers of one request."""
    digest = hashlib.sha256(body).hexdigest()
    signed = f"{timestamp}\n{nonce}\n{digest}".encode()
    sig = hmac.new((secret or "").encode(), signed, hashlib.sha256).hexdigest()
    return {"X-App-Id": app_id or "", "X-Timestamp": str(timestamp), "X-Nonce": nonce, "X-Signature": sig}


def post_json(url: str, payload: dict, app_id: str | None, secret: str | None, timeout: float) -> dict:
    """POST `payload` as JSON and return the JSON object answered; GatewayError on any failure."""
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
    headers = {"Content-Type": "application/json; charset=utf-8", "Accept": "application/json",
               **signature_headers(app_id, secret, body, int(time.time()), secrets.token_hex(16))}
    req = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            raw = resp.read(65536)
    except urllib.error.HTTPError as exc:
        log.warning("gateway %s answered HTTP %s", _host(url), exc.code)
        raise GatewayError("http_error") from exc
    except (urllib.error.URLError, TimeoutError, OSError, ValueError) as exc:
        log.warning("gateway %s unreachable: %s", _host(url), type(exc).__name__)
        raise GatewayError("unreachable") from exc
    try:
        data = json.loads(raw.decode())
    except (UnicodeDecodeError, ValueError) as exc:
        raise GatewayError("bad_response") from exc
    if not isinstance(data, dict):
        raise GatewayError("bad_response")
    return data


def _host(url: str) -> str:
    return urllib.parse.urlsplit(url).netloc or "?"
