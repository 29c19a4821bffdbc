"""Policy versions: every rule number as data per region code, effective from a date (never edited)."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .people import User
from .types import UTCDateTime


class Policy(db.Model):
    """One version of a region's parameters (a subset of backend.domain.policy.PARAMS)."""

    __tablename__ = "policies"
    __table_args__ = (Index("ix_policies_region_effective", "region_code", "effective_from"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    region_code: Mapped[str] = mapped_column(String(6))  # "" national
    effective_from: Mapped[date]
    params: Mapped[dict] = mapped_column(JSON)
    note: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Read-only: a listing names who set each version.
    creator: Mapped[User | None] = relationship(viewonly=True)
