"""Card + PIN, the way to attend that never needs a face.

The manifest carries `pin_hash` for people who have a PIN (set on the server with
`flask --app backend persons set-pin ID_NUMBER`); the stored form and its check live in
backend/domain/pins.py so the server and the kiosk share one rule. The controller takes any
`PinVerifier` callable; `manifest_pin_verifier` is the one the daemon uses.
"""
from __future__ import annotations

from collections.abc import Callable

from backend.domain.pins import MAX_ITERATIONS, check_pin
from backend.domain.pins import hash_pin as _hash_pin
from kiosk.core.manifest import Person

# (person, typed PIN) -> True/False, or None when the person has no PIN at all. A verifier may
# also offer `has_pin(person) -> bool` so the kiosk does not ask for a PIN that cannot work.
PinVerifier = Callable[[Person, str], bool | None]

__all__ = ["MAX_ITERATIONS", "ManifestPinVerifier", "PinVerifier", "hash_pin", "manifest_pin_verifier"]


def hash_pin(pin: str, salt: bytes, iterations: int = 200_000) -> str:
    """The stored form of a PIN (tests build manifests with it; the server uses the same function)."""
    return _hash_pin(pin, salt, iterations)


class ManifestPinVerifier:
    """Checks a PIN against the person's manifest `pin_hash`."""

    def has_pin(self, person: Person) -> bool:
        """Whether asking this person for a PIN makes sense at all."""
        return bool(person.pin_hash)

    def __call__(self, person: Person, pin: str) -> bool | None:
        """True/False for the typed PIN; None if the person has no PIN."""
        if not person.pin_hash:
            return None
        return check_pin(person.pin_hash, pin, MAX_ITERATIONS)


manifest_pin_verifier = ManifestPinVerifier()
