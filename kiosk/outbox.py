"""The attendance outbox: a SQLite queue the screen trusts before it says "OK".

States: ready -> inflight -> accepted | duplicate | rejected (with the server's reason).
WAL plus synchronous=FULL means a committed `put` survives a power cut; on start-up anything
left inflight (the upload may or may not have reached the server) goes back to ready, which is
safe because the server deduplicates by event_id. Payloads are JSON, never pickle.

Only `put` and a rejection need to outlive a power cut. Taking a batch (ready -> inflight), marking
it accepted or duplicate, and putting it back commit without waiting for the disk: losing them to a
power cut leaves the events ready (or inflight, which start-up turns into ready), they are sent
again and the server answers `duplicate`. Two fsyncs per 500-event upload fewer (bench/README.md,
"Kiosk sync").
"""
from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

READY, INFLIGHT = "ready", "inflight"
ACCEPTED, DUPLICATE, REJECTED = "accepted", "duplicate", "rejected"
FINAL_STATES = (ACCEPTED, DUPLICATE, REJECTED)
REQUIRED_FIELDS = ("event_id", "person_id", "lesson_id", "kind", "method", "captured_at")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL UNIQUE,
    person_id TEXT NOT NULL,
    lesson_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'ready'
        CHECK (state IN ('ready', 'inflight', 'accepted', 'duplicate', 'rejected')),
    reason TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_state ON outbox (state, seq);
CREATE INDEX IF NOT EXISTS outbox_person_lesson ON outbox (person_id, lesson_id, kind);
-- The event's JSON lives beside its queue row: SQLite rewrites a whole row (a face crop makes it
-- ~10 KB) for every state change, which made taking and marking a 500-event batch write ~10 MB.
-- Rows queued before this table existed keep their payload in outbox.payload ('' otherwise).
CREATE TABLE IF NOT EXISTS outbox_payloads (
    seq INTEGER PRIMARY KEY REFERENCES outbox (seq) ON DELETE CASCADE,
    payload TEXT NOT NULL
);
"""

# The event's JSON, wherever this row keeps it.
_PAYLOAD = "COALESCE((SELECT p.payload FROM outbox_payloads p WHERE p.seq = outbox.seq), outbox.payload)"


def _utc_now() -> datetime:
    return datetime.now(UTC)


def connect(path: str | Path) -> sqlite3.Connection:
    """A connection in WAL mode with synchronous=FULL, autocommit (transactions are explicit)."""
    conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False, timeout=30)
    conn.execute("PRAGMA journal_mode=WAL")
    # FULL, not WAL's usual NORMAL: NORMAL may lose the last commits on power loss, and the
    # screen has already told the trainee "OK" by then.
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA foreign_keys=ON")
    return conn


class Outbox:
    """Durable queue of attendance events awaiting upload; safe to share between threads."""

    def __init__(self, path: str | Path, clock: Callable[[], datetime] = _utc_now):
        self._conn = connect(path)
        self._lock = threading.Lock()
        self._clock = clock
        with self._lock:
            self._conn.executescript(_SCHEMA)
        self.recovered = self.requeue_inflight()

    def _now(self) -> str:
        return self._clock().astimezone(UTC).isoformat()

    def put(self, event: dict) -> bool:
        """Store one event durably; returns False if its event_id is already queued (a retry)."""
        missing = [f for f in REQUIRED_FIELDS if event.get(f) in (None, "")]
        if missing:
            raise ValueError(f"event lacks {missing}")
        now = self._now()
        payload = json.dumps(event, ensure_ascii=False, sort_keys=True)
        # One transaction, so one fsync: the row and its payload are durable together.
        with self._transaction(durable=True):
            cur = self._conn.execute(
                "INSERT OR IGNORE INTO outbox (event_id, person_id, lesson_id, kind, payload, created_at,"
                " updated_at) VALUES (?, ?, ?, ?, '', ?, ?)",
                (str(event["event_id"]), str(event["person_id"]), str(event["lesson_id"]), event["kind"], now, now))
            added = cur.rowcount == 1
            if added:
                self._conn.execute("INSERT INTO outbox_payloads (seq, payload) VALUES (?, ?)", (cur.lastrowid, payload))
        return added

    def take_batch(self, n: int = 500) -> list[dict]:
        """Up to `n` oldest ready events, now marked inflight."""
        return [json.loads(payload) for _, payload in self.take_payloads(n)]

    def take_payloads(self, n: int = 500) -> list[tuple[str, str]]:
        """Up to `n` oldest ready events as (event_id, JSON text as stored), now marked inflight.

        The uploader joins the stored texts into the request body as they are: decoding 500 events
        with their face crops (~5 MB) only to encode them again cost more than the rest of a batch.
        """
        now = self._now()
        with self._transaction(durable=False):
            rows = self._conn.execute(
                f"SELECT seq, event_id, {_PAYLOAD} FROM outbox WHERE state = 'ready' ORDER BY seq LIMIT ?",
                (n,)).fetchall()
            self._conn.executemany(
                "UPDATE outbox SET state = 'inflight', attempts = attempts + 1, updated_at = ? WHERE seq = ?",
                [(now, seq) for seq, _, _ in rows])
        return [(event_id, payload) for _, event_id, payload in rows]

    def mark(self, receipts: Iterable[dict]) -> dict[str, int]:
        """Record the server's per-event receipts; returns how many got each status.

        Only inflight events change; a receipt with an unknown status is ignored so the event is
        retried rather than lost.
        """
        now = self._now()
        counts: dict[str, int] = {}
        by_status: dict[str, list[tuple]] = {}
        for receipt in receipts:
            status = receipt.get("status")
            if status in FINAL_STATES:
                by_status.setdefault(status, []).append((status, receipt.get("reason"), now, str(receipt.get("event_id"))))
        # A rejection is kept durably: sent again, the event would come back as a duplicate without its reason.
        with self._transaction(durable=REJECTED in by_status):
            for status, rows in by_status.items():
                cur = self._conn.executemany(
                    "UPDATE outbox SET state = ?, reason = ?, updated_at = ? WHERE event_id = ? AND state = 'inflight'",
                    rows)
                if cur.rowcount > 0:
                    counts[status] = cur.rowcount
        return counts

    def release(self, event_ids: Iterable[str]) -> int:
        """Put inflight events back to ready (the upload failed or had no receipt for them)."""
        now = self._now()
        ids = [(now, str(e)) for e in event_ids]
        with self._transaction(durable=False):
            cur = self._conn.executemany(
                "UPDATE outbox SET state = 'ready', updated_at = ? WHERE event_id = ? AND state = 'inflight'", ids)
        return cur.rowcount

    @contextmanager
    def _transaction(self, durable: bool) -> Iterator[None]:
        """One write transaction under the lock; `durable=False` commits without waiting for the disk."""
        with self._lock:
            if not durable:
                self._conn.execute("PRAGMA synchronous=NORMAL")
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                try:
                    yield
                    self._conn.execute("COMMIT")
                except BaseException:
                    self._conn.execute("ROLLBACK")
                    raise
            finally:
                if not durable:
                    self._conn.execute("PRAGMA synchronous=FULL")

    def requeue_inflight(self) -> int:
        """Crash recovery: every inflight event goes back to ready; returns how many."""
        with self._lock:
            cur = self._conn.execute(
                "UPDATE outbox SET state = 'ready', updated_at = ? WHERE state = 'inflight'", (self._now(),))
        return cur.rowcount

    def depth(self) -> int:
        """Events not yet settled by the server (ready or inflight)."""
        with self._lock:
            (count,) = self._conn.execute(
                "SELECT COUNT(*) FROM outbox WHERE state IN ('ready', 'inflight')").fetchone()
        return count

    def counts(self) -> dict[str, int]:
        """Number of events per state."""
        with self._lock:
            rows = self._conn.execute("SELECT state, COUNT(*) FROM outbox GROUP BY state").fetchall()
        return dict(rows)

    def has_event(self, person_id: str, lesson_id: str, kind: str) -> bool:
        """Whether this kiosk recorded `kind` for the person and lesson, not counting rejected ones."""
        with self._lock:
            row = self._conn.execute(
                "SELECT 1 FROM outbox WHERE person_id = ? AND lesson_id = ? AND kind = ? AND state != 'rejected'"
                " LIMIT 1", (str(person_id), str(lesson_id), kind)).fetchone()
        return row is not None

    def has_person(self, person_id: str) -> bool:
        """Whether this kiosk recorded any event of the person that was not rejected (not a first visit)."""
        with self._lock:
            row = self._conn.execute(
                "SELECT 1 FROM outbox WHERE person_id = ? AND state != 'rejected' LIMIT 1",
                (str(person_id),)).fetchone()
        return row is not None

    def get(self, event_id: str) -> dict | None:
        """One event with its state and reason (for the status page and tests)."""
        with self._lock:
            row = self._conn.execute(
                f"SELECT {_PAYLOAD}, state, reason, attempts FROM outbox WHERE event_id = ?",
                (str(event_id),)).fetchone()
        if row is None:
            return None
        return {**json.loads(row[0]), "state": row[1], "reason": row[2], "attempts": row[3]}

    def prune(self, before: datetime) -> int:
        """Delete settled events last updated before `before` (the server keeps the record)."""
        with self._lock:
            cur = self._conn.execute(
                "DELETE FROM outbox WHERE state IN ('accepted', 'duplicate', 'rejected') AND updated_at < ?",
                (before.astimezone(UTC).isoformat(),))
        return cur.rowcount

    def close(self) -> None:
        """Close the database connection."""
        with self._lock:
            self._conn.close()
