"""Roster import (参训名单导入) with row-level results and the eligibility comparison (比对).

Shape of an import: every row is validated in memory first (ID number, phone, groups, voucher code,
duplicates within the file); then rows go to the database in chunks, each chunk costing a fixed
number of queries (persons by blind index, this plan's enrolments, other live enrolments of the same
occupation, vouchers by code, one batched INSERT per table), so 5,000 rows take tens of queries, not
thousands. A voucher row additionally costs the few statements of using that voucher.

Outcome of a row: errors (bad ID or phone, unknown group, duplicate in the file, already on the
roster, a known ID under another name, an unusable voucher) leave it out entirely; otherwise it is
imported, and the comparison decides `eligible` with `reasons`. Ineligible rows are imported too,
as the Fujian manual (source 000) does: the roster records who is trained, the comparison decides
who can be subsidised, and an institution may correct a person's groups later (PATCH /enrollments).
Nothing about a row is written until every check of that row has passed, so no row is half-applied;
a database failure rolls back the whole import.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import insert, select

from ..domain import identity
from ..domain import plans as plan_rules
from ..domain.errors import AppError, conflict
from ..domain.messages import message_for
from ..domain.roster import LIVE_PLAN_STATES, comparison_reasons, occupation_window, parse_groups
from ..domain.vouchers import normalize_voucher_code
from ..extensions import db
from ..models import Enrollment, Person, TrainingPlan, Voucher, VoucherBatch
from ..security.actor import Actor
from ..security.crypto import vault
from . import audit, persons
from .plans import ensure_roster_open, first_lesson_start
from .policies import plan_params
from .spreadsheets import cell_text
from .voucher_use import use_voucher

CHUNK = 500
MAX_ROWS = 10000
# A roster may change while the plan is being prepared, reviewed or waiting to start.
OPEN_STATES = (plan_rules.DRAFT, plan_rules.REJECTED, plan_rules.SUBMITTED, plan_rules.APPROVED)


@dataclass
class RosterRow:
    """One input row on its way through validation, matching and insertion."""

    row: int
    name: str | None = None
    id_number: str | None = None
    masked: str | None = None
    phone: str | None = None
    groups: list[str] = field(default_factory=list)
    voucher_code: str | None = None
    errors: list[dict] = field(default_factory=list)
    index: str | None = None
    person: Person | None = None
    voucher: Voucher | None = None
    voucher_rules: dict | None = None
    enrollment_id: int | None = None
    reasons: list[str] = field(default_factory=list)


def _error(code: str, field_name: str | None, **details) -> dict:
    return {"code": code, "field": field_name, **details}


def localise(result: dict, lang: str) -> dict:
    """Add the human message (zh or en) to every row error of an import result (rows as RosterRows or dicts)."""
    for row in result["rows"]:
        for err in (row.get("errors", ()) if isinstance(row, dict) else row.errors):
            err["message"] = message_for(err["code"], lang)
    return result


def check_roster_open(plan: TrainingPlan, now: datetime) -> None:
    """Raise unless the roster may change now: an open plan state, no lesson started yet, and not inside the
    policy's registration lead (409 registration_closed)."""
    ensure_roster_open(plan, now)
    if plan.status not in OPEN_STATES:
        raise conflict("invalid_state", status=plan.status, action="roster")
    plan_rules.check_registration_open(first_lesson_start(plan.id), now,
                                       int(plan_params(plan, now)["registration_lead_days"]))


def _validate(number: int, raw: dict, today) -> RosterRow:
    """Everything that can be judged without the database."""
    r = RosterRow(row=number)
    name = cell_text(raw.get("name"))
    if not name:
        r.errors.append(_error("validation_error", "name", reason="required"))
    else:
        try:
            name = identity.validate_name(name)
        except AppError as err:
            r.errors.append(_error("invalid_name", "name", **{k: v for k, v in err.details.items() if k != "field"}))
    r.name = name
    raw_id = raw.get("id_number")
    id_text = cell_text(raw_id) or ""
    r.masked = identity.mask_id_number(id_text) if id_text else None
    try:
        r.id_number = identity.validate_id_number(id_text, today)
        r.masked = identity.mask_id_number(r.id_number)
    except AppError as err:
        reason = err.details.get("reason")
        if isinstance(raw_id, (int, float)) and not isinstance(raw_id, bool):
            # Excel turned the ID into a number and dropped its last digits; say how to fix it.
            reason = "stored_as_number"
        r.errors.append(_error("invalid_id_number", "id_number", reason=reason))
    phone = cell_text(raw.get("phone"))
    if phone:
        try:
            r.phone = identity.validate_phone(phone)
        except AppError:
            r.errors.append(_error("invalid_phone", "phone"))
    raw_groups = raw.get("groups")
    r.groups, unknown = parse_groups(raw_groups if isinstance(raw_groups, (list, tuple)) else cell_text(raw_groups))
    if unknown:
        r.errors.append(_error("unknown_group", "groups", values=unknown))
    code = cell_text(raw.get("voucher_code"))
    if code:
        r.voucher_code = normalize_voucher_code(code)
        if r.voucher_code is None:
            r.errors.append(_error("invalid_voucher_code", "voucher_code"))
    return r


def _mark_duplicates(rows: list[RosterRow]) -> None:
    """Later rows repeating an ID number of an earlier row are errors; the first one stands."""
    first: dict[str, int] = {}
    for r in rows:
        if r.id_number is None:
            continue
        if r.id_number in first:
            r.errors.append(_error("duplicate_in_file", "id_number", first_row=first[r.id_number]))
        else:
            first[r.id_number] = r.row


class RosterContext:
    """Per-import settings and lookups shared by every chunk."""

    def __init__(self, a: Actor, plan: TrainingPlan, now: datetime, cfg: Mapping):
        self.actor, self.plan, self.now = a, plan, now
        self.age_min, self.age_max = int(cfg["WORKING_AGE_MIN"]), int(cfg["WORKING_AGE_MAX"])
        self.household_prefixes = household_prefixes(cfg)
        self.window = occupation_window(plan.starts_on, plan.ends_on)

    def reasons(self, person: Person, groups, voucher_rules: dict | None, other_live: bool) -> list[str]:
        """The comparison for one person on this plan."""
        return comparison_reasons(person.birth_date, person.household_region, groups, self.plan.starts_on,
                                  self.age_min, self.age_max, self.household_prefixes, voucher_rules, other_live)

    def other_live_enrolments(self, person_ids: list[int]) -> set[int]:
        """Which of these persons are on another live plan of the same occupation in the window."""
        if not person_ids:
            return set()
        stmt = (select(Enrollment.person_id).join(TrainingPlan, TrainingPlan.id == Enrollment.plan_id)
                .where(Enrollment.person_id.in_(person_ids), Enrollment.status == "active",
                       TrainingPlan.id != self.plan.id, TrainingPlan.occupation_code == self.plan.occupation_code,
                       TrainingPlan.status.in_(LIVE_PLAN_STATES), TrainingPlan.ends_on >= self.window[0],
                       TrainingPlan.starts_on <= self.window[1]))
        return set(db.session.execute(stmt).scalars())


def household_prefixes(cfg: Mapping) -> tuple[str, ...]:
    """The configured household-region restriction (ROSTER_HOUSEHOLD_REGIONS, comma-separated prefixes)."""
    raw = cfg.get("ROSTER_HOUSEHOLD_REGIONS") or ""
    items = raw if isinstance(raw, (list, tuple)) else str(raw).split(",")
    return tuple(identity.region_prefix(p.strip()) for p in items if p and p.strip())


def _match_persons(chunk: list[RosterRow], ctx: RosterContext) -> dict[int, Enrollment]:
    """Attach known persons (name must agree) and flag rows already on the roster; returns enrolments by person."""
    found = {p.id_number_index: p for p in db.session.execute(
        select(Person).where(Person.id_number_index.in_([r.index for r in chunk]))).scalars()}
    for r in chunk:
        r.person = found.get(r.index)
        if r.person is not None and r.person.name != r.name:
            r.errors.append(_error("identity_mismatch", "name"))
    ids = [p.id for p in found.values()]
    existing = {e.person_id: e for e in db.session.execute(select(Enrollment).where(
        Enrollment.plan_id == ctx.plan.id, Enrollment.person_id.in_(ids))).scalars()} if ids else {}
    for r in chunk:
        enrolment = existing.get(r.person.id) if r.person is not None else None
        if enrolment is not None and enrolment.status == "active" and not r.errors:
            r.errors.append(_error("already_enrolled", "id_number", enrollment_id=enrolment.id))
    return existing


def _use_vouchers(chunk: list[RosterRow], ctx: RosterContext) -> None:
    """Check and use the vouchers of rows that are otherwise fine; a refusal makes the row an error."""
    wanted = [r for r in chunk if r.voucher_code and not r.errors]
    if not wanted:
        return
    rows = db.session.execute(select(Voucher, VoucherBatch).join(VoucherBatch, VoucherBatch.id == Voucher.batch_id)
                              .where(Voucher.code.in_([r.voucher_code for r in wanted]))).all()
    by_code = {v.code: (v, b) for v, b in rows}
    for r in wanted:
        hit = by_code.get(r.voucher_code)
        if hit is None:
            r.errors.append(_error("voucher_not_found", "voucher_code"))
            continue
        voucher, batch = hit
        # A voucher is personal: it pays only for the person who claimed it.
        if r.person is None or voucher.person_id != r.person.id:
            r.errors.append(_error("voucher_holder_mismatch", "voucher_code"))
            continue
        try:
            # use_voucher changes nothing when it refuses, so an error here leaves no trace of the row.
            r.voucher = use_voucher(ctx.actor, ctx.plan, r.voucher_code, ctx.now)
        except AppError as err:
            r.errors.append(_error(err.code, "voucher_code", **err.details))
            continue
        r.voucher_rules = batch.eligibility or {}


_PERSON_COLUMNS = ("name", "id_number_enc", "id_number_index", "id_number_masked", "birth_date", "gender",
                   "household_region", "phone", "groups", "created_at")


def _insert_persons(rows: list[RosterRow], now: datetime) -> None:
    """Create the unknown persons with one executemany INSERT, then load them back by blind index.

    An executemany without RETURNING, then one SELECT, because SQLite cannot promise the order of
    RETURNING rows, so the ORM would fall back to one INSERT per object there.
    """
    if not rows:
        return
    values = []
    for r in rows:
        p = persons.new_person(r.name, r.id_number, now, r.phone, r.groups)
        values.append({c: getattr(p, c) for c in _PERSON_COLUMNS})
    db.session.execute(insert(Person), values)
    loaded = {p.id_number_index: p for p in db.session.execute(
        select(Person).where(Person.id_number_index.in_([r.index for r in rows]))).scalars()}
    for r in rows:
        r.person = loaded[r.index]


def _apply_chunk(chunk: list[RosterRow], ctx: RosterContext) -> None:
    """Match, check and insert one chunk of rows that passed in-memory validation."""
    existing = _match_persons(chunk, ctx)
    _use_vouchers(chunk, ctx)
    good = [r for r in chunk if not r.errors]
    for r in good:
        if r.person is not None and r.phone and not r.person.phone:
            r.person.phone, r.person.phone_entered_by = r.phone, None
    _insert_persons([r for r in good if r.person is None], ctx.now)
    others = ctx.other_live_enrolments([r.person.id for r in good])
    new_rows = []
    for r in good:
        groups = sorted(set(r.groups) | set(r.person.groups or ()))
        r.reasons = ctx.reasons(r.person, groups, r.voucher_rules, r.person.id in others)
        values = {"status": "active", "eligible": not r.reasons, "reasons": r.reasons,
                  "phone": r.phone or r.person.phone, "groups": groups}
        if r.voucher is not None:
            values["voucher_id"] = r.voucher.id
        enrolment = existing.get(r.person.id)
        if enrolment is None:
            new_rows.append(dict(values, plan_id=ctx.plan.id, person_id=r.person.id, created_at=ctx.now,
                                 voucher_id=values.get("voucher_id")))
        else:
            # A withdrawn enrolment of the same person comes back to life rather than violating uniqueness.
            for key, value in values.items():
                setattr(enrolment, key, value)
    if new_rows:
        db.session.execute(insert(Enrollment), new_rows)
    db.session.flush()
    ids = dict(db.session.execute(select(Enrollment.person_id, Enrollment.id).where(
        Enrollment.plan_id == ctx.plan.id, Enrollment.person_id.in_([r.person.id for r in good]))).all()) \
        if good else {}
    for r in good:
        r.enrollment_id = ids[r.person.id]


def import_roster(a: Actor, plan: TrainingPlan, raw_rows: list[tuple[int, dict]], now: datetime, cfg: Mapping,
                  source: str = "json", progress: Callable[[int], None] | None = None) -> dict:
    """Import (row number, {name, id_number, phone, groups, voucher_code}) rows into a plan's roster.

    Returns the counts (imported, failed, ineligible) and `rows`, every RosterRow in input order: an
    error row has `errors`; an imported one its person, enrollment_id and the comparison's `reasons`.
    """
    check_roster_open(plan, now)
    if len(raw_rows) > MAX_ROWS:
        raise AppError("too_many_rows", 422, {"max_rows": MAX_ROWS})
    today = persons.shanghai_today(now)
    rows = [_validate(number, raw, today) for number, raw in raw_rows]
    _mark_duplicates(rows)
    v = vault()
    ready = []
    for r in rows:
        if r.errors:
            continue
        r.index = v.blind_index(r.id_number)
        ready.append(r)
    if progress:
        progress(len(rows) - len(ready))
    ctx = RosterContext(a, plan, now, cfg)
    for start in range(0, len(ready), CHUNK):
        chunk = ready[start:start + CHUNK]
        _apply_chunk(chunk, ctx)
        if progress:
            progress(len(chunk))
    imported = [r for r in rows if not r.errors]
    ineligible = sum(1 for r in imported if r.reasons)
    summary = {"imported": len(imported), "failed": len(rows) - len(imported), "ineligible": ineligible}
    if imported:
        audit.record(a.label, "roster.import", "plan", plan.id, now,
                     after=dict(summary, source=source, enrollment_ids=[r.enrollment_id for r in imported]))
    return dict(summary, rows=rows)
