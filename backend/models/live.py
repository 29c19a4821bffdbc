"""The live stream's replay buffer (table live_events)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .types import UTCDateTime


class LiveEvent(db.Model):
    """Attendance events as published to the live stream, kept for Last-Event-ID replay."""

    __tablename__ = "live_events"
    id: Mapped[int] = mapped_column(primary_key=True)
    # Not indexed: streams read by id and pick their region from each row (every region's ids
    # matter for ordering), and one index less is cheaper on the check-in's insert.
    region_code: Mapped[str] = mapped_column(String(6))
    lesson_id: Mapped[int | None] = mapped_column(ForeignKey("lessons.id"))
    payload: Mapped[dict] = mapped_column(JSON)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
