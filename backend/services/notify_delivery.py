"""From queued notifications to pushes: choose each one's channel, then send with retries and backoff.

Routing reads the notifications not routed yet in batches and inserts their deliveries (unique per
notification and channel, ON CONFLICT DO NOTHING), so concurrent routers never double a push. Sending
leases due deliveries (backend/jobs/lease.py): each worker takes its own rows, and a row's send and its
conditional final update commit together; in stub mode the outbox row is written in that same
transaction (and is unique per delivery), so each push is recorded exactly once. A live provider may
still see a second attempt if a worker dies between the provider's answer and the commit: what the
provider accepted cannot be rolled back.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from ..domain import notifications as rules
from ..extensions import db
from ..models import (
    Notification,
    NotificationDelivery,
    NotificationPreference,
    Person,
    WechatAccount,
    WechatSubscription,
)
from ..unit_of_work import commit_side_effect
from .notify_channels import ChannelError, send

log = logging.getLogger(__name__)

ROUTE_BATCH = 500
SEND_BATCH = 50
RATE_WINDOW = timedelta(seconds=60)
PER_MIN_KEY = {"wechat": "NOTIFY_WECHAT_PER_MIN", "sms": "NOTIFY_SMS_PER_MIN"}


def route_new(now: datetime) -> int:
    """Create the push deliveries of every notification not routed yet; returns how many were routed.

    WeChat when the trainee subscribed to the kind's template in the mini-program, else SMS when a phone
    is on record; none when the trainee turned the kind off (the inbox keeps it either way).
    """
    routed = 0
    while True:
        batch = db.session.execute(select(Notification.id, Notification.person_id, Notification.kind)
                                   .where(Notification.routed_at.is_(None)).order_by(Notification.id)
                                   .limit(ROUTE_BATCH)).all()
        if not batch:
            return routed
        people = {r.person_id for r in batch}
        prefs = {p.person_id: p for p in db.session.execute(
            select(NotificationPreference).where(NotificationPreference.person_id.in_(people))).scalars()}
        subscribed = set(db.session.execute(select(WechatSubscription.person_id, WechatSubscription.template).where(
            WechatSubscription.person_id.in_(people), WechatSubscription.subscribed)))
        bound = set(db.session.execute(select(WechatAccount.person_id).where(
            WechatAccount.person_id.in_(people))).scalars())
        phones = set(db.session.execute(select(Person.id).where(
            Person.id.in_(people), Person.phone.is_not(None), Person.anonymised_at.is_(None))).scalars())
        rows = []
        for r in batch:
            channel = choose_channel(r.kind, prefs.get(r.person_id), (r.person_id, r.kind) in subscribed,
                                     r.person_id in bound, r.person_id in phones)
            if channel:
                rows.append({"notification_id": r.id, "channel": channel, "status": "pending", "attempts": 0,
                             "next_try_at": now, "lease_until": None, "sent_at": None, "error": None,
                             "created_at": now})
        if rows:
            make = postgresql.insert if db.session.get_bind().dialect.name == "postgresql" else sqlite.insert
            db.session.execute(make(NotificationDelivery.__table__).on_conflict_do_nothing(
                index_elements=["notification_id", "channel"]), rows)
        db.session.execute(update(Notification).where(Notification.id.in_([r.id for r in batch]),
                                                      Notification.routed_at.is_(None)).values(routed_at=now))
        commit_side_effect("job_batch")
        routed += len(batch)


def choose_channel(kind: str, pref: NotificationPreference | None, subscribed: bool, bound: bool,
                   has_phone: bool) -> str | None:
    """The one push channel for a notification: none if the kind is off, WeChat if subscribed, else SMS."""
    if pref is not None and (pref.kinds or {}).get(kind) is False:
        return None
    if subscribed and bound:
        return "wechat"
    return "sms" if has_phone else None


def _due(now: datetime, channel: str):
    d = NotificationDelivery
    return (d.status == "pending") & (d.next_try_at <= now) & (d.channel == channel)


def send_due(now: datetime, cfg) -> dict[str, int]:
    """Send the deliveries due at `now`, each channel within its per-minute budget; returns outcome counts."""
    from ..jobs import sweep_due
    counts: dict[str, int] = {}

    def count(values: dict) -> None:
        counts[values["status"]] = counts.get(values["status"], 0) + 1

    for channel, key in PER_MIN_KEY.items():
        # The provider's limit is per minute for the whole deployment: what the last 60 s sent, by any worker,
        # comes off this run's budget (two workers starting at the same instant may each take the rest).
        budget = int(cfg[key]) - db.session.execute(select(func.count()).where(
            NotificationDelivery.channel == channel, NotificationDelivery.sent_at > now - RATE_WINDOW)).scalar()
        commit_side_effect("job_batch")  # end the read: claim() commits its own unit of work
        if budget > 0:
            # A failed send reschedules its row (next_try_at later), so it is not due again in this run.
            sweep_due(NotificationDelivery, _due(now, channel), lambda delivery_id: attempt(delivery_id, now, cfg),
                      limit=SEND_BATCH, max_rows=budget, clock=lambda: now, on_finish=count)
    return counts


def attempt(delivery_id: int, now: datetime, cfg) -> dict:
    """Try one delivery; returns the values that settle it (sent, retry later, failed, deferred or expired)."""
    # populate_existing: the sweep updates rows with Core statements, and sessions keep objects across commits.
    d = db.session.get(NotificationDelivery, delivery_id, populate_existing=True)
    n = db.session.get(Notification, d.notification_id, populate_existing=True)
    pref = db.session.get(NotificationPreference, n.person_id, populate_existing=True)
    quiet = rules.quiet_until(now, *_quiet(pref))
    if quiet is not None:
        # Quiet hours hold the push (not an attempt); it goes out when they end.
        return {"status": "pending", "next_try_at": quiet}
    push_until = (n.details or {}).get("push_until")
    if push_until and datetime.fromisoformat(push_until) <= now:
        return {"status": "failed", "error": "too_late"}
    recipient = _recipient(d.channel, n.person_id)
    try:
        if recipient is None:
            raise ChannelError("no_recipient")
        send(d.channel, recipient, n.kind, n.title, n.body, cfg, now, d.id)
    except ChannelError as exc:
        if exc.reason == "not_subscribed":
            return _fall_back_to_sms(d, n, now)
        attempts = d.attempts + 1
        again = rules.retry_at(attempts, now)
        if again is None:
            return {"status": "failed", "attempts": attempts, "error": exc.reason}
        return {"status": "pending", "attempts": attempts, "error": exc.reason, "next_try_at": again}
    return {"status": "sent", "attempts": d.attempts + 1, "sent_at": now, "error": None}


def _fall_back_to_sms(d: NotificationDelivery, n: Notification, now: datetime) -> dict:
    """WeChat says the consent is gone (a one-time subscription used up, or withdrawn): remember that, and
    send by SMS instead when a phone is on record; the WeChat delivery ends as failed with the reason."""
    db.session.execute(update(WechatSubscription).where(WechatSubscription.person_id == n.person_id,
                                                        WechatSubscription.template == n.kind)
                       .values(subscribed=False, updated_at=now))
    if _recipient("sms", n.person_id) is not None:
        make = postgresql.insert if db.session.get_bind().dialect.name == "postgresql" else sqlite.insert
        db.session.execute(make(NotificationDelivery.__table__).on_conflict_do_nothing(
            index_elements=["notification_id", "channel"]), [{
                "notification_id": n.id, "channel": "sms", "status": "pending", "attempts": 0, "next_try_at": now,
                "lease_until": None, "sent_at": None, "error": None, "created_at": now}])
    return {"status": "failed", "attempts": d.attempts + 1, "error": "not_subscribed"}


def _quiet(pref: NotificationPreference | None):
    if pref is None or not pref.quiet_from or not pref.quiet_to:
        return None, None
    return rules.parse_hhmm(pref.quiet_from, "from"), rules.parse_hhmm(pref.quiet_to, "to")


def _recipient(channel: str, person_id: int) -> str | None:
    if channel == "wechat":
        return db.session.execute(select(WechatAccount.openid).where(WechatAccount.person_id == person_id)).scalar()
    return db.session.execute(select(Person.phone).where(Person.id == person_id, Person.anonymised_at.is_(None))).scalar()
