"""backend.bulk_insert: many rows in one statement, the RETURNING ids in the order of the rows."""
from datetime import UTC, datetime, timedelta, timezone

from sqlalchemy import event, select

from backend.bulk_insert import insert_rows
from backend.extensions import db
from backend.models import LiveEvent

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
