"""Which lesson a scan is for and whether it is a check-in or a check-out.

The verdict comes from the server's own attendance judge (backend/domain/judge.py) with the lesson's
policy from the manifest, so the kiosk refuses off line exactly what the server would reject; the
server still judges every event again on upload.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from backend.domain.attendance import CHECK_IN, CHECK_OUT, AttendancePolicy, LessonTimes
from backend.domain.judge import KIOSK, Event, Facts, Verdict, judge
from kiosk.core.manifest import Lesson, Manifest, Person


@dataclass(frozen=True)
class Decision:
    """Either (lesson, kind) to record, or a refusal code for the screen."""

    lesson: Lesson | None = None
    kind: str | None = None
    refusal: str | None = None


def in_session(lesson: Lesson, now: datetime, policy: AttendancePolicy) -> bool:
    """Whether a scan now can be for this lesson: from check-in opening to check-out closing."""
    return lesson.starts_at - policy.check_in_before <= now <= lesson.ends_at + policy.check_out_after


def judge_scan(lesson: Lesson, kind: str, now: datetime, checked_in: bool, checked_out: bool,
               method: str | None = None, face_distance: float | None = None) -> Verdict:
    """The server's verdict on this kiosk event, judged off line with the lesson's policy from the manifest.

    The manifest lists only enrolled people of running plans at this site, so those rules hold; the
    evidence is the kiosk's own verification (`method` and `face_distance` once it is done).
    """
    facts = Facts(LessonTimes(lesson.starts_at, lesson.ends_at, lesson.class_hours), lesson_id=lesson.lesson_id,
                  checked_in=checked_in, checked_out=checked_out, proven=True)
    return judge(Event(kind, now, KIOSK, method, face_distance), facts, lesson.policy)


def decide(manifest: Manifest, person: Person, now: datetime,
           has_event: Callable[[object, object, str], bool],
           policy: AttendancePolicy | None = None) -> Decision:
    """Check in if this kiosk has no check-in for the lesson in session, else check out.

    `has_event(person_id, lesson_id, kind)` answers from the local outbox. With back-to-back
    lessons the earliest unfinished one wins, so a person who checked out of the first and
    scans again is checked into the next. `policy` overrides every lesson's own (tests).
    """
    refusal = None
    for lesson in manifest.lessons_of(person):
        if policy is not None:
            lesson = Lesson(lesson.lesson_id, lesson.starts_at, lesson.ends_at, lesson.title, lesson.class_hours,
                            policy)
        if not in_session(lesson, now, lesson.policy):
            continue
        checked_in = has_event(person.person_id, lesson.lesson_id, CHECK_IN)
        checked_out = checked_in and has_event(person.person_id, lesson.lesson_id, CHECK_OUT)
        kind = CHECK_OUT if checked_in else CHECK_IN
        verdict = judge_scan(lesson, kind, now, checked_in, checked_out)
        if verdict.accepted:
            return Decision(lesson, kind)
        refusal = refusal or _refusal(kind, verdict.code, checked_out)
    return Decision(refusal=refusal or "no_lesson_now")


def _refusal(kind: str, code: str | None, checked_out: bool) -> str:
    """The screen's word for the judge's reason: a check-in after the lesson ended is closed; a check-out
    before it started means the person is in already."""
    if kind == CHECK_IN:
        return "check_in_closed" if code == "outside_time_window" else code
    if checked_out:
        return "already_checked_out"
    return "already_checked_in" if code == "outside_time_window" else code
