"""Rate limits on sign-in keyed on the verified subject (issue 13, finding 4): refresh per token family
behind a load balancer, password failures per username and address with a capped back-off across
addresses, the client address from TRUSTED_PROXIES, and the counts shared through Redis."""
from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from werkzeug.security import generate_password_hash

from tests.conftest import TEST_KEYS

API = "/api/v1"
REPO = Path(__file__).resolve().parents[2]
REDIS_URL = os.environ.get("TEST_REDIS_URL")
LB = {"REMOTE_ADDR": "10.0.0.2"}  # every request reaches the app from the load balancer


@pytest.fixture
def limited(app_config):
    """Build an app with the rate limits on (fresh in-memory counters); returns a factory(**config)."""
    from backend import create_app
    from backend.extensions import db, limiter
    made = []

    def make(**over):
        application = create_app(dict(app_config, RATELIMIT_ENABLED=True, **over))
        ctx = application.app_context()
        ctx.push()
        made.append(ctx)
        limiter.reset()
        return application
    yield make
    for ctx in reversed(made):
        db.session.remove()
        db.engine.dispose()
        ctx.pop()


def _user(username: str, password: str = "right-password-1") -> None:
    from backend.extensions import db
    from backend.models import User
    db.session.add(User(username=username, password_hash=generate_password_hash(password, method="pbkdf2:sha256:1000"),
                        role="admin", created_at=datetime.now(UTC)))
    db.session.commit()


def _login(c, username: str, password: str, addr: str):
    return c.post(f"{API}/auth/login", json={"username": username, "password": password},
                  environ_base={"REMOTE_ADDR": addr})


def _via(client_addr: str) -> dict:
    return {"X-Forwarded-For": client_addr}


def test_junk_refreshes_behind_a_load_balancer_do_not_break_real_sessions(limited):
    """61 junk refreshes from one client used to exhaust the load balancer address's budget: every
    user's refresh then failed with 429 and the web client logged them out."""
    c = limited(TRUSTED_PROXIES=1).test_client()
    _user("clerk")
    r = c.post(f"{API}/auth/login", json={"username": "clerk", "password": "right-password-1"},
               headers=_via("203.0.113.7"), environ_base=LB)
    assert r.status_code == 200
    refresh_token = r.get_json()["refresh_token"]
    junk = [c.post(f"{API}/auth/refresh", json={"refresh_token": f"junk-{i:04d}-xxxxxxxx"},
                   headers=_via("198.51.100.9"), environ_base=LB).status_code for i in range(61)]
    assert junk[:60] == [401] * 60 and junk[60] == 429  # the junk sender meets its own ceiling
    r = c.post(f"{API}/auth/refresh", json={"refresh_token": refresh_token}, headers=_via("203.0.113.7"),
               environ_base=LB)
    assert r.status_code == 200, r.get_json()
    # Junk from another client behind the same balancer is still judged on its own (401, not 429).
    r = c.post(f"{API}/auth/refresh", json={"refresh_token": "junk-other-client"}, headers=_via("203.0.113.8"),
               environ_base=LB)
    assert r.status_code == 401


def test_a_forged_signature_counts_as_junk_not_as_the_family(limited):
    import jwt
    c = limited(REFRESH_JUNK_LIMIT_PER_ADDRESS="3 per minute").test_client()
    _user("clerk")
    pair = _login(c, "clerk", "right-password-1", "203.0.113.7").get_json()
    claims = jwt.decode(pair["refresh_token"], options={"verify_signature": False})
    forged = jwt.encode(claims, b"not-the-server-key-0123456789abcdef", algorithm="HS256")
    codes = [c.post(f"{API}/auth/refresh", json={"refresh_token": forged},
                    environ_base={"REMOTE_ADDR": "203.0.113.7"}).status_code for _ in range(4)]
    assert codes == [401, 401, 401, 429]
    # Same address, the real token: its family's budget is untouched by the forgeries.
    r = c.post(f"{API}/auth/refresh", json={"refresh_token": pair["refresh_token"]},
               environ_base={"REMOTE_ADDR": "203.0.113.7"})
    assert r.status_code == 200


def test_refresh_budget_is_per_session(limited):
    c = limited(REFRESH_LIMIT_PER_FAMILY="3 per minute").test_client()
    _user("clerk")
    mine = _login(c, "clerk", "right-password-1", "203.0.113.7").get_json()["refresh_token"]
    theirs = _login(c, "clerk", "right-password-1", "203.0.113.7").get_json()["refresh_token"]
    codes = []
    for _ in range(4):
        r = c.post(f"{API}/auth/refresh", json={"refresh_token": mine}, environ_base={"REMOTE_ADDR": "203.0.113.7"})
        codes.append(r.status_code)
        if r.status_code == 200:
            mine = r.get_json()["refresh_token"]  # rotated: the same family
    assert codes == [200, 200, 200, 429]
    r = c.post(f"{API}/auth/refresh", json={"refresh_token": theirs}, environ_base={"REMOTE_ADDR": "203.0.113.7"})
    assert r.status_code == 200


@pytest.mark.parametrize("hops, forwarded, expected", [
    (0, None, "10.0.0.2"),
    (0, "1.2.3.4", "10.0.0.2"),              # no trusted proxy: the header is the client's own words
    (1, "1.2.3.4", "1.2.3.4"),
    (1, "6.6.6.6, 1.2.3.4", "1.2.3.4"),      # a client-supplied entry left of the proxy's is ignored
    (2, "6.6.6.6, 1.2.3.4, 10.0.0.9", "1.2.3.4"),
])
def test_client_address_follows_trusted_proxies(limited, hops, forwarded, expected):
    from flask import request
    application = limited(TRUSTED_PROXIES=hops)
    application.add_url_rule("/whoami", "whoami", lambda: {"addr": request.remote_addr})
    headers = {"X-Forwarded-For": forwarded} if forwarded else {}
    assert application.test_client().get("/whoami", headers=headers, environ_base=LB).get_json() == {"addr": expected}


@pytest.mark.parametrize("raw, problem", [("-1", "negative"), ("two", "whole number")])
def test_trusted_proxies_must_be_a_hop_count(tmp_path, raw, problem):
    from backend import config
    with pytest.raises(config.ConfigError, match=problem):
        config.load(str(tmp_path), dict(TEST_KEYS, TRUSTED_PROXIES=raw))


def test_wrong_passwords_lock_one_address_not_the_account(limited):
    """Five wrong passwords used to lock the username for everyone, the right password included."""
    c = limited(LOGIN_FAILURES_PER_ADDRESS="5 per 2 seconds;20 per hour").test_client()
    _user("clerk")
    attacker, office = "198.51.100.9", "203.0.113.7"
    assert [_login(c, "clerk", "guess", attacker).status_code for _ in range(5)] == [401] * 5
    throttled = _login(c, "clerk", "right-password-1", attacker)
    assert throttled.status_code == 429 and throttled.get_json()["error"]["code"] == "rate_limited"
    # Meanwhile the right password from another address signs in.
    assert _login(c, "clerk", "right-password-1", office).status_code == 200
    assert 0 <= int(throttled.headers["Retry-After"]) <= 2
    # And from the throttled address once its back-off has passed.
    time.sleep(2.2)
    assert _login(c, "clerk", "right-password-1", attacker).status_code == 200


def test_an_address_that_keeps_guessing_meets_the_hourly_cap(limited):
    c = limited(LOGIN_FAILURES_PER_ADDRESS="2 per 1 second;3 per hour").test_client()
    _user("clerk")
    assert [_login(c, "clerk", "guess", "198.51.100.9").status_code for _ in range(3)] == [401, 401, 429]
    time.sleep(1.1)
    assert _login(c, "clerk", "guess", "198.51.100.9").status_code == 401  # the short back-off passed
    r = _login(c, "clerk", "right-password-1", "198.51.100.9")
    assert r.status_code == 429 and int(r.headers["Retry-After"]) > 3000  # three in the hour: wait the hour
    assert _login(c, "clerk", "right-password-1", "203.0.113.7").status_code == 200


def test_failures_from_many_addresses_back_off_exponentially_with_a_cap(limited):
    c = limited(LOGIN_BACKOFF_FREE=3, LOGIN_BACKOFF_BASE_S=1, LOGIN_BACKOFF_CAP_S=2).test_client()
    _user("clerk")
    office, fresh = "203.0.113.7", "192.0.2.50"
    assert _login(c, "clerk", "right-password-1", office).status_code == 200  # a known address from now on
    bots = iter(f"198.51.100.{n}" for n in range(1, 200))
    assert [_login(c, "clerk", "guess", next(bots)).status_code for _ in range(3)] == [401] * 3  # free
    assert _login(c, "clerk", "guess", next(bots)).status_code == 401  # 4th: locks for 1 s
    r = _login(c, "clerk", "right-password-1", fresh)
    assert r.status_code == 429 and r.get_json()["error"]["details"]["reason"] == "login_backoff"
    assert r.headers["Retry-After"] == "1"
    # The lock answers without checking the password, so a locked attempt neither counts nor tells.
    assert _login(c, "clerk", "guess", next(bots)).status_code == 429
    # The office the account signed in from keeps working during the attack.
    assert _login(c, "clerk", "right-password-1", office).status_code == 200
    time.sleep(1.1)
    assert _login(c, "clerk", "guess", next(bots)).status_code == 401  # 5th: 2 s
    assert _login(c, "clerk", "right-password-1", fresh).headers["Retry-After"] == "2"
    time.sleep(2.1)
    assert _login(c, "clerk", "guess", next(bots)).status_code == 401  # 6th: 4 s, capped at 2
    assert _login(c, "clerk", "right-password-1", fresh).headers["Retry-After"] == "2"
    time.sleep(2.1)
    # Once the attack pauses for the length of a lock, the right password works from anywhere.
    assert _login(c, "clerk", "right-password-1", fresh).status_code == 200
    # Other usernames were never touched.
    _user("other")
    assert _login(c, "other", "right-password-1", fresh).status_code == 200


def test_limits_off_means_no_back_off_either(app_config):
    from backend import create_app
    application = create_app(dict(app_config, LOGIN_BACKOFF_FREE=0))
    c = application.test_client()
    with application.app_context():
        _user("clerk")
        assert [_login(c, "clerk", "guess", "198.51.100.9").status_code for _ in range(8)] == [401] * 8
        assert _login(c, "clerk", "right-password-1", "192.0.2.50").status_code == 200


_SECOND_INSTANCE = """
import json, sys
from backend import create_app
from backend.extensions import db
app = create_app({"RATELIMIT_ENABLED": True})
with app.app_context():
    db.create_all()
c = app.test_client()
r = c.post("/api/v1/auth/login", json={"username": sys.argv[1], "password": "guess"},
           environ_base={"REMOTE_ADDR": "198.51.100.9"})
print(json.dumps({"status": r.status_code, "storage": app.config["RATELIMIT_STORAGE_URI"]}))
"""


@pytest.mark.redis
@pytest.mark.skipif(not REDIS_URL and not os.environ.get("REQUIRE_SERVICES"),
                    reason="needs TEST_REDIS_URL (a Redis server); CI always runs it")
def test_two_instances_share_the_counts_through_redis(limited, tmp_path):
    """REDIS_URL puts the limiter's counters on Redis: another process sees this one's failures."""
    import json
    application = limited(REDIS_URL=REDIS_URL)
    assert application.config["RATELIMIT_STORAGE_URI"] == REDIS_URL
    c = application.test_client()
    username = f"shared-{uuid.uuid4().hex[:10]}"  # fresh keys: nothing from an earlier run counts
    assert [_login(c, username, "guess", "198.51.100.9").status_code for _ in range(5)] == [401] * 5
    env = dict(os.environ, REDIS_URL=REDIS_URL, DATABASE_URL=f"sqlite:///{tmp_path / 'second.db'}",
               INSTANCE_PATH=str(tmp_path / "second"), JOBS_ENQUEUE="false", **TEST_KEYS)
    out = subprocess.run([sys.executable, "-c", _SECOND_INSTANCE, username], cwd=REPO, env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    second = json.loads(out.stdout.strip().splitlines()[-1])
    assert second == {"status": 429, "storage": REDIS_URL}
