"""The one error type business rules raise; the API layer turns it into the JSON error shape."""
from __future__ import annotations


class AppError(Exception):
    """A broken rule or bad input, with a stable snake_case code clients branch on.

    `status` follows the kind: 422 invalid input, 403 not allowed, 404 missing, 409 state conflict.
    `zh` / `en` override the message catalogue (backend/domain/messages.py) when given.
    `keep_changes`: the request's unit of work is committed although the answer is an error, because
    the error itself records something (a code just sent, a failed try counted).
    """

    def __init__(self, code: str, status: int = 422, details: dict | None = None,
                 zh: str | None = None, en: str | None = None, headers: dict | None = None,
                 keep_changes: bool = False):
        super().__init__(code)
        self.code = code
        self.status = status
        self.details = details or {}
        self.zh = zh
        self.en = en
        self.headers = headers or {}
        self.keep_changes = keep_changes

    def __repr__(self) -> str:
        return f"AppError({self.code!r}, {self.status}, {self.details!r})"


def invalid(code: str, **details) -> AppError:
    """422: the input breaks a rule."""
    return AppError(code, 422, details)


def forbidden(code: str = "forbidden", **details) -> AppError:
    """403: the actor may not do this."""
    return AppError(code, 403, details)


def conflict(code: str, **details) -> AppError:
    """409: the current state does not allow this."""
    return AppError(code, 409, details)


def not_found(code: str = "not_found", **details) -> AppError:
    """404: no such object (or not visible to the actor)."""
    return AppError(code, 404, details)
