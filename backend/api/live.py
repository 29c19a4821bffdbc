"""Live attendance for supervisors: lessons in session now, and a server-sent event stream."""
from __future__ import annotations

import json
import time

from apiflask import APIBlueprint
from flask import Response, current_app, request, stream_with_context
from sqlalchemy import case, func, null, or_, select

from ..clock import now
from ..domain.identity import region_in_scope, region_prefix
from ..extensions import db
from ..live import broker
from ..live.brokers import Lagged
from ..live.cursor import HOLD_S, LiveCursor
from ..models import LiveEvent
from ..security.authz import actor, requires
from ..services import attendance_views as views
from .paging import page_list

bp = APIBlueprint("live", __name__, tag="Live")

KEEPALIVE_S = 15.0
STREAM_MAX_S = 3600.0  # clients reconnect (with Last-Event-ID) so long-lived connections get recycled
REPLAY_MAX = 1000  # rows per database poll; a longer backlog is read in several polls
RETRY_MS = 3000
POLL_S = 0.5  # LIVE_POLL_S when the config has none (backend/config.py sets it)
GAP_CHECK_S = 0.1  # a gap is first looked up in the database this long after it appears
LATE_WINDOW_S = 60.0  # ids given up on are looked for this long; a transaction open longer is not waited for


def _last_event_id() -> int | None:
    raw = request.headers.get("Last-Event-ID") or request.args.get("last_event_id")
    try:
        value = int(str(raw).strip())
    except (TypeError, ValueError):
        return None
    return value if value >= 0 else None


def _frame(event_id: int, payload: dict) -> str:
    # Attendance events carry no `event` key; a trust flag raised later (re-verification) is `event: flag`.
    kind = payload.get("event", "attendance")
    data = json.dumps({k: v for k, v in payload.items() if k != "event"}, ensure_ascii=False, separators=(",", ":"))
    return f"id: {event_id}\nevent: {kind}\ndata: {data}\n\n"


def _read(stmt) -> list:
    """Run a read on its own short read-only connection (no write lock on SQLite, nothing held after)."""
    with db.engine.connect().execution_options(read_only=True) as conn:
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


def _events(scope: str | None, last_id: int | None, keepalive: float, max_s: float, poll_s: float, hold: float):
    # The database is the source of truth, the broker the fast path and the wake-up. A cursor puts
    # both sources in id order (backend/live/cursor.py), so a Last-Event-ID never skips an event.
    sub = broker().subscribe()
    try:
        # Subscribed before the first read, so an event committed in between is in one or the other.
        top = _max_id()
        # Reads below run on their own short connections (_read); release anything the request's
        # session holds before a stream that lives for an hour.
        db.session.remove()
        # A Last-Event-ID above everything stored (an emptied SQLite table restarts its ids) would
        # hide every new event; nothing above the maximum exists to be skipped.
        cursor = LiveCursor(top if last_id is None else min(last_id, top), hold=hold)
        yield f"retry: {RETRY_MS}\n: connected\n\n"
        client_id = None if last_id is None else cursor.watermark  # its Last-Event-ID if it reconnected now
        deadline = time.monotonic() + max_s
        last_write = time.monotonic()
        last_poll = float("-inf")
        next_poll = time.monotonic()  # at once: that is the replay
        frames: list = []
        while True:
            for event_id, payload in frames:
                yield _frame(event_id, payload)
                if client_id is not None and event_id < client_id:
                    # A late event (given up, then committed after all): put the client's resume point
                    # back, so that a reconnect does not replay everything after this event again.
                    yield f": late event\nid: {client_id}\n\n"
                else:
                    client_id = event_id
                last_write = time.monotonic()
            current = time.monotonic()
            if current >= deadline:
                return
            if current >= next_poll or any(last_poll < t <= current for t in _gap_checks(cursor)):
                rows = _poll(scope, cursor.watermark, cursor.given_up_ids(since=current - LATE_WINDOW_S))
                frames = []
                for row in rows:
                    frames += cursor.offer(row.id, region_in_scope(row.region_code, scope), row.payload, current)
                frames += cursor.expire(current)
                last_poll = current
                # A full batch means more is stored: fetch the next one as soon as this one is through
                # (a gap inside it is settled at the gap's deadline first).
                more = len(rows) == REPLAY_MAX and cursor.watermark >= rows[-1].id
                next_poll = current if more else current + poll_s
                continue
            frames = cursor.expire(current)
            if frames:
                continue
            wake = min(deadline, last_write + keepalive, next_poll, *(t for t in _gap_checks(cursor) if t > last_poll))
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
        sub.close()


@bp.get("/live/stream")
@bp.doc(summary="Server-sent events: every attendance event in the supervisor's region (event: attendance), "
                "and trust flags raised after an event arrived (event: flag)",
        description="`id:` is the event's sequence number; reconnect with `Last-Event-ID` to replay what was "
                    "missed. Keep-alive comments every 15 s. Data: {lesson_id, person_id, name_masked, kind, "
                    "accepted, reason?, source, distance_m?, flags[], event_id, at}.",
        responses={200: {"description": "text/event-stream", "content": {"text/event-stream": {}}}})
@requires("supervisor", "admin")
def live_stream():
    a = actor()
    cfg = current_app.config
    scope = a.region_code if a.role == "supervisor" else None
    generator = _events(scope, _last_event_id(), float(cfg.get("LIVE_KEEPALIVE_S", KEEPALIVE_S)),
                        float(cfg.get("LIVE_STREAM_MAX_S", STREAM_MAX_S)), float(cfg.get("LIVE_POLL_S") or POLL_S),
                        float(cfg.get("LIVE_GAP_HOLD_S", HOLD_S)))
    return Response(stream_with_context(generator), mimetype="text/event-stream",
                    headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


@bp.get("/live/lessons")
@bp.doc(summary="Offline lessons in session now in the supervisor's region, with attendance counts")
@requires("supervisor", "admin")
def live_lessons():
    a = actor()
    scope = a.region_code if a.role == "supervisor" else None
    return page_list(views.live_lessons(scope, now(), current_app.config), default_per_page=500)
