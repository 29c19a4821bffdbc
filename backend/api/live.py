"""Live attendance for supervisors: lessons in session now, and a server-sent event stream."""
from __future__ import annotations

import json
import time

from apiflask import APIBlueprint
from flask import Response, current_app, request, stream_with_context
from sqlalchemy import select

from ..clock import now
from ..domain.identity import region_in_scope, region_prefix
from ..extensions import db
from ..live import broker
from ..live.brokers import Lagged
from ..models import LiveEvent
from ..security.authz import actor, requires
from ..services import attendance_views as views
from .paging import page_list

bp = APIBlueprint("live", __name__, tag="Live")

KEEPALIVE_S = 15.0
STREAM_MAX_S = 3600.0  # clients reconnect (with Last-Event-ID) so long-lived connections get recycled
REPLAY_MAX = 1000
RETRY_MS = 3000


def _last_event_id() -> int | None:
    raw = request.headers.get("Last-Event-ID") or request.args.get("last_event_id")
    try:
        value = int(str(raw).strip())
    except (TypeError, ValueError):
        return None
    return value if value >= 0 else None


def _frame(event_id: int, payload: dict) -> str:
    data = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    return f"id: {event_id}\nevent: attendance\ndata: {data}\n\n"


def _replay(scope: str | None, after_id: int) -> list:
    stmt = select(LiveEvent.id, LiveEvent.payload).where(LiveEvent.id > after_id).order_by(LiveEvent.id)
    if scope is not None:
        stmt = stmt.where(LiveEvent.region_code.startswith(region_prefix(scope)))
    return db.session.execute(stmt.limit(REPLAY_MAX)).all()


def _events(scope: str | None, last_id: int | None, keepalive: float, max_s: float):
    # Subscribe before reading the replay so an event committed in between is in one or the other.
    sub = broker().subscribe()
    try:
        yield f"retry: {RETRY_MS}\n: connected\n\n"
        replayed: set[int] = set()
        if last_id is not None:
            rows = _replay(scope, last_id)
            for row in rows:
                replayed.add(row.id)
                yield _frame(row.id, row.payload)
            if len(rows) == REPLAY_MAX:
                # More were missed than one replay carries: end here, so the client reconnects with
                # the last id it got and the next replay continues without a gap.
                yield ": more to replay, reconnect with Last-Event-ID\n\n"
                return
        # Nothing below touches the database: give the connection back before blocking for hours.
        db.session.remove()
        deadline = time.monotonic() + max_s
        last_write = time.monotonic()
        while True:
            current = time.monotonic()
            if current >= deadline:
                return
            wait = max(0.0, min(keepalive - (current - last_write), deadline - current))
            try:
                msg = sub.get(timeout=wait)
            except Lagged:
                # Messages were lost on the way; ending makes the client reconnect and replay them.
                yield ": lagged, reconnect with Last-Event-ID\n\n"
                return
            if msg is not None and msg.get("id") not in replayed and region_in_scope(msg.get("region_code"), scope):
                yield _frame(msg["id"], msg["payload"])
                last_write = time.monotonic()
            elif time.monotonic() - last_write >= keepalive:
                yield ": keep-alive\n\n"
                last_write = time.monotonic()
    finally:
        sub.close()


@bp.get("/live/stream")
@bp.doc(summary="Server-sent events: every attendance event in the supervisor's region (event: attendance)",
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
                        float(cfg.get("LIVE_STREAM_MAX_S", STREAM_MAX_S)))
    return Response(stream_with_context(generator), mimetype="text/event-stream",
                    headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


@bp.get("/live/lessons")
@bp.doc(summary="Offline lessons in session now in the supervisor's region, with attendance counts")
@requires("supervisor", "admin")
def live_lessons():
    a = actor()
    scope = a.region_code if a.role == "supervisor" else None
    return page_list(views.live_lessons(scope, now(), current_app.config), default_per_page=500)
