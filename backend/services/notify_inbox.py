"""A trainee's inbox and notification preferences; escalation lists for institutions and supervisors;
the push failures admins look at."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import joinedload

from ..domain import notifications as rules
from ..domain.errors import invalid, not_found
from ..extensions import db
from ..models import (
    Notification,
    NotificationDelivery,
    NotificationPreference,
    Person,
    TrainingPlan,
    WechatSubscription,
)


def inbox_query(person_id: int):
    """The person's notifications, newest first."""
    return (select(Notification).where(Notification.person_id == person_id)
            .order_by(Notification.created_at.desc(), Notification.id.desc()))


def mark_read(person_id: int, notification_id: int, now: datetime) -> datetime:
    """Mark the person's notification read (once: a repeat keeps the first time); 404 if not theirs."""
    n = db.session.get(Notification, notification_id)
    if n is None or n.person_id != person_id:
        raise not_found("not_found", notification_id=notification_id)
    db.session.execute(update(Notification).where(Notification.id == n.id, Notification.read_at.is_(None))
                       .values(read_at=now))
    db.session.refresh(n)
    return n.read_at


def unread_count(person_id: int) -> int:
    """How many of the person's notifications are unread."""
    return db.session.execute(select(func.count()).where(Notification.person_id == person_id,
                                                          Notification.read_at.is_(None))).scalar()


def preferences(person_id: int) -> dict:
    """{kinds: {kind: bool} (every kind), quiet_hours: {from, to} or null, wechat_subscribed: {template: bool}}."""
    pref = db.session.get(NotificationPreference, person_id)
    chosen = (pref.kinds or {}) if pref else {}
    subs = {s.template: s.subscribed for s in db.session.execute(
        select(WechatSubscription).where(WechatSubscription.person_id == person_id)).scalars()}
    quiet = ({"from": pref.quiet_from, "to": pref.quiet_to} if pref and pref.quiet_from and pref.quiet_to else None)
    return {"kinds": {k: chosen.get(k, True) is not False for k in rules.KINDS}, "quiet_hours": quiet,
            "wechat_subscribed": {k: subs.get(k, False) for k in rules.KINDS}}


def set_preferences(person_id: int, body: dict, now: datetime) -> dict:
    """Apply the given parts (kinds, quiet_hours, wechat_subscribed); parts left out stay as they were.

    `wechat_subscribed` is what the mini-program's wx.requestSubscribeMessage answered, per template
    (one template per kind): the consent WeChat needs before the server may push on it.
    """
    kinds = body.get("kinds")
    subs = body.get("wechat_subscribed")
    for field, given in (("kinds", kinds), ("wechat_subscribed", subs)):
        unknown = sorted(set(given or {}) - set(rules.KINDS))
        if unknown:
            raise invalid("validation_error", fields={field: [f"unknown kind: {', '.join(unknown)}"]})
    pref = db.session.get(NotificationPreference, person_id)
    if pref is None:
        pref = NotificationPreference(person_id=person_id, kinds={}, updated_at=now)
        db.session.add(pref)
    if kinds is not None:
        pref.kinds = {**(pref.kinds or {}), **{k: bool(v) for k, v in kinds.items()}}
    if "quiet_hours" in body:
        quiet = body["quiet_hours"]
        if quiet is None:
            pref.quiet_from = pref.quiet_to = None
        else:
            rules.parse_hhmm(quiet.get("from"), "quiet_hours.from")
            rules.parse_hhmm(quiet.get("to"), "quiet_hours.to")
            pref.quiet_from, pref.quiet_to = quiet["from"], quiet["to"]
    pref.updated_at = now
    for template, yes in (subs or {}).items():
        row = db.session.execute(select(WechatSubscription).where(
            WechatSubscription.person_id == person_id, WechatSubscription.template == template)).scalar()
        if row is None:
            db.session.add(WechatSubscription(person_id=person_id, template=template, subscribed=bool(yes),
                                              updated_at=now))
        else:
            row.subscribed, row.updated_at = bool(yes), now
    db.session.flush()
    return preferences(person_id)


def escalations(institution_id: int | None, region_prefix: str | None, plan_id: int | None, limit: int = 200) -> dict:
    """Missed check-ins and absence risks of an institution's or a region's plans: counts per kind and per
    plan, and the newest items (masked names only)."""
    n = Notification
    where = [n.kind.in_(rules.ESCALATIONS)]
    if institution_id is not None:
        where.append(n.institution_id == institution_id)
    if region_prefix:
        where.append(n.region_code.startswith(region_prefix, autoescape=True))
    if plan_id is not None:
        where.append(n.plan_id == plan_id)
    counts = {k: 0 for k in rules.ESCALATIONS}
    by_plan: dict[int, dict] = {}
    for pid, title, kind, count in db.session.execute(
            select(n.plan_id, TrainingPlan.title, n.kind, func.count()).join(TrainingPlan, TrainingPlan.id == n.plan_id)
            .where(*where).group_by(n.plan_id, TrainingPlan.title, n.kind)):
        counts[kind] += count
        entry = by_plan.setdefault(pid, {"plan_id": pid, "plan_title": title, **{k: 0 for k in rules.ESCALATIONS}})
        entry[kind] += count
    items = db.session.execute(
        select(n.id, n.kind, n.plan_id, n.object_type, n.object_id, n.details, n.created_at, Person.name)
        .join(Person, Person.id == n.person_id).where(*where)
        .order_by(n.created_at.desc(), n.id.desc()).limit(limit)).all()
    return {"counts": counts, "by_plan": sorted(by_plan.values(), key=lambda e: e["plan_id"]),
            "items": [{"id": r.id, "kind": r.kind, "plan_id": r.plan_id,
                       "lesson_id": r.object_id if r.object_type == "lesson" else None,
                       "reason": (r.details or {}).get("reason"), "person_name": _mask(r.name),
                       "created_at": r.created_at.isoformat()} for r in items]}


def _mask(name: str) -> str:
    return name[:1] + "*" * max(len(name) - 1, 1)


def failures_query():
    """Deliveries that failed for good, newest first (admins)."""
    return (select(NotificationDelivery).where(NotificationDelivery.status == "failed")
            .options(joinedload(NotificationDelivery.notification))
            .order_by(NotificationDelivery.created_at.desc(), NotificationDelivery.id.desc()))
