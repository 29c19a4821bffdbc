"""backend.bulk_insert: many rows in one statement, the RETURNING ids in the order of the rows."""
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    event,
    select,
    text,
)

from backend.bulk_insert import copy_rows, insert_rows
from backend.extensions import db
from backend.models import LiveEvent
from backend.models.types import UTCDateTime
from backend.sql_lists import among

T0 = datetime(2026, 12, 7, 1, 0, tzinfo=UTC)
PAYLOADS = [{"kind": "check_in", "n": 1}, [], ["a", {"b": None}], {"名字": "张三", "flags": ["kiosk_burst"]},
            None, 0, "text", {"nested": {"deep": [1, 2, {"x": 1.5}]}}]


def _rows(n: int) -> list[dict]:
    return [{"region_code": f"{i % 1000:06d}", "lesson_id": None, "payload": PAYLOADS[i % len(PAYLOADS)],
             "at": T0 + timedelta(seconds=i)} for i in range(n)]


def _statements(app):
    seen = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        seen.append((statement, parameters))
    event.listen(db.engine, "before_cursor_execute", capture)
    return seen, lambda: event.remove(db.engine, "before_cursor_execute", capture)


def test_returned_ids_follow_the_rows(app):
    rows = _rows(500)
    seen, stop = _statements(app)
    try:
        ids = insert_rows(db.session.connection(), LiveEvent.__table__, rows, returning=LiveEvent.__table__.c.id)
    finally:
        stop()
    db.session.commit()
    assert len(ids) == 500 and len(set(ids)) == 500
    stored = {r.id: r for r in db.session.execute(select(LiveEvent)).scalars()}
    for row_id, row in zip(ids, rows, strict=True):
        got = stored[row_id]
        assert (got.region_code, got.payload, got.at) == (row["region_code"], row["payload"], row["at"])
    if db.engine.dialect.name == "postgresql":
        # One statement with one array per column: short SQL, the same text for every batch.
        inserts = [(s, p) for s, p in seen if s.lstrip().upper().startswith("INSERT")]
        assert len(inserts) == 1
        statement, params = inserts[0]
        assert "unnest" in statement and len(params) == 4 and len(statement) < 1000


def test_without_returning_and_when_other_rows_interleave(app):
    # Ids taken by other statements in between do not disturb the order of a later batch.
    first = insert_rows(db.session.connection(), LiveEvent.__table__, _rows(3), returning=LiveEvent.__table__.c.id)
    assert insert_rows(db.session.connection(), LiveEvent.__table__, _rows(7)) == []
    rows = _rows(40)[::-1]
    ids = insert_rows(db.session.connection(), LiveEvent.__table__, rows, returning=LiveEvent.__table__.c.id)
    db.session.commit()
    assert min(ids) > max(first)
    by_id = {r.id: r.at for r in db.session.execute(select(LiveEvent)).scalars()}
    assert [by_id[i] for i in ids] == [r["at"] for r in rows]
    assert db.session.query(LiveEvent).count() == 50


def test_rows_with_different_keys_and_no_rows(app):
    assert insert_rows(db.session.connection(), LiveEvent.__table__, []) == []
    rows = [{"region_code": "350102", "payload": {"a": 1}, "at": T0},
            {"region_code": "350103", "lesson_id": None, "payload": [1], "at": T0 + timedelta(minutes=1)}]
    ids = insert_rows(db.session.connection(), LiveEvent.__table__, rows, returning=LiveEvent.__table__.c.id)
    db.session.commit()
    assert [db.session.get(LiveEvent, i).region_code for i in ids] == ["350102", "350103"]


def _crop_storage() -> tuple[str, list]:
    """(attstorage of face_evidence.crop_enc, the table's reloptions) on PostgreSQL."""
    with db.engine.connect() as conn:
        storage = conn.execute(text(
            "SELECT attstorage FROM pg_attribute WHERE attrelid = 'face_evidence'::regclass AND attname = 'crop_enc'"
        )).scalar()
        options = conn.execute(text("SELECT reloptions FROM pg_class WHERE oid = 'face_evidence'::regclass")).scalar()
    return storage, options or []


def test_copy_rows_stores_what_an_insert_would(app):
    # Every column type the COPY path knows, NULLs, bytes that are not text, aware datetimes.
    table = Table("copy_probe", MetaData(), Column("id", Integer, primary_key=True), Column("n", Integer),
                  Column("big", BigInteger), Column("x", Float), Column("blob", LargeBinary), Column("s", String(12)),
                  Column("t", Text), Column("ok", Boolean), Column("at", UTCDateTime()))
    table.create(db.engine)
    try:
        rows = [{"n": i, "big": 2**40 + i, "x": None if i % 3 == 0 else i / 7, "blob": bytes([i % 256, 0, 255]) * 50,
                 "s": f"状态{i}", "t": "a\tb\nc\\d" if i % 2 else None, "ok": i % 2 == 0,
                 "at": (T0 + timedelta(minutes=i)).astimezone(timezone(timedelta(hours=8)))} for i in range(300)]
        seen, stop = _statements(app)
        try:
            copy_rows(db.session.connection(), table, rows)
        finally:
            stop()
        db.session.commit()
        got = [dict(r._mapping) for r in db.session.execute(select(table).order_by(table.c.n))]
        assert [{k: v for k, v in r.items() if k != "id"} for r in got] == rows
        inserts = [s for s, _ in seen if s.lstrip().upper().startswith("INSERT")]
        # PostgreSQL: one binary COPY, no INSERT statement at all; elsewhere the plain executemany.
        if db.engine.dialect.name == "postgresql":
            assert inserts == []
        else:
            assert inserts
        copy_rows(db.session.connection(), table, [])  # nothing to do, no statement
    finally:
        db.session.rollback()
        table.drop(db.engine)


def test_among_matches_in_and_keeps_one_short_statement(app):
    rows = _rows(30)
    ids = insert_rows(db.session.connection(), LiveEvent.__table__, rows, returning=LiveEvent.__table__.c.id)
    db.session.commit()
    seen, stop = _statements(app)
    try:
        for wanted in ([], ids[:1], ids[::3], ids + [10**9], set(ids[5:9])):
            got = set(db.session.execute(select(LiveEvent.id).where(among(db.session, LiveEvent.id, wanted))).scalars())
            assert got == set(wanted) & set(ids)
    finally:
        stop()
    if db.engine.dialect.name == "postgresql":
        # The same short text whatever the number of values: psycopg converts it once.
        assert len({s for s, _ in seen}) == 1 and all(len(s) < 300 for s, _ in seen)


def test_face_crops_stay_uncompressed_in_the_row_on_postgresql(app):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("a PostgreSQL storage setting")
    assert _crop_storage() == ("e", ["toast_tuple_target=8160"])


def test_attendance_rows_with_mixed_numbers_and_nulls(app):
    # What a kiosk may send: a distance as a JSON integer next to floats, NULL columns, non-ASCII text.
    from backend.models import AttendanceEvent
    t = AttendanceEvent.__table__
    base = {"origin": "d1", "kind": "check_in", "source": "kiosk", "method": "card+face", "accepted": True,
            "reason": None, "captured_at": T0, "received_at": T0, "details": {"名字": "张三"}, "flags": [],
            "status_code": 201}
    rows = [dict(base, event_id=f"mix-{i}", face_distance=[0, 0.31, None, 1][i % 4]) for i in range(8)]
    keys = [c for c in rows[0] if c in t.c]
    rows = [{k: r[k] for k in keys} for r in rows]
    ids = insert_rows(db.session.connection(), t, rows, returning=t.c.id)
    db.session.commit()
    got = {e.id: e for e in db.session.execute(select(AttendanceEvent).where(AttendanceEvent.id.in_(ids))).scalars()}
    assert [got[i].face_distance for i in ids] == [r["face_distance"] for r in rows]
    assert [got[i].details for i in ids] == [{"名字": "张三"}] * 8
