"""The outbox: durable puts, batch states, receipts, and crash recovery of inflight events."""
import json
import sqlite3
import uuid
from datetime import timedelta

import pytest

from kiosk.outbox import Outbox
from tests.kiosk.kiosk_helpers import LESSON_START, FakeClock


def event(person_id=1, kind="check_in", lesson_id=101, **extra):
    return {"event_id": str(uuid.uuid4()), "person_id": person_id, "lesson_id": lesson_id, "kind": kind,
            "method": "card+face", "face_distance": 0.31, "captured_at": "2025-03-10T00:55:00.000+00:00",
            **extra}


@pytest.fixture
def db(tmp_path):
    return tmp_path / "kiosk.sqlite3"


@pytest.fixture
def outbox(db):
    box = Outbox(db, clock=FakeClock(LESSON_START))
    yield box
    box.close()


def test_database_is_wal_with_full_sync(outbox, db):
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        conn.close()
    assert outbox._conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_put_is_visible_to_another_connection_at_once(outbox, db):
    e = event()
    assert outbox.put(e) is True
    # What the screen relies on: a separate connection (a restarted process) sees the row.
    conn = sqlite3.connect(db)
    try:
        payload, state = conn.execute("SELECT p.payload, o.state FROM outbox o JOIN outbox_payloads p USING (seq)"
                                      ).fetchone()
    finally:
        conn.close()
    assert state == "ready"
    assert json.loads(payload) == e  # JSON, not pickle


def test_rows_queued_before_the_payload_table_are_still_sent(db):
    """A kiosk updated with events in its queue: rows that keep their JSON in outbox.payload."""
    old = event()
    conn = sqlite3.connect(db)
    try:
        conn.executescript("""CREATE TABLE outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, event_id TEXT NOT NULL UNIQUE,
            person_id TEXT NOT NULL, lesson_id TEXT NOT NULL, kind TEXT NOT NULL, payload TEXT NOT NULL,
            state TEXT NOT NULL DEFAULT 'ready', reason TEXT, attempts INTEGER NOT NULL DEFAULT 0,
            created_at TEXT NOT NULL, updated_at TEXT NOT NULL)""")
        conn.execute("INSERT INTO outbox (event_id, person_id, lesson_id, kind, payload, created_at, updated_at)"
                     " VALUES (?, ?, ?, ?, ?, 'x', 'x')", (old["event_id"], str(old["person_id"]),
                                                        str(old["lesson_id"]), old["kind"], json.dumps(old)))
        conn.commit()
    finally:
        conn.close()
    box = Outbox(db)
    try:
        new = event()
        assert box.put(new) is True
        assert [json.loads(p) for _, p in box.take_payloads(10)] == [old, new]
        assert box.get(old["event_id"])["event_id"] == old["event_id"]
    finally:
        box.close()


def test_put_same_event_id_twice_keeps_one(outbox):
    e = event()
    assert outbox.put(e) is True
    assert outbox.put(e) is False
    assert outbox.depth() == 1


def test_put_refuses_incomplete_events(outbox):
    e = event()
    del e["lesson_id"]
    with pytest.raises(ValueError):
        outbox.put(e)


def test_take_batch_marks_inflight_in_order_and_respects_n(outbox):
    events = [event(person_id=i) for i in range(5)]
    for e in events:
        outbox.put(e)
    batch = outbox.take_batch(3)
    assert [e["event_id"] for e in batch] == [e["event_id"] for e in events[:3]]
    assert outbox.counts() == {"inflight": 3, "ready": 2}
    assert [e["event_id"] for e in outbox.take_batch(10)] == [e["event_id"] for e in events[3:]]
    assert outbox.take_batch(10) == []


def test_mark_applies_receipts_and_ignores_unknown(outbox):
    a, b, c, d = (event(person_id=i) for i in range(4))
    for e in (a, b, c, d):
        outbox.put(e)
    outbox.take_batch(4)
    counts = outbox.mark([
        {"event_id": a["event_id"], "status": "accepted"},
        {"event_id": b["event_id"], "status": "duplicate"},
        {"event_id": c["event_id"], "status": "rejected", "reason": "outside_time_window"},
        {"event_id": d["event_id"], "status": "maybe"},
        {"event_id": "not-ours", "status": "accepted"},
    ])
    assert counts == {"accepted": 1, "duplicate": 1, "rejected": 1}
    assert outbox.get(c["event_id"])["reason"] == "outside_time_window"
    assert outbox.get(d["event_id"])["state"] == "inflight"
    assert outbox.release([d["event_id"]]) == 1
    assert outbox.get(d["event_id"])["state"] == "ready"
    assert outbox.depth() == 1


def test_receipts_only_settle_inflight_events(outbox):
    e = event()
    outbox.put(e)
    outbox.mark([{"event_id": e["event_id"], "status": "accepted"}])
    assert outbox.get(e["event_id"])["state"] == "ready"


def test_crash_recovery_puts_inflight_back_to_ready(db):
    box = Outbox(db)
    for i in range(3):
        box.put(event(person_id=i))
    taken = box.take_batch(2)
    box.mark([{"event_id": taken[0]["event_id"], "status": "accepted"}])
    # Simulate a crash: the process dies with one event inflight, without any clean shutdown.
    box._conn.close()
    reopened = Outbox(db)
    try:
        assert reopened.recovered == 1
        assert reopened.counts() == {"accepted": 1, "ready": 2}
        again = reopened.take_batch(10)
        assert taken[1]["event_id"] in {e["event_id"] for e in again}
        assert reopened.get(taken[1]["event_id"])["attempts"] == 2
    finally:
        reopened.close()


def test_has_event_ignores_rejected(outbox):
    e = event(kind="check_in")
    outbox.put(e)
    assert outbox.has_event(1, 101, "check_in")
    assert outbox.has_event("1", "101", "check_in")  # ids compare as text
    assert not outbox.has_event(1, 101, "check_out")
    outbox.take_batch(1)
    outbox.mark([{"event_id": e["event_id"], "status": "rejected", "reason": "not_enrolled"}])
    assert not outbox.has_event(1, 101, "check_in")


def test_prune_deletes_only_old_settled_events(db):
    clock = FakeClock(LESSON_START)
    box = Outbox(db, clock=clock)
    try:
        old, pending = event(person_id=1), event(person_id=2)
        box.put(old)
        box.put(pending)
        box.take_batch(1)
        box.mark([{"event_id": old["event_id"], "status": "accepted"}])
        clock.advance(40 * 86400)
        assert box.prune(clock() - timedelta(days=30)) == 1
        assert box.get(old["event_id"]) is None
        assert box.get(pending["event_id"])["state"] == "ready"
    finally:
        box.close()
