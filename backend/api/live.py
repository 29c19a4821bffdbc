"""Live attendance for supervisors: lessons in session now, and a server-sent event stream."""
from __future__ import annotations

from apiflask import APIBlueprint, Schema
from apiflask.fields import Integer, String
from flask import Response, current_app, request, stream_with_context

from ..clock import now
from ..live import stream
from ..live.cursor import HOLD_S
from ..live.slots import peer_closed_probe, stream_limit
from ..live.stream import KEEPALIVE_S, POLL_S, STREAM_MAX_S
from ..security.authz import actor, requires
from ..services import attendance_views as views
from .paging import page_list
from .schemas import ShanghaiDateTime

bp = APIBlueprint("live", __name__, tag="Live")


def _last_event_id() -> int | None:
    raw = request.headers.get("Last-Event-ID") or request.args.get("last_event_id")
    try:
        value = int(str(raw).strip())
    except (TypeError, ValueError):
        return None
    return value if value >= 0 else None


@bp.get("/live/stream")
@bp.doc(summary="Server-sent events: every attendance event in the supervisor's region (event: attendance), "
                "and trust flags raised after an event arrived (event: flag)",
        description="`id:` is the event's sequence number; reconnect with `Last-Event-ID` to replay what was "
                    "missed (the first block, `: connected`, already carries the resume point). Keep-alive "
                    "comments every 15 s. The response ends after an hour (`retry: 3000`), or at once when the "
                    "server process has no thread to lend a stream (`retry: 500`: a sync or one-thread worker, "
                    "or all its stream threads taken); reconnect after `retry` ms. Data: {lesson_id, person_id, "
                    "name_masked, kind, accepted, reason?, source, distance_m?, flags[], event_id, at}.",
        responses={200: {"description": "text/event-stream", "content": {"text/event-stream": {}}}})
@requires("supervisor", "admin")
def live_stream():
    a = actor()
    cfg = current_app.config
    scope = a.region_code if a.role == "supervisor" else None
    generator = stream.events(scope, _last_event_id(), float(cfg.get("LIVE_KEEPALIVE_S", KEEPALIVE_S)),
                        float(cfg.get("LIVE_STREAM_MAX_S", STREAM_MAX_S)), float(cfg.get("LIVE_POLL_S") or POLL_S),
                        float(cfg.get("LIVE_GAP_HOLD_S", HOLD_S)), stream_limit(current_app, request.environ),
                        peer_closed_probe(request.environ))
    return Response(stream_with_context(generator), mimetype="text/event-stream",
                    headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


class LiveLessonOut(Schema):
    lesson_id = Integer(attribute="lesson.id")
    plan_id = Integer(attribute="lesson.plan_id")
    title = String(attribute="lesson.title")
    site = String(allow_none=True, metadata={"description": "the site's name"})
    starts_at = ShanghaiDateTime(attribute="lesson.starts_at")
    ends_at = ShanghaiDateTime(attribute="lesson.ends_at")
    expected = Integer(metadata={"description": "active enrolments of the plan"})
    checked_in = Integer()
    checked_out = Integer()
    flagged = Integer(metadata={"description": "trainees with a blocking trust flag in this lesson"})
    rejected = Integer(metadata={"description": "events refused"})


@bp.get("/live/lessons")
@bp.output(LiveLessonOut(many=True))
@bp.doc(summary="Offline lessons in session now in the supervisor's region, with attendance counts")
@requires("supervisor", "admin")
def live_lessons():
    a = actor()
    scope = a.region_code if a.role == "supervisor" else None
    return page_list(views.live_lessons(scope, now(), current_app.config), default_per_page=500)
