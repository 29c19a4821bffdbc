"""Voucher batches (券定义), claimed vouchers and consumed QR tokens."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, Integer, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .people import Person
from .types import UTCDateTime


class VoucherBatch(db.Model):
    """A voucher definition issued by a bureau; `remaining` is the unclaimed stock."""

    __tablename__ = "voucher_batches"
    __table_args__ = (
        CheckConstraint("status IN ('draft','published','closed')", name="status"),
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("remaining >= 0 AND remaining <= quantity", name="remaining_bounds"),
        CheckConstraint("face_value_fen >= 0", name="face_value"),
        CheckConstraint("valid_days > 0", name="valid_days"),
        CheckConstraint("claim_ends_at > claim_starts_at", name="window_order"),
        CheckConstraint("payee IN ('trainee','institution')", name="payee"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    region_code: Mapped[str] = mapped_column(String(6), index=True)
    occupation_codes: Mapped[list] = mapped_column(JSON)
    institution_ids: Mapped[list | None] = mapped_column(JSON)
    eligibility: Mapped[dict] = mapped_column(JSON, default=dict)
    directed: Mapped[bool] = mapped_column(default=False)
    quantity: Mapped[int] = mapped_column(Integer)
    remaining: Mapped[int] = mapped_column(Integer)
    face_value_fen: Mapped[int] = mapped_column(Integer)
    claim_starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    claim_ends_at: Mapped[datetime] = mapped_column(UTCDateTime())
    valid_days: Mapped[int] = mapped_column(Integer)
    funding_source: Mapped[str] = mapped_column(String(64))
    claim_requires_face: Mapped[bool] = mapped_column(default=False)
    # Enrolment with the bare voucher code (typed, or a roster's 券码 column) instead of the trainee's live
    # QR: a desk that once saw the code could otherwise enrol the person without them. Off unless the
    # bureau allows it for the batch (e.g. trainees without smartphones).
    code_enrollment_allowed: Mapped[bool] = mapped_column(default=False, server_default="0")
    payee: Mapped[str] = mapped_column(String(16), default="institution")
    status: Mapped[str] = mapped_column(String(16), default="draft")
    created_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class DirectedRecipient(db.Model):
    """One ID number (by blind index only) on a directed batch's list (定向发放)."""

    __tablename__ = "directed_recipients"
    __table_args__ = (UniqueConstraint("batch_id", "id_number_index"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("voucher_batches.id"))
    id_number_index: Mapped[str] = mapped_column(String(64))


class Voucher(db.Model):
    """One claimed voucher; at most one live (not returned) per person and batch."""

    __tablename__ = "vouchers"
    __table_args__ = (
        CheckConstraint(
            "status IN ('claimed','used','returned','expired','written_off','voided')", name="status"),
        # The database, not Python, guarantees one live voucher per (batch, person).
        Index("uq_vouchers_live_per_person", "batch_id", "person_id", unique=True,
              sqlite_where=text("status <> 'returned'"), postgresql_where=text("status <> 'returned'")),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(24), unique=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("voucher_batches.id"), index=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), default="claimed")
    claimed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    returned_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    written_off_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    voided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Read-only: a voucher is shown with its batch's name and value, a claimant list with the holder.
    batch: Mapped[VoucherBatch] = relationship(viewonly=True)
    holder: Mapped[Person] = relationship(viewonly=True)


class ConsumedToken(db.Model):
    """A QR token nonce that enrolled someone; the same token cannot be used twice."""

    __tablename__ = "consumed_tokens"
    id: Mapped[int] = mapped_column(primary_key=True)
    nonce: Mapped[str] = mapped_column(String(32), unique=True)
    voucher_id: Mapped[int] = mapped_column(ForeignKey("vouchers.id"))
    consumed_at: Mapped[datetime] = mapped_column(UTCDateTime())
