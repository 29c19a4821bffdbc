"""The one JSON error shape for every failure under /api, and the handlers that produce it."""
from __future__ import annotations

import logging

from apiflask import APIFlask
from apiflask.exceptions import HTTPError
from flask import current_app, g, request
from flask_limiter.errors import RateLimitExceeded
from sqlalchemy.exc import DataError, IntegrityError, OperationalError, StatementError
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound

from .db_setup import database_busy
from .domain.errors import AppError
from .domain.messages import message_for
from .extensions import db

log = logging.getLogger(__name__)

_HTTP_CODES = {400: "validation_error", 401: "unauthorized", 403: "forbidden", 404: "not_found",
               405: "method_not_allowed", 409: "conflict", 413: "payload_too_large",
               422: "validation_error", 429: "rate_limited"}
# How long a client should wait before it retries a request the database was too busy for.
BUSY_RETRY_AFTER_S = 2


def request_lang() -> str:
    """'en' when the client prefers English, else Simplified Chinese."""
    best = request.accept_languages.best_match(["zh-CN", "zh", "en"]) if request else None
    return "en" if best == "en" else "zh"


def error_body(code: str, details: dict | None = None, message: str | None = None) -> dict:
    """Build `{"error": {code, message, details}}`."""
    return {"error": {"code": code, "message": message or message_for(code, request_lang()),
                      "details": details or {}}}


def app_error_response(err: AppError):
    """Render an AppError, preferring its own wording in the request's language."""
    lang = request_lang()
    msg = (err.en if lang == "en" else err.zh) or message_for(err.code, lang)
    return error_body(err.code, err.details, msg), err.status, err.headers


def _validation_details(detail: dict) -> dict:
    """Flatten APIFlask's {location: {field: [messages]}} into {fields: {field: [messages]}}."""
    fields: dict = {}
    for _location, errs in (detail or {}).items():
        if isinstance(errs, dict):
            fields.update(errs)
    return {"fields": fields}


def _served(methods) -> bool:
    """Whether the path really matches a route for one of the methods werkzeug offers in a 405.

    Werkzeug notes a route's methods before its converters run, so an id the bounded `int` converter
    refuses (beyond the database's integer) made GET /plans/99999999999/lessons a 405 "use POST", while
    POST there is a 404 too: nothing is served at that path, which is a 404.
    """
    adapter = current_app.create_url_adapter(request)
    for method in methods or ():
        try:
            adapter.match(method=method)
            return True
        except HTTPException:
            continue
    return False


def init_app(app: APIFlask) -> None:
    """Register the error handlers."""

    @app.error_processor
    def _http_error(err: HTTPError):
        code = _HTTP_CODES.get(err.status_code, "error")
        details = _validation_details(err.detail) if err.status_code in (400, 422) and err.detail else {}
        if err.status_code == 400 and details.get("fields"):
            return error_body("validation_error", details), 422, err.headers
        return error_body(code, details), err.status_code, err.headers

    @app.errorhandler(AppError)
    def _app_error(err: AppError):
        db.session.rollback()
        return app_error_response(err)

    @app.errorhandler(RateLimitExceeded)
    def _rate_limited(err: RateLimitExceeded):
        resp = err.get_response()
        body = error_body("rate_limited", {"limit": str(err.description)})
        headers = {k: v for k, v in resp.headers.items() if k.lower().startswith(("retry-after", "x-ratelimit"))}
        return body, 429, headers

    @app.errorhandler(OverflowError)
    @app.errorhandler(DataError)
    def _out_of_range(err):
        # A number too large for the column (an id like 99999999999999999999): bad input, not a crash.
        db.session.rollback()
        return error_body("validation_error", {"reason": "out_of_range"}), 422

    @app.errorhandler(StatementError)
    def _statement(err: StatementError):
        # A value the column type cannot bind (a date like 0001-01-01 in Shanghai is before year 1 in UTC)
        # fails in SQLAlchemy's bind processing, wrapped in a StatementError: bad input too.
        if isinstance(err.orig, OverflowError):
            return _out_of_range(err)
        return _unexpected(err)

    @app.errorhandler(IntegrityError)
    def _integrity(err: IntegrityError):
        db.session.rollback()
        log.warning("integrity error: %s", err.orig)
        return error_body("conflict", {}), 409

    @app.errorhandler(OperationalError)
    def _database_busy(err: OperationalError):
        # The database did not take the request in time: SQLite's write lock still held when its busy timeout
        # ran out, a PostgreSQL connection lost or a lock or statement timeout. Nothing was written (the
        # transaction rolls back), so the answer is "busy, retry" rather than a crash: a kiosk keeps the batch
        # and sends it again after Retry-After, a phone says 稍后重试.
        if not database_busy(err):
            return _unexpected(err)
        db.session.rollback()
        log.warning("database busy (request %s): %s", getattr(g, "request_id", "-"), err.orig)
        return (error_body("service_busy", {"request_id": getattr(g, "request_id", None)}), 503,
                {"Retry-After": str(BUSY_RETRY_AFTER_S)})

    @app.errorhandler(HTTPException)
    def _http_exception(err: HTTPException):
        if isinstance(err, MethodNotAllowed) and not _served(err.valid_methods):
            err = NotFound()
        code = _HTTP_CODES.get(err.code or 500, "error")
        if not request.path.startswith("/api"):
            return err
        headers = {"Allow": err.valid_methods and ", ".join(err.valid_methods)} if err.code == 405 else {}
        return error_body(code), err.code, {k: v for k, v in headers.items() if v}

    @app.errorhandler(Exception)
    def _unexpected(err: Exception):
        db.session.rollback()
        log.exception("unhandled error (request %s)", getattr(g, "request_id", "-"))
        return error_body("internal_error", {"request_id": getattr(g, "request_id", None)}), 500

