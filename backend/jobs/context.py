"""Running a job body inside the Flask app: one app per process, a fresh app context and one unit of work per task."""
from __future__ import annotations

import threading

from flask import Flask, current_app, has_app_context

from ..db_setup import database_busy
from ..request_id import current_request_id
from ..unit_of_work import unit_of_work

_bound: Flask | None = None
_lock = threading.Lock()


def bind_app(app: Flask | None) -> None:
    """Make `app` the one tasks run in (the worker binds the app `flask --app backend` built); None unbinds."""
    global _bound
    _bound = app


def job_app() -> Flask:
    """The app for a task: the caller's (tests, immediate mode), else the bound one, else create_app() once."""
    global _bound
    if has_app_context():
        return current_app._get_current_object()
    if _bound is None:
        with _lock:
            if _bound is None:
                from .. import create_app
                _bound = create_app()
    return _bound


def in_app(fn, *args, **kwargs):
    """Call fn in a fresh app context as one unit of work: commit on success, roll back on any error."""
    token = current_request_id.set(None)  # a task is no request's work, even when run inline by one
    try:
        with job_app().app_context(), unit_of_work():
            return fn(*args, **kwargs)
    finally:
        current_request_id.reset(token)


def is_transient(exc: BaseException) -> bool:
    """Errors worth retrying after a pause: database/broker connectivity, locks, serialisation failures."""
    from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(exc, OperationalError):
        return database_busy(exc)
    if isinstance(exc, (InterfaceError, ConnectionError, TimeoutError)):
        return True
    try:
        from redis.exceptions import ConnectionError as RedisConnectionError
        from redis.exceptions import TimeoutError as RedisTimeoutError
    except ImportError:  # pragma: no cover - redis is a dependency
        return False
    return isinstance(exc, (RedisConnectionError, RedisTimeoutError))
