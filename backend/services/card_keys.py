"""Card keys per site and person (backend/domain/card_keys.py): computed once and kept, since each is a
deliberately slow scrypt; the worker fills them ahead of the lessons, a manifest fills what is missing
within a time budget."""
from __future__ import annotations

import time
from datetime import datetime, timedelta

from sqlalchemy import and_, select

from ..domain.card_keys import card_key
from ..extensions import db
from ..models import CardKey, Enrollment, Lesson, Person, Site
from .attendance_views import shanghai_day_bounds
from .persons import id_number_of, shanghai_today


def keys_for(site: Site, person_ids: set[int], budget_s: float | None = None) -> dict[int, str]:
    """The card keys of `person_ids` at `site`, computing (and storing) missing ones until `budget_s` runs out.

    People left without a key this time appear in the manifest without one (card lookup waits for the
    next manifest; QR and PIN-less paths are unaffected) and the worker's sweep computes them.
    """
    if not person_ids:
        return {}
    known = dict(db.session.execute(select(CardKey.person_id, CardKey.card_key).where(
        CardKey.site_id == site.id, CardKey.person_id.in_(list(person_ids)))).all())
    missing = sorted(person_ids - set(known))
    if not missing:
        return known
    deadline = None if budget_s is None else time.monotonic() + budget_s
    people = db.session.execute(select(Person).where(Person.id.in_(missing), Person.anonymised_at.is_(None))
                                .order_by(Person.id)).scalars()
    for person in people:
        if deadline is not None and time.monotonic() > deadline:
            break
        key = card_key(site.card_salt, id_number_of(person))
        db.session.add(CardKey(site_id=site.id, person_id=person.id, card_key=key))
        known[person.id] = key
    db.session.flush()
    return known


def fill_upcoming(now: datetime, limit: int = 5000) -> int:
    """Worker sweep: card keys for everyone enrolled in offline lessons today and tomorrow (Shanghai), at
    their site; returns how many were computed."""
    start, _ = shanghai_day_bounds(shanghai_today(now))
    end = start + timedelta(days=2)
    pairs = db.session.execute(
        select(Lesson.site_id, Enrollment.person_id).distinct()
        .join(Enrollment, and_(Enrollment.plan_id == Lesson.plan_id, Enrollment.status == "active"))
        .outerjoin(CardKey, and_(CardKey.site_id == Lesson.site_id, CardKey.person_id == Enrollment.person_id))
        .where(Lesson.mode == "offline", Lesson.starts_at < end, Lesson.ends_at > start, CardKey.id.is_(None))
        .limit(limit)).all()
    by_site: dict[int, set[int]] = {}
    for site_id, person_id in pairs:
        by_site.setdefault(site_id, set()).add(person_id)
    done = 0
    for site_id, people in by_site.items():
        done += len(keys_for(db.session.get(Site, site_id), people))
    return done
