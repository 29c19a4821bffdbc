"""Setting a person's card PIN (the non-face way to attend): one place for the CLI and the trainee API."""
from __future__ import annotations

from datetime import datetime

from ..domain.errors import forbidden, invalid
from ..domain.pins import PIN_ITERATIONS, check_pin, hash_pin, pin_problem
from ..models import Person
from . import audit


def set_pin(person: Person, pin: str, actor_label: str, now: datetime, current_pin: str | None = None,
            require_current: bool = False, iterations: int = PIN_ITERATIONS) -> bool:
    """Store a new PIN (422 pin_format / pin_too_simple; 403 pin_mismatch when the current one is
    required and wrong); returns whether a PIN existed before. Audits the fact, never the hash."""
    problem = pin_problem(pin)
    if problem:
        raise invalid(problem, field="pin")
    had_pin = person.pin_hash is not None
    if require_current and had_pin and not check_pin(person.pin_hash, current_pin or ""):
        raise forbidden("pin_mismatch", field="current_pin")
    person.pin_hash = hash_pin(pin, iterations=iterations)
    audit.record(actor_label, "person.set_pin", "person", person.id, now,
                 before={"pin_set": had_pin}, after={"pin_set": True})
    return had_pin
