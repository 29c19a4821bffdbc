"""Real-name binding with verification, a supervisor's unbind, and the stub SMS outbox."""
from __future__ import annotations

from apiflask import APIBlueprint, Schema
from apiflask.fields import AwareDateTime, Date, Function, Integer, String
from apiflask.validators import Length
from flask import current_app
from sqlalchemy import select

from ..clock import now
from ..domain import identity
from ..domain.errors import forbidden, not_found
from ..extensions import db, limiter
from ..models import Person, SmsMessage, WechatAccount
from ..security.authz import actor, get_or_404, requires
from ..services import binding, persons
from .paging import paginate
from .schemas import ReasonIn

bp = APIBlueprint("identity", __name__, tag="Identity")


class IdentityIn(Schema):
    name = String(required=True, validate=Length(min=1, max=64))
    id_number = String(required=True, validate=Length(min=1, max=32))
    phone = String(load_default=None, validate=Length(max=20))
    sms_code = String(load_default=None, validate=Length(min=1, max=6), metadata={
        "description": "the 6-digit code sent after 409 verification_required (to the phone on record)"})


class _PersonFields(Schema):
    """What a Person shows to its owner and to staff alike."""
    id = Integer()
    id_number_masked = String()
    gender = String()
    household_region = String()
    groups = Function(lambda p: p.groups or [], metadata={"type": "array", "items": {"type": "string"}})
    face_enrolled = Function(lambda p: p.face_template_enc is not None, metadata={"type": "boolean"})


class PersonOut(_PersonFields):
    """A Person as its owner sees it: the full name, ID number, birth date and phone."""
    name = String()
    id_number = Function(persons.id_number_of, metadata={"type": "string", "description": "full, only to its owner"})
    birth_date = Date(allow_none=True)
    phone = String(allow_none=True)


class UnboundOut(_PersonFields):
    """A Person after an unbind, as staff see it: name and phone masked, no birth date, no full ID number."""
    name = Function(lambda p: identity.mask_name(p.name), metadata={"type": "string", "description": "masked"})
    birth_date = Function(lambda p: None, allow_none=True,
                          metadata={"type": "string", "format": "date", "description": "null: shown to its owner only"})
    phone = Function(lambda p: identity.mask_phone(p.phone) if p.phone else None, allow_none=True,
                     metadata={"type": "string", "description": "masked"})
    bound = Function(lambda p: False, metadata={"type": "boolean"})
    pin_set = Function(lambda p: p.pin_hash is not None, metadata={"type": "boolean"})
    face_enrolled_by = String(allow_none=True, metadata={"description": "self, institution, supervisor, admin"})


class SmsOut(Schema):
    id = Integer()
    phone = String()
    text = String()
    sent_at = AwareDateTime()


@bp.post("/me/identity")
@bp.input(IdentityIn, arg_name="body")
@bp.output(PersonOut)
@bp.doc(summary="Bind the caller's WeChat account to a real-name identity, after verification",
        description="The identity provider checks name and ID number (422 identity_not_verified, 503 "
                    "identity_provider_unavailable). When an institution recorded the person's phone, a 6-digit "
                    "code goes to that phone: without it 409 verification_required {method, phone_masked, "
                    "resend_after_s}; wrong, expired or used-up code 422 invalid_code {reason, attempts_left}; "
                    "too many codes 429 rate_limited. Nothing the institution entered is returned before binding.",
        responses={409: "verification_required / identity_taken / identity_mismatch",
                   422: "invalid_name / invalid_id_number / invalid_phone / identity_not_verified / invalid_code / "
                        "validation_error",
                   429: "rate_limited", 503: "identity_provider_unavailable / sms_unavailable"})
@limiter.limit("10 per minute")
@requires("trainee")
def bind_identity(body):
    account = db.session.get(WechatAccount, actor().account_id)
    person = binding.bind_identity(account, body["name"], body["id_number"], body.get("phone"), body.get("sms_code"),
                                   current_app.config, now())
    return person


@bp.post("/persons/<int:person_id>/unbind")
@bp.input(ReasonIn, arg_name="body")
@bp.output(UnboundOut)
@bp.doc(summary="Release a wrong WeChat binding (supervisor of the person's region, admin; audited)",
        description="Clears the kiosk PIN, a face the trainee enrolled themself and a phone typed while binding; "
                    "the released account's refresh tokens stop working. 409 not_bound when nothing is bound.",
        responses={409: "not_bound"})
@requires("supervisor", "admin")
def unbind_person(person_id, body):
    a = actor()
    person = get_or_404(Person, person_id)
    if a.role == "supervisor" and not persons.in_region(person, a.region_code):
        raise forbidden("forbidden", person_id=person_id)
    return binding.unbind(a, person, body["reason"], now())


@bp.get("/dev/sms")
@bp.output(SmsOut(many=True))
@bp.doc(summary="The stub SMS outbox, newest first (admin; only with SMS_MODE=stub, else 404)")
@requires("admin")
def dev_sms():
    if current_app.config["SMS_MODE"] != "stub":
        raise not_found("not_found")
    newest_first = select(SmsMessage).order_by(SmsMessage.sent_at.desc(), SmsMessage.id.desc())
    return paginate(newest_first, lambda message: message)
