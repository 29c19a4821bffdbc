"""Training institutions, their teaching sites and kiosk devices."""
from __future__ import annotations

import os
from datetime import datetime

from sqlalchemy import CheckConstraint, Float, ForeignKey, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .types import UTCDateTime


class Institution(db.Model):
    """A training organisation, enterprise or college in a region."""

    __tablename__ = "institutions"
    __table_args__ = (
        CheckConstraint("kind IN ('training_org','enterprise','college')", name="kind"),
        CheckConstraint("status IN ('approved','suspended')", name="status"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    credit_code: Mapped[str] = mapped_column(String(18), unique=True)
    region_code: Mapped[str] = mapped_column(String(6), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="approved")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Site(db.Model):
    """A teaching place; coordinates are WGS-84 whatever the input system was."""

    __tablename__ = "sites"
    __table_args__ = (
        CheckConstraint("radius_m BETWEEN 10 AND 2000", name="radius"),
        CheckConstraint("lat BETWEEN -90 AND 90 AND lon BETWEEN -180 AND 180", name="coords"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"), index=True)
    name: Mapped[str] = mapped_column(String(128))
    address: Mapped[str] = mapped_column(String(255))
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    radius_m: Mapped[int] = mapped_column(Integer)
    require_site_qr: Mapped[bool] = mapped_column(default=False)
    # The salt of this site's card keys (backend/domain/card_keys.py); kiosks get it with the manifest.
    card_salt: Mapped[bytes] = mapped_column(LargeBinary(16), default=lambda: os.urandom(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Device(db.Model):
    """A kiosk at a site; the secret is encrypted at rest and shown once at registration.

    A device starts `pending` and takes no events until a supervisor of the site's region activates
    it: the institution that registers a kiosk is the party that profits from its attendance.
    """

    __tablename__ = "devices"
    __table_args__ = (
        CheckConstraint("status IN ('pending','active','revoked')", name="status"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"), index=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), index=True)
    name: Mapped[str] = mapped_column(String(128))
    secret_enc: Mapped[bytes] = mapped_column(LargeBinary)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    activated_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    activated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_clock_skew_s: Mapped[float | None] = mapped_column(Float)
    queue_depth: Mapped[int | None] = mapped_column(Integer)
    version: Mapped[str | None] = mapped_column(String(32))


class DeviceNonce(db.Model):
    """Nonces seen from devices, shared by every worker so a replay is caught anywhere."""

    __tablename__ = "device_nonces"
    __table_args__ = (UniqueConstraint("device_id", "nonce"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id"))
    nonce: Mapped[str] = mapped_column(String(128))
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class DeviceOnlineSpan(db.Model):
    """A stretch of time a kiosk was heard from without a gap (heartbeats no further apart than the
    offline threshold). Kept so an upload can be checked against whether the device was on line
    while the lesson ran (the `late_upload` flag), at one row per outage rather than per heartbeat."""

    __tablename__ = "device_online_spans"
    __table_args__ = (CheckConstraint("last_at >= first_at", name="order"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id"), index=True)
    first_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_at: Mapped[datetime] = mapped_column(UTCDateTime())


class CardKey(db.Model):
    """A person's card key at one site, computed once (scrypt is deliberately slow) and served in manifests."""

    __tablename__ = "card_keys"
    __table_args__ = (UniqueConstraint("site_id", "person_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), index=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"), index=True)
    card_key: Mapped[str] = mapped_column(String(64))
