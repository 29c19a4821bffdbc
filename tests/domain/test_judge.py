"""The attendance judge (backend/domain/judge.py) at every rule's boundary, for each source, with policies built
from policy parameters (not the environment)."""
from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from backend.domain.attendance import Fix, LessonTimes, policy_from_params
from backend.domain.errors import AppError
from backend.domain.judge import KIOSK, MAKEUP, MOBILE, REASONS, Event, Facts, judge

START = datetime(2026, 3, 10, 1, 0, tzinfo=UTC)
END = START + timedelta(hours=2)
LESSON = LessonTimes(START, END, Decimal("2"))
# A region's narrower policy: check-in 10 min before, check-out 5 min after, grace 5, 30 m accuracy, face 0.4.
POLICY = policy_from_params({"checkin_open_before_min": 10, "checkout_close_after_min": 5, "credit_grace_min": 5,
                             "accuracy_max_m": 30, "kiosk_face_max_distance": 0.4})
S = timedelta(seconds=1)
M = timedelta(minutes=1)

PHONE = dict(lesson=LESSON, lesson_id=7, enrolled=True, plan_status="approved", offline=True,
             distance_m=50.0, radius_m=200, accuracy_m=10.0, qr_error=None)
KIOSK_FACTS = dict(lesson=LESSON, lesson_id=7, received_at=START, max_skew=5 * M, max_age=timedelta(days=7),
                   at_device_site=True, enrolled=True, plan_status="in_progress", pin_set=True, has_face=True,
                   proven=True)
MAKEUP_FACTS = dict(lesson=LESSON, lesson_id=7)


def case(source, kind, at, code, facts=None, **event):
    """One row: the source's usual facts with `facts` changed, the event, and the expected code (None: accepted)."""
    base = {MOBILE: PHONE, KIOSK: KIOSK_FACTS, MAKEUP: MAKEUP_FACTS}[source]
    if source == KIOSK:
        event.setdefault("method", "card+face")
        event.setdefault("face_distance", 0.3)
    return pytest.param(Event(kind, at, source, **event), Facts(**{**base, **(facts or {})}), code,
                        id=f"{source}-{kind}-{code}-{at - START}")


CASES = [
    # 1. capture clock (kiosk): the skew and the age are inclusive
    case(KIOSK, "check_in", START + 5 * M, None),
    case(KIOSK, "check_in", START + 5 * M + S, "captured_in_future"),
    case(KIOSK, "check_in", START, None, {"received_at": START + timedelta(days=7)}),  # window: judged below
    case(KIOSK, "check_in", START - S, "captured_too_old", {"received_at": START + timedelta(days=7)}),
    # 2-6. admission, in order
    case(MOBILE, "check_in", START, "not_found", {"lesson": None}),
    case(MAKEUP, "check_in", START, "not_found", {"lesson": None}),
    case(KIOSK, "check_in", START, "unknown_lesson", {"lesson": None}),
    case(KIOSK, "check_in", START, "wrong_site", {"at_device_site": False, "enrolled": False}),
    case(MOBILE, "check_in", START, "not_enrolled", {"enrolled": False, "plan_status": "draft"}),
    case(KIOSK, "check_in", START, "not_enrolled", {"enrolled": False}),
    case(MAKEUP, "check_in", START, "not_enrolled", {"enrolled": False}),
    case(MOBILE, "check_in", START, "plan_not_active", {"plan_status": "completed", "offline": False}),
    case(KIOSK, "check_in", START, "plan_not_active", {"plan_status": "submitted"}),
    case(MAKEUP, "check_in", START, "plan_not_active", {"plan_status": "draft"}),
    case(MOBILE, "check_in", START, "not_offline_lesson", {"offline": False}),
    case(MAKEUP, "check_in", START, "not_offline_lesson", {"offline": False}),
    # 7. kiosk evidence: the policy's face threshold is inclusive
    case(KIOSK, "check_in", START, None, face_distance=0.4),
    case(KIOSK, "check_in", START, "face_mismatch", face_distance=0.41),
    case(KIOSK, "check_in", START, "face_mismatch", face_distance=None),
    case(KIOSK, "check_in", START, "face_not_enrolled", {"has_face": False}),
    case(KIOSK, "check_in", START, "pin_not_set", {"pin_set": False}, method="card+pin", face_distance=None),
    case(KIOSK, "check_in", START, None, method="card+pin", face_distance=None),
    case(KIOSK, "check_in", START - 11 * M, "face_mismatch", face_distance=0.5),  # evidence before the window
    # 8. the windows of the policy, both ends inclusive
    case(MOBILE, "check_in", START - 10 * M, None),
    case(MOBILE, "check_in", START - 10 * M - S, "outside_time_window"),
    case(MOBILE, "check_in", END, None),
    case(MOBILE, "check_in", END + S, "outside_time_window"),
    case(MOBILE, "check_out", START, None, {"checked_in": True}),
    case(MOBILE, "check_out", START - S, "outside_time_window", {"checked_in": True}),
    case(MOBILE, "check_out", END + 5 * M, None, {"checked_in": True}),
    case(MOBILE, "check_out", END + 5 * M + S, "outside_time_window", {"checked_in": True}),
    case(KIOSK, "check_in", START - 10 * M, None, {"received_at": START - 10 * M}),
    case(KIOSK, "check_in", START - 10 * M - S, "outside_time_window", {"received_at": START - 10 * M}),
    case(KIOSK, "check_out", END + 5 * M + S, "outside_time_window", {"checked_in": True, "received_at": END + M}),
    case(MAKEUP, "check_in", START - 10 * M - S, "outside_time_window"),
    case(KIOSK, "sideways", START, "validation_error"),  # callers validate the kind; the judge still refuses it
    case(MAKEUP, "sideways", START, "validation_error"),
    # 9. sequence (a make-up refuses only a repeat)
    case(MOBILE, "check_in", START, "already_checked_in", {"checked_in": True}),
    case(MOBILE, "check_out", START, "not_checked_in"),
    case(MOBILE, "check_out", START, "already_checked_out", {"checked_in": True, "checked_out": True}),
    case(KIOSK, "check_in", START, "already_checked_in", {"checked_in": True}),
    case(KIOSK, "check_out", START, "not_checked_in"),
    case(KIOSK, "check_out", START, "already_checked_out", {"checked_in": True, "checked_out": True}),
    case(MAKEUP, "check_out", END, None),
    case(MAKEUP, "check_in", START, "already_checked_in", {"checked_in": True}),
    case(MAKEUP, "check_out", END, "already_checked_out", {"checked_in": True, "checked_out": True}),
    # 10. the site QR where required
    case(MOBILE, "check_in", START, "site_token_invalid", {"qr_required": True, "qr_missing": True}),
    case(MOBILE, "check_in", START - S, "site_token_invalid",
         {"qr_required": True, "qr_error": AppError("site_token_invalid", 422, {"reason": "expired"})}),
    case(MOBILE, "check_in", START, None, {"qr_required": True}),
    # 11. the fence: accuracy first, both limits inclusive
    case(MOBILE, "check_in", START, None, {"accuracy_m": 30.0, "distance_m": 200.0}),
    case(MOBILE, "check_in", START, "low_accuracy", {"accuracy_m": 31.0, "distance_m": 900.0}),
    case(MOBILE, "check_in", START, "out_of_fence", {"distance_m": 200.1}),
    case(MOBILE, "check_in", START, "validation_error", {"accuracy_m": math.nan}),
]


@pytest.mark.parametrize("event, facts, code", CASES)
def test_each_rule_at_its_boundary(event, facts, code):
    verdict = judge(event, facts, POLICY)
    assert verdict.code == code, verdict
    assert verdict.accepted is (code is None)
    if code is not None:
        assert (code, verdict.status) in REASONS[event.source]


def test_the_table_reaches_every_code_of_every_source():
    """REASONS is what the API documents (error catalogue): each entry is reached above, and nothing else is."""
    for source in (MOBILE, KIOSK, MAKEUP):
        reached = {p.values[2] for p in CASES if p.values[0].source == source} - {None}
        assert reached == {code for code, _ in REASONS[source]}, source


def test_the_details_name_the_numbers():
    v = judge(Event("check_in", START - 11 * M), Facts(**PHONE), POLICY)
    assert (v.status, v.details["opens_at"]) == (422, "2026-03-10T08:50:00+08:00")
    v = judge(Event("check_in", START), Facts(**{**PHONE, "enrolled": False}), POLICY)
    assert (v.status, v.details) == (403, {"lesson_id": 7})
    v = judge(Event("check_in", START, KIOSK, "card+face", 0.41), Facts(**KIOSK_FACTS), POLICY)
    assert v.details == {"face_distance": 0.41, "max_distance": 0.4}


@pytest.mark.parametrize("method", ["card+face", "qr+face", "card+pin"])
def test_kiosk_evidence_is_asked_for_only_after_the_admission_rules(method):
    waiting = Facts(**{**KIOSK_FACTS, "proven": False})
    event = Event("check_in", START, KIOSK, method, 0.3 if "face" in method else None)
    v = judge(event, waiting, POLICY)
    assert v.needs_proof and not v.accepted and v.code is None
    waiting.proven = True  # the caller opened the evidence
    assert judge(event, waiting, POLICY).accepted
    # An event that fails earlier never asks for its evidence (a wrong PIN is not counted for it).
    v = judge(event, Facts(**{**KIOSK_FACTS, "proven": False, "enrolled": False}), POLICY)
    assert (v.needs_proof, v.code) == (False, "not_enrolled")


@pytest.mark.parametrize("late, flags, credit", [
    (5 * M, (), Decimal("2")), (5 * M + S, ("late",), Decimal("0")),
])
def test_grace_of_the_policy_sets_late_and_the_credit(late, flags, credit):
    fix = Fix(1, 26.07, 119.29, 10.0, START + late)
    v = judge(Event("check_in", START + late), Facts(**{**PHONE, "fix": fix}), POLICY)
    assert v.flags == flags and v.credit is None  # the check-out is still missing
    out = judge(Event("check_out", END), Facts(**{**PHONE, "checked_in": True, "check_in_at": START + late}), POLICY)
    assert out.credit == credit


def test_gps_only_when_the_qr_was_not_required_and_not_proven():
    fix = Fix(1, 26.07, 119.29, 10.0, START)
    bad = AppError("site_token_invalid", 422, {"reason": "expired"})
    assert judge(Event("check_in", START), Facts(**{**PHONE, "fix": fix, "qr_error": bad}), POLICY).flags == ("gps_only",)
    assert judge(Event("check_in", START), Facts(**{**PHONE, "fix": fix, "qr_missing": True}),
                 POLICY).flags == ("gps_only",)
    assert judge(Event("check_in", START), Facts(**{**PHONE, "fix": fix}), POLICY).flags == ()


def test_makeup_credits_the_whole_lesson():
    v = judge(Event("check_out", END, MAKEUP, "makeup"),
              Facts(**{**MAKEUP_FACTS, "checked_in": True, "check_in_at": START}), POLICY)
    assert v.accepted and v.credit == Decimal("2")


def test_policy_from_params_keeps_the_defaults_for_missing_keys():
    p = policy_from_params({"checkin_open_before_min": 45})
    assert (p.check_in_before, p.check_out_after, p.face_max_distance) == (45 * M, 30 * M, 0.5)
