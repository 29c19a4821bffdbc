"""Attendance events from phones, kiosks and approved make-ups, and make-up requests (补卡)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, CheckConstraint, Float, ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .people import Person
from .plans import Lesson
from .types import UTCDateTime

# The partial indexes' condition on `accepted`. SQLite uses a partial index only when the query repeats its
# condition word for word, and SQLAlchemy writes a boolean test as `accepted = 1` there, so that is how the
# SQLite indexes say it (tests/db/test_checkin_read_plan.py walks the check-in's read through them).
_ACCEPTED = {"sqlite_where": text("accepted = 1"), "postgresql_where": text("accepted")}


class AttendanceEvent(db.Model):
    """Every check-in/out a phone or kiosk sent, accepted or rejected: nothing is dropped."""

    __tablename__ = "attendance_events"
    __table_args__ = (
        # Idempotency forever: an origin ("p<person>" or "d<device>") never records an event id twice.
        UniqueConstraint("origin", "event_id"),
        CheckConstraint("kind IN ('check_in','check_out')", name="kind"),
        CheckConstraint("source IN ('mobile','kiosk','makeup')", name="source"),
        # At most one accepted check-in and one accepted check-out per person and lesson.
        Index("uq_attendance_accepted_once", "lesson_id", "person_id", "kind", unique=True, **_ACCEPTED),
        Index("ix_attendance_lesson_kind", "lesson_id", "kind"),
        # Risk-flag lookups on the check-in path: other accepted fixes of the lesson at the same
        # latitude (identical_coordinates) or from the same device/session (shared_device).
        Index("ix_attendance_lesson_lat", "lesson_id", "lat", **_ACCEPTED),
        Index("ix_attendance_lesson_session", "lesson_id", "session_key", **_ACCEPTED),
        # The person's latest accepted fix (impossible_speed): read backwards from the newest and
        # stop at the first one, instead of sorting the person's whole history on every check-in.
        # (Its SQLite condition repeats the read's terms word for word, as _ACCEPTED's.)
        Index("ix_attendance_person_fixes", "person_id", "received_at",
              sqlite_where=text("accepted = 1 AND lat IS NOT NULL"), postgresql_where=text("accepted AND lat IS NOT NULL")),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    origin: Mapped[str] = mapped_column(String(24))
    event_id: Mapped[str] = mapped_column(String(64))
    person_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id"), index=True)
    lesson_id: Mapped[int | None] = mapped_column(ForeignKey("lessons.id"))
    kind: Mapped[str] = mapped_column(String(10))
    source: Mapped[str] = mapped_column(String(8))
    method: Mapped[str | None] = mapped_column(String(16))
    captured_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    accuracy_m: Mapped[float | None] = mapped_column(Float)
    distance_m: Mapped[float | None] = mapped_column(Float)
    face_distance: Mapped[float | None] = mapped_column(Float)
    device_id: Mapped[int | None] = mapped_column(ForeignKey("devices.id"))
    session_key: Mapped[str | None] = mapped_column(String(64))
    accepted: Mapped[bool]
    reason: Mapped[str | None] = mapped_column(String(32))
    details: Mapped[dict] = mapped_column(JSON, default=dict)
    flags: Mapped[list] = mapped_column(JSON, default=list)
    status_code: Mapped[int] = mapped_column(default=201)


class MakeupRequest(db.Model):
    """A same-day make-up (补卡) with sign-in sheet and panorama photo, awaiting a supervisor."""

    __tablename__ = "makeup_requests"
    __table_args__ = (
        CheckConstraint("kind IN ('check_in','check_out','both')", name="kind"),
        CheckConstraint("status IN ('pending','approved','rejected')", name="status"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    lesson_id: Mapped[int] = mapped_column(ForeignKey("lessons.id"), index=True)
    enrollment_id: Mapped[int] = mapped_column(ForeignKey("enrollments.id"))
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"))
    kind: Mapped[str] = mapped_column(String(10))
    reason: Mapped[str] = mapped_column(Text)
    sign_sheet_path: Mapped[str] = mapped_column(String(255))
    panorama_path: Mapped[str] = mapped_column(String(255))
    # Difference hashes of the two photos (backend/domain/photo_reuse.py); null for requests filed before them.
    sign_sheet_hash: Mapped[str | None] = mapped_column(String(16))
    panorama_hash: Mapped[str | None] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(10), default="pending")
    created_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decision_note: Mapped[str | None] = mapped_column(Text)
    # Read-only: a listing names the trainee and the lesson.
    person: Mapped[Person] = relationship(viewonly=True)
    lesson: Mapped[Lesson] = relationship(viewonly=True)
