"""Card PINs, the non-face way to attend at a kiosk: one stored form for the server and the kiosk.

Stored form: "pbkdf2_sha256$<iterations>$<salt hex>$<hash hex>". The server sets it (CLI
`flask --app backend persons set-pin`) and ships it in the kiosk manifest; the kiosk checks a
typed PIN offline. The manifest travels signed and is cached encrypted; the iteration count is
what makes a leaked hash slow to brute-force (10^6 six-digit PINs x ~0.1 s each).
"""
from __future__ import annotations

import hashlib
import hmac
import os
import re

SCHEME = "pbkdf2_sha256"
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


def hash_pin(pin: str, salt: bytes | None = None, iterations: int = PIN_ITERATIONS) -> str:
    """The stored form of a PIN; a random 16-byte salt unless one is given (tests)."""
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
