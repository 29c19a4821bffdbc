"""Attendance events on the live path: store a LiveEvent row, publish after the commit."""
from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import event, insert
from sqlalchemy.orm import Session

from ..domain.attendance import SHANGHAI
from ..domain.identity import mask_name
from ..extensions import db
from ..models import LiveEvent
from .brokers import broker

_PENDING = "live_pending"


def _field(obj, name: str, default=None):
    """Read a field from an ORM object, a Row or a mapping alike."""
    if isinstance(obj, Mapping):
        return obj.get(name, default)
    return getattr(obj, name, default)


def attendance_payload(event_row, lesson_id: int, person_id: int | None, person_name: str | None) -> dict:
    """The stream's `data` for one attendance event (API.md: GET /live/stream)."""
    accepted = bool(_field(event_row, "accepted"))
    at = _field(event_row, "received_at")
    payload = {"lesson_id": lesson_id, "person_id": person_id,
               "name_masked": mask_name(person_name) if person_name else None,
               "kind": _field(event_row, "kind"), "accepted": accepted,
               "source": _field(event_row, "source"), "flags": list(_field(event_row, "flags") or []),
               "event_id": _field(event_row, "event_id"),
               "at": at.astimezone(SHANGHAI).isoformat() if isinstance(at, datetime) else None}
    if not accepted:
        payload["reason"] = _field(event_row, "reason")
    distance = _field(event_row, "distance_m")
    if distance is not None:
        payload["distance_m"] = round(float(distance), 1)
    return payload


def queue_publication(message: dict) -> None:
    """Publish `message` once the current transaction commits; dropped if it rolls back."""
    queue_publications([message])


def queue_publications(messages: list[dict]) -> None:
    """Publish `messages`, in order, once the current transaction commits; dropped if it rolls back."""
    # Make sure a transaction is open, so its rollback (not just a later commit) settles the list.
    db.session.connection()
    target = broker()
    db.session.info.setdefault(_PENDING, []).extend((target, message) for message in messages)


# Built once: a statement built per call (`insert(...).values(...)`) is coerced and cache-keyed anew
# every time, which was an eighth of a SQLite check-in's CPU (bench/checkin_profile.py).
_STORE_STMT = insert(LiveEvent).returning(LiveEvent.id)


def store_live_event(region_code: str, lesson_id: int, payload: dict, at: datetime) -> int:
    """Insert the LiveEvent row (its id is the SSE id) in the current transaction."""
    return db.session.connection().execute(
        _STORE_STMT, {"region_code": region_code, "lesson_id": lesson_id, "payload": payload, "at": at}).scalar_one()


def publish_attendance(event_row, lesson, person, region_code: str) -> int:
    """Store the event's LiveEvent row (its id is the SSE id) and publish it after commit.

    `event_row` is an AttendanceEvent or a mapping with its columns; `lesson` and `person` are
    rows or mappings with `id` (and `name` for the person). Call it in the transaction that
    stores the event, outside any savepoint that might still roll back.
    """
    lesson_id = _field(lesson, "id") if not isinstance(lesson, int) else lesson
    person_id = _field(person, "id") if person is not None else None
    payload = attendance_payload(event_row, lesson_id, person_id, _field(person, "name") if person else None)
    live_id = store_live_event(region_code, lesson_id, payload, _field(event_row, "received_at"))
    queue_publication({"id": live_id, "region_code": region_code, "payload": payload})
    return live_id


@event.listens_for(Session, "after_commit")
def _publish_pending(session: Session) -> None:
    for target, message in session.info.pop(_PENDING, ()):
        target.publish(message)


@event.listens_for(Session, "after_rollback")
def _drop_pending(session: Session) -> None:
    session.info.pop(_PENDING, None)
