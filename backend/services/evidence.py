"""Face evidence: the crops kiosks matched, stored encrypted, re-verified in the background, purged when settled.

A kiosk is institution hardware, so its "face matched at 0.21" is a claim, not proof. Each accepted
face event keeps the crop the kiosk matched; the worker re-verifies a sample of them plus every
event of a flagged person against the person's template, and a mismatch raises `face_recheck_failed`
on the event, which holds its hours until a supervisor decides. Crops are deleted once the plan's
claim is settled and its objection period is over.
"""
from __future__ import annotations

import secrets
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import and_, or_, select, update

from .. import faces
from ..bulk_insert import copy_rows
from ..domain import trust
from ..domain.errors import AppError
from ..extensions import db
from ..models import Lesson, Person, PublicityObjection, SubsidyClaim
from ..models.trust import FaceEvidence, TrustFlag
from ..security.crypto import vault
from ..sql_lists import among
from ..unit_of_work import own_connection
from .persons import FACE_CONTEXT

CROP_CONTEXT = "face_evidence.crop"
SETTLED = ("disbursed", "rejected")


def _sampled(percent: float) -> bool:
    # Not predictable by the kiosk: an institution cannot tell which crops will be looked at.
    return secrets.randbelow(10_000) < percent * 100


def store(rows: list[dict], crops: dict[str, bytes], flagged_people: set[int], now: datetime,
          sample_percent: float) -> int:
    """Keep the crop of every accepted face event in `rows` (dicts with `id`); returns how many are due now.

    `flagged_people` are the uploaded events' persons with a blocking flag already: all their crops
    are re-verified, the rest by the configured sample (`sample_percent`, RECHECK_SAMPLE_PERCENT).
    """
    percent = float(sample_percent)
    v = vault()
    items, due = [], 0
    for row in rows:
        crop = crops.get(row["event_id"])
        if crop is None or not row["accepted"]:
            continue
        state = "due" if row["person_id"] in flagged_people or _sampled(percent) else "stored"
        due += state == "due"
        items.append({"attendance_event_id": row["id"], "person_id": row["person_id"], "lesson_id": row["lesson_id"],
                      "device_id": row["device_id"], "kiosk_distance": row["face_distance"],
                      "crop_enc": v.encrypt(crop, CROP_CONTEXT), "state": state, "created_at": now})
    if items:
        copy_rows(db.session.connection(), FaceEvidence.__table__, items)
    return due


def mark_people_due(person_ids) -> int:
    """Every not yet checked crop of flagged persons becomes due; returns how many."""
    ids = list(person_ids)
    if not ids:
        return 0
    return db.session.execute(update(FaceEvidence).where(
        among(db.session, FaceEvidence.person_id, ids), FaceEvidence.state == "stored", FaceEvidence.crop_enc.is_not(None))
        .values(state="due").execution_options(synchronize_session=False)).rowcount


# A crop waiting for the worker (and not purged meanwhile).
DUE = and_(FaceEvidence.state == "due", FaceEvidence.crop_enc.is_not(None))


def verdict(crop: bytes, template, threshold: float) -> tuple[str, float | None, str | None]:
    """(state, server distance, reason) of one crop against the person's template."""
    try:
        rgb = faces.decode_image(crop, max_bytes=trust.MAX_CROP_BYTES, field="face_jpeg")
    except AppError as err:
        return "unreadable", None, err.details.get("reason") or err.code
    matched, distance, reason = faces.verify(rgb, template, threshold)
    if reason == "no_face":
        return "unreadable", None, "no_face"
    return ("passed" if matched else "failed"), distance, None


class _Crop(NamedTuple):
    """What re-verifying one crop needs, read without holding a write lock."""

    id: int
    attendance_event_id: int
    person_id: int
    lesson_id: int
    kiosk_distance: float | None
    state: str
    crop_enc: bytes | None
    template_enc: bytes | None


def _load(evidence_id: int) -> _Crop | None:
    # A read-only connection of its own: on SQLite the session's transactions take the write lock, and
    # the face model's ~0.1 s per crop must not hold up check-ins behind it.
    with own_connection("read_only") as conn:
        row = conn.execute(select(FaceEvidence.id, FaceEvidence.attendance_event_id, FaceEvidence.person_id,
                                  FaceEvidence.lesson_id, FaceEvidence.kiosk_distance, FaceEvidence.state,
                                  FaceEvidence.crop_enc, Person.face_template_enc)
                           .join(Person, Person.id == FaceEvidence.person_id)
                           .where(FaceEvidence.id == evidence_id)).first()
    return _Crop(*row) if row is not None else None


def recheck(evidence_id: int, now: datetime, threshold: float) -> dict | None:
    """Re-verify one leased crop: the column values that finish its row (a flag is raised in the session
    when it fails); None leaves the row due. The caller's conditional finish commits both, or neither."""
    ev = _load(evidence_id)
    if ev is None or ev.state != "due" or ev.crop_enc is None:
        return None
    v = vault()
    if ev.template_enc is None:
        # Consent withdrawn since: nothing to compare with, and nothing the kiosk can be blamed for.
        state, distance, reason = "unreadable", None, "no_template"
    else:
        state, distance, reason = verdict(v.decrypt(ev.crop_enc, CROP_CONTEXT), v.decrypt_json(ev.template_enc, FACE_CONTEXT),
                                          float(threshold))
    if state == "failed" or (state == "unreadable" and reason != "no_template"):
        flag_failed(ev, distance, reason, now)
    return {"state": state, "server_distance": distance, "checked_at": now}


def flag_failed(ev, distance: float | None, reason: str | None, now: datetime) -> None:
    """Raise face_recheck_failed on the event (its hours are held) and re-verify all the person's crops.

    `ev` is a FaceEvidence row or anything with its attendance_event_id, person_id, lesson_id, kiosk_distance.
    """
    detail = {"kiosk_distance": ev.kiosk_distance, "server_distance": distance, "reason": reason}
    exists = db.session.execute(select(TrustFlag.id).where(
        TrustFlag.attendance_event_id == ev.attendance_event_id,
        TrustFlag.code == trust.FACE_RECHECK_FAILED)).first()
    if exists is None:
        db.session.add(TrustFlag(code=trust.FACE_RECHECK_FAILED, attendance_event_id=ev.attendance_event_id,
                                 person_id=ev.person_id, lesson_id=ev.lesson_id, detail=detail, created_at=now))
        db.session.flush()
        from .trust_flags import publish_flag
        publish_flag(ev.lesson_id, ev.person_id, trust.FACE_RECHECK_FAILED, ev.attendance_event_id, detail, now)
    mark_people_due([ev.person_id])


def recheck_due(now: datetime, threshold: float) -> dict[str, int]:
    """One worker sweep: lease due crops batch by batch and re-verify each in its own transaction
    (backend.jobs.sweep_due) against the FACE_MATCH_THRESHOLD `threshold`; returns how many got each outcome."""
    from ..jobs import sweep_due
    counts: dict[str, int] = {}

    def work(evidence_id: int) -> dict | None:
        values = recheck(evidence_id, now, threshold)
        if values is not None:
            counts[values["state"]] = counts.get(values["state"], 0) + 1
        return values

    sweep_due(FaceEvidence, DUE, work)
    return counts


def purge_settled(now: datetime, retention_cutoff: datetime | None = None) -> int:
    """Delete crops of plans whose claim is settled (disbursed or rejected) with no objection open and
    publicity over, and any crop older than `retention_cutoff`; returns how many were deleted."""
    open_objection = select(PublicityObjection.id).where(
        PublicityObjection.claim_id == SubsidyClaim.id, PublicityObjection.status == "open").exists()
    settled_plans = select(SubsidyClaim.plan_id).where(
        SubsidyClaim.status.in_(SETTLED), ~open_objection,
        or_(SubsidyClaim.publicity_ends_at.is_(None), SubsidyClaim.publicity_ends_at <= now))
    lessons = select(Lesson.id).where(Lesson.plan_id.in_(settled_plans))
    expired = FaceEvidence.lesson_id.in_(lessons)
    if retention_cutoff is not None:
        # Plans that never reach a claim keep their crops only as long as every other record.
        expired = or_(expired, FaceEvidence.created_at < retention_cutoff)
    return db.session.execute(update(FaceEvidence).where(expired, FaceEvidence.crop_enc.is_not(None))
                              .values(crop_enc=None, purged_at=now)
                              .execution_options(synchronize_session=False)).rowcount
