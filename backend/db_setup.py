"""Engine behaviour per database: SQLite gets WAL, foreign keys and write-serialising transactions."""
from __future__ import annotations

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
