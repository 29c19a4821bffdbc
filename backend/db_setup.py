"""Engine behaviour per database: SQLite gets WAL, foreign keys and write-serialising transactions."""
from __future__ import annotations

import logging
import sqlite3

from sqlalchemy import event
from sqlalchemy.engine import Engine


@event.listens_for(Engine, "connect")
def _sqlite_connect(dbapi_conn, _record):
    if not isinstance(dbapi_conn, sqlite3.Connection):
        return
    # Take over transaction control from pysqlite so BEGIN IMMEDIATE below is what runs.
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


@event.listens_for(Engine, "begin")
def _sqlite_begin(conn):
    # IMMEDIATE takes the write lock up front: concurrent writers queue on busy_timeout instead of
    # failing with SQLITE_BUSY when a read transaction later tries to write. A connection marked
    # read_only (the live stream's frequent polls) begins a plain deferred read instead, so it
    # never holds up a check-in.
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("BEGIN" if conn.get_execution_options().get("read_only") else "BEGIN IMMEDIATE")


def warm_pool(app) -> int:
    """Open the PostgreSQL pool's DB_POOL_SIZE connections now, before the worker takes requests.

    A burst that finds too few pooled connections opens them all at once (each a new server
    process that must load its caches and plan its statements afresh) and stalls every request of
    the worker meanwhile: measured as the 200-300 ms tail of the check-in benchmark. Returns how
    many were opened; a database that is not up yet only costs a warning.
    """
    from .extensions import db

    if not str(app.config.get("SQLALCHEMY_DATABASE_URI", "")).startswith("postgresql"):
        return 0
    opened = []
    with app.app_context():
        try:
            for _ in range(int(app.config.get("DB_POOL_SIZE") or 0)):
                conn = db.engine.connect()
                opened.append(conn)
                conn.exec_driver_sql("SELECT 1")
        except Exception:  # noqa: BLE001 — the pool opens connections on demand anyway
            logging.getLogger(__name__).warning("could not pre-open the database pool", exc_info=True)
        finally:
            for conn in opened:
                conn.close()
    return len(opened)


def database_busy(err: BaseException) -> bool:
    """The database did not take the work in time and a retry may get past it: any OperationalError from
    PostgreSQL (connections, lock and statement timeouts, serialisation failures), only a locked or busy
    database from SQLite (its other OperationalErrors, a missing table say, are defects). Requests answer
    it with 503 (backend/errors.py); jobs retry it (backend/jobs/context.py)."""
    from sqlalchemy.exc import OperationalError
    if not isinstance(err, OperationalError):
        return False
    if isinstance(err.orig, sqlite3.OperationalError):
        text = str(err.orig).lower()
        return "locked" in text or "busy" in text
    return True
