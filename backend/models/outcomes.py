"""Results (成绩), certificates, subsidy claims and lines, evaluations."""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Integer, Numeric, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .institutions import Institution
from .people import Person, User
from .plans import TrainingPlan
from .types import UTCDateTime


class Result(db.Model):
    """A trainee's assessment result for a plan."""

    __tablename__ = "results"
    __table_args__ = (UniqueConstraint("plan_id", "person_id"),
                      CheckConstraint("score >= 0 AND score <= 100", name="score"))
    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("training_plans.id"), index=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"))
    score: Mapped[Decimal] = mapped_column(Numeric(5, 1))
    passed: Mapped[bool]
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Certificate(db.Model):
    """A training certificate (培训合格证书) with a public verification number."""

    __tablename__ = "certificates"
    __table_args__ = (UniqueConstraint("plan_id", "person_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(32), unique=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("training_plans.id"))
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"), index=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"))
    occupation_code: Mapped[str] = mapped_column(String(32))
    issued_on: Mapped[date]
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    revoked_reason: Mapped[str | None] = mapped_column(Text)
    # Read-only: listings and the verification name the holder and the institution.
    person: Mapped[Person] = relationship(viewonly=True)
    institution: Mapped[Institution] = relationship(viewonly=True)


class SubsidyClaim(db.Model):
    """A plan's subsidy application: approved by one supervisor, disbursed by another after 公示."""

    __tablename__ = "subsidy_claims"
    __table_args__ = (
        CheckConstraint("status IN ('submitted','approved','disbursed','rejected')", name="status"),
        CheckConstraint("total_fen >= 0", name="total"),
        CheckConstraint("disbursed_by IS NULL OR disbursed_by <> approved_by", name="two_people"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("training_plans.id"), unique=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"), index=True)
    region_code: Mapped[str] = mapped_column(String(6), index=True)
    status: Mapped[str] = mapped_column(String(16), default="submitted")
    total_fen: Mapped[int] = mapped_column(Integer, default=0)
    explanations: Mapped[list] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    approved_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    publicity_ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    disbursed_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    disbursed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    rejected_reason: Mapped[str | None] = mapped_column(Text)
    # Deadlines of the plan's policy (004): the answer to the completion, and payment after publicity.
    review_due_on: Mapped[date | None]
    payment_due_on: Mapped[date | None]
    # Read-only: the claims' listing names the plan, the institution and who approved and disbursed.
    plan: Mapped[TrainingPlan] = relationship(viewonly=True)
    institution: Mapped[Institution] = relationship(viewonly=True)
    approver: Mapped[User | None] = relationship(foreign_keys=[approved_by], viewonly=True)
    disburser: Mapped[User | None] = relationship(foreign_keys=[disbursed_by], viewonly=True)


class SubsidyLine(db.Model):
    """One trainee's amount on a claim; `year` is the Asia/Shanghai year the annual cap counts in."""

    __tablename__ = "subsidy_lines"
    __table_args__ = (
        UniqueConstraint("claim_id", "person_id", "line_type"),
        CheckConstraint("amount_fen >= 0", name="amount"),
        CheckConstraint("line_type IN ('training','living_allowance')", name="line_type"),
        CheckConstraint("payee IN ('trainee','institution')", name="payee"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    claim_id: Mapped[int] = mapped_column(ForeignKey("subsidy_claims.id"), index=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"), index=True)
    line_type: Mapped[str] = mapped_column(String(20), default="training")
    credited_hours: Mapped[Decimal] = mapped_column(Numeric(6, 1))
    voucher_id: Mapped[int | None] = mapped_column(ForeignKey("vouchers.id"))
    amount_fen: Mapped[int] = mapped_column(Integer)
    capped: Mapped[bool] = mapped_column(default=False)
    limited_by: Mapped[str | None] = mapped_column(String(16))
    attended_days: Mapped[int | None] = mapped_column(Integer)  # living-allowance lines: days paid for
    payee: Mapped[str] = mapped_column(String(16))
    year: Mapped[int] = mapped_column(Integer, index=True)
    # The numbers the amount came from (policy version, standard × ratio or rate × hours, caps): the explanation.
    basis: Mapped[dict | None] = mapped_column(JSON)


class PublicityObjection(db.Model):
    """An objection raised during a claim's publicity period (公示); an open one holds the payout."""

    __tablename__ = "publicity_objections"
    __table_args__ = (
        CheckConstraint("status IN ('open','upheld','dismissed')", name="status"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    claim_id: Mapped[int] = mapped_column(ForeignKey("subsidy_claims.id"), index=True)
    text: Mapped[str] = mapped_column(Text)
    recorded_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(12), default="open", server_default="open")
    resolved_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    resolution: Mapped[str | None] = mapped_column(Text)


class Evaluation(db.Model):
    """A trainee's rating of the institution of a completed plan, once per plan."""

    __tablename__ = "evaluations"
    __table_args__ = (
        UniqueConstraint("plan_id", "person_id"),
        CheckConstraint("teaching BETWEEN 1 AND 5 AND facilities BETWEEN 1 AND 5 "
                        "AND organisation BETWEEN 1 AND 5", name="scores"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("training_plans.id"))
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"))
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"), index=True)
    teaching: Mapped[int] = mapped_column(Integer)
    facilities: Mapped[int] = mapped_column(Integer)
    organisation: Mapped[int] = mapped_column(Integer)
    comment: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
