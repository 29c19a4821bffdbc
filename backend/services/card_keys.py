"""Card keys per site and person (backend/domain/card_keys.py): computed once and kept, since each is a
deliberately slow scrypt; the worker fills them ahead of the lessons, a manifest fills what is missing
within a time budget."""
from __future__ import annotations

import time
from datetime import datetime, timedelta

from sqlalchemy import and_, select
from sqlalchemy.dialects import postgresql, sqlite

from ..domain.card_keys import card_key
from ..extensions import db
from ..models import CardKey, Enrollment, Lesson, Person, Site
from ..security.crypto import vault
from ..unit_of_work import commit_side_effect, own_connection
from .attendance_views import shanghai_day_bounds
from .persons import ID_CONTEXT, id_number_of, shanghai_today

# Keys the worker computes between two short write transactions: 50 scrypts are well under a second.
FILL_CHUNK = 50


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
    computed = []
    for person in people:
        if deadline is not None and time.monotonic() > deadline:
            break
        key = card_key(site.card_salt, id_number_of(person))
        computed.append({"site_id": site.id, "person_id": person.id, "card_key": key})
        known[person.id] = key
    store_keys(computed)
    return known


def store_keys(rows: list[dict]) -> None:
    """INSERT card keys (site_id, person_id, card_key), skipping any another worker or manifest stored meanwhile:
    the same ID number and salt give the same key, so the first one stored is as good as this one."""
    if not rows:
        return
    make = postgresql.insert if db.session.get_bind().dialect.name == "postgresql" else sqlite.insert
    db.session.execute(make(CardKey.__table__).on_conflict_do_nothing(index_elements=["site_id", "person_id"]), rows)


def fill_upcoming(now: datetime, limit: int = 5000) -> int:
    """Worker sweep: card keys for everyone enrolled in offline lessons today and tomorrow (Shanghai), at
    their site; returns how many were computed.

    The keys are slow on purpose (scrypt), and on SQLite a session's transaction holds the one write lock
    from its start (BEGIN IMMEDIATE): computed inside it, 5,000 keys kept every check-in and kiosk upload
    waiting past the 30 s busy timeout. So the people are read on a read-only connection, the keys computed
    with no transaction open, and every FILL_CHUNK of them stored in a short transaction of its own.
    """
    start, _ = shanghai_day_bounds(shanghai_today(now))
    end = start + timedelta(days=2)
    with own_connection("read_only") as conn:
        missing = conn.execute(
            select(Lesson.site_id, Site.card_salt, Person.id, Person.id_number_enc).distinct()
            .join(Site, Site.id == Lesson.site_id)
            .join(Enrollment, and_(Enrollment.plan_id == Lesson.plan_id, Enrollment.status == "active"))
            .join(Person, and_(Person.id == Enrollment.person_id, Person.anonymised_at.is_(None)))
            .outerjoin(CardKey, and_(CardKey.site_id == Lesson.site_id, CardKey.person_id == Enrollment.person_id))
            .where(Lesson.mode == "offline", Lesson.starts_at < end, Lesson.ends_at > start, CardKey.id.is_(None))
            .order_by(Lesson.site_id, Person.id).limit(limit)).all()
    v = vault()
    for i in range(0, len(missing), FILL_CHUNK):
        store_keys([{"site_id": site_id, "person_id": person_id,
                     "card_key": card_key(salt, v.decrypt_text(id_number_enc, ID_CONTEXT))}
                    for site_id, salt, person_id, id_number_enc in missing[i:i + FILL_CHUNK]])
        commit_side_effect("job_batch")
    return len(missing)
