"""Which lesson a scan is for and whether it is a check-in or a check-out.

The windows come from backend/domain/attendance.py so kiosk and server apply one rule; the
server still judges every event, this only avoids recording what it would certainly reject.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from backend.domain.attendance import CHECK_IN, CHECK_OUT, DEFAULT_POLICY, AttendancePolicy
from kiosk.core.manifest import Lesson, Manifest, Person


@dataclass(frozen=True)
class Decision:
    """Either (lesson, kind) to record, or a refusal code for the screen."""

    lesson: Lesson | None = None
    kind: str | None = None
    refusal: str | None = None


def decide(manifest: Manifest, person: Person, now: datetime,
           has_event: Callable[[object, object, str], bool],
           policy: AttendancePolicy = DEFAULT_POLICY) -> Decision:
    """Check in if this kiosk has no check-in for the lesson in session, else check out.

    `has_event(person_id, lesson_id, kind)` answers from the local outbox. With back-to-back
    lessons the earliest unfinished one wins, so a person who checked out of the first and
    scans again is checked into the next.
    """
    refusal = None
    for lesson in manifest.lessons_of(person):
        # Check-in opens 30 min before the start; check-out closes 30 min after the end.
        if not (lesson.starts_at - policy.check_in_before <= now <= lesson.ends_at + policy.check_out_after):
            continue
        checked_in = has_event(person.person_id, lesson.lesson_id, CHECK_IN)
        if not checked_in:
            if now <= lesson.ends_at:
                return Decision(lesson, CHECK_IN)
            refusal = refusal or "check_in_closed"
            continue
        if has_event(person.person_id, lesson.lesson_id, CHECK_OUT):
            refusal = refusal or "already_checked_out"
            continue
        if now >= lesson.starts_at:
            return Decision(lesson, CHECK_OUT)
        refusal = refusal or "already_checked_in"
    return Decision(refusal=refusal or "no_lesson_now")
