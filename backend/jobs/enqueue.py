"""Enqueue a job once the current transaction commits: a latency hint, never the only way work gets done.

The rows a job works on are already committed when it is queued, and the periodic sweeps find them
anyway; so a queue that is down only delays the work, and an error enqueueing is logged, not raised.
"""
from __future__ import annotations

import logging

from flask import current_app
from sqlalchemy import event
from sqlalchemy.orm import Session

from ..extensions import db

log = logging.getLogger(__name__)
_PENDING = "jobs_pending"


def enqueue_after_commit(task, *args) -> None:
    """Queue `task(*args)` after the session's current transaction commits (once per task and args).

    Nothing happens if it rolls back, or when the app's JOBS_ENQUEUE is false (the test suite).
    """
    if not current_app.config.get("JOBS_ENQUEUE", True):
        return
    # Open the transaction now, so that its rollback (not just a later commit) settles the list.
    db.session.connection()
    pending = db.session.info.setdefault(_PENDING, [])
    if (task, args) not in pending:
        pending.append((task, args))


@event.listens_for(Session, "after_commit")
def _enqueue_pending(session: Session) -> None:
    for task, args in session.info.pop(_PENDING, ()):
        try:
            task(*args)
        except Exception:  # noqa: BLE001 — the request already succeeded; a sweep will pick the work up
            log.exception("could not enqueue %s%r", getattr(task, "__name__", task), args)


@event.listens_for(Session, "after_rollback")
def _drop_pending(session: Session) -> None:
    session.info.pop(_PENDING, None)
