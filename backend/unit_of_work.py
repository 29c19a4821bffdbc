"""The one unit of work, and the one named way to commit beside it.

Every request (the role gate in backend/security/authz.py), every CLI command and every background
job body runs its writes inside `unit_of_work()`: commit on success, roll back on error. Services
flush and never commit.

A few writes must survive whatever the rest of their request does; they go through
`commit_side_effect(why)`, and nothing else calls `db.session.commit()` outside this module.
A few reads and one write run on a connection of their own instead of the session's transaction;
they open it through `own_connection(why)`, and nothing else calls `engine.connect()` for them: the
phone check-in's single INSERT on PostgreSQL (autocommit, its own transaction by construction), and
reads that must not take SQLite's write lock (the session's transactions begin IMMEDIATE there).
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.engine import Connection

from .domain.errors import AppError
from .extensions import db

# The deliberate side commits, each with the reason it cannot wait for the request's unit of work.
SIDE_COMMITS = {
    "device_nonce": "a replayed signed request must fail even if the first one fails later",
    "refresh_revocation": "a reused or refused refresh token's family stays revoked although the answer is an error",
    "idempotency_claim": "a concurrent repeat of the same Idempotency-Key must see the key is already taken",
    "idempotency_result": "the first response is stored after the request's unit of work has ended",
    "kept_error": "an error that records something (a code sent, a try counted, a rejected event) keeps it",
    "job_lease": "a leased row is visible to other workers before its work starts",
    "job_row": "each leased row's work commits on its own, so one bad row does not undo the others",
    "job_batch": "a job's batch is visible to other workers (and ends its read) before the next batch starts",
}

# The connections opened beside the session, each with the transaction shape the session cannot give.
OWN_CONNECTIONS = {
    "single_statement": ("AUTOCOMMIT", "one statement that is its own transaction: the phone check-in's event and "
                                       "live row in one INSERT on PostgreSQL, without BEGIN and COMMIT round trips"),
    "read_only": ("read_only", "a read that must not take SQLite's write lock nor hold anything after it "
                               "(the check-in's facts, a crop to re-verify, the live stream's polls, the people "
                               "whose card keys the worker computes)"),
}


@contextmanager
def unit_of_work() -> Iterator[None]:
    """Run the block as one transaction: commit on success, roll back on any error.

    An `AppError` with `keep_changes` still commits (through `commit_side_effect("kept_error")`)
    before it propagates: the error itself records something.
    """
    try:
        yield
        db.session.commit()
    except AppError as err:
        if err.keep_changes:
            commit_side_effect("kept_error")
        else:
            db.session.rollback()
        raise
    except BaseException:
        db.session.rollback()
        raise


def commit_side_effect(why: str) -> None:
    """Commit the session now, apart from the caller's unit of work; roll back and re-raise if that fails.

    Only for the writes named in SIDE_COMMITS, which must outlive an error answer or be seen by other
    requests and workers at once: the device nonce (replays fail even if this request fails later), the
    refresh-token revocation (survives the 401), the idempotency claim and stored result (a concurrent
    repeat sees the key taken), an error that records something (`AppError.keep_changes`), and the job
    engine's lease, per-row and per-batch commits. `why` names which one, so every side commit is greppable.
    """
    if why not in SIDE_COMMITS:
        raise ValueError(f"not a known side commit: {why!r}")
    try:
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise


@contextmanager
def own_connection(why: str) -> Iterator[Connection]:
    """A pooled connection of its own for one of the shapes in OWN_CONNECTIONS, returned to the pool after.

    "single_statement": autocommit, every statement its own transaction. "read_only": a plain read
    transaction (BEGIN, not BEGIN IMMEDIATE, on SQLite), rolled back when the block ends. A statement run
    on the driver's cursor instead (backend/driver_statement.py: the check-in's one-statement read) gets no
    BEGIN from SQLAlchemy: on SQLite the driver runs a SELECT in autocommit, one statement and one
    snapshot, which is all a single read needs; on PostgreSQL the driver opens the transaction itself.
    """
    if why not in OWN_CONNECTIONS:
        raise ValueError(f"not a known connection of its own: {why!r}")
    shape = OWN_CONNECTIONS[why][0]
    options = {"isolation_level": "AUTOCOMMIT"} if shape == "AUTOCOMMIT" else {"read_only": True}
    with db.engine.connect().execution_options(**options) as conn:
        yield conn
