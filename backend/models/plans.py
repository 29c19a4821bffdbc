"""Training plans (培训方案), lessons (课次), enrolments (参训名单) and online learning records."""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    JSON,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .institutions import Site
from .people import Person
from .types import UTCDateTime
from .vouchers import Voucher

PLAN_STATES = ("draft", "submitted", "approved", "rejected", "in_progress", "completion_submitted", "completed")


class TrainingPlan(db.Model):
    """An institution's plan for one occupation, reviewed by the region's supervisor."""

    __tablename__ = "training_plans"
    __table_args__ = (
        CheckConstraint("status IN ('draft','submitted','approved','rejected','in_progress',"
                        "'completion_submitted','completed')", name="status"),
        CheckConstraint("plan_type IN ('pre_job','in_post','job_transfer','social')", name="plan_type"),
        CheckConstraint("delivery IN ('offline','online','blended')", name="delivery"),
        CheckConstraint("ends_on >= starts_on", name="dates"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"), index=True)
    region_code: Mapped[str] = mapped_column(String(6), index=True)
    title: Mapped[str] = mapped_column(String(128))
    occupation_code: Mapped[str] = mapped_column(String(32))
    plan_type: Mapped[str] = mapped_column(String(16))
    delivery: Mapped[str] = mapped_column(String(16))
    starts_on: Mapped[date]
    ends_on: Mapped[date]
    online_platform: Mapped[str | None] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(24), default="draft")
    reject_reason: Mapped[str | None] = mapped_column(Text)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    reviewed_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    completion_submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # The policy in force when the plan was submitted: the most specific version (null: defaults only) and
    # every parameter as resolved then. Every rule of the plan reads these, so a later change never rewrites it.
    policy_id: Mapped[int | None] = mapped_column(ForeignKey("policies.id"))
    policy_params: Mapped[dict | None] = mapped_column(JSON)


class PlanChangeRequest(db.Model):
    """An institution's request to change what an approved plan was reviewed as, decided by a supervisor."""

    __tablename__ = "plan_change_requests"
    __table_args__ = (
        CheckConstraint("status IN ('pending','approved','rejected')", name="status"),
        CheckConstraint("status = 'pending' OR (decided_by IS NOT NULL AND decided_at IS NOT NULL)",
                        name="decided"),
        # One open request per plan: a second one waits for the first decision (SQLite and PostgreSQL both
        # support partial unique indexes).
        Index("uq_plan_change_requests_pending", "plan_id", unique=True,
              sqlite_where=text("status = 'pending'"), postgresql_where=text("status = 'pending'")),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("training_plans.id"), index=True)
    # {field: new value} as JSON (dates as YYYY-MM-DD) and the same fields' values when it was filed.
    requested_fields: Mapped[dict] = mapped_column(JSON)
    before_fields: Mapped[dict] = mapped_column(JSON)
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(10), default="pending")
    requested_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime())
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decision_reason: Mapped[str | None] = mapped_column(Text)
    # Read-only: a listing names the plan.
    plan: Mapped[TrainingPlan] = relationship(viewonly=True)


class Lesson(db.Model):
    """One session of a plan; offline lessons happen at a site and need proven attendance."""

    __tablename__ = "lessons"
    __table_args__ = (
        CheckConstraint("mode IN ('offline','online')", name="mode"),
        CheckConstraint("ends_at > starts_at", name="times"),
        CheckConstraint("class_hours > 0", name="class_hours"),
        CheckConstraint("mode <> 'offline' OR site_id IS NOT NULL", name="offline_site"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("training_plans.id"), index=True)
    title: Mapped[str] = mapped_column(String(128))
    mode: Mapped[str] = mapped_column(String(8))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime())
    class_hours: Mapped[Decimal] = mapped_column(Numeric(5, 1))
    site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id"), index=True)
    require_site_qr: Mapped[bool] = mapped_column(default=False)
    # Read-only: the attendance views show the lesson's site.
    site: Mapped[Site | None] = relationship(viewonly=True)


class Enrollment(db.Model):
    """A person on a plan's roster, with the eligibility comparison (比对) result."""

    __tablename__ = "enrollments"
    __table_args__ = (
        UniqueConstraint("plan_id", "person_id"),
        CheckConstraint("status IN ('active','withdrawn')", name="status"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("training_plans.id"), index=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"), index=True)
    voucher_id: Mapped[int | None] = mapped_column(ForeignKey("vouchers.id"), unique=True)
    status: Mapped[str] = mapped_column(String(16), default="active")
    eligible: Mapped[bool] = mapped_column(default=True)
    reasons: Mapped[list] = mapped_column(JSON, default=list)
    phone: Mapped[str | None] = mapped_column(String(11))
    groups: Mapped[list] = mapped_column(JSON, default=list)
    contract_path: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Read-only: a roster shows the person's name and masked ID number, and the voucher's code.
    person: Mapped[Person] = relationship(viewonly=True)
    voucher: Mapped[Voucher | None] = relationship(viewonly=True)


class OnlineRecord(db.Model):
    """Minutes a trainee learnt in an online lesson, imported from the platform's export."""

    __tablename__ = "online_records"
    __table_args__ = (UniqueConstraint("lesson_id", "person_id"), CheckConstraint("minutes >= 0", name="minutes"))
    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("training_plans.id"), index=True)
    lesson_id: Mapped[int] = mapped_column(ForeignKey("lessons.id"))
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"))
    minutes: Mapped[int] = mapped_column(Integer)
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime())
