"""Notifications: the inbox rows (one per person, kind, object and window), their deliveries per push
channel, trainees' preferences and WeChat consents, the cached WeChat access token and the stub outbox."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, Integer, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .types import UTCDateTime


class Notification(db.Model):
    """One message to one person, shown in the in-app inbox; the database keeps it unique per
    (person, kind, object, window) so any number of workers and restarts queue it once."""

    __tablename__ = "notifications"
    __table_args__ = (
        UniqueConstraint("person_id", "kind", "object_type", "object_id", "window_key", name="uq_notifications_once"),
        Index("ix_notifications_person_created", "person_id", "created_at"),
        # Routing (creating the deliveries) reads the rows not routed yet, oldest first.
        Index("ix_notifications_unrouted", "id", sqlite_where=text("routed_at IS NULL"),
              postgresql_where=text("routed_at IS NULL")),
        Index("ix_notifications_institution_kind", "institution_id", "kind"),
        Index("ix_notifications_region_kind", "region_code", "kind"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"))
    kind: Mapped[str] = mapped_column(String(24))
    object_type: Mapped[str] = mapped_column(String(16))
    object_id: Mapped[int] = mapped_column(Integer)
    # Which moment of the kind ("7d"/"1d", "1d"/"1h", a subsidy state); "" for kinds sent once per object.
    window_key: Mapped[str] = mapped_column(String(16), default="")
    title: Mapped[str] = mapped_column(String(64))
    body: Mapped[str] = mapped_column(String(500))
    # Escalations (missed_check_in, absence_risk) are listed to the plan's institution and region.
    plan_id: Mapped[int | None] = mapped_column(ForeignKey("training_plans.id"))
    institution_id: Mapped[int | None] = mapped_column(ForeignKey("institutions.id"))
    region_code: Mapped[str | None] = mapped_column(String(6))
    details: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    routed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class NotificationDelivery(db.Model):
    """A notification's push on one channel (WeChat subscription message or SMS), retried with backoff."""

    __tablename__ = "notification_deliveries"
    __table_args__ = (
        UniqueConstraint("notification_id", "channel", name="uq_notification_deliveries_once"),
        CheckConstraint("channel IN ('wechat','sms')", name="channel"),
        CheckConstraint("status IN ('pending','sent','failed')", name="status"),
        CheckConstraint("attempts >= 0", name="attempts"),
        Index("ix_notification_deliveries_due", "next_try_at", sqlite_where=text("status = 'pending'"),
              postgresql_where=text("status = 'pending'")),
        Index("ix_notification_deliveries_failed", "created_at", sqlite_where=text("status = 'failed'"),
              postgresql_where=text("status = 'failed'")),
        # The per-minute budget counts what each channel sent in the last 60 s.
        Index("ix_notification_deliveries_channel_sent", "channel", "sent_at"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    notification_id: Mapped[int] = mapped_column(ForeignKey("notifications.id"))
    channel: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(8), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_try_at: Mapped[datetime] = mapped_column(UTCDateTime())
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    error: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Read-only: the admins' failure list names the notification's person and kind.
    notification: Mapped[Notification] = relationship(viewonly=True)


class NotificationPreference(db.Model):
    """A trainee's choices: push per kind (absent = on) and quiet hours ("HH:MM", Asia/Shanghai)."""

    __tablename__ = "notification_preferences"
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"), primary_key=True)
    kinds: Mapped[dict] = mapped_column(JSON, default=dict)
    quiet_from: Mapped[str | None] = mapped_column(String(5))
    quiet_to: Mapped[str | None] = mapped_column(String(5))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class WechatSubscription(db.Model):
    """The trainee's answer to the mini-program's subscription request for one template (one per kind)."""

    __tablename__ = "wechat_subscriptions"
    __table_args__ = (UniqueConstraint("person_id", "template"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"))
    template: Mapped[str] = mapped_column(String(32))
    subscribed: Mapped[bool]
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class WechatAccessToken(db.Model):
    """The mini-program's access token, cached for every worker until shortly before it expires."""

    __tablename__ = "wechat_access_tokens"
    appid: Mapped[str] = mapped_column(String(64), primary_key=True)
    token: Mapped[str] = mapped_column(String(512))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    refreshed_at: Mapped[datetime] = mapped_column(UTCDateTime())


class NotificationOutboxMessage(db.Model):
    """What NOTIFY_MODE=stub would have pushed (GET /dev/notifications)."""

    __tablename__ = "notification_outbox"
    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(8))
    recipient: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(24))
    text: Mapped[str] = mapped_column(String(600))
    delivery_id: Mapped[int] = mapped_column(ForeignKey("notification_deliveries.id"), unique=True)
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
