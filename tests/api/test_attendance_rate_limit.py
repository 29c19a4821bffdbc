"""POST /attendance's rate limit (60 a minute per account) and the limiter's in-process storage."""
from __future__ import annotations

import time
import types

import pytest
from limits import parse
from limits.storage import storage_from_string
from limits.strategies import FixedWindowRateLimiter, MovingWindowRateLimiter

from backend.extensions import limiter
from backend.security import rate_storage
from backend.security.rate_storage import SweptMemoryStorage
from tests.api.attendance_fixtures import START, long_tokens, world  # noqa: F401


@pytest.fixture(autouse=True)
def limits_on(app_config):
    """The rate limits on, without Redis (the embedded default: counters in the process)."""
    app_config["RATELIMIT_ENABLED"] = True
    app_config.pop("RATELIMIT_STORAGE_URI", None)
    app_config["REDIS_URL"] = None
    return app_config


def _code(r):
    return r.get_json()["error"]["code"]


def test_check_ins_are_limited_per_account_by_the_tokens_subject(app, world, clock):
    assert isinstance(limiter.storage, SweptMemoryStorage)
    limiter.reset()
    _pid, h = world.person()
    _other, h2 = world.person(name="李四")
    clock.set(START)
    codes = [world.post(h).status_code for _ in range(60)]
    assert codes[0] == 201 and set(codes[1:]) == {409}  # already checked in, but every one counts
    r = world.post(h)
    assert r.status_code == 429 and _code(r) == "rate_limited" and int(r.headers["Retry-After"]) > 0
    # Another trainee at the same address is not affected ...
    assert world.post(h2).status_code == 201
    # The limit is checked after authentication, on the verified subject: a token with the same
    # subject and a forged signature is refused as unauthorized, not counted.
    token = h["Authorization"][7:]
    head, payload, sig = token.split(".")
    forged = f"{head}.{payload}.{'A' * len(sig)}"
    r = world.post({"Authorization": f"Bearer {forged}"})
    assert r.status_code == 401 and _code(r) == "unauthorized"


def _fake_clock(monkeypatch, offset: float) -> None:
    real = time.time
    monkeypatch.setattr("limits.storage.memory.time", types.SimpleNamespace(time=lambda: real() + offset))


def test_swept_memory_storage_counts_like_memory_and_needs_no_timer_thread(monkeypatch):
    storage = storage_from_string(f"{rate_storage.SCHEME}://")
    assert isinstance(storage, SweptMemoryStorage)
    started = storage.timer  # the base class starts one timer when built; this one cancels it
    fixed, moving = FixedWindowRateLimiter(storage), MovingWindowRateLimiter(storage)
    two = parse("2/minute")
    assert [fixed.hit(two, "a") for _ in range(3)] == [True, True, False]
    assert fixed.hit(two, "b") is True
    assert [moving.hit(two, "m") for _ in range(3)] == [True, True, False]
    assert storage.timer is started  # no thread was started for the hits ...
    started.join(1)
    assert not started.is_alive()  # ... and the first one ended without running
    # A minute later the windows are over: the hits pass again, expired or swept.
    _fake_clock(monkeypatch, 61)
    assert fixed.hit(two, "a") is True and moving.hit(two, "m") is True
    storage.sweep()
    assert set(storage.storage) == {"LIMITER/a/2/1/minute"} and "LIMITER/b/2/1/minute" not in storage.expirations
    assert len(storage.events["LIMITER/m/2/1/minute"]) == 1


def test_swept_memory_storage_sweeps_inline_every_few_seconds(monkeypatch):
    storage = SweptMemoryStorage()
    one = parse("1/second")
    limiter_ = FixedWindowRateLimiter(storage)
    for key in ("a", "b", "c"):
        assert limiter_.hit(one, key)
    _fake_clock(monkeypatch, 5)
    assert len(storage.storage) == 3  # nothing swept yet: the last sweep is recent
    storage._next_sweep = 0  # the sweep period has passed
    assert limiter_.hit(one, "d")
    assert set(storage.storage) == {"LIMITER/d/1/1/second"}


def test_check_ins_carry_the_window_in_headers_and_count_once(app, world, clock):
    # The route is counted by backend.security.rate_gate, not by Flask-Limiter: one hit per request
    # (a second, hidden counter would halve the allowance), the window in the usual headers.
    limiter.reset()
    _pid, h = world.person()
    clock.set(START)
    first = world.post(h)
    assert first.status_code == 201
    assert first.headers["X-RateLimit-Limit"] == "60" and first.headers["X-RateLimit-Remaining"] == "59"
    assert int(first.headers["X-RateLimit-Reset"]) > time.time()
    second = world.post(h)
    assert second.status_code == 409 and second.headers["X-RateLimit-Remaining"] == "58"
    for _ in range(58):
        world.post(h)
    r = world.post(h)
    assert r.status_code == 429 and r.get_json()["error"]["details"] == {"limit": "60 per 1 minute"}
    assert r.headers["X-RateLimit-Remaining"] == "0" and 0 < int(r.headers["Retry-After"]) <= 61


@pytest.fixture
def limits_off(limits_on):
    """RATELIMIT_ENABLED=false, set before the app is built (the limiter reads it at init)."""
    limits_on["RATELIMIT_ENABLED"] = False


def test_check_ins_are_not_counted_with_rate_limits_off(limits_off, app, world, clock):
    assert not limiter.enabled
    _pid, h = world.person()
    clock.set(START)
    codes = {world.post(h).status_code for _ in range(65)}
    assert 429 not in codes and "X-RateLimit-Limit" not in world.post(h).headers


def test_flask_limiters_hook_is_not_run_for_a_view_counted_here(app, world, clock, monkeypatch):
    # rate_gate.skip_limiter_hook_for_counted_views: POST /attendance skips Flask-Limiter's before_request
    # work altogether (it would find no limit there), while every other route still goes through it.
    _pid, h = world.person()
    clock.set(START)
    calls = []
    real = limiter.identify_request
    monkeypatch.setattr(limiter, "identify_request", lambda: calls.append(1) or real())
    r = world.post(h)
    assert r.status_code == 201 and r.headers["X-RateLimit-Remaining"] == "59"  # still counted, once
    assert calls == []
    world.client.get("/api/v1/healthz")
    assert calls  # an ordinary route: the hook ran


def test_a_route_with_flask_limiter_decorations_is_still_limited(app, client):
    # The wrapped hook must not lose Flask-Limiter's own limits: the staff login allows 600 a minute
    # per address and answers with its window in the headers.
    r = client.post("/api/v1/auth/login", json={"username": "nobody", "password": "wrong-password"})
    assert r.status_code == 401 and "X-RateLimit-Limit" in r.headers
