"""The check-in's read stays an index walk however long a trainee's history grows (SQLite and PostgreSQL).

The impossible_speed part of the read wants the person's latest accepted fix in another lesson.
Before ix_attendance_person_fixes it fetched every event of the person and sorted them: 0.7 ms of
PostgreSQL CPU per check-in at ~70 events, growing with the history (see bench/README.md).
"""
from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import insert, text

from backend.extensions import db
from backend.models import AttendanceEvent, Lesson
from backend.services import attendance as service
from tests.api.attendance_fixtures import INSIDE, START, long_tokens, world  # noqa: F401


def _history(world, person_id: int, lessons: int) -> None:
    """A check-in and a check-out of one person at each of `lessons` past lessons, one a day."""
    first = START - timedelta(days=lessons)
    db.session.execute(insert(Lesson.__table__), [
        {"plan_id": world.plan.id, "title": f"第{i}课", "mode": "offline", "starts_at": first + timedelta(days=i),
         "ends_at": first + timedelta(days=i, hours=2), "class_hours": 2, "site_id": world.site.id,
         "require_site_qr": False} for i in range(lessons)])
    ids = db.session.execute(text("SELECT id FROM lessons WHERE starts_at < :t ORDER BY id"), {"t": START}).scalars().all()
    db.session.execute(insert(AttendanceEvent.__table__), [
        {"origin": f"p{person_id}", "event_id": str(uuid.uuid4()), "person_id": person_id, "lesson_id": lid,
         "kind": kind, "source": "mobile", "method": "gps-wgs84", "captured_at": first + timedelta(days=i, hours=h),
         "received_at": first + timedelta(days=i, hours=h), "lat": INSIDE[0], "lon": INSIDE[1], "accuracy_m": 5.0,
         "distance_m": 3.0, "session_key": "s:x", "accepted": True, "details": {}, "flags": [], "status_code": 201}
        for i, lid in enumerate(ids) for kind, h in (("check_in", 0), ("check_out", 2))])
    # Everyone else's fixes of the last hours (here without a person): reading by time alone is no shortcut.
    db.session.execute(insert(AttendanceEvent.__table__), [
        {"origin": "d1", "event_id": str(uuid.uuid4()), "person_id": None, "lesson_id": world.lesson.id,
         "kind": "check_in", "source": "kiosk", "method": "card", "captured_at": START - timedelta(seconds=i),
         "received_at": START - timedelta(seconds=i), "lat": INSIDE[0], "lon": INSIDE[1], "accepted": True,
         "details": {}, "flags": [], "status_code": 201} for i in range(2000)])
    db.session.commit()


def _plan(params: dict) -> str:
    conn = db.session.connection()
    compiled = service._READ_STMT.compile(dialect=conn.dialect)
    prefix = "EXPLAIN QUERY PLAN " if conn.dialect.name == "sqlite" else "EXPLAIN "
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("ANALYZE attendance_events")  # as autovacuum would have
    values = compiled.construct_params(params)
    if compiled.positional:
        values = tuple(values[name] for name in compiled.positiontup)
    rows = conn.exec_driver_sql(prefix + compiled.string, values).all()
    return "\n".join(str(r[-1]) for r in rows)


def test_latest_fix_elsewhere_is_read_through_its_index(world, clock):
    pid, _h = world.person()
    _history(world, pid, 200)
    lat, lon = INSIDE
    plan = _plan({"pid": pid, "lid": world.lesson.id, "since": START - service.SPEED_LOOKBACK, "origin": f"p{pid}",
                  "eid": "x", "sk": "s:y", "lat_lo": lat - 1e-6, "lat_hi": lat + 1e-6, "lon_lo": lon - 1e-6,
                  "lon_hi": lon + 1e-6})
    # No sort of the person's history: the newest fix comes straight off an index.
    assert "Sort" not in plan and "TEMP B-TREE" not in plan, plan
    assert "ix_attendance_person_fixes" in plan, plan


def test_other_trainees_fixes_are_read_through_the_flag_indexes(world, clock):
    # identical_coordinates and shared_device look at other trainees' accepted fixes of the lesson: through
    # the partial indexes on (lesson, lat) and (lesson, session), not a walk over every event of the lesson
    # (on SQLite the indexes' condition did not match the read's `accepted = 1`, and each check-in walked
    # the whole class's events: the worker's CPU per check-in grew with the class).
    pid, _h = world.person()
    _history(world, pid, 5)
    # The class's fixes spread over the site, as phones report them (at one point, a scan is the right plan).
    db.session.execute(text("UPDATE attendance_events SET lat = lat + (id % 400) * 0.000005 WHERE origin = 'd1'"))
    db.session.commit()
    lat, lon = INSIDE
    plan = _plan({"pid": pid, "lid": world.lesson.id, "since": START - service.SPEED_LOOKBACK, "origin": f"p{pid}",
                  "eid": "x", "sk": "s:y", "lat_lo": lat - 1e-6, "lat_hi": lat + 1e-6, "lon_lo": lon - 1e-6,
                  "lon_hi": lon + 1e-6})
    assert "ix_attendance_lesson_lat" in plan and "ix_attendance_lesson_session" in plan, plan


def test_sqlite_partial_indexes_never_test_a_boolean_bare():
    # SQLAlchemy writes `WHERE flag` as `flag = 1` on SQLite, and SQLite uses a partial index only when the
    # query repeats its condition word for word: an index written `WHERE flag` is never used by a read.
    import re

    from sqlalchemy import Boolean
    found = 0
    for table in db.metadata.tables.values():
        flags = [c.name for c in table.columns if isinstance(c.type, Boolean)]
        for index in table.indexes:
            where = index.dialect_options["sqlite"].get("where")
            if where is None:
                continue
            for flag in flags:
                if re.search(rf"\b{flag}\b", str(where)):
                    found += 1
                    assert re.search(rf"\b{flag}\s*=\s*[01]\b", str(where)), (index.name, str(where))
    assert found >= 4  # the attendance indexes on `accepted`
