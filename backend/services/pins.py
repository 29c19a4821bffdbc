"""Card PINs (the non-face way to attend): setting one (CLI and trainee API) and checking one the server
alone can (kiosks send typed PINs sealed), with a failure count and a lock."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import update

from ..domain import pin_seal
from ..domain.errors import forbidden, invalid
from ..domain.pins import MAX_FAILURES, is_legacy, keyed_pin, pin_problem, verify_pin
from ..extensions import db
from ..models import Person
from ..security.crypto import vault
from . import audit


def set_pin(person: Person, pin: str, actor_label: str, now: datetime, current_pin: str | None = None,
            require_current: bool = False) -> bool:
    """Store a new PIN (422 pin_format / pin_too_simple; 403 pin_mismatch when the current one is
    required and wrong); returns whether a PIN existed before. A new PIN lifts a lock. Audits the fact,
    never the hash."""
    problem = pin_problem(pin)
    if problem:
        raise invalid(problem, field="pin")
    had_pin = person.pin_hash is not None
    key = vault().pin_key
    if require_current and had_pin and not verify_pin(person.pin_hash, current_pin or "", key, person.id):
        raise forbidden("pin_mismatch", field="current_pin")
    person.pin_hash = keyed_pin(key, person.id, pin)
    person.pin_failures = 0
    audit.record(actor_label, "person.set_pin", "person", person.id, now,
                 before={"pin_set": had_pin}, after={"pin_set": True})
    return had_pin


def sealing_key():
    """The X25519 key kiosks seal typed PINs to."""
    return pin_seal.private_key(vault().seal_seed)


def public_sealing_key() -> str:
    """Its public half, base64 (in every manifest)."""
    return pin_seal.public_key_b64(sealing_key())


def check_sealed(person_id: int, sealed: str | None, aad: bytes) -> tuple[bool, str | None, int]:
    """Open a sealed PIN and check it for the person: (ok, reason, attempts left).

    Reasons: pin_not_set, pin_locked (MAX_FAILURES wrong in a row; the trainee sets a new PIN on the
    phone), evidence_missing (no sealed PIN), evidence_invalid (cannot be opened for this event),
    pin_wrong. A wrong PIN counts with a conditional update, so concurrent wrong tries all count.
    """
    person = db.session.get(Person, person_id, populate_existing=True)
    if person is None or person.pin_hash is None:
        return False, "pin_not_set", 0
    if (person.pin_failures or 0) >= MAX_FAILURES:
        return False, "pin_locked", 0
    if not sealed:
        return False, "evidence_missing", MAX_FAILURES - (person.pin_failures or 0)
    try:
        pin = pin_seal.open_sealed(sealing_key(), sealed, aad)
    except pin_seal.SealError:
        return False, "evidence_invalid", MAX_FAILURES - (person.pin_failures or 0)
    key = vault().pin_key
    if verify_pin(person.pin_hash, pin, key, person.id):
        values = {"pin_failures": 0}
        if is_legacy(person.pin_hash):
            values["pin_hash"] = keyed_pin(key, person.id, pin)  # rewrite the slow legacy form once
        db.session.execute(update(Person).where(Person.id == person.id).values(**values)
                           .execution_options(synchronize_session=False))
        return True, None, MAX_FAILURES
    failures = db.session.execute(update(Person).where(Person.id == person.id)
                                  .values(pin_failures=Person.pin_failures + 1).returning(Person.pin_failures)
                                  .execution_options(synchronize_session=False)).scalar_one()
    return False, ("pin_locked" if failures >= MAX_FAILURES else "pin_wrong"), max(0, MAX_FAILURES - failures)
