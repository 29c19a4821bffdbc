"""Card PINs (the non-face way to attend): setting one (CLI and trainee API) and checking one the server
alone can (kiosks send typed PINs sealed), with a failure count and a lock."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update

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
    checker = SealedPins([person_id])
    answer = checker.check(person_id, sealed, aad)
    checker.flush()
    return answer


class SealedPins:
    """Checks the sealed PINs of one request (a kiosk upload of up to 500 events) with one read of the
    people and, at `flush`, one write for every success that clears a failure count.

    The rule is check_sealed's; only the round trips differ: a batch of 500 card + PIN events used to
    cost a SELECT and an UPDATE per event. Wrong PINs still count one conditional UPDATE each, so
    concurrent wrong tries from other kiosks all count.
    """

    def __init__(self, person_ids):
        """Read the people's stored PIN and failure count once (the state at the start of the request)."""
        ids = set(person_ids)
        self._people = {pid: [stored, failures or 0] for pid, stored, failures in db.session.execute(
            select(Person.id, Person.pin_hash, Person.pin_failures).where(Person.id.in_(ids))).all()} if ids else {}
        self._private = None
        self._pin_key = None
        self._clear: dict[int, str | None] = {}  # person -> the rewritten stored form (legacy), or None

    def check(self, person_id: int, sealed: str | None, aad: bytes) -> tuple[bool, str | None, int]:
        """(ok, reason, attempts left) for one sealed PIN, as check_sealed."""
        person = self._people.get(person_id)
        if person is None or person[0] is None:
            return False, "pin_not_set", 0
        stored, failures = person
        if failures >= MAX_FAILURES:
            return False, "pin_locked", 0
        if not sealed:
            return False, "evidence_missing", MAX_FAILURES - failures
        if self._private is None:
            self._private, self._pin_key = sealing_key(), vault().pin_key
        try:
            pin = pin_seal.open_sealed(self._private, sealed, aad)
        except pin_seal.SealError:
            return False, "evidence_invalid", MAX_FAILURES - failures
        if verify_pin(stored, pin, self._pin_key, person_id):
            if is_legacy(stored):
                person[0] = keyed_pin(self._pin_key, person_id, pin)  # rewrite the slow legacy form once
                self._clear[person_id] = person[0]
            elif failures:
                self._clear.setdefault(person_id, None)
            person[1] = 0
            return True, None, MAX_FAILURES
        # A success earlier in this request cleared the count: write that first, so this wrong try
        # counts from zero as it would have one event at a time.
        self._write(person_id)
        failures = db.session.execute(update(Person).where(Person.id == person_id)
                                      .values(pin_failures=Person.pin_failures + 1).returning(Person.pin_failures)
                                      .execution_options(synchronize_session=False)).scalar_one()
        person[1] = failures
        return False, ("pin_locked" if failures >= MAX_FAILURES else "pin_wrong"), max(0, MAX_FAILURES - failures)

    def flush(self) -> None:
        """Write what the successes changed: failure counts back to zero (one UPDATE), legacy forms rewritten."""
        plain = [pid for pid, stored in self._clear.items() if stored is None]
        if plain:
            db.session.execute(update(Person).where(Person.id.in_(plain)).values(pin_failures=0)
                               .execution_options(synchronize_session=False))
        for pid in [pid for pid, stored in self._clear.items() if stored is not None]:
            self._write(pid)
        self._clear.clear()

    def _write(self, person_id: int) -> None:
        """Write one person's pending success now, if any."""
        if person_id not in self._clear:
            return
        stored = self._clear.pop(person_id)
        values = {"pin_failures": 0, **({"pin_hash": stored} if stored is not None else {})}
        db.session.execute(update(Person).where(Person.id == person_id).values(**values)
                           .execution_options(synchronize_session=False))
