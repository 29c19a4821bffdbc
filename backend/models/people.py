"""Staff users, real-name persons, WeChat accounts and refresh tokens."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, CheckConstraint, ForeignKey, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .types import UTCDateTime

STAFF_ROLES = ("admin", "supervisor", "institution")


class User(db.Model):
    """A staff account: admin, supervisor (region-scoped) or institution staff."""

    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint("role IN ('admin','supervisor','institution')", name="role"),
        CheckConstraint("role <> 'institution' OR institution_id IS NOT NULL", name="institution_staff"),
        CheckConstraint("role <> 'supervisor' OR region_code IS NOT NULL", name="supervisor_region"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))
    region_code: Mapped[str | None] = mapped_column(String(6))
    institution_id: Mapped[int | None] = mapped_column(ForeignKey("institutions.id"))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Who made this account (null: the command line or the demo seed). The two-person rule on money
    # treats an account and its creator as one party.
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class Person(db.Model):
    """A real-name identity; the ID number is stored encrypted with a keyed blind index."""

    __tablename__ = "persons"
    __table_args__ = (CheckConstraint("gender IN ('male','female')", name="gender"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    id_number_enc: Mapped[bytes] = mapped_column(LargeBinary)
    id_number_index: Mapped[str] = mapped_column(String(64), unique=True)
    id_number_masked: Mapped[str] = mapped_column(String(18))
    birth_date: Mapped[date]
    gender: Mapped[str] = mapped_column(String(6))
    household_region: Mapped[str] = mapped_column(String(6))
    phone: Mapped[str | None] = mapped_column(String(11))
    ss_card_no_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    bank_account_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    groups: Mapped[list] = mapped_column(JSON, default=list)
    face_template_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    face_consent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Who enrolled the current template: `self` (the trainee) or a staff role. A face institution staff
    # enrolled backs kiosk hours with the institution's own word (the face_by_staff flag).
    face_enrolled_by: Mapped[str | None] = mapped_column(String(16))
    # "self" when the trainee typed the phone while binding; None when staff entered it (roster, console).
    phone_entered_by: Mapped[str | None] = mapped_column(String(16))
    pin_hash: Mapped[str | None] = mapped_column(String(255))
    # Wrong PINs in a row (any kiosk); at domain.pins.MAX_FAILURES the PIN is locked until a new one is set.
    pin_failures: Mapped[int] = mapped_column(default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    anonymised_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class WechatAccount(db.Model):
    """A mini-program openid; bound to at most one person, and a person to at most one openid."""

    __tablename__ = "wechat_accounts"
    id: Mapped[int] = mapped_column(primary_key=True)
    openid: Mapped[str] = mapped_column(String(128), unique=True)
    person_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id"), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    bound_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class RefreshToken(db.Model):
    """One issued refresh token; a family is revoked when a used token is presented again."""

    __tablename__ = "refresh_tokens"
    __table_args__ = (UniqueConstraint("jti"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    jti: Mapped[str] = mapped_column(String(64))
    family: Mapped[str] = mapped_column(String(64), index=True)
    subject: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
