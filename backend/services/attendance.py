"""Phone check-in and check-out (POST /attendance): every rule in order, every event stored.

The hot path of the product, so it is kept to two statements through SQLAlchemy Core, no ORM
objects: one read (the lesson joined with its plan, site, the caller's enrolment and name, plus
bounded event rows: the caller's events in this lesson, whether this event id is a repeat, the
caller's last fix elsewhere, the few other fixes that could raise a risk flag) and one write (on
PostgreSQL the event and its LiveEvent row in a single statement, on an autocommit connection so
there is no BEGIN/COMMIT round trip either). No audit entry:
attendance events are their own append-only record. Rules live in backend/domain; this module
only gathers their inputs.

A rejected event is stored and committed like an accepted one (the unit of work commits because
the view returns the error instead of raising it), so nothing a phone sent is lost, and a repeat
of its event id returns the same error again.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import NamedTuple

from sqlalchemy import and_, bindparam, insert, literal, or_, select, true, union_all
from sqlalchemy.exc import IntegrityError

from ..domain import attendance as rules
from ..domain.errors import AppError
from ..domain.geo import distance_m, to_wgs84
from ..domain.judge import Event, Facts, Verdict, judge
from ..domain.vouchers import check_site_token
from ..driver_statement import DriverStatement
from ..extensions import db
from ..live import broker
from ..live.events import attendance_payload, queue_publication, store_live_event
from ..models import AttendanceEvent, Enrollment, Lesson, LiveEvent, Person, Site, TrainingPlan
from ..unit_of_work import own_connection
from .policies import params_for

_A = AttendanceEvent.__table__
_LV = LiveEvent.__table__
# Short aliases in the read: psycopg caches its parse of a statement only up to 4096 characters,
# and the read is the statement every check-in runs.
_EV = _A.alias("e")
_L = Lesson.__table__.alias("l")
_P = TrainingPlan.__table__.alias("p")
_S = Site.__table__.alias("s")
_E = Enrollment.__table__.alias("n")
_PE = Person.__table__.alias("pe")

# How far back a person's accepted fixes in other lessons count for the impossible-speed flag.
SPEED_LOOKBACK = timedelta(hours=12)
# Candidates for identical_coordinates: the SQL band is a little wider than the domain's 1e-6
# rounding, so the domain function makes the exact decision on the few rows it returns.
_COORD_BAND = 1.5e-6
_MAX_FLAG_CANDIDATES = 20

# The statements are built once; each request only binds parameters (SQLAlchemy caches the SQL).
# One read of attendance_events in bounded parts: the caller's accepted events in this lesson (the
# sequence rule) plus the row of this event id if it is a repeat; the caller's latest accepted fix
# elsewhere (impossible_speed); other trainees' accepted fixes of this lesson that could raise
# identical_coordinates or shared_device. Usually a handful of rows.
# Only phone events carry coordinates, and they count at the server's receipt (event_time), so
# received_at is the time of every fix read here.
_EVENT_COLS = (_EV.c.id, _EV.c.person_id, _EV.c.lesson_id, _EV.c.kind, _EV.c.accepted, _EV.c.lat, _EV.c.lon,
               _EV.c.received_at, _EV.c.origin, _EV.c.event_id, _EV.c.session_key)
_LAST_ELSEWHERE = (
    select(*_EVENT_COLS)
    .where(_EV.c.person_id == bindparam("pid"), _EV.c.accepted, _EV.c.lesson_id != bindparam("lid"),
           _EV.c.lat.is_not(None), _EV.c.received_at >= bindparam("since"))
    .order_by(_EV.c.received_at.desc()).limit(1).subquery()
)
# Two index range scans rather than one scan of every accepted fix of the lesson.
_SAME_PLACE = (
    select(*_EVENT_COLS)
    .where(_EV.c.lesson_id == bindparam("lid"), _EV.c.accepted,
           _EV.c.lat.between(bindparam("lat_lo"), bindparam("lat_hi")),
           _EV.c.lon.between(bindparam("lon_lo"), bindparam("lon_hi")), _EV.c.person_id != bindparam("pid"))
    .limit(_MAX_FLAG_CANDIDATES).subquery()
)
_SAME_DEVICE = (
    select(*_EVENT_COLS)
    .where(_EV.c.lesson_id == bindparam("lid"), _EV.c.accepted, _EV.c.session_key == bindparam("sk"),
           _EV.c.person_id != bindparam("pid"))
    .limit(_MAX_FLAG_CANDIDATES).subquery()
)
_EVENTS_STMT = union_all(
    select(*_EVENT_COLS).where(
        _EV.c.person_id == bindparam("pid"),
        or_(and_(_EV.c.accepted, _EV.c.lesson_id == bindparam("lid")),
            and_(_EV.c.origin == bindparam("origin"), _EV.c.event_id == bindparam("eid")))),
    select(_LAST_ELSEWHERE),
    select(_SAME_PLACE),
    select(_SAME_DEVICE),
)
_OUTCOME_STMT = (
    select(_A.c.accepted, _A.c.status_code, _A.c.reason, _A.c.details, _A.c.distance_m, _A.c.flags)
    .where(_A.c.id == bindparam("id"))
)
# The lesson with its plan's region, its site, the caller's active enrolment and name.
_CONTEXT_COLS = (_L.c.id, _L.c.mode, _L.c.starts_at, _L.c.ends_at, _L.c.class_hours, _L.c.require_site_qr,
                 _P.c.region_code, _P.c.status, _S.c.lat, _S.c.lon, _S.c.radius_m, _S.c.require_site_qr, _E.c.id, _PE.c.name,
                 _P.c.policy_params, _P.c.submitted_at)
_CONTEXT_JOIN = (
    _L.join(_P, _P.c.id == _L.c.plan_id)
    .outerjoin(_S, _S.c.id == _L.c.site_id)
    .outerjoin(_E, and_(_E.c.plan_id == _L.c.plan_id, _E.c.person_id == bindparam("pid"), _E.c.status == "active"))
    .outerjoin(_PE, _PE.c.id == bindparam("pid"))
)


def _combine(events_stmt):
    """Both reads in one round trip: the context columns (prefixed `x_`) beside every event row.

    Anchored on a one-row constant so the event rows (and a repeat's answer) come back even when
    the lesson does not exist, and the context comes back when there are no event rows.
    """
    one = select(literal(1).label("one")).subquery("o")
    evs = events_stmt.subquery("v")
    return (select(*[c.label(f"x{i}") for i, c in enumerate(_CONTEXT_COLS)], *evs.c)
            .select_from(one.outerjoin(_CONTEXT_JOIN, _L.c.id == bindparam("lid")).outerjoin(evs, true())))


class LessonContext(NamedTuple):
    """The lesson as the rules need it, with its plan's region, site, the caller's enrolment and name."""

    id: int
    mode: str
    starts_at: datetime
    ends_at: datetime
    class_hours: Decimal
    require_site_qr: bool
    region_code: str
    plan_status: str
    site_lat: float | None
    site_lon: float | None
    radius_m: int | None
    site_requires_qr: bool | None
    enrollment_id: int | None
    person_name: str | None
    policy_params: dict | None
    plan_submitted_at: datetime | None


_READ_STMT = _combine(_EVENTS_STMT)
# The check-in's read (both databases) and PostgreSQL's one-statement insert run on the driver's cursor:
# SQLAlchemy's per-call work cost more CPU than the driver's (backend/driver_statement.py).
_READ = DriverStatement(_READ_STMT)
_CTX_WIDTH = len(LessonContext._fields)
_INSERT_STMT = insert(_A)
_NULL_COLUMNS = {"face_distance": None, "device_id": None}


def _insert_with_live_stmt():
    """PostgreSQL: the event and its LiveEvent row in one statement (WITH ev AS (INSERT ...) INSERT ...)."""
    names = [c.name for c in _A.columns if c.name != "id"]
    ev = insert(_A).values({n: bindparam(n, type_=_A.c[n].type) for n in names}).returning(_A.c.id).cte("ev")
    return (insert(_LV).from_select(
        ["region_code", "lesson_id", "payload", "at"],
        select(bindparam("live_region", type_=_LV.c.region_code.type),
               bindparam("live_lesson", type_=_LV.c.lesson_id.type),
               bindparam("live_payload", type_=_LV.c.payload.type),
               bindparam("received_at", type_=_LV.c.at.type)).select_from(ev))
        .add_cte(ev).returning(_LV.c.id))


_INSERT_WITH_LIVE_STMT = _insert_with_live_stmt()
_INSERT_WITH_LIVE = DriverStatement(_INSERT_WITH_LIVE_STMT)


def policy(cfg, params: dict | None = None) -> rules.AttendancePolicy:
    """The attendance thresholds of a plan's policy (`params`, backend/domain/policy.py), or of the national
    built-in one; the risk-flag thresholds (speed, accuracy warning) are deployment settings."""
    if params is None:
        from .policies import builtin
        params = builtin(cfg)
    return rules.policy_from_params(params, flag_accuracy_m=float(cfg["FLAG_ACCURACY_M"]),
                                    max_speed_kmh=float(cfg["MAX_SPEED_KMH"]))


def event_time(source: str, captured_at: datetime | None, received_at: datetime) -> datetime:
    """When an event counts as having happened.

    A phone's own clock is not trusted, so mobile events count at the server's receipt; kiosks
    queue offline and make-ups are filed later, so theirs count at the captured time.
    """
    if source != "mobile" and captured_at is not None:
        return captured_at
    return received_at


@dataclass
class CheckIn:
    """One phone event as received (already schema-validated)."""

    event_id: str
    lesson_id: int
    kind: str
    lat: float
    lon: float
    accuracy_m: float
    coord_sys: str
    client_time: datetime
    site_token: str | None = None


@dataclass
class Outcome:
    """What became of one event: accepted (`body`), or rejected (`error`, stored all the same);
    `replayed` when the event id had been recorded before and this is its first outcome again."""

    body: dict | None = None
    error: AppError | None = None
    replayed: bool = False


def _accepted_body(event_id: str, distance: float | None, flags: list) -> dict:
    return {"event_id": event_id, "accepted": True,
            "distance_m": None if distance is None else round(distance, 1), "flags": list(flags)}


def _replay(row, event_id: str) -> Outcome:
    """The first outcome of an event id, again: 200 for an accepted event, the same error otherwise."""
    # A superseded event (an approved make-up replaced it, services/makeups.py) was accepted when it came.
    if row.accepted or row.reason == rules.SUPERSEDED:
        return Outcome(body=_accepted_body(event_id, row.distance_m, row.flags or []), replayed=True)
    return Outcome(error=AppError(row.reason, row.status_code, dict(row.details or {})), replayed=True)


def record_mobile_event(person_id: int, session_key: str, ev: CheckIn, now: datetime, cfg: dict,
                        token_key: bytes) -> Outcome:
    """Judge, store and publish one phone check-in/out; a repeated event id replays its first outcome."""
    if db.session().in_transaction():  # inside a caller's unit of work: read and write in it
        conn = db.session.connection()
        return _record(conn, conn, False, person_id, session_key, ev, now, cfg, token_key)
    if db.engine.dialect.name == "postgresql":
        # On PostgreSQL the event and its live row are one INSERT statement, so that statement can
        # be its own transaction: an autocommit connection saves the BEGIN and COMMIT round trips
        # of the hot path. The read before it sees committed data either way (READ COMMITTED),
        # and the unique indexes still settle races.
        with own_connection("single_statement") as conn:
            return _record(conn, conn, True, person_id, session_key, ev, now, cfg, token_key)
    # SQLite writes two statements: a transaction, which holds the database's one write lock from
    # its BEGIN IMMEDIATE. The read runs before it in a plain read transaction, as on PostgreSQL,
    # so the lock is held for the two inserts only: under gevent a worker waiting for the lock
    # stops all its requests, so the time the other process holds it is every request's latency.
    # The unique indexes settle races exactly as on PostgreSQL (_after_conflict).
    with own_connection("read_only") as reader:
        return _record(reader, None, False, person_id, session_key, ev, now, cfg, token_key)


def _record(conn, writer, autocommit: bool, person_id: int, session_key: str, ev: CheckIn, now: datetime,
            cfg: dict, token_key: bytes) -> Outcome:
    """record_mobile_event: read on `conn`, write on `writer` (None: the session's connection, taken
    only when writing); `autocommit` when each statement is its own transaction."""
    origin = f"p{person_id}"
    lat, lon = to_wgs84(ev.lat, ev.lon, ev.coord_sys)
    rows = _READ.rows(conn, {
        "pid": person_id, "lid": ev.lesson_id, "since": now - SPEED_LOOKBACK, "origin": origin, "eid": ev.event_id,
        "sk": session_key, "lat_lo": lat - _COORD_BAND, "lat_hi": lat + _COORD_BAND,
        "lon_lo": lon - _COORD_BAND, "lon_hi": lon + _COORD_BAND})
    ctx = LessonContext(*rows[0][:_CTX_WIDTH]) if rows[0].x0 is not None else None
    mine = []
    others = []
    for row in rows:
        if row.id is None:  # no event rows at all: only the context came back
            continue
        if row.person_id != person_id:
            others.append(row)
        elif row.origin == origin and row.event_id == ev.event_id:
            return _replay(conn.execute(_OUTCOME_STMT, {"id": row.id}).first(), ev.event_id)
        else:
            mine.append(row)
    params = params_for(ctx.region_code, ctx.policy_params, ctx.plan_submitted_at, now) if ctx is not None else None
    pol = policy(cfg, params)
    distance = None
    if ctx is not None and ctx.site_lat is not None:
        distance = distance_m(lat, lon, ctx.site_lat, ctx.site_lon)
    verdict = judge(Event(ev.kind, now), _facts(ctx, person_id, session_key, ev, lat, lon, distance, now, mine,
                                                 others, cfg, token_key, params), pol)
    error = _verdict(verdict)
    flags = list(verdict.flags)
    values = {"origin": origin, "event_id": ev.event_id, "person_id": person_id,
              "lesson_id": ctx.id if ctx is not None else None, "kind": ev.kind, "source": "mobile",
              "method": f"gps-{ev.coord_sys}", "captured_at": ev.client_time, "received_at": now,
              "lat": lat, "lon": lon, "accuracy_m": ev.accuracy_m, "distance_m": distance,
              "session_key": session_key, "accepted": verdict.accepted,
              "reason": verdict.code, "details": verdict.details, "flags": flags, "status_code": verdict.status,
              **_NULL_COLUMNS}
    if writer is None:
        conn.rollback()  # end the read transaction before the write one begins
        writer = db.session.connection()
    try:
        _store(writer, values, ctx, person_id, autocommit)
    except IntegrityError:
        # Either the same event id arrived twice at once, or another event of this person won
        # the one-accepted-per-kind race (uq_attendance_accepted_once). Nothing else was written.
        if autocommit:
            conn.rollback()
        db.session.rollback()
        return _after_conflict(person_id, ev, values, ctx)
    if error is not None:
        return Outcome(error=error)
    return Outcome(body=_accepted_body(ev.event_id, distance, flags))


def _store(conn, values: dict, ctx, person_id: int, autocommit: bool = False) -> None:
    """Insert the event and, for a known lesson, its LiveEvent row; publish once committed."""
    if ctx is None:
        conn.execute(_INSERT_STMT, values)
        return
    payload = attendance_payload(values, ctx.id, person_id, ctx.person_name)
    if conn.dialect.name == "postgresql":
        live_id = _INSERT_WITH_LIVE.scalar_one(conn, {**values, "live_region": ctx.region_code,
                                                       "live_lesson": ctx.id, "live_payload": payload})
    else:
        conn.execute(_INSERT_STMT, values)
        live_id = store_live_event(ctx.region_code, ctx.id, payload, values["received_at"])
    message = {"id": live_id, "region_code": ctx.region_code, "payload": payload}
    if autocommit:
        broker().publish(message)  # already committed: the statement was its own transaction
    else:
        queue_publication(message)


def _verdict(verdict: Verdict) -> AppError | None:
    """The rejection of the judge's verdict as the API answers it (None when accepted)."""
    if verdict.accepted:
        return None
    return AppError(verdict.code, verdict.status, verdict.details)


def _facts(ctx, person_id: int, session_key: str, ev: CheckIn, lat: float, lon: float, distance: float | None,
           now: datetime, mine, others, cfg: dict, token_key: bytes, params: dict | None) -> Facts:
    """What the judge needs about one phone event, from the rows the single read returned."""
    if ctx is None:
        return Facts(None, lesson_id=ev.lesson_id)
    check_in_at = None
    checked_out = False
    prior = []  # the caller's accepted fixes: impossible_speed
    for r in mine:
        if not r.accepted:
            continue
        if r.lat is not None:
            prior.append(rules.Fix(person_id, r.lat, r.lon, 0.0, r.received_at))
        if r.lesson_id == ctx.id:
            if r.kind == rules.CHECK_IN:
                check_in_at = r.received_at
            else:
                checked_out = True
    qr_required = bool(ctx.require_site_qr or ctx.site_requires_qr or (params or {}).get("require_site_qr"))
    nearby = [rules.Fix(r.person_id, r.lat if r.lat is not None else math.nan,
                        r.lon if r.lon is not None else math.nan, 0.0, r.received_at, r.session_key) for r in others]
    return Facts(rules.LessonTimes(ctx.starts_at, ctx.ends_at, ctx.class_hours), lesson_id=ctx.id,
                 enrolled=ctx.enrollment_id is not None, plan_status=ctx.plan_status,
                 offline=ctx.mode == "offline" and ctx.site_lat is not None,
                 checked_in=check_in_at is not None, checked_out=checked_out,
                 check_in_at=check_in_at, qr_required=qr_required, qr_missing=not ev.site_token,
                 qr_error=_site_qr_error(ctx, ev, now, cfg, token_key) if ev.site_token else None,
                 distance_m=distance, radius_m=ctx.radius_m, accuracy_m=ev.accuracy_m,
                 fix=rules.Fix(person_id, lat, lon, ev.accuracy_m, now, session_key), prior_fixes=prior,
                 nearby_fixes=nearby)


def _site_qr_error(ctx, ev: CheckIn, now: datetime, cfg: dict, token_key: bytes) -> AppError | None:
    """None when the scanned rotating site QR is current for this lesson, else why it proves nothing; where the
    QR is not required a bad one does not reject, the event is just `gps_only` (informational)."""
    try:
        check_site_token(token_key, ev.site_token, ctx.id, int(now.timestamp()), cfg["SITE_QR_PERIOD_S"])
    except AppError as err:
        return err
    return None


def _after_conflict(person_id: int, ev: CheckIn, values: dict, ctx) -> Outcome:
    """Resolve a unique-constraint loss in a fresh transaction: replay the winner, or store the loss."""
    code = "already_checked_in" if ev.kind == rules.CHECK_IN else "already_checked_out"
    lost = AppError(code, 409, {"reason": "concurrent"})
    values = dict(values, accepted=False, reason=lost.code, details=lost.details, flags=[],
                  status_code=lost.status)
    for _attempt in range(2):
        existing = db.session.execute(
            select(_A.c.accepted, _A.c.status_code, _A.c.reason, _A.c.details, _A.c.distance_m, _A.c.flags)
            .where(_A.c.origin == values["origin"], _A.c.event_id == ev.event_id)).first()
        if existing is not None:
            return _replay(existing, ev.event_id)
        try:
            _store(db.session.connection(), values, ctx, person_id)
        except IntegrityError:
            # The twin request with the same event id committed meanwhile: answer as it did.
            db.session.rollback()
            continue
        break
    return Outcome(error=lost)
