"""Card PINs, the non-face way to attend at a kiosk: format rules and the stored form.

Stored form: "hmac_sha256$<hex>" = HMAC-SHA256(server PIN key, "<person id>:<pin>"). Only the server
checks PINs (kiosks send them sealed, backend/domain/pin_seal.py), so the stored form needs no work
factor: without the server's key a leaked table gives no way to test a PIN, and with it no work factor
could protect 10^6 six-digit PINs anyway. Guessing through the server meets the failure lock.
Older rows in the form "pbkdf2_sha256$<iterations>$<salt hex>$<hash hex>" (when kiosks checked PINs
offline) still verify and are rewritten in the new form at their next successful check.
"""
from __future__ import annotations

import hashlib
import hmac
import os
import re

SCHEME = "pbkdf2_sha256"
KEYED_SCHEME = "hmac_sha256"
MAX_FAILURES = 5  # wrong PINs in a row (any kiosk) before the PIN is locked until the trainee sets a new one
PIN_ITERATIONS = 200_000
MIN_ITERATIONS = 1           # tests hash with few iterations; the CLI always uses PIN_ITERATIONS
MAX_ITERATIONS = 2_000_000   # a hostile manifest must not make a kiosk hash for minutes
SALT_BYTES = 16
_PIN_SHAPE = re.compile(r"[0-9]{6,12}")


def pin_problem(pin: str) -> str | None:
    """Why a new PIN is refused ("pin_format": not 6-12 digits, "pin_too_simple"), or None."""
    if not isinstance(pin, str) or not _PIN_SHAPE.fullmatch(pin):
        return "pin_format"
    digits = [int(c) for c in pin]
    steps = {b - a for a, b in zip(digits, digits[1:], strict=False)}
    # 111111, 123456, 987654: the first PINs anyone tries with a found card.
    if len(steps) == 1 and steps <= {-1, 0, 1}:
        return "pin_too_simple"
    return None


def keyed_pin(key: bytes, person_id: int, pin: str) -> str:
    """The stored form of a PIN: HMAC-SHA256 under the server's PIN key, bound to the person."""
    digest = hmac.new(key, f"{person_id}:{pin}".encode(), hashlib.sha256).hexdigest()
    return f"{KEYED_SCHEME}${digest}"


def is_legacy(stored: str | None) -> bool:
    """Whether a stored PIN is in the older PBKDF2 form (rewritten at its next successful check)."""
    return bool(stored) and stored.startswith(SCHEME + "$")


def verify_pin(stored: str | None, pin: str, key: bytes, person_id: int) -> bool:
    """Whether `pin` matches the stored form (the keyed form, or a legacy PBKDF2 row)."""
    if not stored or not isinstance(pin, str):
        return False
    if stored.startswith(KEYED_SCHEME + "$"):
        return hmac.compare_digest(stored, keyed_pin(key, person_id, pin))
    return check_pin(stored, pin)


def hash_pin(pin: str, salt: bytes | None = None, iterations: int = PIN_ITERATIONS) -> str:
    """The legacy PBKDF2 form (rows written before PINs were checked only by the server; tests)."""
    if not MIN_ITERATIONS <= iterations <= MAX_ITERATIONS:
        raise ValueError(f"iterations must be {MIN_ITERATIONS}..{MAX_ITERATIONS}")
    salt = os.urandom(SALT_BYTES) if salt is None else salt
    digest = hashlib.pbkdf2_hmac("sha256", pin.encode("utf-8"), salt, iterations)
    return f"{SCHEME}${iterations}${salt.hex()}${digest.hex()}"


def check_pin(stored: str | None, pin: str, max_iterations: int = MAX_ITERATIONS) -> bool:
    """Whether `pin` matches the stored form; False for a missing, malformed or too costly hash."""
    if not stored or not isinstance(pin, str):
        return False
    try:
        scheme, iterations, salt_hex, hash_hex = stored.split("$")
        iterations = int(iterations)
        salt, expected = bytes.fromhex(salt_hex), bytes.fromhex(hash_hex)
    except ValueError:
        return False
    if scheme != SCHEME or not MIN_ITERATIONS <= iterations <= max_iterations or not expected:
        return False
    digest = hashlib.pbkdf2_hmac("sha256", pin.encode("utf-8"), salt, iterations)
    return hmac.compare_digest(digest, expected)
