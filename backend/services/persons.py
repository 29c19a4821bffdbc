"""Real-name persons: lookup by blind index, creation from a validated ID number, supervisor scope."""
from __future__ import annotations

from datetime import datetime

from ..domain import identity
from ..domain.errors import conflict
from ..extensions import db
from ..models import Enrollment, Person, TrainingPlan
from ..security.crypto import vault

ID_CONTEXT = "persons.id_number"
FACE_CONTEXT = "persons.face_template"


def shanghai_today(now: datetime):
    """The Asia/Shanghai date of a UTC instant."""
    from ..domain.attendance import SHANGHAI
    return now.astimezone(SHANGHAI).date()


def find_by_id_number(id_number: str) -> Person | None:
    """The person with this (normalised) ID number, via the keyed blind index."""
    idx = vault().blind_index(id_number)
    return db.session.execute(db.select(Person).where(Person.id_number_index == idx)).scalar_one_or_none()


def new_person(name: str, id_number: str, now: datetime, phone: str | None = None,
               groups: list | None = None) -> Person:
    """Build (not yet added) a Person with derived fields and the ID number encrypted."""
    v = vault()
    return Person(name=name, id_number_enc=v.encrypt_text(id_number, ID_CONTEXT),
                  id_number_index=v.blind_index(id_number), id_number_masked=identity.mask_id_number(id_number),
                  birth_date=identity.birth_date(id_number), gender=identity.gender(id_number),
                  household_region=identity.household_region(id_number), phone=phone,
                  groups=sorted(set(groups or [])), created_at=now)


def match_or_create(name: str, id_number: str, now: datetime, phone: str | None = None,
                    groups: list | None = None) -> Person:
    """The person with this ID number (the name must agree), created if unknown."""
    person = find_by_id_number(id_number)
    if person is None:
        person = new_person(name, id_number, now, phone, groups)
        db.session.add(person)
        db.session.flush()
        return person
    if person.name != name:
        raise conflict("identity_mismatch", field="name")
    if phone and not person.phone:
        person.phone, person.phone_entered_by = phone, None
    return person


def id_number_of(person: Person) -> str:
    """Decrypt a person's ID number (only for the owner, card keys and exports)."""
    return vault().decrypt_text(person.id_number_enc, ID_CONTEXT)


def in_region(person: Person, region_code: str | None) -> bool:
    """A supervisor's scope covers the person: household region, or a plan region the person is enrolled in."""
    if region_code is None:
        return False
    if identity.region_in_scope(person.household_region, region_code):
        return True
    plan_regions = db.session.execute(
        db.select(TrainingPlan.region_code).join(Enrollment, Enrollment.plan_id == TrainingPlan.id)
        .where(Enrollment.person_id == person.id)).scalars()
    return any(identity.region_in_scope(r, region_code) for r in plan_regions)
