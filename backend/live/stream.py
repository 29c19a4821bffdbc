"""The supervisors' server-sent event stream: the loop that replays from the database, then follows the
broker, in id order (backend/live/cursor.py), with keep-alives; backend/api/live.py serves it."""
from __future__ import annotations

import json
import time

from flask import current_app
from sqlalchemy import case, func, null, or_, select

from ..domain.identity import region_in_scope, region_prefix
from ..extensions import db
from ..models import LiveEvent
from ..unit_of_work import own_connection
from .brokers import Lagged, broker
from .cursor import LiveCursor
from .slots import slots as stream_slots

KEEPALIVE_S = 15.0
STREAM_MAX_S = 3600.0  # clients reconnect (with Last-Event-ID) so long-lived connections get recycled
REPLAY_MAX = 1000  # rows per database poll; a longer backlog is read in several polls
RETRY_MS = 3000
# A short stream (no request thread to lend it) ends at once; its client is back this soon, so an
# event waits at most about this long plus one request.
SHORT_RETRY_MS = 500
PEER_CHECK_S = 1.0  # how often an open stream looks whether its client has gone
POLL_S = 0.5  # LIVE_POLL_S when the config has none (backend/config.py sets it)
GAP_CHECK_S = 0.1  # a gap is first looked up in the database this long after it appears
LATE_WINDOW_S = 60.0  # ids given up on are looked for this long; a transaction open longer is not waited for


def _frame(event_id: int, payload: dict) -> str:
    # Attendance events carry no `event` key; a trust flag raised later (re-verification) is `event: flag`.
    kind = payload.get("event", "attendance")
    data = json.dumps({k: v for k, v in payload.items() if k != "event"}, ensure_ascii=False, separators=(",", ":"))
    return f"id: {event_id}\nevent: {kind}\ndata: {data}\n\n"


def _read(stmt) -> list:
    """Run a read on its own short read-only connection (no write lock on SQLite, nothing held after)."""
    with own_connection("read_only") as conn:
        return conn.execute(stmt).all()


def _max_id() -> int:
    return _read(select(func.max(LiveEvent.id)))[0][0] or 0


def _poll(scope: str | None, after_id: int, late_ids: list[int]) -> list:
    """LiveEvent rows above `after_id` (and any of `late_ids`), in id order, at most REPLAY_MAX.

    Every region's rows come back, because out-of-scope ids fill gaps in the sequence too; the
    payload is only read for rows in scope.
    """
    payload = LiveEvent.payload
    if scope is not None:
        payload = case((LiveEvent.region_code.startswith(region_prefix(scope)), LiveEvent.payload), else_=null())
    wanted = LiveEvent.id > after_id
    if late_ids:
        wanted = or_(wanted, LiveEvent.id.in_(late_ids))
    stmt = (select(LiveEvent.id, LiveEvent.region_code, payload.label("payload"))
            .where(wanted).order_by(LiveEvent.id).limit(REPLAY_MAX))
    return _read(stmt)


def _gap_checks(cursor: LiveCursor) -> tuple[float, ...]:
    """When to look in the database for a pending gap: shortly after it appears, and at its deadline."""
    if cursor.gap_since is None:
        return ()
    # Under Redis the broker usually fills an out-of-order gap within milliseconds, so wait a little
    # first; without it the missing ids are another worker's, and only the database has them.
    return (cursor.gap_since + min(GAP_CHECK_S, cursor.hold), cursor.gap_deadline)


def events(scope: str | None, last_id: int | None, keepalive: float, max_s: float, poll_s: float, hold: float,
           limit: int | None = None, peer_closed=lambda: False):
    """The SSE frames of one supervisor's stream (`scope` a region prefix, None for all): the replay from
    `last_id`, then live events in id order, keep-alives, until `max_s` (or at once without a thread to lend)."""
    # The database is the source of truth, the broker the fast path and the wake-up. A cursor puts
    # both sources in id order (backend/live/cursor.py), so a Last-Event-ID never skips an event.
    # Taken here, not in the view: a generator that is never started runs no `finally` to give it back.
    counter = stream_slots(current_app)
    long_lived = counter.take(limit)
    sub = None
    try:
        sub = broker().subscribe()
        # Subscribed before the first read, so an event committed in between is in one or the other.
        top = _max_id()
        # Reads below run on their own short connections (_read); release anything the request's
        # session holds before a stream that lives for an hour.
        db.session.remove()
        # A Last-Event-ID above everything stored (an emptied SQLite table restarts its ids) would
        # hide every new event; nothing above the maximum exists to be skipped.
        cursor = LiveCursor(top if last_id is None else min(last_id, top), hold=hold)
        # The resume point goes out first: a client that reconnects before any event of its region
        # came (this stream ended, or its network dropped) resumes here, not at a later "now".
        client_id = cursor.watermark
        yield f"retry: {RETRY_MS if long_lived else SHORT_RETRY_MS}\n: connected\nid: {client_id}\n\n"
        # A short stream (no thread to lend it: sync worker, one thread, all lent) answers what is
        # stored and ends. It stays only to settle a gap its first poll found (`hold` seconds): its
        # reconnect would start the hold afresh, and a rolled-back id would then never be given up.
        deadline = time.monotonic() + (max_s if long_lived else 0.0)
        short_cap = deadline + 2 * hold
        last_write = time.monotonic()
        last_poll = float("-inf")
        next_poll = time.monotonic()  # at once: that is the replay
        next_peer_check = time.monotonic() + PEER_CHECK_S
        frames: list = []
        while True:
            for event_id, payload in frames:
                yield _frame(event_id, payload)
                if event_id < client_id:
                    # A late event (given up, then committed after all): put the client's resume point
                    # back, so that a reconnect does not replay everything after this event again.
                    yield f": late event\nid: {client_id}\n\n"
                else:
                    client_id = event_id
                last_write = time.monotonic()
            current = time.monotonic()
            settled = last_poll > float("-inf") and cursor.gap_since is None
            if current >= deadline and (long_lived or settled or current >= short_cap):
                if cursor.watermark > client_id:
                    # Out-of-scope rows moved the cursor on: the reconnect need not read them again.
                    yield f": reconnect\nid: {cursor.watermark}\n\n"
                return
            if current >= next_peer_check:
                if peer_closed():
                    return  # give the thread back now, not at the second failed keep-alive write
                next_peer_check = current + PEER_CHECK_S
            if current >= next_poll or any(last_poll < t <= current for t in _gap_checks(cursor)):
                rows = _poll(scope, cursor.watermark, cursor.given_up_ids(since=current - LATE_WINDOW_S))
                frames = []
                for row in rows:
                    frames += cursor.offer(row.id, region_in_scope(row.region_code, scope), row.payload, current)
                frames += cursor.expire(current)
                last_poll = current
                # A full batch means more is stored: fetch the next one as soon as this one is through
                # (a gap inside it is settled at the gap's deadline first). A short stream leaves the
                # rest to its reconnect.
                more = long_lived and len(rows) == REPLAY_MAX and cursor.watermark >= rows[-1].id
                next_poll = current if more else current + poll_s
                continue
            frames = cursor.expire(current)
            if frames:
                continue
            wake = min(last_write + keepalive, next_poll, next_peer_check,
                       *(t for t in _gap_checks(cursor) if t > last_poll))
            wake = min(wake, deadline if long_lived else short_cap)
            try:
                msg = sub.get(timeout=max(0.0, wake - current))
            except Lagged:
                # The broker dropped messages for this stream; the database has them all. Take a fresh
                # subscription (before reading, as at the start) and catch up in this same stream.
                sub.close()
                sub = broker().subscribe()
                next_poll = time.monotonic()
                continue
            if msg is not None and isinstance(msg.get("id"), int):
                frames = cursor.offer(msg["id"], region_in_scope(msg.get("region_code"), scope),
                                      msg.get("payload"), time.monotonic())
            # Checked after messages too: other regions' traffic must not starve this stream's keep-alive.
            if not frames and time.monotonic() - last_write >= keepalive:
                yield ": keep-alive\n\n"
                last_write = time.monotonic()
    finally:
        if sub is not None:
            sub.close()
        if long_lived:
            counter.release()
