"""Voucher batches and claims: define, publish, list with eligibility, claim, return, statistics.

Stock and one-live-voucher-per-person are enforced by the database: a conditional
`UPDATE ... SET remaining = remaining - 1 WHERE remaining > 0` checked by rowcount, and the partial
unique index uq_vouchers_live_per_person. Python checks before them only give better error codes.
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from ..domain import identity
from ..domain import vouchers as rules
from ..domain.attendance import SHANGHAI
from ..domain.errors import AppError, conflict, forbidden, invalid, not_found
from ..extensions import db
from ..models import DirectedRecipient, Institution, Person, SubsidyLine, Voucher, VoucherBatch
from ..security.actor import Actor
from ..security.authz import ensure_region
from ..security.crypto import vault
from . import audit
from .persons import shanghai_today
from .scoping import scoped

# Every state except returned holds a unit of stock: quantity = remaining + live vouchers.
LIVE_STATES = (rules.CLAIMED, rules.USED, rules.EXPIRED, rules.WRITTEN_OFF, rules.VOIDED)
BATCH_FIELDS = ("name", "region_code", "occupation_codes", "institution_ids", "eligibility", "directed",
                "quantity", "remaining", "face_value_fen", "claim_starts_at", "claim_ends_at", "valid_days",
                "funding_source", "claim_requires_face", "payee", "status", "code_enrollment_allowed")
VOUCHER_FIELDS = ("code", "batch_id", "person_id", "status", "expires_at")
# What a trainee sees of a batch (staff also see funding_source, payee, created_by/at, published_at).
PUBLIC_BATCH_FIELDS = ("id", "name", "status", "region_code", "occupation_codes", "quantity", "remaining",
                       "face_value_fen", "claim_starts_at", "claim_ends_at", "valid_days", "claim_requires_face",
                       "institution_ids", "eligibility", "directed", "code_enrollment_allowed")


@dataclass(frozen=True)
class BatchOffer:
    """A published batch as a trainee sees it: its public fields and what it means for this person.

    Only PUBLIC_BATCH_FIELDS of the batch are reachable, so a serialiser cannot show a trainee the rest.
    """

    batch: VoucherBatch
    eligible: bool
    ineligible_reasons: list[str]

    def __getattr__(self, name):
        if name in PUBLIC_BATCH_FIELDS:
            return getattr(self.batch, name)
        raise AttributeError(name)


@dataclass(frozen=True)
class ListedOffer(BatchOffer):
    """A batch in a trainee's listing, with the live voucher the person holds from it (or None)."""

    claimed_code: str | None = None


# ---- batches --------------------------------------------------------------------------------------

def _field_errors(errors: dict) -> None:
    if errors:
        raise invalid("validation_error", fields=errors)


def _clean_codes(values, field: str, errors: dict) -> list[str]:
    """Strip, drop duplicates (keeping order) and refuse blanks."""
    out: list[str] = []
    for i, raw in enumerate(values or []):
        code = (raw or "").strip()
        if not code:
            errors.setdefault(field, {})[str(i)] = ["must not be blank"]
        elif code not in out:
            out.append(code)
    return out


def _validate_eligibility(raw: dict | None, errors: dict) -> dict:
    raw = raw or {}
    groups = _clean_codes(raw.get("groups"), "eligibility.groups", errors) or None
    age_min, age_max = raw.get("age_min"), raw.get("age_max")
    if age_min is not None and age_max is not None and age_min > age_max:
        errors["eligibility.age_max"] = ["must be >= age_min"]
    regions = None
    if raw.get("household_regions"):
        regions = []
        for i, code in enumerate(raw["household_regions"]):
            try:
                regions.append(identity.validate_region_code(code))
            except AppError:
                errors.setdefault("eligibility.household_regions", {})[str(i)] = ["invalid region code"]
    return {"groups": groups, "age_min": age_min, "age_max": age_max, "household_regions": regions}


def _validate_institutions(ids, region: str, errors: dict) -> list[int] | None:
    if ids is None:
        return None
    ids = sorted(set(ids))
    if not ids:
        errors["institution_ids"] = ["must not be empty (null allows every approved institution in the region)"]
        return None
    found = {i.id: i for i in db.session.execute(select(Institution).where(Institution.id.in_(ids))).scalars()}
    unknown = [i for i in ids if i not in found]
    outside = [i for i, inst in found.items() if not inst.region_code.startswith(identity.region_prefix(region))]
    if unknown:
        errors.setdefault("institution_ids", []).append(f"unknown institutions: {unknown}")
    if outside:
        errors.setdefault("institution_ids", []).append(f"outside the batch's region: {sorted(outside)}")
    return ids


def _validate_directed(numbers, today: date, errors: dict) -> list[str] | None:
    """Normalised, de-duplicated ID numbers of a directed list; bad ones are reported by index."""
    if numbers is None:
        return None
    if not numbers:
        errors["directed_id_numbers"] = ["must not be empty (null means not directed)"]
        return None
    out: dict[str, None] = {}
    for i, raw in enumerate(numbers):
        try:
            out[identity.validate_id_number(raw, today)] = None
        except AppError as exc:
            reason = exc.details.get("reason", "invalid")
            errors.setdefault("directed_id_numbers", {})[str(i)] = [f"invalid_id_number: {reason}"]
    return list(out)


def create_batch(a: Actor, data: dict, now: datetime) -> VoucherBatch:
    """Validate and add a draft batch; a directed list is stored as blind indexes only."""
    errors: dict = {}
    try:
        region = identity.validate_region_code(data["region_code"])
    except AppError:
        raise invalid("validation_error", fields={"region_code": ["invalid region code"]}) from None
    ensure_region(a, region)
    occupations = _clean_codes(data["occupation_codes"], "occupation_codes", errors)
    if not occupations and "occupation_codes" not in errors:
        errors["occupation_codes"] = ["at least one occupation code"]
    if data["claim_ends_at"] <= data["claim_starts_at"]:
        errors["claim_ends_at"] = ["must be after claim_starts_at"]
    eligibility = _validate_eligibility(data.get("eligibility"), errors)
    institution_ids = _validate_institutions(data.get("institution_ids"), region, errors)
    directed = _validate_directed(data.get("directed_id_numbers"), shanghai_today(now), errors)
    _field_errors(errors)
    batch = VoucherBatch(
        name=data["name"].strip(), region_code=region, occupation_codes=occupations,
        institution_ids=institution_ids, eligibility=eligibility, directed=bool(directed),
        quantity=data["quantity"], remaining=data["quantity"], face_value_fen=data["face_value_fen"],
        claim_starts_at=data["claim_starts_at"], claim_ends_at=data["claim_ends_at"],
        valid_days=data["valid_days"], funding_source=(data.get("funding_source") or "").strip(),
        claim_requires_face=bool(data.get("claim_requires_face")), payee=data.get("payee") or "institution",
        code_enrollment_allowed=bool(data.get("code_enrollment_allowed")),
        status="draft", created_by=a.user_id, created_at=now)
    db.session.add(batch)
    db.session.flush()
    v = vault()
    for number in directed or ():
        db.session.add(DirectedRecipient(batch_id=batch.id, id_number_index=v.blind_index(number)))
    db.session.flush()
    after = audit.snapshot(batch, BATCH_FIELDS)
    after["directed_count"] = len(directed or ())
    audit.record(a.label, "voucher_batch.create", "voucher_batch", batch.id, now, after=after)
    return batch


def batch_in_scope(a: Actor, batch_id: int) -> VoucherBatch:
    """A batch the supervisor may manage (404 if missing, 403 out_of_scope)."""
    batch = db.session.get(VoucherBatch, batch_id)
    if batch is None:
        raise not_found("not_found", object="voucher_batch", id=batch_id)
    ensure_region(a, batch.region_code)
    return batch


def _change_batch_status(a: Actor, batch_id: int, frm: str, to: str, now: datetime) -> VoucherBatch:
    batch = batch_in_scope(a, batch_id)
    values = {"status": to}
    if to == "published":
        values["published_at"] = now
    # Conditional on the old status so two publishers cannot both succeed.
    res = db.session.execute(update(VoucherBatch).where(VoucherBatch.id == batch.id, VoucherBatch.status == frm)
                             .values(**values).execution_options(synchronize_session=False))
    if res.rowcount != 1:
        raise conflict("invalid_state", status=batch.status, expected=frm)
    before = batch.status
    db.session.refresh(batch)
    audit.record(a.label, f"voucher_batch.{to}", "voucher_batch", batch.id, now,
                 before={"status": before}, after={"status": to})
    return batch


def publish_batch(a: Actor, batch_id: int, now: datetime) -> VoucherBatch:
    """draft → published."""
    return _change_batch_status(a, batch_id, "draft", "published", now)


def close_batch(a: Actor, batch_id: int, now: datetime) -> VoucherBatch:
    """published → closed: no more claims; claimed vouchers stay valid."""
    return _change_batch_status(a, batch_id, "published", "closed", now)


def set_code_enrollment(a: Actor, batch_id: int, allowed: bool, reason: str, now: datetime) -> VoucherBatch:
    """The bureau allows (or stops) enrolment by the bare voucher code for one batch; audited with a reason."""
    batch = batch_in_scope(a, batch_id)
    before = batch.code_enrollment_allowed
    batch.code_enrollment_allowed = bool(allowed)
    db.session.flush()
    audit.record(a.label, "voucher_batch.code_enrollment", "voucher_batch", batch.id, now,
                 before={"code_enrollment_allowed": before},
                 after={"code_enrollment_allowed": batch.code_enrollment_allowed, "reason": reason.strip()})
    return batch


def supervisor_batches_stmt(a: Actor):
    """Batches in the caller's region, all states, newest first."""
    return scoped(select(VoucherBatch).order_by(VoucherBatch.id.desc()), a, region=VoucherBatch.region_code)


# ---- eligibility ----------------------------------------------------------------------------------

def _on_directed_list(batch: VoucherBatch, person: Person) -> bool:
    return db.session.execute(select(DirectedRecipient.id).where(
        DirectedRecipient.batch_id == batch.id,
        DirectedRecipient.id_number_index == person.id_number_index)).first() is not None


def eligibility_of(batch: VoucherBatch, person: Person, now: datetime) -> list[str]:
    """The batch's eligibility rules applied to a person (empty list = eligible)."""
    facts = {"groups": set(person.groups or ()), "birth_date": person.birth_date,
             "household_region": person.household_region}
    reasons = rules.eligibility_reasons(facts, batch.eligibility or {}, shanghai_today(now))
    # The list holds blind indexes, not ID numbers, so membership is a lookup rather than the domain's set test.
    if batch.directed and not _on_directed_list(batch, person):
        reasons.append("not_directed")
    return reasons


def _claimed_before(batch_id: int, person_id: int) -> Voucher | None:
    """Any voucher the person ever claimed from the batch, returned ones included (同一券一人只能领取1次)."""
    return db.session.execute(select(Voucher).where(
        Voucher.batch_id == batch_id, Voucher.person_id == person_id).order_by(Voucher.id.desc()).limit(1)).scalar()


def _person_of(a: Actor) -> Person | None:
    """The trainee's bound person, None while unbound (offers are then shown as not claimable)."""
    return db.session.get(Person, a.person_id) if a.person_id else None


def trainee_batches(a: Actor, now: datetime) -> list[ListedOffer]:
    """Published batches open now, each with eligible, ineligible_reasons and remaining for the trainee."""
    person = _person_of(a)
    batches = db.session.execute(select(VoucherBatch).where(
        VoucherBatch.status == "published", VoucherBatch.claim_starts_at <= now, VoucherBatch.claim_ends_at > now)
        .order_by(VoucherBatch.claim_ends_at, VoucherBatch.id)).scalars().all()
    held = {}
    returned = set()
    if person is not None and batches:
        for v in db.session.execute(select(Voucher).where(
                Voucher.person_id == person.id, Voucher.batch_id.in_([b.id for b in batches]))).scalars():
            if v.status == rules.RETURNED:
                returned.add(v.batch_id)
            else:
                held[v.batch_id] = v
    out = []
    for batch in batches:
        if person is None:
            reasons = ["identity_not_bound"]
        else:
            reasons = eligibility_of(batch, person, now)
            if batch.id in held or batch.id in returned:
                reasons.append("already_claimed")  # once per batch, a returned voucher included
            if batch.claim_requires_face and person.face_template_enc is None:
                reasons.append("face_not_enrolled")
        out.append(ListedOffer(batch, not reasons, reasons, held[batch.id].code if batch.id in held else None))
    return out


def trainee_batch(a: Actor, batch_id: int, now: datetime) -> BatchOffer:
    """One published or closed batch with the trainee's eligibility (404 for drafts and unknown ids)."""
    person = _person_of(a)
    batch = db.session.get(VoucherBatch, batch_id)
    if batch is None or batch.status == "draft":
        raise not_found("not_found", object="voucher_batch", id=batch_id)
    reasons = eligibility_of(batch, person, now) if person else ["identity_not_bound"]
    return BatchOffer(batch, not reasons, reasons)


# ---- claim and return -----------------------------------------------------------------------------

def _bound_person(a: Actor) -> Person:
    if not a.person_id:
        raise forbidden("identity_not_bound")
    return _person_of(a)


def claim(a: Actor, batch_id: int, face_probe: list[float] | None, now: datetime, face_threshold: float = 0.5
          ) -> Voucher:
    """Claim one voucher of a batch for the caller's verified person (`face_probe`: the encoding of the
    live photo, from services.faces.photo_probe, when one was sent)."""
    person = _bound_person(a)
    # populate_existing: a row already in this session may be stale, and the pre-checks read it.
    batch = db.session.get(VoucherBatch, batch_id, populate_existing=True)
    if batch is None or batch.status == "draft":
        raise not_found("not_found", object="voucher_batch", id=batch_id)
    rules.check_claim(batch.status, batch.claim_starts_at, batch.claim_ends_at, now)
    reasons = eligibility_of(batch, person, now)
    if reasons:
        raise forbidden("not_eligible", reasons=reasons)
    # A fast, friendly answer; the unique index below is what actually guarantees it under concurrency.
    earlier = _claimed_before(batch.id, person.id)
    if earlier is not None:
        # Once per person and batch, a returned voucher included (source 001): returning frees the
        # stock for others and lets the person claim another batch, not the same one again.
        raise conflict("already_claimed", returned=earlier.status == rules.RETURNED)
    if batch.remaining <= 0:
        raise conflict("sold_out")
    if batch.claim_requires_face:
        from .faces import check_face
        # The photo was reduced to an encoding before the request's first query (the slow part holds no
        # lock); it is never stored.
        check_face(person, face_probe, face_threshold, field="face_image_base64")
    voucher = take_stock(batch, person.id, now)
    audit.record(a.label, "voucher.claim", "voucher", voucher.id, now,
                 after=audit.snapshot(voucher, VOUCHER_FIELDS))
    return voucher


def take_stock(batch: VoucherBatch, person_id: int, now: datetime) -> Voucher:
    """Decrement the stock and insert the voucher atomically; 409 sold_out / already_claimed."""
    try:
        # SAVEPOINT: a failed insert rolls back the decrement with it, and the outer transaction lives on.
        with db.session.begin_nested():
            res = db.session.execute(
                update(VoucherBatch)
                .where(VoucherBatch.id == batch.id, VoucherBatch.remaining > 0, VoucherBatch.status == "published")
                .values(remaining=VoucherBatch.remaining - 1).execution_options(synchronize_session=False))
            if res.rowcount != 1:
                raise conflict("sold_out")
            voucher = Voucher(code=rules.new_voucher_code(secrets.token_bytes(10)), batch_id=batch.id,
                              person_id=person_id, status=rules.CLAIMED, claimed_at=now,
                              expires_at=now + timedelta(days=batch.valid_days))
            db.session.add(voucher)
            db.session.flush()
    except IntegrityError:
        raise conflict("already_claimed") from None
    db.session.refresh(batch)
    return voucher


def own_voucher(a: Actor, code: str) -> Voucher:
    """The caller's voucher by (typed) code; 404 for unknown codes and other people's vouchers alike."""
    person = _bound_person(a)
    canonical = rules.normalize_voucher_code(code or "")
    voucher = None
    if canonical:
        voucher = db.session.execute(select(Voucher).where(Voucher.code == canonical)
                                     .execution_options(populate_existing=True)).scalar()
    if voucher is None or voucher.person_id != person.id:
        raise not_found("not_found", object="voucher")
    return voucher


def return_voucher(a: Actor, code: str, now: datetime) -> Voucher:
    """Give an unused voucher back: the stock goes back and the person may claim again."""
    voucher = own_voucher(a, code)
    rules.check_return(rules.effective_status(voucher.status, voucher.expires_at, now))
    with db.session.begin_nested():
        # Batch row first, voucher second: the same lock order as a claim, so the two never deadlock.
        res = db.session.execute(
            update(VoucherBatch)
            .where(VoucherBatch.id == voucher.batch_id, VoucherBatch.remaining < VoucherBatch.quantity)
            .values(remaining=VoucherBatch.remaining + 1).execution_options(synchronize_session=False))
        if res.rowcount != 1:
            raise conflict("not_returnable", status=voucher.status)
        res = db.session.execute(
            update(Voucher)
            .where(Voucher.id == voucher.id, Voucher.status == rules.CLAIMED, Voucher.expires_at > now)
            .values(status=rules.RETURNED, returned_at=now).execution_options(synchronize_session=False))
        if res.rowcount != 1:
            raise conflict("not_returnable", status=voucher.status)
    db.session.refresh(voucher)
    audit.record(a.label, "voucher.return", "voucher", voucher.id, now,
                 before={"status": rules.CLAIMED}, after={"status": rules.RETURNED})
    return voucher


def my_vouchers_stmt(a: Actor):
    """The caller's vouchers, newest first."""
    person = _bound_person(a)
    return (select(Voucher).options(selectinload(Voucher.batch)).where(Voucher.person_id == person.id)
            .order_by(Voucher.id.desc()))


# ---- statistics -----------------------------------------------------------------------------------

def _day_start(d: date) -> datetime:
    return datetime.combine(d, time.min, SHANGHAI)


def voucher_funnel(region_prefix: str | None, date_from: date | None, date_to: date | None,
                   now: datetime | None = None) -> dict:
    """Voucher counts for the stats overview; dates are inclusive Asia/Shanghai days, region a code prefix.

    issued = quantity of batches published in the range; the others count vouchers whose event
    (claim, use, return, expiry, write-off) falls in the range. Expiry counts as soon as it is due.
    """
    if now is None:
        from ..clock import now as clock_now
        now = clock_now()
    lo = _day_start(date_from) if date_from else None
    hi = _day_start(date_to + timedelta(days=1)) if date_to else None

    def in_range(column):
        conds = []
        if lo is not None:
            conds.append(column >= lo)
        if hi is not None:
            conds.append(column < hi)
        return conds

    scope = []
    if region_prefix:
        scope.append(VoucherBatch.region_code.startswith(identity.region_prefix(region_prefix)))

    def count_vouchers(column, *extra):
        stmt = (select(func.count(Voucher.id)).join(VoucherBatch, VoucherBatch.id == Voucher.batch_id)
                .where(*scope, column.is_not(None), *in_range(column), *extra))
        return db.session.execute(stmt).scalar() or 0

    issued = db.session.execute(select(func.coalesce(func.sum(VoucherBatch.quantity), 0)).where(
        *scope, VoucherBatch.status.in_(("published", "closed")), *in_range(VoucherBatch.published_at))).scalar()
    due = (Voucher.status == rules.EXPIRED) | ((Voucher.status == rules.CLAIMED) & (Voucher.expires_at <= now))
    written_off_fen = db.session.execute(
        select(func.coalesce(func.sum(SubsidyLine.amount_fen), 0))
        .join(Voucher, Voucher.id == SubsidyLine.voucher_id)
        .join(VoucherBatch, VoucherBatch.id == Voucher.batch_id)
        .where(*scope, Voucher.status == rules.WRITTEN_OFF, *in_range(Voucher.written_off_at))).scalar()
    return {
        "issued": int(issued or 0),
        "claimed": count_vouchers(Voucher.claimed_at),
        "used": count_vouchers(Voucher.used_at),
        "returned": count_vouchers(Voucher.returned_at, Voucher.status == rules.RETURNED),
        "expired": count_vouchers(Voucher.expires_at, due),
        "written_off": count_vouchers(Voucher.written_off_at, Voucher.status == rules.WRITTEN_OFF),
        "written_off_fen": int(written_off_fen or 0),
        "voided": count_vouchers(Voucher.voided_at, Voucher.status == rules.VOIDED),
    }
