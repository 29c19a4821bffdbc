"""Leases on "due" rows: how a sweep hands each row to exactly one worker and survives a killed one.

A row is due (a condition on its own columns, e.g. state = 'due'). A sweep claims a batch with one
conditional UPDATE that sets `lease_until = now + JOB_LEASE_S` only where the lease is free or
expired, and commits it; then each row's work and its conditional final update (only while the row
is still due) commit together. A worker killed mid-way leaves its rows leased: they are claimable
again once the lease runs out, and a row finished by someone else meanwhile is not finished twice.
Portable to SQLite (writes are serialised, BEGIN IMMEDIATE) and PostgreSQL (FOR UPDATE SKIP LOCKED
lets concurrent claimers take different rows; the UPDATE's own condition is the guarantee).
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import or_, select, update

from ..clock import now as clock_now
from ..extensions import db
from ..unit_of_work import commit_side_effect
from .context import is_transient

log = logging.getLogger(__name__)


def _table(table):
    return getattr(table, "__table__", table)


def _lease_seconds(lease_s: float | None) -> float:
    return float(lease_s if lease_s is not None else current_app.config["JOB_LEASE_S"])


def claim(table, due, now: datetime, *, limit: int = 50, lease_s: float | None = None,
          id_column: str = "id", lease_column: str = "lease_until") -> list[int]:
    """Lease up to `limit` rows matching `due` whose lease is free or expired; commits, returns their ids.

    `table` is a model or Table with an integer id and a nullable UTCDateTime lease column.
    The session is committed (the lease must be visible to other workers before the work starts),
    so call it with no other unit of work pending.
    """
    t = _table(table)
    ids, lease = t.c[id_column], t.c[lease_column]
    free = or_(lease.is_(None), lease < now)
    until = now + timedelta(seconds=_lease_seconds(lease_s))
    candidates = select(ids).where(due, free).order_by(ids).limit(limit).with_for_update(skip_locked=True)
    if db.session.get_bind().dialect.name == "postgresql":
        # As an IN-subquery PostgreSQL may run the candidates as the inner side of a nested-loop semi-join,
        # rescanned per outer row: each rescan re-checks the rows this UPDATE already leased (no longer free)
        # and takes the next ones, so the batch overshot `limit` (all due rows at once). A materialized CTE
        # is evaluated once.
        picked = candidates.cte("picked").prefix_with("MATERIALIZED")
        candidates = select(picked.c[id_column])
    stmt = update(t).where(ids.in_(candidates), due, free).values({lease: until}).returning(ids)
    try:
        claimed = sorted(db.session.execute(stmt).scalars())
    except BaseException:
        db.session.rollback()
        raise
    commit_side_effect("job_lease")
    return claimed


def finish(table, row_id: int, due, values: dict | None = None, *, id_column: str = "id",
           lease_column: str = "lease_until") -> bool:
    """The conditional final update: apply `values` and clear the lease only if the row is still due.

    False means another worker finished it first: roll back this row's work. Does not commit.
    """
    t = _table(table)
    stmt = update(t).where(t.c[id_column] == row_id, due).values({**(values or {}), lease_column: None})
    return db.session.execute(stmt).rowcount == 1


def sweep_due(table, due, work, *, limit: int = 50, lease_s: float | None = None,
              id_column: str = "id", lease_column: str = "lease_until", max_rows: int | None = None,
              clock=clock_now, on_finish=None) -> int:
    """Claim due rows batch by batch and handle each in its own transaction; returns how many were finished.

    `work(row_id)` does the row's work in the session and returns the column values that finish it
    (they must make the row no longer due), or None to leave it due until its lease runs out. The work
    and the final update commit together, or not at all if another worker finished the row first.
    A row whose work raises is rolled back, logged and retried after its lease; a transient error
    (database gone) stops the sweep and propagates so the task's retries take over.
    `max_rows` caps how many rows this sweep claims (a provider's per-minute budget); `on_finish(values)`
    is told each committed outcome; `clock` is read per batch.
    """
    finished = 0
    claimed = 0
    seen: set[int] = set()
    while max_rows is None or claimed < max_rows:
        # The clock is read per batch: a long sweep must not lease with a stale time.
        size = limit if max_rows is None else min(limit, max_rows - claimed)
        batch = [i for i in claim(table, due, clock(), limit=size, lease_s=lease_s, id_column=id_column,
                                  lease_column=lease_column) if i not in seen]
        if not batch:
            return finished
        seen.update(batch)
        claimed += len(batch)
        for row_id in batch:
            try:
                values = work(row_id)
                if values is not None and finish(table, row_id, due, values, id_column=id_column,
                                                 lease_column=lease_column):
                    commit_side_effect("job_row")
                    finished += 1
                    if on_finish is not None:
                        on_finish(values)
                else:
                    db.session.rollback()
            except Exception as exc:
                db.session.rollback()
                if is_transient(exc):
                    raise
                log.exception("row %s of %s failed; retried once its lease expires", row_id, _table(table).name)
    return finished
