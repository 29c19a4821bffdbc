"""The live stream's ordered cursor: id order across gaps, the hold, late arrivals, scope, duplicates, bounds."""
from __future__ import annotations

import pytest

from backend.live.cursor import HOLD_S, LiveCursor

T0 = 1000.0


def p(i: int) -> dict:
    return {"n": i}


def run(cursor: LiveCursor, steps) -> list[list[int]]:
    """Apply steps ("offer", id, in_scope, t) / ("expire", t); the ids emitted by each."""
    out = []
    for step in steps:
        if step[0] == "offer":
            _, i, in_scope, t = step
            frames = cursor.offer(i, in_scope, p(i) if in_scope else None, t)
        else:
            frames = cursor.expire(step[1])
        assert all(payload == p(i) for i, payload in frames)
        out.append([i for i, _ in frames])
    return out


def offer(i, t=T0, in_scope=True):
    return ("offer", i, in_scope, t)


def expire(t):
    return ("expire", t)


@pytest.mark.parametrize("name, steps, emitted, watermark", [
    ("in order", [offer(11), offer(12), offer(13)], [[11], [12], [13]], 13),
    ("gap filled before the hold", [offer(12), offer(13), expire(T0 + HOLD_S - 0.01), offer(11, T0 + 0.3)],
     [[], [], [], [11, 12, 13]], 13),
    ("gap open just before the hold", [offer(12), expire(T0 + HOLD_S - 1e-9)], [[], []], 10),
    ("gap expires exactly at the hold", [offer(12), offer(14, T0 + 0.2), expire(T0 + HOLD_S)], [[], [], [12]], 12),
    # 13 is still missing: that second gap was first seen at T0 + 0.2 (when 14 came) and gets its own hold.
    ("second gap keeps its own age", [offer(12), offer(14, T0 + 0.2), expire(T0 + HOLD_S),
                                      expire(T0 + 0.2 + HOLD_S)], [[], [], [12], [14]], 14),
    ("one expiry releases every gap older than the hold", [offer(12), offer(14), offer(16), expire(T0 + HOLD_S)],
     [[], [], [], [12, 14, 16]], 16),
    ("given-up id arriving late is emitted once", [offer(12), expire(T0 + HOLD_S), offer(11, T0 + 2),
                                                   offer(11, T0 + 3)], [[], [12], [11], []], 12),
    ("out-of-scope ids advance but never emit", [offer(11, in_scope=False), offer(12), offer(13, in_scope=False)],
     [[], [12], []], 13),
    ("an out-of-scope id fills a gap", [offer(12), offer(13, in_scope=False), offer(14), offer(11, in_scope=False)],
     [[], [], [], [12, 14]], 14),
    ("out-of-scope late arrival is dropped", [offer(12), expire(T0 + 1), offer(11, T0 + 2, in_scope=False)],
     [[], [12], []], 12),
    ("duplicates below the watermark", [offer(11), offer(11), offer(5)], [[11], [], []], 11),
    ("duplicates in the buffer", [offer(12), offer(12, T0 + 0.1), offer(11, T0 + 0.2), offer(12, T0 + 0.3)],
     [[], [], [11, 12], []], 12),
    ("expire with nothing pending", [expire(T0), offer(11), expire(T0 + 100)], [[], [11], []], 11),
])
def test_cursor_table(name, steps, emitted, watermark):
    cursor = LiveCursor(10)
    assert run(cursor, steps) == emitted, name
    assert cursor.watermark == watermark, name


def test_gap_timing_is_reported():
    cursor = LiveCursor(10, hold=0.5)
    assert (cursor.gap_since, cursor.gap_deadline, cursor.buffered) == (None, None, 0)
    cursor.offer(13, True, p(13), T0)
    cursor.offer(12, True, p(12), T0 + 0.3)
    assert (cursor.gap_since, cursor.gap_deadline, cursor.buffered) == (T0, T0 + 0.5, 2)
    # Waking at the reported deadline always finds the gap expired, whatever the float rounding.
    for start in (T0, 0.1, 12345.678901, 1e6 + 0.3):
        c = LiveCursor(0, hold=0.2)
        c.offer(2, True, p(2), start)
        assert c.expire(c.gap_deadline) == [(2, p(2))]
    assert cursor.offer(11, True, p(11), T0 + 0.4) == [(11, p(11)), (12, p(12)), (13, p(13))]
    assert (cursor.gap_since, cursor.buffered) == (None, 0)


def test_partly_filled_gap_is_dated_by_what_still_waits():
    cursor = LiveCursor(10, hold=0.5)
    cursor.offer(12, True, p(12), T0)
    cursor.offer(15, True, p(15), T0 + 0.4)
    assert cursor.offer(11, True, p(11), T0 + 0.45) == [(11, p(11)), (12, p(12))]
    assert cursor.gap_since == T0 + 0.4  # 13 and 14 have been missing since 15 came
    assert cursor.expire(T0 + 0.8) == []
    assert cursor.expire(T0 + 0.9) == [(15, p(15))]
    assert cursor.given_up_ids() == [13, 14]


def test_given_up_ids_are_dated_and_bounded():
    cursor = LiveCursor(0, hold=0.5, given_up_max=4)
    cursor.offer(3, True, p(3), T0)
    cursor.expire(T0 + 1)
    cursor.offer(6, True, p(6), T0 + 2)
    cursor.expire(T0 + 3)
    assert cursor.given_up_ids() == [1, 2, 4, 5]
    assert cursor.given_up_ids(since=T0 + 2) == [4, 5]
    cursor.offer(9, True, p(9), T0 + 4)
    cursor.expire(T0 + 5)
    assert cursor.given_up_ids() == [4, 5, 7, 8]  # the oldest left first
    # An id that fell out of the set is an ordinary duplicate now; one still in it comes late, once.
    assert cursor.offer(1, True, p(1), T0 + 6) == []
    assert cursor.offer(7, True, p(7), T0 + 6) == [(7, p(7))]
    assert cursor.given_up_ids() == [4, 5, 8]


def test_huge_jump_in_the_sequence_stays_bounded():
    cursor = LiveCursor(0, hold=0.5, given_up_max=3)
    cursor.offer(10_000_000_000, True, p(1), T0)
    assert cursor.expire(T0 + 0.5) == [(10_000_000_000, p(1))]
    assert cursor.given_up_ids() == [9_999_999_997, 9_999_999_998, 9_999_999_999]
    assert cursor.watermark == 10_000_000_000


def test_zero_hold_never_waits():
    cursor = LiveCursor(10, hold=0.0)
    assert cursor.offer(12, True, p(12), T0) == []
    assert cursor.expire(T0) == [(12, p(12))]
