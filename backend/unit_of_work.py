"""The one unit of work, and the one named way to commit beside it.

Every request (the role gate in backend/security/authz.py), every CLI command and every background
job body runs its writes inside `unit_of_work()`: commit on success, roll back on error. Services
flush and never commit.

A few writes must survive whatever the rest of their request does; they go through
`commit_side_effect(why)`, and nothing else calls `db.session.commit()` outside this module.
The one write outside the session is the phone check-in on PostgreSQL (backend/services/attendance.py):
a single INSERT on an autocommit connection, its own transaction by construction, when no unit of
work is open yet.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

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
