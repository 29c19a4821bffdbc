"""The attendance judge: one rule order for every way of attending (phone, kiosk ingest, kiosk daemon, make-up).

Pure: the inputs are values (the event, the facts its caller looked up, the plan's policy) and the answer
is a Verdict. A fact a caller does not have is None and its rule is not judged there: the kiosk daemon
knows no plan status (its manifest lists only running plans' lessons), a phone event has no capture
clock to doubt, a make-up approval has no position. The rules, in order:

 1. capture clock (kiosk): captured_in_future, captured_too_old
 2. the lesson exists: not_found (kiosk: unknown_lesson)
 3. it is held at the kiosk's site: wrong_site
 4. the person is enrolled: not_enrolled
 5. the plan takes attendance: plan_not_active
 6. the lesson is offline at a located site: not_offline_lesson
 7. the kiosk's evidence: pin_not_set, face_not_enrolled, [the caller opens the evidence], face_mismatch
 8. the time window: outside_time_window
 9. the check-in/out sequence: already_checked_in, not_checked_in, already_checked_out
10. the rotating site QR where required: site_token_invalid
11. the geofence: low_accuracy, out_of_fence

Opening a kiosk's evidence (a sealed PIN, a face crop) has side effects and needs server state, so at
step 7 the judge stops with `needs_proof` unless the facts say `proven`; the caller opens the evidence,
sets `facts.proven` and judges again. A wrong PIN thus counts towards the lock only for an event that
passed rules 1-6.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from backend.domain import attendance as rules
from backend.domain.attendance import (
    CHECK_IN,
    CHECK_OUT,
    DEFAULT_POLICY,
    PLAN_STATES_TAKING_ATTENDANCE,
    AttendancePolicy,
    Fix,
    LessonTimes,
)
from backend.domain.errors import AppError
from backend.domain.trust import GPS_ONLY

MOBILE, KIOSK, MAKEUP = "mobile", "kiosk", "makeup"
PIN_METHOD = "card+pin"
FACE_METHODS = ("card+face", "qr+face")

# validation_error: a kind that is neither check_in nor check_out (callers validate it first).
_WINDOW = (("outside_time_window", 422), ("validation_error", 422))
_SEQUENCE = (("already_checked_in", 409), ("not_checked_in", 409), ("already_checked_out", 409))
# Every (code, status) the judge can answer per source: what the API documents for POST /attendance and
# the kiosk receipts (backend/api/error_catalogue.py reads these; tests/domain/test_judge.py reaches each).
REASONS: dict[str, tuple[tuple[str, int], ...]] = {
    MOBILE: (("not_found", 404), ("not_enrolled", 403), ("plan_not_active", 409), ("not_offline_lesson", 422),
             *_WINDOW, *_SEQUENCE, ("site_token_invalid", 422), ("low_accuracy", 422), ("out_of_fence", 422)),
    KIOSK: (("captured_in_future", 422), ("captured_too_old", 422), ("unknown_lesson", 422), ("wrong_site", 422),
            ("not_enrolled", 403), ("plan_not_active", 409), ("pin_not_set", 422), ("face_not_enrolled", 422),
            ("face_mismatch", 422), *_WINDOW, *_SEQUENCE),
    MAKEUP: (("not_found", 404), ("not_enrolled", 403), ("plan_not_active", 409), ("not_offline_lesson", 422),
             *_WINDOW, ("already_checked_in", 409), ("already_checked_out", 409)),
}


# Plain slotted dataclasses rather than frozen ones: one of each is built per check-in on the hot path, and
# a frozen dataclass sets every field through object.__setattr__ (about twice the cost). Treat them as values.
@dataclass(slots=True)
class Event:
    """One attendance event: its kind, where it came from and when it counts (services event_time)."""

    kind: str
    at: datetime
    source: str = MOBILE
    method: str | None = None  # kiosk: card+face, qr+face or card+pin
    face_distance: float | None = None


@dataclass(slots=True)
class Facts:
    """What the caller knows about the event's lesson, person and presence; None: not judged by this caller."""

    lesson: LessonTimes | None
    lesson_id: object = None
    # Kiosk capture clock: the server's receipt time and how far a capture may lie ahead of / behind it.
    received_at: datetime | None = None
    max_skew: timedelta = timedelta(0)
    max_age: timedelta = timedelta(0)
    at_device_site: bool | None = None  # kiosk: the lesson is offline at the kiosk's site
    enrolled: bool | None = None
    plan_status: str | None = None
    offline: bool | None = None  # an offline lesson with a located site
    pin_set: bool | None = None
    has_face: bool | None = None
    proven: bool = False  # the caller opened the kiosk's evidence (PIN checked, face crop decoded)
    checked_in: bool = False
    checked_out: bool = False
    check_in_at: datetime | None = None  # the accepted other half, for the credit
    check_out_at: datetime | None = None
    qr_required: bool = False
    qr_missing: bool = False  # no site QR was scanned
    qr_error: AppError | None = None  # why the scanned site QR proves nothing (None: valid, or none scanned)
    distance_m: float | None = None
    radius_m: float | None = None
    accuracy_m: float | None = None
    fix: Fix | None = None  # the phone's position, for the risk flags
    prior_fixes: list | tuple = ()  # the person's earlier accepted fixes (impossible_speed)
    nearby_fixes: list | tuple = ()  # other trainees' fixes of the lesson that could match (identical / shared)


@dataclass(slots=True)
class Verdict:
    """Accepted (with the credit it completes and its flags), rejected with a reason, or waiting for proof."""

    accepted: bool
    code: str | None = None
    status: int = 201
    details: dict = field(default_factory=dict)
    credit: Decimal | float | None = None  # class hours credited once this event completes the pair
    flags: tuple[str, ...] = ()
    needs_proof: bool = False


def _reject(code: str, status: int, **details) -> Verdict:
    return Verdict(False, code, status, details)


def _from(err: AppError) -> Verdict:
    return Verdict(False, err.code, err.status, dict(err.details or {}))


def judge(event: Event, facts: Facts, policy: AttendancePolicy = DEFAULT_POLICY) -> Verdict:
    """The verdict on one event: the first rule it breaks (module docstring), else accepted with credit and flags."""
    early = _admission(event, facts)
    if early is not None:
        return early
    proof = _evidence(event, facts, policy)
    if proof is not None:
        return proof
    try:
        rules.check_window(event.kind, facts.lesson, event.at, policy)
        if event.source == MAKEUP:
            # A make-up proves its own kinds: a check-out make-up without a check-in still leaves the
            # lesson incomplete, so only a repeat is refused.
            if event.kind == CHECK_IN and facts.checked_in:
                return _reject("already_checked_in", 409, kind=event.kind)
            if event.kind == CHECK_OUT and facts.checked_out:
                return _reject("already_checked_out", 409, kind=event.kind)
        else:
            rules.check_sequence(event.kind, facts.checked_in, facts.checked_out)
        if facts.qr_required:
            if facts.qr_missing:
                return _reject("site_token_invalid", 422, reason="missing")
            if facts.qr_error is not None:
                return _from(facts.qr_error)
        if facts.radius_m is not None:
            rules.check_fence(facts.distance_m, facts.radius_m, facts.accuracy_m, policy)
    except AppError as err:
        return _from(err)
    return Verdict(True, credit=_credit(event, facts, policy), flags=_flags(event, facts, policy))


def _admission(event: Event, facts: Facts) -> Verdict | None:
    """Rules 1-6: whether this event may be judged for this lesson, person and plan at all."""
    if facts.received_at is not None:
        if event.at > facts.received_at + facts.max_skew:
            return _reject("captured_in_future", 422)
        if event.at < facts.received_at - facts.max_age:
            return _reject("captured_too_old", 422)
    if facts.lesson is None:
        if event.source == KIOSK:
            return _reject("unknown_lesson", 422)
        return _reject("not_found", 404, object="lessons", id=facts.lesson_id)
    if facts.at_device_site is False:
        return _reject("wrong_site", 422)
    if facts.enrolled is False:
        return _reject("not_enrolled", 403, lesson_id=facts.lesson_id)
    if facts.plan_status is not None and facts.plan_status not in PLAN_STATES_TAKING_ATTENDANCE:
        return _reject("plan_not_active", 409, plan_status=facts.plan_status)
    if facts.offline is False:
        return _reject("not_offline_lesson", 422, lesson_id=facts.lesson_id)
    return None


def _evidence(event: Event, facts: Facts, policy: AttendancePolicy) -> Verdict | None:
    """Rule 7: a kiosk event's proof of who scanned (a phone's proof is its position, rules 10-11)."""
    if event.method == PIN_METHOD:
        if facts.pin_set is False:
            return _reject("pin_not_set", 422)
        return None if facts.proven else Verdict(False, needs_proof=True, status=0)
    if event.method in FACE_METHODS:
        if facts.has_face is False:
            return _reject("face_not_enrolled", 422)
        if not facts.proven:
            return Verdict(False, needs_proof=True, status=0)
        if event.face_distance is None or event.face_distance > policy.face_max_distance:
            return _reject("face_mismatch", 422, face_distance=event.face_distance,
                           max_distance=policy.face_max_distance)
    return None


def _credit(event: Event, facts: Facts, policy: AttendancePolicy):
    """Class hours credited when this event completes a check-in/out pair; None while the other half is missing."""
    check_in_at = event.at if event.kind == CHECK_IN else facts.check_in_at
    check_out_at = event.at if event.kind == CHECK_OUT else facts.check_out_at
    if check_in_at is None or check_out_at is None:
        return None
    return rules.credited(facts.lesson, check_in_at, check_out_at, policy)[1]


def _flags(event: Event, facts: Facts, policy: AttendancePolicy) -> tuple[str, ...]:
    """Warnings on an accepted phone event: the position's risk flags, late / left early, GPS only."""
    if facts.fix is None:
        return ()
    flags = rules.risk_flags(facts.fix, facts.prior_fixes, facts.nearby_fixes, policy,
                       kind=event.kind, lesson=facts.lesson)
    if not facts.qr_required and (facts.qr_missing or facts.qr_error is not None):
        flags = sorted([*flags, GPS_ONLY])
    return tuple(flags)
