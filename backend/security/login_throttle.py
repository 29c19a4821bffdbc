"""Per-username back-off for failed password logins across all client addresses.

Flask-Limiter already limits failures per username *and address* (`LOGIN_FAILURES_PER_ADDRESS`), so
one address guessing is slowed without touching anyone else. This module adds the ceiling for an
attacker spread over many addresses, designed so that it slows guessing without handing the attacker
a way to lock the real user out:

- failures for a username are counted from all addresses in a window (`LOGIN_BACKOFF_WINDOW_S`,
  one hour from the first failure); the first `LOGIN_BACKOFF_FREE` cost nothing extra (more than one
  address can produce within its own per-address limits, so a single address never triggers this);
- every failure beyond that locks the username for BASE · 2^k seconds (k = 0, 1, 2 …), capped at
  `LOGIN_BACKOFF_CAP_S` (five minutes): while locked, attempts are answered 429 with Retry-After
  without the password being checked, so they neither count nor tell the attacker anything;
- the lock does not apply at an address the account signed in from successfully within
  `LOGIN_KNOWN_ADDRESS_DAYS`: the office a clerk always works from keeps working during an attack
  (that address remains under its own per-address limit).

A distributed attacker thus gets about FREE guesses per window plus one per five minutes however many
addresses it uses, a lock never outlasts five minutes after the attack stops, and a known address is
never locked. The counters live in the
limiter's storage: Redis when `REDIS_URL` is set, so every worker and instance shares them.
"""
from __future__ import annotations

import math
import time

from flask import current_app, request

from ..domain.errors import AppError
from ..extensions import limiter

_RETRY_AFTER_ENV = "peixunquan.login_backoff_retry_after"


def _storage():
    """The limiter's storage, or None when rate limiting is switched off (RATELIMIT_ENABLED=false)."""
    return limiter.storage if limiter.enabled else None


def _keys(username: str) -> tuple[str, str]:
    user = username[:64].lower()
    return f"login-backoff:fails:{user}", f"login-backoff:lock:{user}"


def _known_key(username: str) -> str:
    return f"login-backoff:known:{username[:64].lower()}:{request.remote_addr or '-'}"


def check(username: str) -> None:
    """Before the password is checked: 429 rate_limited while the username is locked for this address."""
    storage = _storage()
    if storage is None:
        return
    _, lock = _keys(username)
    if not storage.get(lock) or storage.get(_known_key(username)):
        return
    retry = max(1, math.ceil(storage.get_expiry(lock) - time.time()))
    request.environ[_RETRY_AFTER_ENV] = str(retry)
    raise AppError("rate_limited", 429, {"reason": "login_backoff", "retry_after_s": retry},
                   headers={"Retry-After": str(retry)})


def keep_retry_after(response):
    """after_request, run after Flask-Limiter's: put back the wait a back-off 429 computed.

    Flask-Limiter rewrites Retry-After on every response of a limited route from its own windows
    (rounding a 1 s lock down to "0"); the lock's own remaining time is what the client must wait.
    """
    retry = request.environ.get(_RETRY_AFTER_ENV)
    if retry is not None and response.status_code == 429:
        response.headers["Retry-After"] = retry
    return response


def failed(username: str) -> None:
    """Count a failed password for the username; past the free allowance, lock it for a doubling time."""
    storage = _storage()
    if storage is None:
        return
    cfg = current_app.config
    fails, lock = _keys(username)
    count = storage.incr(fails, int(cfg["LOGIN_BACKOFF_WINDOW_S"]))
    over = count - int(cfg["LOGIN_BACKOFF_FREE"])
    if over <= 0:
        return
    seconds = min(float(cfg["LOGIN_BACKOFF_BASE_S"]) * 2 ** min(over - 1, 32), float(cfg["LOGIN_BACKOFF_CAP_S"]))
    # A fresh key: incr only sets the expiry when it creates the key.
    storage.clear(lock)
    storage.incr(lock, max(1, math.ceil(seconds)))


def succeeded(username: str) -> None:
    """Remember that the account signed in from this address (exempt from the lock for a while).

    The failure count is kept: a success must not hand an ongoing attack a fresh allowance.
    """
    storage = _storage()
    if storage is None:
        return
    storage.incr(_known_key(username), int(current_app.config["LOGIN_KNOWN_ADDRESS_DAYS"]) * 86400)
