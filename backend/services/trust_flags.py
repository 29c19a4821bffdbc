"""Trust flags where the data arrives (kiosk upload, enrolment, re-verification) and per plan for review.

Flags known when an event arrives live in the event's own `flags` (so the lesson attendance and the
live stream carry them); flags raised later on a stored event are `TrustFlag` rows; shared faces are
`FaceMatch` rows found at enrolment plus pairs within the plan's roster found at review.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, select

from ..domain import trust
from ..domain.attendance import SHANGHAI
from ..domain.identity import mask_name
from ..extensions import db
from ..models import AttendanceEvent, Enrollment, Lesson, Person, TrainingPlan, WechatAccount
from ..models.trust import CompletionDecision, FaceMatch, TrustFlag
from ..security.crypto import vault
from ..sql_lists import among
from .persons import FACE_CONTEXT


def person_facts(person_ids: set[int]) -> dict[int, dict]:
    """What the kiosk-upload flags need per person: staff-enrolled face, a bound phone, a shared face,
    an earlier failed re-verification."""
    if not person_ids:
        return {}
    ids = list(person_ids)
    facts = {pid: {"face_by_staff": False, "bound": False, "shared_face": False, "recheck_failed": False}
             for pid in ids}
    for pid, by in db.session.execute(select(Person.id, Person.face_enrolled_by).where(among(db.session, Person.id, ids))):
        facts[pid]["face_by_staff"] = by == "institution"
    for (pid,) in db.session.execute(select(WechatAccount.person_id).where(among(db.session, WechatAccount.person_id, ids))):
        facts[pid]["bound"] = True
    for a, b in db.session.execute(select(FaceMatch.person_id, FaceMatch.other_person_id).where(
            or_(among(db.session, FaceMatch.person_id, ids), among(db.session, FaceMatch.other_person_id, ids)))):
        for pid in (a, b):
            if pid in facts:
                facts[pid]["shared_face"] = True
    for (pid,) in db.session.execute(select(TrustFlag.person_id).where(
            among(db.session, TrustFlag.person_id, ids), TrustFlag.code == trust.FACE_RECHECK_FAILED).distinct()):
        facts[pid]["recheck_failed"] = True
    return facts


def kiosk_person_flags(facts: dict, method: str) -> list[str]:
    """Flags an accepted kiosk event carries because of who its person is."""
    flags = []
    if not facts.get("bound"):
        flags.append(trust.NEVER_BOUND)
    if trust.is_face_method(method):
        if facts.get("face_by_staff"):
            flags.append(trust.FACE_BY_STAFF)
        if facts.get("shared_face"):
            flags.append(trust.SHARED_FACE)
    return flags


def record_face_matches(person: Person, template: list[float], now: datetime) -> list[tuple[int, float]]:
    """At enrolment: store which persons of the same institutions' rosters have a face within the
    shared-face distance of this one (one stock photo enrolled for many invented trainees)."""
    plans = select(Enrollment.plan_id).where(Enrollment.person_id == person.id)
    institutions = select(TrainingPlan.institution_id).where(TrainingPlan.id.in_(plans))
    peers = select(Enrollment.person_id).join(TrainingPlan, TrainingPlan.id == Enrollment.plan_id).where(
        TrainingPlan.institution_id.in_(institutions))
    rows = db.session.execute(select(Person.id, Person.face_template_enc).where(
        Person.id.in_(peers), Person.id != person.id, Person.face_template_enc.is_not(None))).all()
    v = vault()
    others = {pid: v.decrypt_json(blob, FACE_CONTEXT) for pid, blob in rows}
    close = trust.close_to(template, others)
    known = set(db.session.execute(select(FaceMatch.other_person_id).where(FaceMatch.person_id == person.id)).scalars())
    for other, distance in close:
        if other not in known:
            db.session.add(FaceMatch(person_id=person.id, other_person_id=other, distance=distance, found_at=now))
    db.session.flush()
    return close


def publish_flag(lesson_id: int, person_id: int, code: str, event_id: int | None, detail: dict,
                 now: datetime) -> None:
    """Tell the supervisors' live stream about a flag raised after the event (`event: flag`)."""
    from ..live.events import queue_publication, store_live_event
    region = db.session.execute(select(TrainingPlan.region_code).join(Lesson, Lesson.plan_id == TrainingPlan.id)
                                .where(Lesson.id == lesson_id)).scalar()
    name = db.session.execute(select(Person.name).where(Person.id == person_id)).scalar()
    payload = {"event": "flag", "lesson_id": lesson_id, "person_id": person_id,
               "name_masked": mask_name(name) if name else None, "code": code,
               "blocking": trust.is_blocking(code), "attendance_event_id": event_id,
               "detail": _detail(code, detail), "info": detail,
               "at": now.astimezone(SHANGHAI).isoformat()}
    live_id = store_live_event(region, lesson_id, payload, now)
    queue_publication({"id": live_id, "region_code": region, "payload": payload})


# ---- review ---------------------------------------------------------------------------------------

def _detail(code: str, info: dict) -> str:
    label = trust.FLAG_LABELS[code]
    if code == trust.SHARED_FACE and info.get("others"):
        return label + "：" + "、".join(f"{n}（距离 {d:.2f}）" for n, d in info["others"])
    if code == trust.FACE_RECHECK_FAILED and info.get("server_distance") is not None:
        return f"{label}：服务器距离 {info['server_distance']:.2f}，考勤机报告 {info.get('kiosk_distance')}"
    return label


def plan_flags(plan: TrainingPlan) -> dict[int, dict]:
    """Every trust flag of a plan per person: {person_id: {name, flags: {code: {event_ids, info}}}}."""
    lesson_ids = list(db.session.execute(select(Lesson.id).where(Lesson.plan_id == plan.id)).scalars())
    out: dict[int, dict] = {}

    def add(pid: int, code: str, event_id: int | None = None, **info) -> None:
        entry = out.setdefault(pid, {"flags": {}})
        flag = entry["flags"].setdefault(code, {"event_ids": set(), "info": {}})
        if event_id is not None:
            flag["event_ids"].add(event_id)
        for key, value in info.items():
            if key == "others":
                flag["info"].setdefault("others", []).extend(value)
            else:
                flag["info"][key] = value

    face_events: dict[int, set[int]] = defaultdict(set)
    if lesson_ids:
        a = AttendanceEvent
        for ev in db.session.execute(select(a.id, a.person_id, a.method, a.flags).where(
                a.lesson_id.in_(lesson_ids), a.accepted, a.person_id.is_not(None))):
            for code in ev.flags or ():
                if code in trust.FLAG_CODES:
                    add(ev.person_id, code, ev.id)
            if trust.is_face_method(ev.method):
                face_events[ev.person_id].add(ev.id)
        for f in db.session.execute(select(TrustFlag).where(TrustFlag.lesson_id.in_(lesson_ids))).scalars():
            add(f.person_id, f.code, f.attendance_event_id, **(f.detail or {}))
    roster = dict(db.session.execute(select(Person.id, Person.name).join(Enrollment, Enrollment.person_id == Person.id)
                                     .where(Enrollment.plan_id == plan.id, Enrollment.status == "active")).all())
    _shared_faces(roster, face_events, add)
    # A phone bound since the kiosk events were made: a real person has claimed the identity.
    bound = set(db.session.execute(select(WechatAccount.person_id).where(
        WechatAccount.person_id.in_(list(out)))).scalars()) if out else set()
    names = dict(roster)
    missing = [pid for pid in out if pid not in names]
    if missing:
        names.update(db.session.execute(select(Person.id, Person.name).where(Person.id.in_(missing))).all())
    for pid, entry in list(out.items()):
        if pid in bound:
            entry["flags"].pop(trust.NEVER_BOUND, None)
        if not entry["flags"]:
            del out[pid]
            continue
        entry["name"] = names.get(pid)
    return out


def _shared_faces(roster: dict[int, str], face_events: dict[int, set[int]], add) -> None:
    """Pairs of the plan's trainees with near-identical templates, and stored matches from enrolment."""
    if not roster:
        return
    v = vault()
    templates = {pid: v.decrypt_json(blob, FACE_CONTEXT) for pid, blob in db.session.execute(
        select(Person.id, Person.face_template_enc).where(Person.id.in_(list(roster)),
                                                          Person.face_template_enc.is_not(None)))}
    pairs = {(a, b): d for a, b, d in trust.close_pairs(templates)}
    for m in db.session.execute(select(FaceMatch).where(or_(FaceMatch.person_id.in_(list(roster)),
                                                            FaceMatch.other_person_id.in_(list(roster))))).scalars():
        pairs.setdefault((m.person_id, m.other_person_id), m.distance)
    others_names = dict(db.session.execute(select(Person.id, Person.name).where(
        Person.id.in_({p for pair in pairs for p in pair}))).all()) if pairs else {}
    for (a, b), distance in pairs.items():
        for me, other in ((a, b), (b, a)):
            if me not in roster:
                continue
            add(me, trust.SHARED_FACE, None, others=[(mask_name(others_names.get(other) or ""), distance)])
            for event_id in face_events.get(me, ()):
                add(me, trust.SHARED_FACE, event_id)


@dataclass(frozen=True)
class Flag:
    """One flag of a trainee on a plan, with its detail and the events it was raised on."""
    code: str
    detail: str
    event_ids: list[int]

    @property
    def blocking(self) -> bool:
        return trust.is_blocking(self.code)


@dataclass(frozen=True)
class PersonFlags:
    """A trainee's flags on a plan, in the catalogue's order."""
    person_id: int
    name: str | None
    flags: list[Flag]

    @property
    def blocking(self) -> bool:
        return any(f.blocking for f in self.flags)


def person_flags(plan: TrainingPlan) -> list[PersonFlags]:
    """Per person (by id), each flag with its detail and event ids."""
    return [PersonFlags(pid, entry["name"], [
        Flag(code, _detail(code, f["info"]), sorted(f["event_ids"]))
        for code, f in sorted(entry["flags"].items(), key=lambda kv: trust.FLAG_CODES.index(kv[0]))])
        for pid, entry in sorted(plan_flags(plan).items())]


def plan_flags_for(a, plan_id: int) -> list[PersonFlags]:
    """GET /plans/{id}/flags for the plan's institution or the region's supervisor."""
    from ..security.authz import ensure_institution, get_or_404
    plan = get_or_404(TrainingPlan, plan_id)
    ensure_institution(a, plan.institution_id, plan.region_code)
    return person_flags(plan)


def blocked_people(plan: TrainingPlan) -> dict[int, list[str]]:
    """Trainees of the plan with at least one blocking flag, with their blocking codes."""
    return {pid: sorted(c for c in entry["flags"] if trust.is_blocking(c))
            for pid, entry in plan_flags(plan).items()
            if any(trust.is_blocking(c) for c in entry["flags"])}


def held_event_ids(lesson_ids: list[int]) -> set[int]:
    """Accepted events whose hours are held: a failed re-verification, unless the completion accepted the person."""
    if not lesson_ids:
        return set()
    rows = db.session.execute(
        select(TrustFlag.attendance_event_id, TrustFlag.person_id, Lesson.plan_id)
        .join(Lesson, Lesson.id == TrustFlag.lesson_id)
        .where(TrustFlag.lesson_id.in_(lesson_ids), TrustFlag.code == trust.FACE_RECHECK_FAILED)).all()
    if not rows:
        return set()
    accepted = set(db.session.execute(select(CompletionDecision.plan_id, CompletionDecision.person_id).where(
        CompletionDecision.plan_id.in_({r.plan_id for r in rows}), CompletionDecision.accept.is_(True))).all())
    return {r.attendance_event_id for r in rows if (r.plan_id, r.person_id) not in accepted}
