"""Evidence behind kiosk face matches, trust flags raised after an event arrived, shared faces, and
the supervisor's per-trainee decisions at completion (shared/DESIGN.md "Trust")."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    DDL,
    JSON,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    event,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .people import Person, User
from .types import UTCDateTime

EVIDENCE_STATES = ("stored", "due", "passed", "failed", "unreadable")


class FaceEvidence(db.Model):
    """The face crop a kiosk matched for one accepted event, encrypted; re-verified by the worker.

    `stored` → `due` (sampled, or the person is flagged) → `passed` / `failed` / `unreadable`.
    The crop is dropped (`crop_enc` null, `purged_at` set) once the plan's claim is settled.
    """

    __tablename__ = "face_evidence"
    __table_args__ = (
        CheckConstraint("state IN ('stored','due','passed','failed','unreadable')", name="state"),
        # The worker's sweep reads only the due rows.
        Index("ix_face_evidence_due", "id", sqlite_where=text("state = 'due'"), postgresql_where=text("state = 'due'")),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    attendance_event_id: Mapped[int] = mapped_column(ForeignKey("attendance_events.id"), unique=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"), index=True)
    lesson_id: Mapped[int] = mapped_column(ForeignKey("lessons.id"), index=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id"))
    kiosk_distance: Mapped[float | None] = mapped_column(Float)
    crop_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    state: Mapped[str] = mapped_column(String(12), default="stored")
    server_distance: Mapped[float | None] = mapped_column(Float)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    purged_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


# A crop is encrypted (incompressible) and 5-8 KB: on PostgreSQL keep it uncompressed and in the heap
# row while the row fits a page, instead of compressing in vain and splitting it into TOAST chunks
# with their own index entries (a kiosk upload of 500 crops: ~40 -> ~25 ms; bench/README.md).
# Larger crops (up to the 30 KB limit) still move to TOAST. The same statements are in migration
# 7c41d2a9e5b3 for databases made by `db upgrade`.
FACE_EVIDENCE_STORAGE = (
    "ALTER TABLE face_evidence ALTER COLUMN crop_enc SET STORAGE EXTERNAL",
    "ALTER TABLE face_evidence SET (toast_tuple_target = 8160)",
)
for _statement in FACE_EVIDENCE_STORAGE:
    event.listen(FaceEvidence.__table__, "after_create", DDL(_statement).execute_if(dialect="postgresql"))


class TrustFlag(db.Model):
    """A trust flag on an event raised after it was stored (a burst partner, a failed re-verification)."""

    __tablename__ = "trust_flags"
    __table_args__ = (UniqueConstraint("attendance_event_id", "code"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32))
    attendance_event_id: Mapped[int] = mapped_column(ForeignKey("attendance_events.id"))
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"), index=True)
    lesson_id: Mapped[int] = mapped_column(ForeignKey("lessons.id"), index=True)
    detail: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class FaceMatch(db.Model):
    """Two persons whose face templates are closer than the shared-face distance (found at enrolment)."""

    __tablename__ = "face_matches"
    __table_args__ = (UniqueConstraint("person_id", "other_person_id"),
                      CheckConstraint("person_id <> other_person_id", name="distinct"))
    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"), index=True)
    other_person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"))
    distance: Mapped[float] = mapped_column(Float)
    found_at: Mapped[datetime] = mapped_column(UTCDateTime())


class CompletionDecision(db.Model):
    """A supervisor's decision on one trainee at completion approval: accept with a reason, or exclude."""

    __tablename__ = "completion_decisions"
    __table_args__ = (UniqueConstraint("plan_id", "person_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("training_plans.id"), index=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"))
    accept: Mapped[bool]
    reason: Mapped[str] = mapped_column(Text)
    flags: Mapped[list] = mapped_column(JSON, default=list)
    decided_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Read-only: the claim names the trainee and who decided.
    person: Mapped[Person] = relationship(viewonly=True)
    decider: Mapped[User] = relationship(viewonly=True)
