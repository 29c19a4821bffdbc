"""Kiosk event ingest: the same attendance rules as phones, judged at capture time, deduplicated forever."""
from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import NamedTuple

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from ..bulk_insert import insert_rows
from ..domain import trust
from ..domain.attendance import LessonTimes
from ..domain.judge import KIOSK, PIN_METHOD, Event, Facts, judge
from ..domain.pin_seal import binding
from ..extensions import db
from ..models import AttendanceEvent, Device, Enrollment, Institution, Lesson, LiveEvent, Person, TrainingPlan
from ..models.trust import TrustFlag
from ..sql_lists import among
from . import evidence
from .attendance import policy as attendance_policy
from .devices import online_during
from .pins import SealedPins
from .policies import params_for
from .trust_flags import kiosk_person_flags, person_facts

KINDS = ("check_in", "check_out")
METHODS = ("card+face", "qr+face", "card+pin")


def _parse(raw) -> tuple[dict | None, str | None]:
    """Validate one event's shape; a malformed event gets its own rejection, not the whole batch's."""
    if not isinstance(raw, dict):
        return None, "invalid_event"
    ev = {}
    event_id = raw.get("event_id")
    if not isinstance(event_id, str) or not 8 <= len(event_id) <= 64:
        return None, "invalid_event"
    ev["event_id"] = event_id
    for key in ("person_id", "lesson_id"):
        if not isinstance(raw.get(key), int) or isinstance(raw.get(key), bool):
            return ev, "invalid_event"
        ev[key] = raw[key]
    if raw.get("kind") not in KINDS or raw.get("method") not in METHODS:
        return ev, "invalid_event"
    ev["kind"], ev["method"] = raw["kind"], raw["method"]
    fd = raw.get("face_distance")
    if fd is not None and (not isinstance(fd, int | float) or isinstance(fd, bool) or not 0 <= fd <= 2):
        return ev, "invalid_event"
    ev["face_distance"] = float(fd) if fd is not None else None
    ev["face_jpeg_base64"] = raw.get("face_jpeg_base64")
    ev["pin_sealed"] = raw.get("pin_sealed")
    liveness = raw.get("liveness")
    if liveness is not None and not (isinstance(liveness, dict) and isinstance(liveness.get("passed"), bool)
                                     and isinstance(liveness.get("challenge"), str | None)):
        return ev, "invalid_event"
    ev["liveness"] = {"passed": liveness["passed"], "challenge": liveness.get("challenge")} if liveness else None
    try:
        captured = datetime.fromisoformat(str(raw.get("captured_at")).replace("Z", "+00:00"))
    except ValueError:
        return ev, "invalid_event"
    if captured.tzinfo is None:
        return ev, "invalid_event"
    ev["captured_at"] = captured
    return ev, None


def ingest(device: Device, raw_events: list, now: datetime, cfg: Mapping) -> list[dict]:
    """Judge and store a batch with the deployment's settings `cfg`; returns one receipt per event in the order sent."""
    origin = f"d{device.id}"
    parsed = [_parse(r) for r in raw_events]
    ids = [ev["event_id"] for ev, _ in parsed if ev]
    seen = set(db.session.execute(select(AttendanceEvent.event_id).where(
        AttendanceEvent.origin == origin, among(db.session, AttendanceEvent.event_id, ids))).scalars()) if ids else set()
    lesson_ids = {ev["lesson_id"] for ev, err in parsed if ev and not err}
    lessons = {le.id: le for le in db.session.execute(select(Lesson).where(among(db.session, Lesson.id, lesson_ids))).scalars()}
    pairs = {(ev["lesson_id"], ev["person_id"]) for ev, err in parsed if ev and not err}
    plan_of = {le.id: le.plan_id for le in lessons.values()}
    plan_rows = db.session.execute(select(
        TrainingPlan.id, TrainingPlan.status, TrainingPlan.region_code, TrainingPlan.policy_params,
        TrainingPlan.submitted_at).where(among(db.session, TrainingPlan.id, set(plan_of.values())))).all() if plan_of else []
    plan_status = {r.id: r.status for r in plan_rows}
    # Each plan judged by its own policy's windows and face threshold (frozen at its submission).
    judged_by = {}
    for r in plan_rows:
        judged_by[r.id] = attendance_policy(cfg, params_for(r.region_code, r.policy_params, r.submitted_at, now))
    person_ids = {ev["person_id"] for ev, err in parsed if ev and not err}
    # What each person can prove with: a kiosk may not claim a face match for someone with no
    # template, nor a PIN for someone who never set one (a kiosk is institution-controlled hardware).
    credentials = {pid: (pin is not None, bool(face)) for pid, pin, face in db.session.execute(
        select(Person.id, Person.pin_hash, Person.face_template_enc.isnot(None).label("face"))
        .where(among(db.session, Person.id, person_ids))).all()} if person_ids else {}
    known_people = set(credentials)
    # Two plain IN lists instead of a row-value IN of up to 500 pairs: PostgreSQL plans the latter as
    # one index probe per pair (~25 ms for 500), the former in ~1 ms; extra rows are filtered here.
    enrolled = set()
    if pairs:
        plan_person = {(plan_of[lid], pid) for lid, pid in pairs if lid in plan_of}
        if plan_person:
            found = db.session.execute(select(Enrollment.plan_id, Enrollment.person_id).where(
                among(db.session, Enrollment.plan_id, {plan for plan, _ in plan_person}),
                among(db.session, Enrollment.person_id, {pid for _, pid in plan_person}), Enrollment.status == "active")).all()
            enrolled = {(plan, pid) for plan, pid in found if (plan, pid) in plan_person}
    state: dict[tuple[int, int], set[str]] = {}
    if pairs:
        for lid, pid, kind in db.session.execute(select(
                AttendanceEvent.lesson_id, AttendanceEvent.person_id, AttendanceEvent.kind).where(
                among(db.session, AttendanceEvent.lesson_id, {lid for lid, _ in pairs}),
                among(db.session, AttendanceEvent.person_id, {pid for _, pid in pairs}),
                AttendanceEvent.accepted.is_(True))).all():
            if (lid, pid) in pairs:
                state.setdefault((lid, pid), set()).add(kind)

    future = timedelta(seconds=cfg["DEVICE_MAX_SKEW_S"])
    max_age = timedelta(days=cfg["DEVICE_EVENT_MAX_AGE_DAYS"])
    receipts: list[dict | None] = [None] * len(parsed)
    rows: list[dict] = []
    pins = SealedPins({ev["person_id"] for ev, err in parsed if ev and not err and ev["method"] == "card+pin"})
    times = {le.id: LessonTimes(le.starts_at, le.ends_at, le.class_hours) for le in lessons.values()}
    batch = _Batch(lessons, plan_of, plan_status, enrolled, state, credentials, judged_by, {}, pins, times)
    batch_ids: set[str] = set()
    # Judge in capture order so a check-in and its check-out in one batch are seen in sequence.
    order = sorted(range(len(parsed)), key=lambda i: (parsed[i][0] or {}).get("captured_at") or now)
    for i in order:
        ev, err = parsed[i]
        if ev is None or err:
            receipts[i] = {"event_id": (ev or {}).get("event_id"), "status": "rejected", "reason": err}
            continue
        if ev["event_id"] in seen or ev["event_id"] in batch_ids:
            receipts[i] = {"event_id": ev["event_id"], "status": "duplicate"}
            continue
        batch_ids.add(ev["event_id"])
        reason = "unknown_person" if ev["person_id"] not in known_people else \
            _judge(ev, device, batch, now, future, max_age)
        if reason is None:
            state.setdefault((ev["lesson_id"], ev["person_id"]), set()).add(ev["kind"])
        rows.append(_row(ev, origin, device, lessons, known_people, now, reason))
        receipts[i] = {"event_id": ev["event_id"], "status": "accepted" if reason is None else "rejected",
                       **({"reason": reason} if reason else {})}
    pins.flush()
    partners = _flag(rows, device, lessons, now, cfg)
    stored = _store(rows, receipts)
    _after_store(stored, partners, batch.crops, device, now, float(cfg["RECHECK_SAMPLE_PERCENT"]))
    _publish(device, stored)
    by_event = {r["event_id"]: r for r in receipts if r and r.get("status") == "accepted"}
    for row in stored:
        if row["accepted"] and row["event_id"] in by_event:
            by_event[row["event_id"]]["flags"] = list(row["flags"])
    return receipts


def _publish(device: Device, rows: list[dict]) -> None:
    """Every stored kiosk event goes to the supervisors' live stream, like phone events.

    Same semantics as backend.live.publish_attendance (LiveEvent rows in this transaction, published
    after the commit), but one multi-row INSERT per batch: row-by-row inserts took ~80% of a
    500-event upload.
    """
    if not rows:
        return
    from ..live.events import attendance_payload, queue_publications
    region = db.session.execute(select(Institution.region_code).where(Institution.id == device.institution_id)).scalar()
    names = dict(db.session.execute(select(Person.id, Person.name).where(
        among(db.session, Person.id, {r["person_id"] for r in rows}))).all())
    live = []
    for row in rows:
        if row["lesson_id"] is None:
            continue
        pid = row["person_id"]
        payload = attendance_payload(row, row["lesson_id"], pid if pid in names else None, names.get(pid))
        live.append({"region_code": region, "lesson_id": row["lesson_id"], "payload": payload,
                     "at": row["received_at"]})
    if not live:
        return
    # RETURNING in parameter order: each id (the SSE id) belongs to the payload at the same index.
    ids = insert_rows(db.session.connection(), LiveEvent.__table__, live, returning=LiveEvent.__table__.c.id)
    queue_publications([{"id": live_id, "region_code": region, "payload": item["payload"]}
                        for live_id, item in zip(ids, live, strict=True)])


class _Batch(NamedTuple):
    """What one upload looked up once for all its events."""

    lessons: dict
    plan_of: dict
    plan_status: dict
    enrolled: set
    state: dict
    credentials: dict
    policy: dict  # plan id -> AttendancePolicy (windows and face threshold of the plan's policy)
    crops: dict
    pins: SealedPins
    times: dict  # lesson id -> LessonTimes


def _judge(ev, device, b: _Batch, now, future, max_age) -> str | None:
    """The reason this event is rejected, or None when it counts (backend/domain/judge.py decides)."""
    lesson = b.lessons.get(ev["lesson_id"])
    event = Event(ev["kind"], ev["captured_at"], KIOSK, ev["method"], ev["face_distance"])
    if lesson is None:
        facts = Facts(None, lesson_id=ev["lesson_id"], received_at=now, max_skew=future, max_age=max_age)
        return judge(event, facts).code
    plan_id = b.plan_of[lesson.id]
    has_pin, has_face = b.credentials[ev["person_id"]]
    done = b.state.get((lesson.id, ev["person_id"]), ())
    facts = Facts(b.times[lesson.id], lesson_id=lesson.id, received_at=now, max_skew=future, max_age=max_age,
                  at_device_site=lesson.site_id == device.site_id and lesson.mode == "offline",
                  enrolled=(plan_id, ev["person_id"]) in b.enrolled, plan_status=b.plan_status.get(plan_id),
                  pin_set=has_pin, has_face=has_face,
                  checked_in="check_in" in done, checked_out="check_out" in done)
    policy = b.policy[plan_id]
    verdict = judge(event, facts, policy)
    if verdict.needs_proof:
        problem = _prove(ev, device, b)
        if problem:
            return problem
        facts.proven = True
        verdict = judge(event, facts, policy)
    return verdict.code


def _prove(ev, device, b: _Batch) -> str | None:
    """Open the kiosk's evidence of who scanned: the sealed PIN (checked here, counting towards the lock) or the
    face crop (kept for re-verification). The reason it proves nothing, or None."""
    if ev["method"] == PIN_METHOD:
        # The kiosk cannot check PINs (it holds no hashes): the server opens the sealed PIN and checks it,
        # counting wrong ones towards the lock. A kiosk claiming "card+pin" without the PIN proves nothing.
        ok, reason, _left = b.pins.check(ev["person_id"], ev["pin_sealed"],
                                         binding(device.id, ev["event_id"], ev["person_id"]))
        return None if ok else reason
    crop, problem = trust.decode_face_crop(ev["face_jpeg_base64"])
    if problem:
        return problem  # a face match without the face it matched is a claim, not evidence
    b.crops[ev["event_id"]] = crop
    return None


def _flag(rows: list[dict], device: Device, lessons: dict, now: datetime, cfg: Mapping) -> dict[int, str]:
    """Trust flags of the accepted rows, known at arrival (shared/DESIGN.md "Trust"), added to each row's
    `flags`; returns stored events of this device that form a burst with the upload ({id: event_id})."""
    accepted = [r for r in rows if r["accepted"]]
    if not accepted:
        return {}
    facts = person_facts({r["person_id"] for r in accepted})
    late_after = timedelta(minutes=cfg["LATE_UPLOAD_AFTER_MIN"])
    late: dict[int, bool] = {}
    for lesson_id in {r["lesson_id"] for r in accepted}:
        lesson = lessons[lesson_id]
        late[lesson_id] = trust.is_late_upload(now, lesson.ends_at, late_after,
                                               online_during(device.id, lesson.starts_at, lesson.ends_at))
    face_rows = [r for r in accepted if trust.is_face_method(r["method"])]
    partners: dict[int, str] = {}
    burst: set = set()
    if face_rows:
        window = timedelta(seconds=trust.BURST_SECONDS)
        lo = min(r["captured_at"] for r in face_rows) - window
        hi = max(r["captured_at"] for r in face_rows) + window
        a = AttendanceEvent
        earlier = db.session.execute(select(a.id, a.event_id, a.captured_at).where(
            a.device_id == device.id, a.accepted, a.method.in_(trust.FACE_METHODS),
            a.captured_at.between(lo, hi))).all()
        burst = trust.burst_members([(("new", r["event_id"]), r["captured_at"]) for r in face_rows],
                                    [(("old", e.id), e.captured_at) for e in earlier])
        old_ids = {e.id: e.event_id for e in earlier}
        partners = {key[1]: old_ids[key[1]] for key in burst if key[0] == "old"}
    for r in accepted:
        flags = set(r["flags"]) | set(kiosk_person_flags(facts[r["person_id"]], r["method"]))
        if late[r["lesson_id"]]:
            flags.add(trust.LATE_UPLOAD)
        if ("new", r["event_id"]) in burst:
            flags.add(trust.KIOSK_BURST)
        live_flag = trust.liveness_flag(r["method"], r["details"].get("liveness"))
        if live_flag:
            flags.add(live_flag)
        r["flags"] = sorted(flags)
        r["_recheck_all"] = facts[r["person_id"]]["recheck_failed"] or any(trust.is_blocking(f) for f in flags)
    return partners


def _after_store(stored: list[dict], partners: dict[int, str], crops: dict, device: Device, now: datetime,
                 sample_percent: float) -> None:
    """Keep the face crops of the stored accepted events and flag stored events that formed a burst."""
    if not stored:
        return
    flagged = {r["person_id"] for r in stored if r.get("_recheck_all")}
    if evidence.store(stored, crops, flagged, now, sample_percent) or flagged:
        # A hint to the worker; the minute sweep finds the due crops anyway.
        from ..jobs import enqueue_after_commit
        from ..jobs.sweeps import recheck_evidence
        enqueue_after_commit(recheck_evidence)
    if partners:
        rows = db.session.execute(select(AttendanceEvent.id, AttendanceEvent.person_id, AttendanceEvent.lesson_id)
                                  .where(among(db.session, AttendanceEvent.id, partners))).all()
        existing = set(db.session.execute(select(TrustFlag.attendance_event_id).where(
            among(db.session, TrustFlag.attendance_event_id, partners), TrustFlag.code == trust.KIOSK_BURST)).scalars())
        for row in rows:
            if row.id not in existing:
                db.session.add(TrustFlag(code=trust.KIOSK_BURST, attendance_event_id=row.id, person_id=row.person_id,
                                         lesson_id=row.lesson_id, detail={"device_id": device.id}, created_at=now))
        db.session.flush()
    evidence.mark_people_due(flagged)


def _row(ev, origin, device, lessons, known_people, now, reason) -> dict:
    # Unknown ids are kept in `details` (foreign keys would refuse them) so nothing sent is lost.
    known = ev["lesson_id"] in lessons
    person_known = ev["person_id"] in known_people
    details = {} if known else {"lesson_id": ev["lesson_id"]}
    if not person_known:
        details["person_id"] = ev["person_id"]
    if ev.get("liveness") is not None:
        details["liveness"] = ev["liveness"]
    return {"origin": origin, "event_id": ev["event_id"], "person_id": ev["person_id"] if person_known else None,
            "lesson_id": ev["lesson_id"] if known else None, "kind": ev["kind"], "source": "kiosk",
            "method": ev["method"], "captured_at": ev["captured_at"], "received_at": now,
            "face_distance": ev["face_distance"], "device_id": device.id, "accepted": reason is None,
            "reason": reason, "details": details, "flags": [],
            "status_code": 201 if reason is None else 422}


_COLUMNS = {c.name for c in AttendanceEvent.__table__.columns} - {"id"}


def _insert(rows: list[dict]) -> None:
    """Insert rows in one statement and set each row's `id`."""
    table = AttendanceEvent.__table__
    ids = insert_rows(db.session.connection(), table, [{k: v for k, v in r.items() if k in _COLUMNS} for r in rows],
                      returning=table.c.id)
    for row, row_id in zip(rows, ids, strict=True):
        row["id"] = row_id


def _store(rows: list[dict], receipts: list) -> list[dict]:
    """Insert all rows in one statement; on a race with another writer, fall back row by row."""
    if not rows:
        return []
    try:
        with db.session.begin_nested():
            # Core executemany on the session's connection: the ORM bulk path costs ~2x for 500 rows.
            _insert(rows)
        return rows
    except IntegrityError:
        pass
    stored = []
    by_id = {r["event_id"]: i for i, r in enumerate(receipts) if r and r.get("event_id")}
    for row in rows:
        try:
            with db.session.begin_nested():
                _insert([row])
            stored.append(row)
        except IntegrityError:
            # Either the same event id arrived concurrently (duplicate) or another accepted
            # check-in/out for the same person and lesson won the race (stored as a rejection).
            exists = db.session.execute(select(AttendanceEvent.id).where(
                AttendanceEvent.origin == row["origin"], AttendanceEvent.event_id == row["event_id"])).scalar()
            idx = by_id.get(row["event_id"])
            if exists:
                receipts[idx] = {"event_id": row["event_id"], "status": "duplicate"}
                continue
            row = dict(row, accepted=False, reason=f"already_{'checked_in' if row['kind'] == 'check_in' else 'checked_out'}",
                       status_code=409, flags=[])
            with db.session.begin_nested():
                _insert([row])
            stored.append(row)
            receipts[idx] = {"event_id": row["event_id"], "status": "rejected", "reason": row["reason"]}
    return stored

