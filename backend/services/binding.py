"""Binding a WeChat account to a real-name person, and a supervisor undoing a wrong binding.

Binding needs what a stranger who knows a name and an ID number cannot supply: the identity
provider's confirmation, and, where an institution recorded the person's phone, a one-time code
sent to that phone. Nothing the institution entered is returned before the binding succeeds.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from ..domain import identity
from ..domain.errors import conflict, invalid
from ..domain.verification import CodeRules, normalize_code
from ..extensions import db
from ..models import Person, WechatAccount
from ..security.actor import Actor
from ..security.tokens import revoke_family_of
from . import audit, faces, identity_provider, sms_codes
from .persons import find_by_id_number, id_number_of, new_person, shanghai_today

SELF = "self"


def bind_identity(account: WechatAccount, name: str, id_number: str, phone: str | None, sms_code: str | None,
                  cfg, now: datetime) -> Person:
    """Bind the account to the person with this name and ID number; one openid per person and vice versa.

    Order: input checks (422), the identity provider (422 identity_not_verified / 503), the
    account's own binding, the person on record (409 identity_mismatch / identity_taken), and then,
    when an institution recorded the person's phone, the SMS code (409 verification_required,
    422 invalid_code, 429 rate_limited).
    """
    id_number = identity.validate_id_number(id_number, shanghai_today(now))
    phone = identity.validate_phone(phone) if phone else None
    if not (name or "").strip():
        raise invalid("validation_error", fields={"name": ["required"]})
    name = identity.validate_name(name)  # 422 invalid_name
    code = normalize_code(sms_code) if sms_code is not None else None
    identity_provider.verify(name, id_number, cfg)
    if account.person_id is not None:
        person = db.session.get(Person, account.person_id)
        if id_number != id_number_of(person):
            raise conflict("identity_taken", reason="account_already_bound")
        if person.name != name:
            raise conflict("identity_mismatch", field="name")
        return person
    person = find_by_id_number(id_number)
    if person is None:
        person = new_person(name, id_number, now)
        db.session.add(person)
        db.session.flush()
    else:
        if person.name != name:
            raise conflict("identity_mismatch", field="name")
        if db.session.execute(select(WechatAccount.id).where(WechatAccount.person_id == person.id)).scalar():
            raise conflict("identity_taken")
        if person.phone:
            sms_codes.check_code(person, account, code, CodeRules.from_config(cfg), cfg, now)
    account.person_id = person.id
    account.bound_at = now
    if phone and not person.phone:
        # The phone on record stays; a phone typed here fills only an empty one, marked as self-entered.
        person.phone, person.phone_entered_by = phone, SELF
    db.session.flush()
    return person


def unbind(a: Actor, person: Person, reason: str, now: datetime) -> Person:
    """Release the person's WeChat account and what its holder could have set (audited).

    Cleared: the card PIN, a face template the trainee enrolled themself, a phone typed while
    binding; refresh tokens of the released account stop working. 409 not_bound when nothing is bound.
    """
    reason = (reason or "").strip()
    if not reason:
        raise invalid("validation_error", fields={"reason": ["required"]})
    account = db.session.execute(select(WechatAccount).where(WechatAccount.person_id == person.id)).scalar()
    if account is None:
        raise conflict("not_bound", person_id=person.id)
    before = {"account_id": account.id, "bound_at": account.bound_at.isoformat() if account.bound_at else None,
              "pin_set": person.pin_hash is not None, "face_enrolled": person.face_template_enc is not None,
              "face_enrolled_by": person.face_enrolled_by, "phone_entered_by": person.phone_entered_by}
    account.person_id = None
    account.bound_at = None
    person.pin_hash = None
    if person.face_enrolled_by == SELF and person.face_template_enc is not None:
        faces.withdraw(person, a.label, now)
    if person.phone_entered_by == SELF:
        person.phone, person.phone_entered_by = None, None
    revoke_family_of(f"w:{account.id}", now)
    db.session.flush()
    after = {"account_id": None, "pin_set": False, "face_enrolled": person.face_template_enc is not None,
             "face_enrolled_by": person.face_enrolled_by, "phone_cleared": before["phone_entered_by"] == SELF,
             "reason": reason}
    audit.record(a.label, "person.unbind", "person", person.id, now, before=before, after=after)
    return person

