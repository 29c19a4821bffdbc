"""Kiosk devices: registration, revocation, heartbeat, the signed daily manifest."""
from __future__ import annotations

import secrets
from collections.abc import Mapping
from datetime import date, datetime, time, timedelta

from sqlalchemy import select, update

from ..domain import trust
from ..domain.attendance import KIOSK_PARAMS, SHANGHAI
from ..domain.errors import conflict, forbidden, invalid
from ..domain.identity import region_in_scope
from ..extensions import db
from ..models import Device, DeviceOnlineSpan, Enrollment, Institution, Lesson, Person, Site, TrainingPlan
from ..security.authz import ensure_institution, get_or_404
from ..security.crypto import vault
from ..security.devices import SECRET_CONTEXT
from . import audit
from .persons import FACE_CONTEXT
from .scoping import scoped


def register(actor, name: str, site_id: int, t: datetime) -> tuple[Device, str]:
    """Create a pending device at a site of the caller's institution; returns it and its secret (shown once).

    Pending devices are refused on every device endpoint until a supervisor of the site's region
    activates them (`activate`).
    """
    site = get_or_404(Site, site_id)
    inst = db.session.get(Institution, site.institution_id)
    ensure_institution(actor, inst.id, inst.region_code)
    secret = secrets.token_urlsafe(32)
    device = Device(institution_id=inst.id, site_id=site.id, name=name.strip(),
                    secret_enc=vault().encrypt_text(secret, SECRET_CONTEXT), status="pending", created_at=t,
                    created_by=actor.user_id)
    db.session.add(device)
    db.session.flush()
    audit.record(actor.label, "device.register", "device", device.id, t,
                 after={"site_id": site.id, "name": name, "status": "pending"})
    return device, secret


def activate(actor, device_id: int, t: datetime) -> Device:
    """A supervisor whose region covers the site's institution lets a pending device take events."""
    device = get_or_404(Device, device_id)
    inst = db.session.get(Institution, device.institution_id)
    if actor.role != "supervisor" or not region_in_scope(inst.region_code, actor.region_code):
        raise forbidden("forbidden", reason="only the region's supervisor activates a kiosk")
    done = db.session.execute(update(Device).where(Device.id == device.id, Device.status == "pending")
                              .values(status="active", activated_by=actor.user_id, activated_at=t)).rowcount
    if done != 1:
        raise conflict("invalid_state", status=device.status, action="activate")
    db.session.refresh(device)
    audit.record(actor.label, "device.activate", "device", device.id, t, before={"status": "pending"},
                 after={"status": "active", "site_id": device.site_id})
    return device


def revoke(actor, device_id: int, t: datetime) -> Device:
    """Revoke a device at once (pending or active): its next signed request is refused."""
    device = get_or_404(Device, device_id)
    inst = db.session.get(Institution, device.institution_id)
    ensure_institution(actor, inst.id, inst.region_code)
    before = device.status
    done = db.session.execute(update(Device).where(Device.id == device.id, Device.status != "revoked")
                              .values(status="revoked", revoked_at=t)).rowcount
    if done != 1:
        raise conflict("invalid_state", status="revoked", action="revoke")
    db.session.refresh(device)
    audit.record(actor.label, "device.revoke", "device", device.id, t, before={"status": before},
                 after={"status": "revoked"})
    return device


def heartbeat(device: Device, queue_depth: int, clock: datetime, version: str, t: datetime,
              offline_after_s: float) -> None:
    """Record liveness, queue depth and clock skew (device clock − server clock), and extend its online span."""
    device.last_heartbeat_at = t
    device.queue_depth = queue_depth
    device.last_clock_skew_s = round((clock - t).total_seconds(), 3)
    device.version = version[:32]
    record_online(device.id, t, offline_after_s)


def record_online(device_id: int, t: datetime, offline_after_s: float) -> None:
    """Extend the device's latest online span to `t`, or open a new one after a gap longer than the offline threshold."""
    gap = timedelta(seconds=offline_after_s)
    latest = db.session.execute(select(DeviceOnlineSpan.id, DeviceOnlineSpan.last_at)
                                .where(DeviceOnlineSpan.device_id == device_id)
                                .order_by(DeviceOnlineSpan.last_at.desc()).limit(1)).first()
    if latest is not None and latest.last_at <= t <= latest.last_at + gap:
        db.session.execute(update(DeviceOnlineSpan).where(DeviceOnlineSpan.id == latest.id)
                           .values(last_at=t))
        return
    if latest is not None and t < latest.last_at:
        return  # an older clock reading than what is recorded adds nothing
    db.session.add(DeviceOnlineSpan(device_id=device_id, first_at=t, last_at=t))
    db.session.flush()


def online_during(device_id: int, start: datetime, end: datetime) -> bool:
    """Whether the device was heard from (a heartbeat span overlaps) between `start` and `end`."""
    return db.session.execute(select(DeviceOnlineSpan.id).where(
        DeviceOnlineSpan.device_id == device_id, DeviceOnlineSpan.first_at <= end,
        DeviceOnlineSpan.last_at >= start).limit(1)).first() is not None


def devices_in_scope(a) -> list[Device]:
    """The kiosks the caller may see (institution: own; supervisor: the region's institutions), by id."""
    stmt = db.select(Device).join(Institution, Institution.id == Device.institution_id).order_by(Device.id)
    return list(db.session.execute(scoped(stmt, a, region=Institution.region_code,
                                          institution=Device.institution_id)).scalars())


def device_health(device: Device, t: datetime, cfg: Mapping) -> dict:
    """Status a supervisor sees: online/offline and clock drift."""
    offline = device.last_heartbeat_at is None or (t - device.last_heartbeat_at).total_seconds() > cfg[
        "DEVICE_OFFLINE_AFTER_S"]
    drift = device.last_clock_skew_s is not None and abs(device.last_clock_skew_s) > cfg["DEVICE_DRIFT_WARN_S"]
    return {"device_id": device.id, "name": device.name, "site_id": device.site_id,
            "institution_id": device.institution_id, "status": device.status,
            "created_at": device.created_at.isoformat() if device.created_at else None,
            "activated_at": device.activated_at.isoformat() if device.activated_at else None,
            "activated_by": device.activated_by,
            "last_heartbeat_at": device.last_heartbeat_at.isoformat() if device.last_heartbeat_at else None,
            "queue_depth": device.queue_depth, "clock_skew_s": device.last_clock_skew_s,
            "version": device.version, "offline": offline, "clock_drift": drift}


def shanghai_day_bounds(day: date) -> tuple[datetime, datetime]:
    """UTC instants of 00:00 and 24:00 of an Asia/Shanghai date."""
    start = datetime.combine(day, time(0), SHANGHAI)
    return start, start + timedelta(days=1)


MANIFEST_DAYS = 2  # today and tomorrow (Asia/Shanghai): a stolen kiosk secret reads no further roster


def manifest_day(raw: str | None, t: datetime) -> date:
    """The manifest's day: today by default; only today and tomorrow (422 date_out_of_range otherwise)."""
    today = t.astimezone(SHANGHAI).date()
    if not raw:
        return today
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        raise invalid("validation_error", fields={"date": ["YYYY-MM-DD"]}) from None
    if not today <= day < today + timedelta(days=MANIFEST_DAYS):
        raise invalid("date_out_of_range", date=raw, allowed=[(today + timedelta(days=i)).isoformat()
                                                             for i in range(MANIFEST_DAYS)])
    return day


def manifest(device: Device, day: date, card_key_budget_s: float) -> dict:
    """The site, its lessons that day and the enrolled people with card keys, face templates and whether
    they set a PIN; never an ID number or a PIN hash (kiosks seal typed PINs to `pin_key`)."""
    from .card_keys import keys_for
    from .pins import public_sealing_key
    from .trust_flags import person_facts
    site = db.session.get(Site, device.site_id)
    start, end = shanghai_day_bounds(day)
    lessons = db.session.execute(
        db.select(Lesson).where(Lesson.site_id == site.id, Lesson.mode == "offline",
                                Lesson.starts_at < end, Lesson.ends_at > start).order_by(Lesson.starts_at)
    ).scalars().all()
    by_plan: dict[int, list[int]] = {}
    for lesson in lessons:
        by_plan.setdefault(lesson.plan_id, []).append(lesson.id)
    people = []
    if by_plan:
        rows = db.session.execute(
            db.select(Person, Enrollment.plan_id).join(Enrollment, Enrollment.person_id == Person.id)
            .where(Enrollment.plan_id.in_(by_plan), Enrollment.status == "active")
        ).all()
        keys = keys_for(site, {person.id for person, _ in rows},
                        budget_s=float(card_key_budget_s))
        merged: dict[int, dict] = {}
        for person, plan_id in rows:
            entry = merged.get(person.id)
            if entry is None:
                face = vault().decrypt_json(person.face_template_enc, FACE_CONTEXT) if person.face_template_enc else None
                entry = merged[person.id] = {"person_id": person.id, "name": person.name,
                                             "card_key": keys.get(person.id), "face_encoding": face,
                                             "pin_set": person.pin_hash is not None, "lesson_ids": []}
            entry["lesson_ids"].extend(by_plan[plan_id])
        # Kiosks ask these people a liveness challenge (kiosk/core/liveness.py) on every face check.
        facts = person_facts(set(merged))
        for pid, entry in merged.items():
            entry["flagged"] = trust.asks_challenge(facts[pid])
        people = sorted(merged.values(), key=lambda p: p["person_id"])
    plan_policy = _plan_policies(set(by_plan), start)
    return {"date": day.isoformat(),
            "site": {"id": site.id, "name": site.name, "lat": site.lat, "lon": site.lon, "radius_m": site.radius_m,
                     "card_salt": site.card_salt.hex()},
            "pin_key": public_sealing_key(),
            "policy": _kiosk_params(_site_region_params(site, day)),
            "lessons": [{"lesson_id": le.id, "plan_id": le.plan_id, "title": le.title,
                         "starts_at": le.starts_at.astimezone(SHANGHAI).isoformat(),
                         "ends_at": le.ends_at.astimezone(SHANGHAI).isoformat(),
                         "class_hours": float(le.class_hours), "policy": plan_policy[le.plan_id]} for le in lessons],
            "people": people}


def _kiosk_params(params: dict) -> dict:
    """The policy parameters the kiosk's judge applies (backend/domain/attendance.py KIOSK_PARAMS); a key an older
    snapshot lacks is left out, and the kiosk uses the site's or the built-in value."""
    return {key: params[key] for key in KIOSK_PARAMS if key in params}


def _site_region_params(site: Site, day: date) -> dict:
    """What is in force on `day` for the region of the site's institution (a new plan there would get it)."""
    from .policies import effective
    region = db.session.execute(select(Institution.region_code).where(Institution.id == site.institution_id)).scalar()
    return effective(region or "", day)[0]


def _plan_policies(plan_ids: set[int], at: datetime) -> dict[int, dict]:
    """Each plan's kiosk parameters from its policy snapshot (every rule of a plan reads its own version)."""
    from .policies import params_for
    if not plan_ids:
        return {}
    rows = db.session.execute(select(TrainingPlan.id, TrainingPlan.region_code, TrainingPlan.policy_params,
                                     TrainingPlan.submitted_at).where(TrainingPlan.id.in_(plan_ids))).all()
    return {r.id: _kiosk_params(params_for(r.region_code, r.policy_params, r.submitted_at, at)) for r in rows}
