"""Verifying a voucher at a desk or kiosk, using it for an enrolment, and the later state changes
(expiry sweep, write-off after disbursement, voiding by a supervisor)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from ..domain import identity
from ..domain import vouchers as rules
from ..domain.errors import AppError, conflict, invalid, not_found
from ..extensions import db
from ..models import ConsumedToken, Institution, Person, TrainingPlan, Voucher, VoucherBatch
from ..security.actor import Actor
from ..security.authz import ensure_institution, ensure_region
from ..security.crypto import vault
from . import audit

_TOKEN_REASONS = ("token_invalid", "token_expired")


def _nonce_key(voucher_id: int, nonce_hex: str) -> str:
    # Token nonces are only 4 random bytes; keyed by voucher they can never collide across vouchers.
    return f"{voucher_id}:{nonce_hex}"


def _load(token: str | None, code: str | None, now: datetime) -> tuple[Voucher, str | None]:
    """The voucher a token or code names, and the token's nonce key (None for a typed code)."""
    if token:
        voucher_id, person_id, _exp, nonce = rules.decode_qr_token(vault().token_key, token.strip(),
                                                                   int(now.timestamp()))
        voucher = db.session.get(Voucher, voucher_id, populate_existing=True)
        # The holder is signed into the token; a mismatch means the rows changed under it, so refuse.
        if voucher is None or voucher.person_id != person_id:
            raise invalid("token_invalid")
        return voucher, _nonce_key(voucher.id, nonce)
    canonical = rules.normalize_voucher_code(code or "")
    if canonical is None:
        raise invalid("validation_error", fields={"code": ["not a voucher code"]})
    voucher = db.session.execute(select(Voucher).where(Voucher.code == canonical)
                                 .execution_options(populate_existing=True)).scalar()
    if voucher is None:
        raise not_found("not_found", object="voucher")
    return voucher, None


def _not_usable_reason(batch: VoucherBatch, inst: Institution | None, occupation: str | None) -> str | None:
    if inst is None:
        return "not_allowed_institution"
    return rules.usable_at(batch.institution_ids, identity.region_prefix(batch.region_code), inst.id,
                           inst.region_code, occupation, batch.occupation_codes)


def _consumed(nonce_key: str | None) -> bool:
    return nonce_key is not None and db.session.execute(
        select(ConsumedToken.id).where(ConsumedToken.nonce == nonce_key)).first() is not None


def verify(a: Actor, token: str | None, code: str | None, now: datetime) -> dict:
    """What a desk or kiosk learns from a token or code: validity, reason, masked holder, usable here."""
    if not token and not code:
        raise invalid("validation_error", fields={"token": ["token or code is required"]})
    try:
        voucher, nonce_key = _load(token, code, now)
    except AppError as err:
        if err.code in _TOKEN_REASONS or err.status == 404:
            return {"valid": False, "reason": err.code, "usable_here": False}
        raise
    batch = db.session.get(VoucherBatch, voucher.batch_id)
    if a.role in ("supervisor", "admin"):
        ensure_region(a, batch.region_code)  # the bureau checks vouchers of its own region only
    person = db.session.get(Person, voucher.person_id)
    reason = rules.verify_reason(voucher.status, voucher.expires_at, now)
    if reason is None and _consumed(nonce_key):
        reason = "token_consumed"
    valid = reason is None
    if a.role in ("supervisor", "admin"):
        where = None  # no desk: "usable here" is just whether the voucher is live
    else:
        inst = db.session.get(Institution, a.institution_id) if a.institution_id else None
        where = _not_usable_reason(batch, inst, None)
    return {"valid": valid, "reason": reason or where, "usable_here": valid and where is None,
            "voucher": {"code": voucher.code,
                        "status": rules.effective_status(voucher.status, voucher.expires_at, now),
                        "expires_at": voucher.expires_at.isoformat(),
                        "batch": {"id": batch.id, "name": batch.name, "occupation_codes": batch.occupation_codes,
                                  "face_value_fen": batch.face_value_fen},
                        "holder": {"person_id": person.id, "name_masked": identity.mask_name(person.name),
                                   "id_number_masked": person.id_number_masked}}}


def batch_vouchers_stmt(batch_id: int):
    """The claimed vouchers of one batch with their holders, newest first (the claimant list)."""
    return (select(Voucher).options(selectinload(Voucher.holder)).where(Voucher.batch_id == batch_id)
            .order_by(Voucher.id.desc()))


def use_voucher(a: Actor, plan: TrainingPlan, token_or_code: str, now: datetime) -> Voucher:
    """Mark a voucher used for an enrolment on `plan`; 422 with the verify reason when it cannot be.

    A token's nonce is recorded so the same token never enrols twice, and the status change is
    conditional on 'claimed' so two desks racing with the same voucher cannot both win.
    """
    ensure_institution(a, plan.institution_id, plan.region_code)
    value = (token_or_code or "").strip()
    if not value:
        raise invalid("validation_error", fields={"voucher_token": ["token or code is required"]})
    if rules.normalize_voucher_code(value):
        voucher, nonce_key = _load(None, value, now)
    else:
        voucher, nonce_key = _load(value, None, now)
    reason = rules.verify_reason(voucher.status, voucher.expires_at, now)
    if reason:
        raise invalid(reason)
    batch = db.session.get(VoucherBatch, voucher.batch_id)
    if nonce_key is None and not batch.code_enrollment_allowed:
        # Only the trainee's rotating QR proves they are at the desk; the permanent code may be known to anyone.
        raise invalid("voucher_token_required", batch_id=batch.id)
    where = _not_usable_reason(batch, db.session.get(Institution, plan.institution_id), plan.occupation_code)
    if where:
        raise invalid(where)
    try:
        with db.session.begin_nested():
            if nonce_key:
                db.session.add(ConsumedToken(nonce=nonce_key, voucher_id=voucher.id, consumed_at=now))
            res = db.session.execute(
                update(Voucher)
                .where(Voucher.id == voucher.id, Voucher.status == rules.CLAIMED, Voucher.expires_at > now)
                .values(status=rules.USED, used_at=now).execution_options(synchronize_session=False))
            if res.rowcount != 1:
                raise invalid("used")  # another desk won the race a moment ago
            db.session.flush()
    except IntegrityError:
        raise invalid("token_consumed") from None
    db.session.refresh(voucher)
    audit.record(a.label, "voucher.use", "voucher", voucher.id, now, before={"status": rules.CLAIMED},
                 after={"status": rules.USED, "plan_id": plan.id})
    return voucher


def _bulk_transition(ids_filter, values: dict, actor_label: str, action: str, before: str | None,
                     now: datetime) -> list[str]:
    rows = db.session.execute(
        update(Voucher).where(*ids_filter).values(**values)
        .returning(Voucher.id, Voucher.code, Voucher.status).execution_options(synchronize_session=False)).all()
    for row in sorted(rows):
        audit.record(actor_label, action, "voucher", row.id, now, before={"status": before} if before else None,
                     after={"status": row.status})
    # Rows already loaded in this session would otherwise keep their old status.
    db.session.expire_all()
    return [row.code for row in rows]


def expire_due(now: datetime, actor_label: str = "system:expiry") -> list[str]:
    """Mark every unused voucher past its expiry as expired (reads already show it); returns the codes."""
    return _bulk_transition((Voucher.status == rules.CLAIMED, Voucher.expires_at <= now),
                            {"status": rules.EXPIRED}, actor_label, "voucher.expire", rules.CLAIMED, now)


def write_off_vouchers(voucher_ids, actor_label: str, now: datetime) -> list[str]:
    """Write off used vouchers after their subsidy is disbursed: the codes are dead from then on."""
    ids = list(voucher_ids)
    if not ids:
        return []
    return _bulk_transition((Voucher.id.in_(ids), Voucher.status == rules.USED),
                            {"status": rules.WRITTEN_OFF, "written_off_at": now}, actor_label,
                            "voucher.write_off", rules.USED, now)


VOIDABLE = (rules.CLAIMED, rules.USED, rules.EXPIRED)


def void_voucher(a: Actor, code: str, reason: str, now: datetime) -> Voucher:
    """A supervisor voids a live voucher (fraud, error); the stock stays consumed."""
    canonical = rules.normalize_voucher_code(code or "")
    voucher = canonical and db.session.execute(select(Voucher).where(Voucher.code == canonical)
                                               .execution_options(populate_existing=True)).scalar()
    if not voucher:
        raise not_found("not_found", object="voucher")
    batch = db.session.get(VoucherBatch, voucher.batch_id)
    ensure_region(a, batch.region_code)
    before = voucher.status
    res = db.session.execute(
        update(Voucher).where(Voucher.id == voucher.id, Voucher.status.in_(VOIDABLE))
        .values(status=rules.VOIDED, voided_at=now).execution_options(synchronize_session=False))
    if res.rowcount != 1:
        raise conflict("invalid_state", status=before)
    db.session.refresh(voucher)
    audit.record(a.label, "voucher.void", "voucher", voucher.id, now, before={"status": before},
                 after={"status": rules.VOIDED, "reason": reason})
    return voucher
