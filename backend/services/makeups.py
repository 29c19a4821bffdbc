"""Make-up requests (补卡): filed by the institution on the lesson's day, decided by a supervisor.

Approval inserts accepted `makeup` attendance events for the missing check-in and/or check-out,
timed at the lesson's start and end, so the hours are credited like any proven attendance.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import insert, select
from sqlalchemy.orm import selectinload

from ..domain import attendance as rules
from ..domain import photo_reuse
from ..domain.errors import conflict, forbidden, invalid
from ..domain.judge import MAKEUP, Event, Facts, judge
from ..extensions import db
from ..live import publish_attendance
from ..models import AttendanceEvent, Enrollment, Lesson, MakeupRequest, Person, TrainingPlan
from ..security.actor import Actor
from ..uploads import clean_image, photo_hash, read_limited, remove_quietly, store_image
from . import audit, hours
from .policies import plan_params
from .scoping import scoped

KINDS = ("check_in", "check_out", "both")
PHOTOS = ("sign_sheet", "panorama")


def _kinds(kind: str) -> tuple[str, ...]:
    return rules.KINDS if kind == "both" else (kind,)


def _accepted(lesson_id: int, person_id: int) -> dict[str, AttendanceEvent]:
    """The person's accepted events of the lesson by kind."""
    return {ev.kind: ev for ev in db.session.execute(
        select(AttendanceEvent).where(AttendanceEvent.lesson_id == lesson_id, AttendanceEvent.person_id == person_id,
                                      AttendanceEvent.accepted)).scalars()}


def _settled_kinds(lesson: Lesson, accepted: dict[str, AttendanceEvent], pol: rules.AttendancePolicy) -> set[str]:
    """The kinds whose accepted event already counts for credit (a make-up of them would change nothing)."""
    times = rules.LessonTimes(lesson.starts_at, lesson.ends_at, lesson.class_hours)
    at = {kind: hours.event_time(ev.source, ev.captured_at, ev.received_at) for kind, ev in accepted.items()}
    return {kind for kind in accepted
            if not rules.makeup_can_fix(kind, times, at.get(rules.CHECK_IN), at.get(rules.CHECK_OUT), pol)}


def clean_photos(files: dict) -> dict[str, tuple[bytes, str]]:
    """Both uploaded photos checked and re-encoded: {name: (bytes, extension)}; 422 on a missing or bad one.

    Called before the request's first query: decoding a 12-megapixel photo takes a good part of a
    second, which on SQLite would otherwise be spent holding the write lock.
    """
    missing = [name for name in PHOTOS if files.get(name) is None]
    if missing:
        raise invalid("validation_error", fields={name: ["required (JPEG or PNG image)"] for name in missing})
    # Both photos are checked before either is written, so a bad second photo leaves no orphan.
    return {name: clean_image(read_limited(files[name].stream, name), name) for name in PHOTOS}


def file_makeup(lesson: Lesson, plan: TrainingPlan, person_id: int, kind: str, reason: str,
                photos: dict[str, tuple[bytes, str]], user_id: int, actor_label: str, now: datetime,
                upload_dir: str) -> MakeupRequest:
    """Check and store a make-up request with its two cleaned photos (the caller has checked the institution)."""
    if kind not in KINDS:
        raise invalid("validation_error", fields={"kind": [f"one of {', '.join(KINDS)}"]})
    reason = (reason or "").strip()
    if not reason or len(reason) > 1000:
        raise invalid("validation_error", fields={"reason": ["1..1000 characters"]})
    if lesson.mode != "offline":
        raise invalid("not_offline_lesson", lesson_id=lesson.id)
    enrollment_id = db.session.execute(
        select(Enrollment.id).where(Enrollment.plan_id == plan.id, Enrollment.person_id == person_id,
                                    Enrollment.status == "active")).scalar()
    if enrollment_id is None:
        raise forbidden("not_enrolled", person_id=person_id, lesson_id=lesson.id)
    rules.check_makeup_window(lesson.starts_at, now)
    pol = rules.policy_from_params(plan_params(plan, now))
    have = _settled_kinds(lesson, _accepted(lesson.id, person_id), pol)
    for k in _kinds(kind):
        if k in have:
            raise conflict("already_checked_in" if k == rules.CHECK_IN else "already_checked_out", kind=k)
    pending = db.session.execute(
        select(MakeupRequest.id).where(MakeupRequest.lesson_id == lesson.id, MakeupRequest.person_id == person_id,
                                       MakeupRequest.status == "pending")).scalar()
    if pending is not None:
        raise conflict("makeup_pending", makeup_id=pending)
    paths: list[str] = []
    try:
        for name in PHOTOS:
            paths.append(store_image(*photos[name], upload_dir, "makeups", now))
        req = MakeupRequest(lesson_id=lesson.id, enrollment_id=enrollment_id, person_id=person_id, kind=kind,
                            reason=reason, sign_sheet_path=paths[0], panorama_path=paths[1],
                            sign_sheet_hash=photo_hash(photos["sign_sheet"][0]),
                            panorama_hash=photo_hash(photos["panorama"][0]), status="pending",
                            created_by=user_id, created_at=now)
        db.session.add(req)
        db.session.flush()
        audit.record(actor_label, "makeup.file", "makeup_request", req.id, now,
                     after={"lesson_id": lesson.id, "person_id": person_id, "kind": kind, "reason": reason})
    except BaseException:
        remove_quietly(upload_dir, paths)
        raise
    return req


def decide(req: MakeupRequest, approve: bool, note: str | None, user_id: int, actor_label: str,
           now: datetime) -> MakeupRequest:
    """Approve (crediting the missing events) or reject a pending request."""
    if req.status != "pending":
        raise conflict("invalid_state", status=req.status)
    before = {"status": req.status}
    req.status = "approved" if approve else "rejected"
    req.decided_by, req.decided_at, req.decision_note = user_id, now, (note or None)
    inserted = []
    if approve:
        inserted = _credit(req, now)
    db.session.flush()
    audit.record(actor_label, f"makeup.{req.status}", "makeup_request", req.id, now, before=before,
                 after={"status": req.status, "note": req.decision_note, "events": inserted})
    return req


def _credit(req: MakeupRequest, now: datetime) -> list[str]:
    """Insert accepted make-up events for the kinds still missing or not creditable; returns the kinds inserted.

    An accepted event that earns nothing (an early check-out, a late check-in) is superseded: kept as
    evidence with reason `superseded`, no longer accepted, so the make-up event takes its place.
    """
    lesson = db.session.get(Lesson, req.lesson_id)
    plan = db.session.get(TrainingPlan, lesson.plan_id)
    person = db.session.get(Person, req.person_id)
    times = rules.LessonTimes(lesson.starts_at, lesson.ends_at, lesson.class_hours)
    pol = rules.policy_from_params(plan_params(plan, now))
    # A phone or kiosk event may have arrived since the request was filed: credit only what still needs it
    # (the judge refuses a kind already settled). Enrolment and plan were checked when it was filed.
    accepted = _accepted(lesson.id, req.person_id)
    settled = _settled_kinds(lesson, accepted, pol)
    inserted = []
    for kind in _kinds(req.kind):
        at = lesson.starts_at if kind == rules.CHECK_IN else lesson.ends_at
        verdict = judge(Event(kind, at, MAKEUP, "makeup"),
                        Facts(times, lesson_id=lesson.id, checked_in=rules.CHECK_IN in settled,
                              checked_out=rules.CHECK_OUT in settled), pol)
        if not verdict.accepted:
            continue
        settled.add(kind)
        replaced = accepted.get(kind)
        if replaced is not None:
            replaced.accepted = False
            replaced.reason = rules.SUPERSEDED
            replaced.details = {**(replaced.details or {}), "superseded_by_makeup": req.id}
            db.session.flush()  # free the one-accepted-per-kind slot before the make-up event takes it
        values = {"origin": f"m{req.id}", "event_id": kind, "person_id": req.person_id, "lesson_id": lesson.id,
                  "kind": kind, "source": "makeup", "method": "makeup",
                  "captured_at": at,
                  "received_at": now, "accepted": True, "reason": None,
                  "details": {"makeup_id": req.id, **({"superseded_event": replaced.id} if replaced else {})},
                  "flags": [], "status_code": 201}
        db.session.execute(insert(AttendanceEvent), [values])
        publish_attendance(values, lesson, person, plan.region_code)
        inserted.append(kind)
    return inserted


def makeups_stmt(a: Actor, status: str | None = None):
    """Make-up requests the caller may see (the supervisor's region, the institution's own), oldest first."""
    stmt = (select(MakeupRequest).join(Lesson, Lesson.id == MakeupRequest.lesson_id)
            .join(TrainingPlan, TrainingPlan.id == Lesson.plan_id)
            .options(selectinload(MakeupRequest.person), selectinload(MakeupRequest.lesson))
            .order_by(MakeupRequest.created_at, MakeupRequest.id))
    stmt = scoped(stmt, a, region=TrainingPlan.region_code, institution=TrainingPlan.institution_id)
    if status:
        stmt = stmt.where(MakeupRequest.status == status)
    return stmt


def reused_photos(reqs: list[MakeupRequest]) -> dict[int, list[dict]]:
    """Per request, the photos it shares with a make-up of another lesson of the same institution.

    Requests of the same lesson may share their photos: one sign sheet carries every name of a class, and
    the console files a batch of make-ups with one photo set. A sheet is evidence for its own lesson only.
    """
    if not reqs:
        return {}
    lesson_ids = {r.lesson_id for r in reqs}
    institutions = select(TrainingPlan.institution_id).join(Lesson, Lesson.plan_id == TrainingPlan.id).where(
        Lesson.id.in_(lesson_ids))
    others = db.session.execute(
        select(MakeupRequest.id, MakeupRequest.lesson_id, MakeupRequest.sign_sheet_hash, MakeupRequest.panorama_hash)
        .join(Lesson, Lesson.id == MakeupRequest.lesson_id).join(TrainingPlan, TrainingPlan.id == Lesson.plan_id)
        .where(TrainingPlan.institution_id.in_(institutions),
               (MakeupRequest.sign_sheet_hash.is_not(None)) | (MakeupRequest.panorama_hash.is_not(None)))).all()
    pool = [(oid, lesson_id, name, h) for oid, lesson_id, sheet, pano in others
            for name, h in (("sign_sheet", sheet), ("panorama", pano))]
    return {r.id: photo_reuse.reused({"sign_sheet": r.sign_sheet_hash, "panorama": r.panorama_hash},
                                     [(oid, name, h) for oid, lesson_id, name, h in pool if lesson_id != r.lesson_id])
            for r in reqs}
