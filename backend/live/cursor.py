"""An ordered cursor over the global LiveEvent id sequence, fed by the broker and by database polls.

LiveEvent ids come from one sequence but are not committed in id order on PostgreSQL: a
transaction can take id 100, another id 101, and the second commit first. A stream that sent 101
at once and 100 later would hand the client a Last-Event-ID (101) that skips 100 on reconnect.
The cursor therefore emits strictly in id order: an id above a gap waits until the gap is filled
or until the gap has been open HOLD seconds (a rolled-back transaction leaves a permanent hole in
a sequence, so waiting for ever is not an option). Ids given up on are remembered for a while; if
one turns up after all it is emitted late, once — out of order is better than lost.

Pure Python: no Flask, no database; `now` is a monotonic time passed in, so tests drive the clock.
"""
from __future__ import annotations

from collections import OrderedDict

HOLD_S = 0.5
GIVEN_UP_MAX = 1024

Frame = tuple[int, dict]


class LiveCursor:
    """Emission state of one stream: the watermark, the events waiting behind a gap, the ids given up."""

    def __init__(self, watermark: int, hold: float = HOLD_S, given_up_max: int = GIVEN_UP_MAX):
        self.watermark = watermark  # every id <= watermark was emitted, out of scope, or given up
        self.hold = hold
        self.given_up_max = given_up_max
        self._buffer: dict[int, tuple[bool, dict | None, float]] = {}  # id -> (in_scope, payload, seen at)
        self._gap_since: float | None = None
        # id -> when it was given up; insertion order is id order, so the oldest leave first.
        self._given_up: OrderedDict[int, float] = OrderedDict()

    @property
    def gap_since(self) -> float | None:
        """When the current gap (missing ids below a buffered event) was first seen; None without one."""
        return self._gap_since

    @property
    def gap_deadline(self) -> float | None:
        """When the current gap will be given up; None without one."""
        return None if self._gap_since is None else self._gap_since + self.hold

    @property
    def buffered(self) -> int:
        """How many received events wait behind the gap."""
        return len(self._buffer)

    def given_up_ids(self, since: float | None = None) -> list[int]:
        """Ids given up on (at or after `since`), in id order: the ones a poll may still find late."""
        return [i for i, at in self._given_up.items() if since is None or at >= since]

    def offer(self, event_id: int, in_scope: bool, payload: dict | None, now: float) -> list[Frame]:
        """Take one event (from the broker or a poll); returns the frames that can be emitted now, in order."""
        if event_id <= self.watermark:
            if self._given_up.pop(event_id, None) is None:
                return []  # already emitted or passed: a duplicate from the other source
            # A transaction that outlived the hold committed after all: late beats lost.
            return [(event_id, payload)] if in_scope and payload is not None else []
        if event_id in self._buffer:
            return []
        if event_id != self.watermark + 1:
            self._buffer[event_id] = (in_scope, payload, now)
            if self._gap_since is None:
                self._gap_since = now
            return []
        self.watermark = event_id
        out = [(event_id, payload)] if in_scope and payload is not None else []
        out.extend(self._drain())
        return out

    def expire(self, now: float) -> list[Frame]:
        """Give up on a gap open for HOLD seconds or more; returns the buffered frames that releases, in order."""
        out: list[Frame] = []
        # Compared as gap_since + hold, the very sum gap_deadline reports, so a caller that wakes at
        # the deadline always finds the gap expired (a difference could round just below hold).
        while self._gap_since is not None and now >= self._gap_since + self.hold:
            first = min(self._buffer)
            self._give_up(self.watermark + 1, first - 1, now)
            self.watermark = first - 1
            out.extend(self._drain())
        return out

    def _drain(self) -> list[Frame]:
        """Release the buffered run that now follows the watermark, and date whatever gap remains."""
        out: list[Frame] = []
        while (entry := self._buffer.pop(self.watermark + 1, None)) is not None:
            self.watermark += 1
            in_scope, payload, _seen = entry
            if in_scope and payload is not None:
                out.append((self.watermark, payload))
        # The remaining gap has existed since the earliest event still waiting above it arrived.
        self._gap_since = min((seen for _s, _p, seen in self._buffer.values()), default=None)
        return out

    def _give_up(self, lo: int, hi: int, now: float) -> None:
        """Remember lo..hi as given up, keeping only the newest `given_up_max` ids."""
        # A huge jump in the sequence must not cost memory or time: only the top of it can be in flight.
        for i in range(max(lo, hi - self.given_up_max + 1), hi + 1):
            self._given_up[i] = now
        while len(self._given_up) > self.given_up_max:
            self._given_up.popitem(last=False)
