"""Enrolments (参训名单): joining with a voucher at the desk, non-ID edits, labour contracts, listing."""
from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import joinedload

from ..domain import plans as plan_rules
from ..domain import roster as roster_rules
from ..domain import vouchers as voucher_rules
from ..domain.errors import AppError, conflict, forbidden, invalid
from ..domain.identity import validate_id_number, validate_phone
from ..domain.roster import parse_groups
from ..extensions import db
from ..models import (
    AttendanceEvent,
    Enrollment,
    Lesson,
    MakeupRequest,
    OnlineRecord,
    Person,
    TrainingPlan,
    Voucher,
    VoucherBatch,
)
from ..security.actor import Actor
from ..security.authz import ensure_institution, get_or_404
from ..uploads import check_image_header
from . import audit, contract_archive
from .persons import find_by_id_number, shanghai_today
from .plans import first_lesson_start
from .roster import RosterContext, check_roster_open
from .voucher_use import use_voucher

CONTRACT_MAX_BYTES = 10 * 1024 * 1024
# Magic bytes decide the type, never the client's filename or Content-Type.
_SIGNATURES = ((b"%PDF-", "pdf", "application/pdf"), (b"\xff\xd8\xff", "jpg", "image/jpeg"),
               (b"\x89PNG\r\n\x1a\n", "png", "image/png"))
MIME_BY_EXT = {ext: mime for _, ext, mime in _SIGNATURES}
_FINAL = (plan_rules.COMPLETION_SUBMITTED, plan_rules.COMPLETED)


def enrollments_page(plan: TrainingPlan, page: int, per_page: int, status: str | None = None
                     ) -> tuple[list[Enrollment], int]:
    """One page of a plan's roster, each with its person and voucher (one query for the rows, one for the total)."""
    where = [Enrollment.plan_id == plan.id]
    if status:
        where.append(Enrollment.status == status)
    total = db.session.execute(select(func.count()).select_from(Enrollment).where(*where)).scalar()
    rows = db.session.execute(
        select(Enrollment).options(joinedload(Enrollment.person), joinedload(Enrollment.voucher)).where(*where)
        .order_by(Enrollment.id).limit(per_page).offset((page - 1) * per_page)).scalars().all()
    return list(rows), total


def _other_live(ctx: RosterContext, person_id: int) -> bool:
    return person_id in ctx.other_live_enrolments([person_id])


def enrol_with_voucher(a: Actor, plan: TrainingPlan, token: str | None, code: str | None,
                       now: datetime, cfg: Mapping) -> tuple[Enrollment, bool]:
    """Use the presented voucher and put its holder on the roster; returns (enrolment, created).

    A holder already imported without a voucher gets the voucher attached (created False).
    """
    check_roster_open(plan, now)
    value = token or code
    if not value:
        raise invalid("validation_error", fields={"voucher_token": ["voucher_token or voucher_code is required"]})
    voucher = use_voucher(a, plan, value, now)
    person = db.session.get(Person, voucher.person_id)
    existing = db.session.execute(select(Enrollment).where(
        Enrollment.plan_id == plan.id, Enrollment.person_id == person.id)).scalar()
    if existing is not None and existing.voucher_id is not None:
        # Active: already enrolled. Withdrawn: its voucher stays bound to that enrolment; attaching
        # a second one would strand the first (used, never written off). The request rolls back whole.
        raise conflict("already_enrolled", enrollment_id=existing.id, status=existing.status)
    batch = db.session.get(VoucherBatch, voucher.batch_id)
    ctx = RosterContext(a, plan, now, cfg)
    created = existing is None
    e = existing or Enrollment(plan_id=plan.id, person_id=person.id, created_at=now, groups=[])
    if created:
        db.session.add(e)
    groups = sorted(set(e.groups or ()) | set(person.groups or ()))
    reasons = ctx.reasons(person, groups, batch.eligibility or {}, _other_live(ctx, person.id))
    e.status, e.voucher_id, e.groups = "active", voucher.id, groups
    e.eligible, e.reasons = not reasons, reasons
    e.phone = e.phone or person.phone
    db.session.flush()
    audit.record(a.label, "enrollment.create" if created else "enrollment.voucher", "enrollment", e.id, now,
                 after={"plan_id": plan.id, "person_id": person.id, "voucher_id": voucher.id,
                        "eligible": e.eligible, "reasons": reasons})
    return e, created


def load_enrollment(a: Actor, enrollment_id: int) -> tuple[Enrollment, TrainingPlan]:
    """An enrolment and its plan, if the caller may see the plan."""
    e = get_or_404(Enrollment, enrollment_id)
    plan = db.session.get(TrainingPlan, e.plan_id)
    ensure_institution(a, plan.institution_id, plan.region_code)
    return e, plan


def _own(a: Actor, plan: TrainingPlan) -> None:
    if a.role != "institution" or plan.institution_id != a.institution_id:
        raise forbidden("forbidden", institution_id=plan.institution_id)


def update_enrollment(a: Actor, e: Enrollment, plan: TrainingPlan, data: dict, now: datetime, cfg: Mapping
                      ) -> Enrollment:
    """Change non-ID fields (phone, groups) — allowed after the roster froze, as source 000 says."""
    _own(a, plan)
    if plan.status in _FINAL:
        raise conflict("invalid_state", status=plan.status, action="change")
    before = {"phone": e.phone, "groups": list(e.groups or []), "eligible": e.eligible, "reasons": e.reasons}
    if "phone" in data:  # null or "" clears the phone
        e.phone = validate_phone(data["phone"]) if data["phone"] else None
    person = db.session.get(Person, e.person_id)
    if data.get("groups") is not None:
        codes, unknown = parse_groups(data["groups"])
        if unknown:
            raise invalid("unknown_group", field="groups", values=unknown)
        e.groups = sorted(set(codes) | set(person.groups or ()))
    # Groups feed the comparison, so it is run again with the voucher's rules if there is one.
    batch = db.session.execute(select(VoucherBatch).join(Voucher, Voucher.batch_id == VoucherBatch.id)
                               .where(Voucher.id == e.voucher_id)).scalar() if e.voucher_id else None
    ctx = RosterContext(a, plan, now, cfg)
    reasons = ctx.reasons(person, e.groups, (batch.eligibility or {}) if batch else None,
                          _other_live(ctx, person.id))
    e.eligible, e.reasons = not reasons, reasons
    after = {"phone": e.phone, "groups": list(e.groups), "eligible": e.eligible, "reasons": reasons}
    if after != before:
        db.session.flush()
        audit.record(a.label, "enrollment.update", "enrollment", e.id, now, before=before, after=after)
    return e


def sniff_upload(data: bytes) -> tuple[str, str]:
    """(extension, mime) of a PDF, JPEG or PNG by its magic bytes; 422 unsupported_file_type otherwise."""
    for magic, ext, mime in _SIGNATURES:
        if data.startswith(magic):
            return ext, mime
    raise invalid("unsupported_file_type", allowed=["pdf", "jpeg", "png"])


def store_contract(a: Actor, e: Enrollment, plan: TrainingPlan, data: bytes, upload_dir: str,
                   now: datetime) -> Enrollment:
    """Save a labour contract (in-post plans) outside the web root under a server-chosen name."""
    _own(a, plan)
    if plan.plan_type != "in_post":
        raise invalid("validation_error", field="file", reason="contracts_only_for_in_post_plans")
    if plan.status in _FINAL:
        raise conflict("invalid_state", status=plan.status, action="contract")
    if e.status != "active":
        raise conflict("invalid_state", status=e.status, action="contract")
    if not data:
        raise invalid("validation_error", field="file", reason="empty")
    if len(data) > CONTRACT_MAX_BYTES:
        raise AppError("payload_too_large", 413, {"max_bytes": CONTRACT_MAX_BYTES})
    ext, _mime = sniff_upload(data)
    if ext != "pdf":
        # Stored as sent, never decoded here; but whoever opens it later decodes it: the same pixel cap.
        check_image_header(data, "file")
    relative = Path("contracts") / str(plan.id) / f"{e.id}-{secrets.token_hex(16)}.{ext}"
    target = Path(upload_dir) / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    # The previous file stays on disk (records are kept for years); the row points at the newest.
    target.write_bytes(data)
    before = {"contract_path": e.contract_path}
    e.contract_path = relative.as_posix()
    db.session.flush()
    audit.record(a.label, "enrollment.contract", "enrollment", e.id, now, before=before,
                 after={"contract_path": e.contract_path, "bytes": len(data)})
    return e


def contract_file(e: Enrollment, upload_dir: str) -> tuple[Path, str]:
    """Where an enrolment's contract is and its MIME type; 404 when none was uploaded."""
    if not e.contract_path:
        raise AppError("not_found", 404, {"object": "contract"})
    path = (Path(upload_dir) / e.contract_path).resolve()
    if Path(upload_dir).resolve() not in path.parents or not path.is_file():
        raise AppError("not_found", 404, {"object": "contract"})
    return path, MIME_BY_EXT.get(path.suffix.lstrip("."), "application/octet-stream")



def _has_records(plan_id: int, person_id: int, enrollment_id: int) -> bool:
    """Whether anything proves or claims the person's presence on this plan (attendance, make-up, online)."""
    lesson_ids = select(Lesson.id).where(Lesson.plan_id == plan_id)
    checks = (
        select(AttendanceEvent.id).where(AttendanceEvent.person_id == person_id,
                                         AttendanceEvent.lesson_id.in_(lesson_ids)),
        select(MakeupRequest.id).where(MakeupRequest.enrollment_id == enrollment_id),
        select(OnlineRecord.id).where(OnlineRecord.plan_id == plan_id, OnlineRecord.person_id == person_id),
    )
    return any(db.session.execute(stmt.limit(1)).first() is not None for stmt in checks)


def remove_enrollment(a: Actor, e: Enrollment, plan: TrainingPlan, now: datetime) -> Enrollment:
    """Take a trainee off the roster before it freezes (status withdrawn, audited); a voucher used for
    the enrolment goes back to the holder as claimed, so it can be used elsewhere."""
    _own(a, plan)
    frozen = plan_rules.roster_frozen(first_lesson_start(plan.id), now)
    roster_rules.check_enrollment_removal(plan.status, e.status, frozen,
                                          _has_records(plan.id, e.person_id, e.id))
    before = {"status": e.status, "voucher_id": e.voucher_id}
    voucher_code = None
    if e.voucher_id is not None:
        voucher = db.session.get(Voucher, e.voucher_id)
        voucher_code = voucher.code
        if voucher.status == voucher_rules.USED:
            voucher.status, voucher.used_at = voucher_rules.CLAIMED, None
            audit.record(a.label, "voucher.release", "voucher", voucher.id, now,
                         before={"status": voucher_rules.USED}, after={"status": voucher_rules.CLAIMED,
                                                                       "enrollment_id": e.id})
    e.status, e.voucher_id = "withdrawn", None
    db.session.flush()
    audit.record(a.label, "enrollment.remove", "enrollment", e.id, now, before=before,
                 after={"status": e.status, "voucher_id": None, "released_voucher": voucher_code})
    return e


MAX_BULK_FILES = 50
_ID_IN_NAME = re.compile(r"(?<![0-9])([0-9]{17}[0-9Xx])(?![0-9Xx])")


def _bulk_row(filename: str, status: str, **more) -> dict:
    return {"filename": filename[:255], "status": status, **more}


def store_contracts_bulk(a: Actor, plan: TrainingPlan, files: list[tuple[str, bytes]], upload_dir: str,
                         now: datetime) -> dict:
    """Store many labour contracts at once, each matched to its trainee by the ID number in the file name
    (e.g. 350102199001011234-张三.pdf), a zip standing for the files in it; one result per file, and the
    files that match nobody are skipped."""
    _own(a, plan)
    if plan.plan_type != "in_post":
        raise invalid("validation_error", field="files", reason="contracts_only_for_in_post_plans")
    if plan.status in _FINAL:
        raise conflict("invalid_state", status=plan.status, action="contract")
    if not files:
        raise invalid("validation_error", field="files", reason="empty")
    if len(files) > MAX_BULK_FILES:
        raise invalid("validation_error", field="files", reason="too_many_files", max_files=MAX_BULK_FILES)
    today = shanghai_today(now)
    rows = []
    for filename, data, problem in contract_archive.expand(files, CONTRACT_MAX_BYTES):
        if problem is not None:
            rows.append(_bulk_row(filename, "error", code=problem))
            continue
        match = _ID_IN_NAME.search(filename.rsplit("/", 1)[-1] if filename else "")
        if match is None:
            rows.append(_bulk_row(filename, "error", code="no_id_number_in_name"))
            continue
        try:
            number = validate_id_number(match.group(1), today)
        except AppError:
            rows.append(_bulk_row(filename, "error", code="invalid_id_number"))
            continue
        person = find_by_id_number(number)
        e = db.session.execute(select(Enrollment).where(
            Enrollment.plan_id == plan.id, Enrollment.person_id == person.id,
            Enrollment.status == "active")).scalar() if person is not None else None
        if e is None:
            rows.append(_bulk_row(filename, "error", code="not_on_roster"))
            continue
        try:
            store_contract(a, e, plan, data, upload_dir, now)
        except AppError as err:
            rows.append(_bulk_row(filename, "error", code=err.code))
            continue
        rows.append(_bulk_row(filename, "ok", enrollment_id=e.id, name=person.name,
                              id_number_masked=person.id_number_masked))
    stored = sum(1 for r in rows if r["status"] == "ok")
    return {"stored": stored, "failed": len(rows) - stored, "rows": rows}
