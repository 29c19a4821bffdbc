"""Card + PIN, the way to attend that never needs a face.

Until the manifest carries `pin_hash` (a later server change) the controller takes any
`PinVerifier` callable. `manifest_pin_verifier` checks the format proposed for that field:
"pbkdf2_sha256$<iterations>$<salt hex>$<hash hex>".
"""
from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable

from kiosk.core.manifest import Person

# (person, typed PIN) -> True/False, or None when the person has no PIN at all. A verifier may
# also offer `has_pin(person) -> bool` so the kiosk does not ask for a PIN that cannot work.
PinVerifier = Callable[[Person, str], bool | None]

MAX_ITERATIONS = 2_000_000  # a hostile manifest must not make the kiosk hash for minutes


def hash_pin(pin: str, salt: bytes, iterations: int = 200_000) -> str:
    """The stored form of a PIN (used by tests and, later, by the server)."""
    digest = hashlib.pbkdf2_hmac("sha256", pin.encode("utf-8"), salt, iterations)
    return f"pbkdf2_sha256${iterations}${salt.hex()}${digest.hex()}"


class ManifestPinVerifier:
    """Checks a PIN against the person's manifest `pin_hash`."""

    def has_pin(self, person: Person) -> bool:
        """Whether asking this person for a PIN makes sense at all."""
        return bool(person.pin_hash)

    def __call__(self, person: Person, pin: str) -> bool | None:
        """True/False for the typed PIN; None if the person has no PIN."""
        if not person.pin_hash:
            return None
        try:
            scheme, iterations, salt_hex, hash_hex = person.pin_hash.split("$")
            iterations = int(iterations)
            salt, expected = bytes.fromhex(salt_hex), bytes.fromhex(hash_hex)
        except ValueError:
            return False
        if scheme != "pbkdf2_sha256" or not 1 <= iterations <= MAX_ITERATIONS:
            return False
        digest = hashlib.pbkdf2_hmac("sha256", pin.encode("utf-8"), salt, iterations)
        return hmac.compare_digest(digest, expected)


manifest_pin_verifier = ManifestPinVerifier()
