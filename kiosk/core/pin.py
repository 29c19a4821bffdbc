"""Card + PIN, the way to attend that never needs a face, with PINs only the server can check.

The manifest carries no PIN hashes (a stolen manifest would be an offline oracle for 10^6 PINs): it
says who set a PIN (`pin_set`) and carries the server's public key (`pin_key`). The kiosk seals the
typed PIN to that key, bound to this device, the event and the person (backend/domain/pin_seal.py).
On line it asks POST /device/pin-check at once, so a mistyped PIN can be retried; off line it records
the event with the sealed PIN and the server checks it on upload (a wrong one is rejected then, and
every wrong PIN counts towards the server's lock). The controller takes any `PinVerifier`.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from backend.domain.pin_seal import binding, seal
from kiosk.core.manifest import Manifest, Person


@dataclass(frozen=True)
class PinAnswer:
    """What became of one typed PIN: `ok` True (server says right), False (wrong or locked: `reason`),
    None (no answer now: recorded, the server checks it on upload); `sealed` travels with the event."""

    ok: bool | None
    reason: str | None = None
    sealed: str | None = None


# (person, typed PIN, event id) -> PinAnswer. A verifier also offers `has_pin(person) -> bool` so the
# kiosk does not ask for a PIN that cannot work.
PinVerifier = Callable[[Person, str, str], PinAnswer]


class SealedPinVerifier:
    """Seals PINs to the manifest's server key and asks the server when on line."""

    def __init__(self, manifest: Callable[[], Manifest | None], device_id: object,
                 check: Callable[[str, object, str], dict] | None = None,
                 is_online: Callable[[], bool] = lambda: False):
        self.manifest = manifest
        self.device_id = device_id
        self.check = check
        self.is_online = is_online

    def has_pin(self, person: Person) -> bool:
        """Whether asking this person for a PIN makes sense at all."""
        return bool(person.pin_set)

    def __call__(self, person: Person, pin: str, event_id: str) -> PinAnswer:
        """Seal the PIN; on line, the server's verdict; off line, recorded for the server to check."""
        current = self.manifest()
        if current is None or not current.pin_key:
            return PinAnswer(False, "no_manifest")
        sealed = seal(current.pin_key, pin, binding(self.device_id, event_id, person.person_id))
        if self.check is None or not self.is_online():
            return PinAnswer(None, None, sealed)
        try:
            answer = self.check(event_id, person.person_id, sealed)
        except ConnectionError:  # the network went away meanwhile: record, the server checks on upload
            return PinAnswer(None, None, sealed)
        if not isinstance(answer, dict) or not isinstance(answer.get("ok"), bool):
            return PinAnswer(None, None, sealed)
        return PinAnswer(answer["ok"], answer.get("reason"), sealed)
