"""The SMS step of real-name binding: a one-time code to the phone an institution recorded.

A code is bound to the person, that phone and the WeChat account that asked for it; only a keyed
hash is stored. Each account's newest code for the person counts; older ones are superseded.
"""
from __future__ import annotations

import hmac
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update

from ..domain import verification as rules_mod
from ..domain.errors import AppError
from ..domain.identity import mask_phone
from ..domain.verification import CodeRules
from ..extensions import db
from ..models import Person, SmsChallenge, WechatAccount
from ..security.crypto import vault
from . import sms


def _digest(person_id: int, phone: str, account_id: int, code: str) -> str:
    """Keyed hash of a code as issued to (person, phone, account)."""
    return vault().blind_index(f"{person_id}|{phone}|{account_id}|{code}", kind="sms_code")


def _live_challenge(person: Person, account: WechatAccount) -> SmsChallenge | None:
    """This account's newest code for the person that is still for the person's phone and unused."""
    challenge = db.session.execute(
        select(SmsChallenge).where(SmsChallenge.person_id == person.id, SmsChallenge.account_id == account.id)
        .order_by(SmsChallenge.id.desc()).limit(1)).scalar_one_or_none()
    if challenge is None or challenge.phone != person.phone or challenge.used_at is not None:
        return None
    return challenge


def _sent_since(column, value, since: datetime) -> list[datetime]:
    return list(db.session.execute(select(SmsChallenge.sent_at).where(column == value, SmsChallenge.sent_at > since))
                .scalars())


def _lock_person(person: Person) -> None:
    """Serialise code requests for one person (PostgreSQL row lock; SQLite writers are serial anyway)."""
    if db.engine.dialect.name == "postgresql":
        db.session.execute(select(Person.id).where(Person.id == person.id).with_for_update())


def send_code(person: Person, account: WechatAccount, rules: CodeRules, cfg, now: datetime) -> None:
    """Send a new code to the person's recorded phone unless one went out within the resend window.

    Always raises: 409 verification_required (the code sent is kept: `keep_changes`), or 429
    rate_limited when the daily number of codes for the person or the account is used up.
    """
    _lock_person(person)
    masked = mask_phone(person.phone)
    day_ago = now - rules_mod.DAY
    person_sent = _sent_since(SmsChallenge.person_id, person.id, day_ago)
    wait = rules_mod.resend_wait_s(max(person_sent, default=None), rules, now)
    if wait:
        raise AppError("verification_required", 409, rules_mod.verification_details(masked, rules, False, wait))
    rules_mod.check_daily_cap(person_sent, rules, now)
    rules_mod.check_daily_cap(_sent_since(SmsChallenge.account_id, account.id, day_ago), rules, now)
    # Codes older than a day count for nothing any more: drop them (they hold a phone number).
    db.session.execute(delete(SmsChallenge).where(SmsChallenge.person_id == person.id,
                                                  SmsChallenge.sent_at < day_ago - timedelta(minutes=1)))
    code = rules_mod.new_code()
    db.session.add(SmsChallenge(person_id=person.id, account_id=account.id, phone=person.phone,
                                code_hash=_digest(person.id, person.phone, account.id, code), sent_at=now,
                                expires_at=rules_mod.expires_at(now, rules), attempts=0))
    db.session.flush()
    sms.send(person.phone, rules_mod.code_message(code, rules.ttl_s), cfg, now)
    raise AppError("verification_required", 409,
                   rules_mod.verification_details(masked, rules, True, rules.resend_s), keep_changes=True)


def check_code(person: Person, account: WechatAccount, code: str | None, rules: CodeRules, cfg,
               now: datetime) -> None:
    """Return when `code` is this account's live code for the person's phone; else raise.

    No code, or none issued to this account for this phone: a code is sent (see send_code).
    422 invalid_code with `reason` wrong_code (and `attempts_left`), expired or too_many_attempts.
    """
    challenge = _live_challenge(person, account)
    if code is None or challenge is None:
        send_code(person, account, rules, cfg, now)
    state = rules_mod.code_state(challenge.expires_at, challenge.attempts, challenge.used_at, rules, now)
    if state == "expired":
        raise AppError("invalid_code", 422, {"reason": "expired"})
    if state != "live":
        raise AppError("invalid_code", 422, {"reason": "too_many_attempts", "attempts_left": 0})
    still_open = (SmsChallenge.id == challenge.id, SmsChallenge.used_at.is_(None),
                  SmsChallenge.attempts < rules.max_attempts)
    if hmac.compare_digest(challenge.code_hash, _digest(person.id, person.phone, account.id, code)):
        spent = db.session.execute(update(SmsChallenge).where(*still_open).values(used_at=now)
                                   .execution_options(synchronize_session=False)).rowcount
        if spent != 1:  # a concurrent request used or exhausted it first
            raise AppError("invalid_code", 422, {"reason": "too_many_attempts", "attempts_left": 0})
        return
    counted = db.session.execute(update(SmsChallenge).where(*still_open)
                                 .values(attempts=SmsChallenge.attempts + 1)
                                 .execution_options(synchronize_session=False)).rowcount
    if not counted:
        raise AppError("invalid_code", 422, {"reason": "too_many_attempts", "attempts_left": 0})
    attempts = db.session.execute(select(SmsChallenge.attempts).where(SmsChallenge.id == challenge.id)).scalar_one()
    raise AppError("invalid_code", 422, {"reason": "wrong_code", "attempts_left": max(0, rules.max_attempts - attempts)},
                   keep_changes=True)
