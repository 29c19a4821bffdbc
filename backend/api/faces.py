"""Face enrolment with explicit consent: the trainee's own, or collected in person by an institution."""
from __future__ import annotations

from apiflask import APIBlueprint, Schema
from apiflask.fields import Boolean, String
from apiflask.validators import Length

from ..clock import now
from ..domain.errors import forbidden
from ..extensions import db, limiter
from ..models import Person
from ..security.actor import bound_person_id
from ..security.authz import actor, get_or_404, requires
from ..services import faces as svc
from ..services.pins import set_pin
from . import upload_limits

bp = APIBlueprint("faces", __name__, tag="Faces")


class FaceIn(Schema):
    image_base64 = String(required=True, validate=Length(min=1, max=12_000_000),
                          metadata={"description": "JPEG or PNG with exactly one face; not kept"})
    consent = Boolean(load_default=False, metadata={"description": "must be true: explicit consent to face use"})


class EnrolledOut(Schema):
    enrolled = Boolean()


def _own_person() -> Person:
    # Checked against the database: credentials are never set through a binding a supervisor undid.
    pid = bound_person_id(actor())
    if not pid:
        raise forbidden("identity_not_bound")
    return db.session.get(Person, pid)


@bp.put("/me/face")
@bp.input(FaceIn, arg_name="body")
@bp.output(EnrolledOut)
@bp.doc(summary="Enrol the caller's face (consent required); only the encrypted template is kept")
@limiter.limit(upload_limits.FACE_SELF)
@requires("trainee")
def put_my_face(body):
    template = svc.template_from_photo(body["image_base64"], body["consent"])  # before any query: see there
    svc.enroll(_own_person(), template, actor().label, now(), enrolled_by="self")
    return {"enrolled": True}


@bp.delete("/me/face")
@bp.output(EnrolledOut)
@bp.doc(summary="Withdraw face consent: the template is deleted; card + PIN stays available")
@requires("trainee")
def delete_my_face():
    svc.withdraw(_own_person(), actor().label, now())
    return {"enrolled": False}


@bp.put("/persons/<int:person_id>/face")
@bp.input(FaceIn, arg_name="body")
@bp.output(EnrolledOut)
@bp.doc(summary="Enrol a trainee's face in person (institution: own roster; supervisor: own region)")
@limiter.limit(upload_limits.FACE_STAFF)
@requires("institution", "supervisor")
def put_person_face(person_id, body):
    a = actor()
    svc.ensure_may_enroll(a, get_or_404(Person, person_id))  # refuse strangers before any face work
    # End that read before the slow face detection: on SQLite the transaction holds the write lock.
    db.session.rollback()
    template = svc.template_from_photo(body["image_base64"], body["consent"])
    person = get_or_404(Person, person_id)
    svc.ensure_may_enroll(a, person)  # again, in the transaction that writes
    svc.enroll(person, template, a.label, now(), enrolled_by=a.role)
    return {"enrolled": True}


class PinIn(Schema):
    pin = String(required=True, validate=Length(min=1, max=32))
    current_pin = String(load_default=None, validate=Length(max=32))


@bp.put("/me/pin")
@bp.input(PinIn, arg_name="body")
@bp.doc(summary="Set or change the trainee's card PIN (the non-face way to attend at a kiosk); "
                "changing an existing PIN needs the current one")
@limiter.limit("5 per minute")
@requires("trainee")
def put_my_pin(body):
    a = actor()
    person = _own_person()
    had = set_pin(person, body["pin"], a.label, now(), current_pin=body.get("current_pin"), require_current=True)
    return {"pin_set": True, "replaced": had}
