"""One-time binding codes (only their keyed hash) and the stub SMS outbox."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .types import UTCDateTime


class SmsChallenge(db.Model):
    """A code sent to a person's recorded phone so that one WeChat account may bind that person."""

    __tablename__ = "sms_challenges"
    __table_args__ = (
        CheckConstraint("attempts >= 0", name="attempts"),
        Index("ix_sms_challenges_person_sent", "person_id", "sent_at"),
        Index("ix_sms_challenges_account_sent", "account_id", "sent_at"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"))
    account_id: Mapped[int] = mapped_column(ForeignKey("wechat_accounts.id"))
    phone: Mapped[str] = mapped_column(String(11))
    code_hash: Mapped[str] = mapped_column(String(64))
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class SmsMessage(db.Model):
    """What SMS_MODE=stub would have sent (development and tests; GET /dev/sms)."""

    __tablename__ = "sms_outbox"
    id: Mapped[int] = mapped_column(primary_key=True)
    phone: Mapped[str] = mapped_column(String(11))
    text: Mapped[str] = mapped_column(String(500))
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
