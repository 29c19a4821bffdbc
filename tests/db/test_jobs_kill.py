"""A worker SIGKILLed in the middle of a lease sweep: after a restart every due row is processed exactly once.

The sweep here is test-only (defined in this module, loaded into the worker with `--include`): each due
row takes a moment of work, then records its completion in a table, in the transaction that finishes it.
"""
from __future__ import annotations

import os
import signal
import time

import pytest
from huey import crontab
from sqlalchemy import Column, Integer, MetaData, String, Table, func, insert, select

from backend.extensions import db
from backend.jobs import sweep, sweep_due
from backend.models.types import UTCDateTime
from tests.db.jobs_helpers import start_worker, stop_worker, wait_for, worker_env

pytestmark = [pytest.mark.slow]

# Not the models' metadata: the migration tests compare that with the database.
META = MetaData()
ROWS = Table("jobs_test_rows", META, Column("id", Integer, primary_key=True),
             Column("state", String(8), nullable=False), Column("lease_until", UTCDateTime()))
DONE = Table("jobs_test_done", META, Column("id", Integer, primary_key=True),
             Column("row_id", Integer, nullable=False), Column("pid", Integer, nullable=False))
DUE = ROWS.c.state == "due"
N_ROWS = 10


@sweep("test-slow-rows", crontab(minute="*"))
def slow_rows(now, actor):
    """Test-only: each due row takes JOBS_TEST_ROW_S seconds of outside work, then its completion is recorded."""
    def work(row_id):
        time.sleep(float(os.environ.get("JOBS_TEST_ROW_S", "0.5")))
        db.session.execute(insert(DONE).values(row_id=row_id, pid=os.getpid()))
        return {"state": "done"}
    return {"finished": sweep_due(ROWS, DUE, work, limit=4)}


@pytest.fixture
def rows_table(app):
    """The test tables in the app's database, N_ROWS due rows; dropped afterwards."""
    META.create_all(db.engine)
    db.session.execute(insert(ROWS), [{"id": i, "state": "due"} for i in range(1, N_ROWS + 1)])
    db.session.commit()
    yield
    db.session.rollback()
    META.drop_all(db.engine)


def _read(stmt):
    rows = db.session.execute(stmt).all()
    db.session.commit()  # short transactions: never hold SQLite's write lock against the worker
    return rows


def _done_by_row() -> dict[int, list[int]]:
    out: dict[int, list[int]] = {}
    for row_id, pid in _read(select(DONE.c.row_id, DONE.c.pid)):
        out.setdefault(row_id, []).append(pid)
    return out


def _leased_due() -> set[int]:
    return {r.id for r in _read(select(ROWS.c.id).where(DUE, ROWS.c.lease_until.is_not(None)))}


def test_a_worker_killed_mid_sweep_leaves_no_row_undone_or_done_twice(app, tmp_path, rows_table):
    env = worker_env(tmp_path, app.config["SQLALCHEMY_DATABASE_URI"], JOB_LEASE_S="2", JOBS_TEST_ROW_S="0.5")
    log = tmp_path / "worker.log"
    first = start_worker(env, log, "--include", __name__)
    try:
        # Kill once some rows are done while a claimed batch is still in hand (due rows under a lease).
        wait_for(lambda: _done_by_row() and len(_leased_due()) >= 2, 60, first, log, interval=0.02)
        first.send_signal(signal.SIGKILL)
        assert first.wait(10) == -signal.SIGKILL
    finally:
        if first.poll() is None:
            first.kill()
    done_before, orphaned = _done_by_row(), _leased_due()
    assert 1 <= len(done_before) < N_ROWS and orphaned, (done_before, orphaned)

    second = start_worker(env, log, "--include", __name__)
    try:
        wait_for(lambda: len(_done_by_row()) == N_ROWS and not _read(select(ROWS.c.id).where(DUE)), 60, second, log)
    finally:
        code = stop_worker(second)
    text = log.read_text()
    assert code == 0, text[-3000:]

    done = _done_by_row()
    assert sorted(done) == list(range(1, N_ROWS + 1))
    assert all(len(pids) == 1 for pids in done.values()), done  # each completion recorded exactly once
    # The rows the dead worker had leased were re-claimed (their lease expired) and done by the new one.
    assert {row_id: done[row_id][0] for row_id in orphaned} == {row_id: second.pid for row_id in orphaned}
    assert _read(select(func.count()).select_from(ROWS).where(ROWS.c.lease_until.is_not(None)))[0][0] == 0
    # The dead worker's Huey lock on the sweep was cleared when the new one started.
    assert "Found stale locks" in text and "sweep:test-slow-rows" in text
