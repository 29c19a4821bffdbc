"""A hot route's own rate limit, counted straight on the limiter's storage and strategy.

Flask-Limiter resolves a decorated route's limits on every request (the view's qualified name, the
exemption scopes, the limit manager's defaults and decorations, twice: once in its before_request
hook and once in the decorator) and then reads the window again after the response for its headers.
On POST /attendance, the product's busiest route, that machinery was about 6 % of a worker's CPU per
check-in (bench/README.md "Check-in throughput"). Here the limit is parsed once and charged with one
`hit` (and one window read for the headers) on the same storage (the process's counters, or Redis
when REDIS_URL is set) and the same strategy Flask-Limiter built, so counts, windows and
RATELIMIT_ENABLED behave exactly as before. A view
marked `counted_here` is skipped by Flask-Limiter's request filter, before any of its resolution, so
nothing is counted twice and nothing is resolved for it.
"""
from __future__ import annotations

import time

from flask import Response, current_app, request
from limits import RateLimitItem, parse

from ..domain.errors import AppError
from ..extensions import limiter

_MARK = "_rate_gate_counted_here"


def counted_here(view):
    """Mark a view (right under its route decorator) as charging its own limit with `charge`."""
    setattr(view, _MARK, True)
    return view


@limiter.request_filter
def _counted_here() -> bool:
    """Flask-Limiter's request filter: True (skip it) for views that charge their own limit."""
    return getattr(current_app.view_functions.get(request.endpoint), _MARK, False)


def skip_limiter_hook_for_counted_views(app) -> None:
    """Run Flask-Limiter's before_request hook only for views that are not `counted_here`.

    The request filter above already makes the hook find no limits for such a view, but only after
    it has identified the request, resolved the exemption scopes and walked the meta limits (about
    2 % of a worker's CPU per check-in under load, bench/README.md). Asked first, the same question
    skips all of that. Call it right after `limiter.init_app(app)`, which registers the hook.
    """
    funcs = app.before_request_funcs.get(None, [])
    check = limiter._check_request_limit  # the bound method init_app registered

    def _check_request_limit() -> None:
        if not _counted_here():
            check()

    app.before_request_funcs[None] = [_check_request_limit if f == check else f for f in funcs]


def rule(text: str) -> RateLimitItem:
    """A limit in Flask-Limiter's notation ("60 per minute"), parsed once at import."""
    return parse(text)


def charge(item: RateLimitItem, key: str) -> dict[str, str]:
    """Count one request against `item` for `key`: the X-RateLimit headers to answer with, or 429.

    Raises AppError rate_limited (429, Retry-After) once the window's count is used up; rejected
    requests are not counted, as with Flask-Limiter.
    """
    if not limiter.enabled:
        return {}
    strategy = limiter.limiter
    allowed = strategy.hit(item, key)
    reset, remaining = strategy.get_window_stats(item, key)
    headers = {"X-RateLimit-Limit": str(item.amount), "X-RateLimit-Remaining": str(remaining),
               "X-RateLimit-Reset": str(int(reset))}
    if not allowed:
        headers["Retry-After"] = str(max(1, int(reset - time.time()) + 1))
        raise AppError("rate_limited", 429, {"limit": str(item)}, headers=headers)
    return headers


def with_headers(resp: Response, headers: dict[str, str]) -> Response:
    """The response with the limit's headers added (none when limits are off)."""
    resp.headers.update(headers)
    return resp
