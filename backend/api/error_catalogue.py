"""Which error codes each API operation can return, per HTTP status, computed from the code itself.

The OpenAPI document lists them (backend/api/__init__.py): hand-kept lists drift (schema-driven fuzzing
once found 34 answers whose code the document did not name, e.g. 422 listing only validation_error). The
codes of a view and of everything it calls come from the static analysis in error_analysis.py; the
common ones (401, 403, 404, 413, 422, 429, the idempotency codes) from the request hooks that run before
every view, where API.md's Conventions say they apply. What the analysis cannot read is listed below
with the reason; tests/api/test_error_catalogue.py fails when a new site needs an entry or one went stale.
"""
from __future__ import annotations

import functools
import inspect

from .error_analysis import Analyzer


def _judge_reasons(source: str) -> tuple[tuple[str, int], ...]:
    from ..domain import judge
    return judge.REASONS[source]


def _verify_reasons() -> tuple[str, ...]:
    from ..domain import vouchers
    return tuple(s for s in vouchers.STATES if s != vouchers.CLAIMED)


# Error sites whose code or status is computed from data the analysis cannot read, keyed by the function
# that holds the site: the (code, status) pairs the site can produce.
SITE_OVERRIDES: dict[str, tuple[tuple[str, int], ...]] = {
    # The status comes from the _ERRCODES table of code2session's errcodes (a dict lookup with a default).
    "backend.services.wechat:code_to_openid": (
        ("wechat_error", 401), ("wechat_error", 403), ("wechat_error", 502), ("wechat_error", 503),
        ("rate_limited", 429)),
    # The attendance judge's verdict (backend/domain/judge.py), answered as an error: its table of codes per
    # source, which tests/domain/test_judge.py reaches rule by rule.
    "backend.services.attendance:_verdict": _judge_reasons("mobile"),
    # A repeated event id answers its stored first outcome again: one of the codes the two sites above
    # and _after_conflict stored.
    "backend.services.attendance:_replay": tuple(dict.fromkeys(
        _judge_reasons("mobile") + (("already_checked_in", 409), ("already_checked_out", 409)))),
}
# Functions returning codes read from stored data: the strings they can return.
RETURN_OVERRIDES: dict[str, tuple[str, ...]] = {
    # Returns the voucher's stored status (a column value) unless it is claimed: any other voucher state.
    "backend.domain.vouchers:verify_reason": _verify_reasons(),
    # The code of the attendance judge's verdict on a kiosk event (the evidence reasons come from _prove).
    "backend.services.device_events:_judge": tuple(code for code, _ in _judge_reasons("kiosk")),
}


@functools.cache
def analyzer() -> Analyzer:
    """The package analysed once per process (about a second; the OpenAPI document is built once)."""
    return Analyzer(SITE_OVERRIDES, RETURN_OVERRIDES)


def function_key(func) -> str:
    """'module:qualname' of a (decorated) view function."""
    inner = inspect.unwrap(func)
    return f"{inner.__module__}:{inner.__qualname__}"


# ---- one operation ---------------------------------------------------------------------------------

_PEOPLE = {"trainee", "institution", "supervisor", "admin"}
# Request hooks that run before every view (backend/__init__.py _register), with when each applies.
_BEARER = "backend.security.actor:bearer_actor"
_DEVICE = "backend.security.devices:device_actor"
_JSON_LIMITS = "backend.security.json_limits:before_request"
_IDEMPOTENCY = "backend.api.idempotency:before_request"


def operation_errors(view, method: str, op: dict) -> dict[int, set[str]]:
    """Every error code an operation can answer with, per HTTP status: what its view and the functions it
    calls raise, and the common ones of API.md's Conventions where they apply."""
    a = analyzer()
    key = function_key(view)
    found = set(a.codes(key).fixed)
    roles = set(getattr(view, "_roles", None) or ("public",))
    if roles & _PEOPLE:
        found |= a.codes(_BEARER).fixed  # 401 unauthorized: no, expired or revoked token
    if "device" in roles:
        found |= a.codes(_DEVICE).fixed  # 401 bad signature / replayed nonce, 403 device_not_active
    if roles != {"public"}:
        found.add(("forbidden", 403))  # the role gate (security/authz.py gate)
    params = op.get("parameters", [])
    body = op.get("requestBody", {}).get("content", {})
    if any(p.get("in") == "path" for p in params):
        found.add(("not_found", 404))  # also an id beyond the database's integer (the bounded converter)
    if body or any(p.get("in") == "query" for p in params):
        found.add(("validation_error", 422))  # the request schema (webargs)
    if body:
        found.add(("payload_too_large", 413))  # MAX_CONTENT_LENGTH
    if "application/json" in body:
        found.add(("validation_error", 400))  # a body that is not JSON at all
        found |= a.codes(_JSON_LIMITS).fixed
    if method == "POST" and any(p.get("name") == "Idempotency-Key" for p in params):
        found |= a.codes(_IDEMPOTENCY).fixed
    if a.rate_limited(key):
        found.add(("rate_limited", 429))
    out: dict[int, set[str]] = {}
    for code, status in found:
        out.setdefault(status, set()).add(code)
    return out


# Kiosk receipts carry a rejection `reason` in a 200 body (one per event, the batch itself succeeds): the
# functions whose return values (or tuple element) those reasons are, and the one ingest() sets itself.
KIOSK_REASON_SOURCES = (("backend.services.device_events:_parse", 1),
                        ("backend.services.device_events:_judge", None),
                        ("backend.services.device_events:_prove", None))
KIOSK_OWN_REASONS = ("unknown_person",)


def body_reasons() -> dict[tuple[str, str], list[str]]:
    """Rejection reasons that are not errors but a field of a 200 body: (method, path) -> reasons."""
    kiosk = set(KIOSK_OWN_REASONS)
    for key, index in KIOSK_REASON_SOURCES:
        kiosk |= analyzer().returns(key, index)[0]
    return {("POST", "/device/events"): sorted(kiosk)}
