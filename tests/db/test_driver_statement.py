"""A statement on the driver's cursor (backend/driver_statement.py) reads and writes exactly what the same
statement through SQLAlchemy does, on SQLite and on PostgreSQL: values converted by the same type
processors, literals of the statement bound, and SQLAlchemy's exceptions raised."""
from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import bindparam, exc, insert, literal, select, text

from backend.driver_statement import DriverStatement
from backend.extensions import db
from backend.models import AttendanceEvent
from backend.services import attendance as service
from tests.api.attendance_fixtures import INSIDE, START, long_tokens, world  # noqa: F401

_A = AttendanceEvent.__table__
_RETURNED = (_A.c.id, _A.c.received_at, _A.c.captured_at, _A.c.accepted, _A.c.details, _A.c.flags, _A.c.lat,
             _A.c.reason, _A.c.session_key)
# Every value a bind parameter, as the check-in's insert (a bare insert(table) would bind every column, id too).
_INSERT = insert(_A).values({c.name: bindparam(c.name, type_=c.type) for c in _A.columns if c.name != "id"}) \
    .returning(*_RETURNED)


def _event(**changes) -> dict:
    values = {"origin": "p1", "event_id": str(uuid.uuid4()), "person_id": None, "lesson_id": None, "kind": "check_in",
              "source": "mobile", "method": "gps-wgs84", "captured_at": START - timedelta(seconds=3),
              "received_at": START, "lat": INSIDE[0], "lon": INSIDE[1], "accuracy_m": 8.0, "distance_m": 12.5,
              "face_distance": None, "device_id": None, "session_key": "s:1", "accepted": True, "reason": None,
              "details": {"限": 1, "nested": [1, "二"]}, "flags": ["shared_device"], "status_code": 201}
    values.update(changes)
    return values


@pytest.mark.parametrize("changes", [
    {},
    {"accepted": False, "reason": "outside_geofence", "details": {}, "flags": []},
    {"captured_at": None, "lat": None, "session_key": None},
    # Python None in a JSON column is JSON null through SQLAlchemy (none_as_null is off): the same here.
    {"details": None, "flags": None},
    # Another zone than UTC: stored as the same instant, returned in UTC.
    {"received_at": START.astimezone(__import__("zoneinfo").ZoneInfo("Asia/Shanghai"))},
])
def test_insert_returning_matches_sqlalchemy(app, changes):
    with db.engine.connect() as conn:
        ours = DriverStatement(_INSERT).rows(conn, _event(**changes))
        theirs = conn.execute(_INSERT, _event(**changes)).all()
        assert len(ours) == len(theirs) == 1
        assert tuple(ours[0])[1:] == tuple(theirs[0])[1:]
        assert ours[0].received_at.tzinfo is UTC and ours[0].received_at == START
        stored = conn.execute(text("SELECT id, details IS NULL, flags IS NULL FROM attendance_events ORDER BY id")).all()
        assert [tuple(r)[1:] for r in stored] == [(False, False), (False, False)]  # JSON null, not SQL NULL
        conn.rollback()


def test_a_naive_datetime_is_refused_as_through_sqlalchemy(app):
    naive = _event(received_at=datetime(2026, 12, 7, 9, 0))
    with db.engine.connect() as conn:
        with pytest.raises(exc.StatementError, match="naive datetime"):
            conn.execute(_INSERT, naive)
        conn.rollback()
        with pytest.raises(exc.StatementError, match="naive datetime") as caught:
            DriverStatement(_INSERT).rows(conn, naive)
        assert isinstance(caught.value.orig, ValueError)


def test_a_unique_violation_is_sqlalchemys_integrity_error_and_the_connection_goes_on(app):
    statement = DriverStatement(_INSERT)
    values = _event()
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        statement.rows(conn, values)
        with pytest.raises(exc.IntegrityError):
            statement.rows(conn, {**values, "reason": "again"})
        assert statement.scalar_one(conn, _event())  # the same connection still works
        conn.execute(_A.delete())


def test_literals_of_the_statement_are_bound_and_rows_have_names(app):
    statement = DriverStatement(select(literal(7).label("seven"), bindparam("given").label("given"),
                                       literal("培训").label("word")).limit(5))
    with db.engine.connect() as conn:
        (row,) = statement.rows(conn, {"given": "券"})
        assert (row.seven, row.given, row.word) == (7, "券", "培训")
        assert statement.scalar_one(conn, {"given": 1}) == 7
        with pytest.raises(exc.StatementError) as caught:
            statement.rows(conn, {})  # a value the statement needs is missing: no guessing
        assert isinstance(caught.value.orig, KeyError)


def test_scalar_one_wants_exactly_one_row(app):
    none = DriverStatement(select(_A.c.id).where(_A.c.id == bindparam("id")))
    with db.engine.connect() as conn, pytest.raises(exc.NoResultFound):
        none.scalar_one(conn, {"id": -1})


def test_the_check_in_read_returns_what_sqlalchemy_returns(world, clock):
    """The read of every check-in, on a lesson with events, through both paths: same rows, same values."""
    pid, h = world.person()
    other, h2 = world.person(name="李四")
    clock.set(START)
    assert world.post(h2).status_code == 201
    assert world.post(h).status_code == 201
    lat, lon = INSIDE
    band = 1e-5
    params = {"pid": pid, "lid": world.lesson.id, "since": START - service.SPEED_LOOKBACK, "origin": f"p{pid}",
              "eid": "not-sent", "sk": "s:none", "lat_lo": lat - band, "lat_hi": lat + band, "lon_lo": lon - band,
              "lon_hi": lon + band}
    with db.engine.connect() as conn:
        ours = service._READ.rows(conn, params)
        theirs = conn.execute(service._READ_STMT, params).all()
    assert [tuple(r) for r in ours] == [tuple(r) for r in theirs]
    assert len(ours) == 2  # the caller's own check-in and the other trainee's at the same place
    assert {r.person_id for r in ours} == {pid, other}
    ctx = service.LessonContext(*ours[0][:service._CTX_WIDTH])
    assert ctx.id == world.lesson.id and ctx.starts_at.tzinfo is UTC and ctx.class_hours == theirs[0].x4


def test_a_lost_connection_is_invalidated_and_the_pool_recovers(app):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("a server connection to lose: PostgreSQL (SQLite opens a file)")
    statement = DriverStatement(select(literal(1).label("one")))
    with db.engine.connect() as conn:
        backend_pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()
        conn.commit()
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as other:
            other.exec_driver_sql(f"SELECT pg_terminate_backend({int(backend_pid)})")
        with pytest.raises(exc.DBAPIError) as caught:
            statement.rows(conn, {})
        assert caught.value.connection_invalidated
    with db.engine.connect() as conn:  # the pool hands out a working connection again
        assert statement.scalar_one(conn, {}) == 1
