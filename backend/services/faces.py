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


def template_from_photo(image_base64: str, consent: bool) -> list[float]:
    """The template of the single face in an enrolment photo; consent must be explicit (True).

    No database work: views call it before their first query, because on SQLite every transaction
    holds the write lock (BEGIN IMMEDIATE) and face detection takes a few hundred milliseconds.
    """
    if consent is not True:
        raise invalid("consent_required", field="consent")
    rgb = faces.decode_base64_image(image_base64, field="image_base64")
    return faces.enroll_template(rgb)  # 422 no_face / multiple_faces


def photo_probe(image_base64: str, field: str = "image_base64") -> list[float]:
    """The encoding of the face in a live photo (422 no_face); no database work, like template_from_photo."""
    probe = faces.probe_encoding(faces.decode_base64_image(image_base64, field=field))
    if probe is None:
        raise invalid("no_face")
    return probe


def enroll(person: Person, template: list[float], actor_label: str, now: datetime, enrolled_by: str) -> None:
    """Store a template computed by `template_from_photo`, with the consent time and who enrolled it.

    `enrolled_by`: "self" for the trainee, else the staff role; kept so an unbind can drop a face the
    wrong binder enrolled, and supervisors can tell staff-enrolled faces apart.
    """
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


def check_face(person: Person, probe: list[float] | None, threshold: float, field: str = "image_base64") -> float:
    """Match a live photo's encoding (`photo_probe`) against the person's template; the distance, or raises.

    403 face_not_enrolled, 422 validation_error (no photo), 403 face_mismatch.
    """
    template = template_of(person)
    if template is None:
        raise forbidden("face_not_enrolled")
    if probe is None:
        raise invalid("validation_error", fields={field: ["a face photo is required for this batch"]})
    distance = faces.face_distance(probe, template)
    if distance > threshold:
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
