"""Kiosk request signatures (API.md "Kiosk devices") and the card key both sides derive.

Pure functions of plain values: the server checks with `check_signature`, the kiosk signs with
`signature_headers`; the nonce replay check (seen in the last 10 minutes) is the server's job.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets

from backend.domain.errors import AppError

MAX_SKEW_S = 300
MIN_NONCE_LEN = 16


def _key(secret: bytes | str) -> bytes:
    return secret.encode("utf-8") if isinstance(secret, str) else secret


def sha256_hex(body: bytes) -> str:
    """Hex SHA-256 of a request body (empty body included)."""
    return hashlib.sha256(body or b"").hexdigest()


def canonical_string(method: str, path_with_query: str, timestamp: str, nonce: str, body: bytes) -> str:
    """The exact text that is signed: METHOD, path with query, timestamp, nonce, body hash."""
    return f"{method.upper()}\n{path_with_query}\n{timestamp}\n{nonce}\n{sha256_hex(body)}"


def sign(secret: bytes | str, method: str, path_with_query: str, timestamp: str, nonce: str,
         body: bytes) -> str:
    """Hex HMAC-SHA256 of the canonical string under the device secret."""
    message = canonical_string(method, path_with_query, timestamp, nonce, body).encode("utf-8")
    return hmac.new(_key(secret), message, hashlib.sha256).hexdigest()


def new_nonce() -> str:
    """A fresh random nonce (32 hex characters, comfortably over the 16-character minimum)."""
    return secrets.token_hex(16)


def signature_headers(device_id: str, secret: bytes | str, method: str, path_with_query: str,
                      body: bytes, now_unix: float, nonce: str | None = None) -> dict[str, str]:
    """The four X-* headers a kiosk sends with one request."""
    nonce = nonce or new_nonce()
    timestamp = str(int(now_unix))
    return {
        "X-Device-Id": str(device_id),
        "X-Timestamp": timestamp,
        "X-Nonce": nonce,
        "X-Signature": sign(secret, method, path_with_query, timestamp, nonce, body),
    }


def _unauthorized(reason: str) -> AppError:
    return AppError("unauthorized", 401, {"reason": reason})


def check_signature(secret: bytes | str, method: str, path: str, ts: str, nonce: str, body: bytes,
                    signature: str, now_unix: float, max_skew: int = MAX_SKEW_S) -> None:
    """Raise 401 unauthorized (reason skew, nonce or signature) unless the request is authentic.

    `path` is the path with its query string exactly as sent. Skew of exactly `max_skew` seconds
    is accepted. The nonce is only checked for shape here; replay tracking needs storage.
    """
    try:
        ts_int = int(str(ts).strip())
    except (TypeError, ValueError):
        raise _unauthorized("skew") from None
    if abs(now_unix - ts_int) > max_skew:
        raise _unauthorized("skew")
    if not isinstance(nonce, str) or len(nonce) < MIN_NONCE_LEN:
        raise _unauthorized("nonce")
    expected = sign(secret, method, path, str(ts).strip(), nonce, body)
    # Constant-time comparison: a timing oracle would let an attacker forge byte by byte.
    # Bytes, because compare_digest refuses non-ASCII str and a header may carry anything.
    given = signature.strip().lower().encode("utf-8") if isinstance(signature, str) else b""
    if not hmac.compare_digest(expected.encode("ascii"), given):
        raise _unauthorized("signature")


def card_key(device_secret: bytes | str, id_number: str) -> str:
    """Hex HMAC-SHA256(device secret, ID number): how a manifest names a card without the number."""
    return hmac.new(_key(device_secret), id_number.strip().upper().encode("utf-8"),
                    hashlib.sha256).hexdigest()
