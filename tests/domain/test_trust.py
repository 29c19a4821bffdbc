"""Trust rules as tables at their boundaries: evidence crops, late uploads, kiosk bursts, shared faces,
completion decisions."""
from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest

from backend.domain import trust
from backend.domain.errors import AppError

T0 = datetime(2026, 3, 10, 1, 0, tzinfo=UTC)


def _jpeg(size: int) -> str:
    """Base64 of a byte string of `size` with JPEG start and end markers."""
    body = b"\xff\xd8\xff\xe0" + b"\x00" * max(0, size - 6) + b"\xff\xd9"
    return base64.b64encode(body[:size] if size < 6 else body).decode()


@pytest.mark.parametrize("value, reason", [
    (None, "evidence_missing"),
    ("", "evidence_missing"),
    (_jpeg(1024), None),
    (_jpeg(30 * 1024), None),                         # exactly 30 KB
    (_jpeg(30 * 1024 + 1), "evidence_invalid"),       # one byte over
    ("data:image/jpeg;base64," + _jpeg(2048), None),  # a data URL is fine
    (base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\x00" * 100).decode(), "evidence_invalid"),  # not a JPEG
    ("%%%not-base64%%%", "evidence_invalid"),
    (12345, "evidence_invalid"),
    ("A" * 100_000, "evidence_invalid"),              # refused before decoding
])
def test_decode_face_crop(value, reason):
    data, problem = trust.decode_face_crop(value)
    assert problem == reason
    assert (data is not None) == (reason is None)


@pytest.mark.parametrize("after_end, online, late", [
    (timedelta(minutes=120), False, False),           # exactly the threshold: not yet late
    (timedelta(minutes=120, seconds=1), False, True),
    (timedelta(days=6), False, True),
    (timedelta(days=6), True, False),                 # heard from during the lesson: an outage upload is fine
    (timedelta(minutes=-30), False, False),           # uploaded during the lesson
])
def test_late_upload(after_end, online, late):
    assert trust.is_late_upload(T0 + after_end, T0, timedelta(minutes=120), online) is late


@pytest.mark.parametrize("gaps, expected", [
    ([1.99], {"a", "b"}),                             # closer than 2 s: both are flagged
    ([2.0], set()),                                   # 2 s apart is physically possible
    ([5.0, 0.5], {"b", "c"}),
    ([0.0], {"a", "b"}),                              # same instant
])
def test_burst_members_within_one_upload(gaps, expected):
    keys = "abcdefg"
    at, new = T0, [("a", T0)]
    for i, gap in enumerate(gaps, start=1):
        at = at + timedelta(seconds=gap)
        new.append((keys[i], at))
    assert trust.burst_members(new, []) == expected


def test_burst_with_stored_events_names_both_sides_but_not_stored_pairs():
    earlier = [("old1", T0), ("old2", T0 + timedelta(seconds=1))]   # a burst among stored events only
    new = [("new", T0 + timedelta(seconds=2.5))]                     # 1.5 s after old2
    assert trust.burst_members(new, earlier) == {"old2", "new"}
    assert trust.burst_members([("x", T0 + timedelta(seconds=10))], earlier) == set()


def _vec(offset: float) -> list[float]:
    return [offset] + [0.0] * 127


@pytest.mark.parametrize("distance, close", [(0.39, True), (0.3999, True), (0.4, False), (0.41, False), (0.0, True)])
def test_close_pairs_threshold(distance, close):
    pairs = trust.close_pairs({1: _vec(0), 2: _vec(distance), 3: None})
    assert bool(pairs) is close
    if close:
        (a, b, d), = pairs
        assert (a, b) == (1, 2) and d == pytest.approx(distance, abs=1e-9)
    assert [k for k, _ in trust.close_to(_vec(0), {2: _vec(distance), 3: _vec(1.0)})] == ([2] if close else [])


def test_blocking_codes():
    assert [c for c in trust.FLAG_CODES if not trust.is_blocking(c)] == ["gps_only"]
    assert set(trust.FLAG_LABELS) == set(trust.FLAG_CODES)


D = trust.Decision


@pytest.mark.parametrize("blocked, decisions, outcome", [
    ({}, [], {}),
    ({1: ["never_bound"]}, [], ("decisions_required", [1])),
    ({1: ["never_bound"], 2: ["shared_face"]}, [D(1, True, "本人到场核实")], ("decisions_required", [2])),
    ({1: ["never_bound"]}, [D(1, False, "冒名")], {1: False}),
    ({1: ["late_upload"]}, [D(1, True, "断网补传，已电话核实")], {1: True}),
    ({}, [D(3, False, "其他证据显示未到场")], {3: False}),          # any rostered trainee may be excluded
    ({1: ["kiosk_burst"]}, [D(9, True, "不在名单")], ("validation_error", None)),
    ({1: ["kiosk_burst"]}, [D(1, True, "理由"), D(1, False, "再次")], ("validation_error", None)),
    ({1: ["kiosk_burst"]}, [D(1, True, "   ")], ("validation_error", None)),
    ({4: ["never_bound"]}, [], {}),                                  # flagged but no longer on the roster
])
def test_check_decisions(blocked, decisions, outcome):
    roster = {1, 2, 3}
    if isinstance(outcome, dict):
        got = trust.check_decisions(blocked, decisions, roster)
        assert {pid: d.accept for pid, d in got.items()} == outcome
        return
    code, person_ids = outcome
    with pytest.raises(AppError) as e:
        trust.check_decisions(blocked, decisions, roster)
    assert e.value.code == code
    if person_ids is not None:
        assert e.value.status == 409 and e.value.details["person_ids"] == person_ids
        assert set(e.value.details["flags"]) == {str(p) for p in person_ids}


def test_liveness_flag_only_for_face_events_without_a_passed_check():
    assert trust.liveness_flag("card+face", {"passed": True, "challenge": None}) is None
    assert trust.liveness_flag("qr+face", {"passed": False, "challenge": "turn_left"}) == trust.LIVENESS_FAILED
    assert trust.liveness_flag("card+face", None) == trust.LIVENESS_MISSING
    assert trust.liveness_flag("card+pin", None) is None
    assert trust.is_blocking(trust.LIVENESS_FAILED) and trust.is_blocking(trust.LIVENESS_MISSING)


def test_who_kiosks_challenge():
    calm = {"bound": True, "face_by_staff": False, "shared_face": False, "recheck_failed": False}
    assert not trust.asks_challenge(calm)
    for fact, value in (("bound", False), ("face_by_staff", True), ("shared_face", True), ("recheck_failed", True)):
        assert trust.asks_challenge(dict(calm, **{fact: value}))
