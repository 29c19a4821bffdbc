"""Face templates of persons: enrolment with recorded consent, withdrawal, and 1:1 checks.

Templates are stored encrypted; photos are decoded in memory, matched and dropped, never stored.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from .. import faces
from ..domain.errors import conflict, forbidden, invalid
from ..extensions import db
from ..models import Enrollment, Person, TrainingPlan
from ..security.actor import Actor
from ..security.crypto import vault
from . import audit
from .persons import FACE_CONTEXT, in_region


def enroll(person: Person, image_base64: str, consent: bool, actor_label: str, now: datetime,
           enrolled_by: str) -> None:
    """Store the template of the single face in the photo; consent must be explicit (True).

    `enrolled_by`: "self" for the trainee, else the staff role; kept so an unbind can drop a face the
    wrong binder enrolled, and supervisors can tell staff-enrolled faces apart.
    """
    if consent is not True:
        raise invalid("consent_required", field="consent")
    rgb = faces.decode_base64_image(image_base64, field="image_base64")
    template = faces.enroll_template(rgb)  # 422 no_face / multiple_faces
    before = {"face_enrolled": person.face_template_enc is not None, "face_enrolled_by": person.face_enrolled_by}
    person.face_template_enc = vault().encrypt_json(template, FACE_CONTEXT)
    person.face_consent_at = now
    person.face_enrolled_by = enrolled_by
    db.session.flush()
    from .trust_flags import record_face_matches
    matches = record_face_matches(person, template, now)
    audit.record(actor_label, "person.face_enroll", "person", person.id, now, before=before,
                 after={"face_enrolled": True, "face_consent_at": now.isoformat(),
                        "face_enrolled_by": person.face_enrolled_by,
                        "shared_face_with": [pid for pid, _ in matches]})


def withdraw(person: Person, actor_label: str, now: datetime) -> None:
    """Delete the template and the consent; card + PIN remains the way to attend."""
    before = {"face_enrolled": person.face_template_enc is not None,
              "face_consent_at": person.face_consent_at.isoformat() if person.face_consent_at else None}
    person.face_template_enc = None
    person.face_consent_at = None
    person.face_enrolled_by = None
    db.session.flush()
    audit.record(actor_label, "person.face_withdraw", "person", person.id, now, before=before,
                 after={"face_enrolled": False, "face_consent_at": None})


def template_of(person: Person) -> list[float] | None:
    """The decrypted template, or None when not enrolled."""
    if person.face_template_enc is None:
        return None
    return vault().decrypt_json(person.face_template_enc, FACE_CONTEXT)


def check_face(person: Person, image_base64: str | None, threshold: float, field: str = "image_base64") -> float:
    """Match a live photo against the person's template; returns the distance or raises.

    403 face_not_enrolled, 422 validation_error (no photo), 422 no_face, 403 face_mismatch.
    """
    template = template_of(person)
    if template is None:
        raise forbidden("face_not_enrolled")
    if not image_base64:
        raise invalid("validation_error", fields={field: ["a face photo is required for this batch"]})
    rgb = faces.decode_base64_image(image_base64, field=field)
    matched, distance, reason = faces.verify(rgb, template, threshold)
    if reason == "no_face":
        raise invalid("no_face")
    if not matched:
        raise forbidden("face_mismatch")
    return distance


def ensure_may_enroll(a: Actor, person: Person) -> None:
    """Institution staff: the person is on one of its rosters; supervisors: the person is in their region."""
    if a.role == "admin":
        return
    if a.role == "institution":
        on_roster = db.session.execute(
            select(Enrollment.id).join(TrainingPlan, TrainingPlan.id == Enrollment.plan_id)
            .where(Enrollment.person_id == person.id, TrainingPlan.institution_id == a.institution_id,
                   Enrollment.status == "active", TrainingPlan.status.notin_(("completed", "rejected")))).first()
        if on_roster:
            # The institution is the party that profits from attendance: it may enrol a face for a
            # trainee who has none, never replace the one a trainee (or a bureau) already enrolled.
            if person.face_template_enc is not None:
                raise conflict("face_already_enrolled")
            return
    if a.role == "supervisor" and in_region(person, a.region_code):
        return
    raise forbidden("forbidden", person_id=person.id)
