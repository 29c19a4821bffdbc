"""Auth: WeChat stub and live login, staff login, refresh rotation with reuse detection, identity binding, JWT rules."""
from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer

import jwt
import pytest

from tests.conftest import TEST_KEYS, auth, make_id_number


def test_wechat_stub_login_then_bind(client):
    r = client.post("/api/v1/auth/wechat", json={"code": "abc"})
    assert r.status_code == 200
    body = r.get_json()
    assert body["bound"] is False and body["access_token"] and body["refresh_token"]
    h = auth(body["access_token"])
    idn = make_id_number()
    r = client.post("/api/v1/me/identity", json={"name": "张三", "id_number": idn.lower(), "phone": "13800138000"}, headers=h)
    assert r.status_code == 200, r.get_json()
    person = r.get_json()
    assert person["id_number"] == idn.upper() and person["id_number_masked"].startswith("3501")
    assert person["gender"] == "male" and person["birth_date"] == "1990-03-07"
    # logging in again with the same code finds the bound person
    again = client.post("/api/v1/auth/wechat", json={"code": "abc"}).get_json()
    assert again["bound"] is True and again["person"]["id"] == person["id"]


@pytest.mark.parametrize("payload, code, field", [
    ({"name": "张三", "id_number": "350102199003071230", "phone": "13800138000"}, "invalid_id_number", "id_number"),
    ({"name": "张三", "id_number": "35010219900230123X", "phone": "13800138000"}, "invalid_id_number", "id_number"),
    ({"name": "张三", "id_number": make_id_number(), "phone": "12800138000"}, "invalid_phone", "phone"),
])
def test_identity_rejects_bad_input(client, trainee, payload, code, field):
    _, h = trainee(bind=False)
    r = client.post("/api/v1/me/identity", json=payload, headers=h)
    assert r.status_code == 422
    err = r.get_json()["error"]
    assert err["code"] == code and err["details"]["field"] == field


def test_identity_missing_field_is_validation_error(client, trainee):
    _, h = trainee(bind=False)
    r = client.post("/api/v1/me/identity", json={"name": "张三"}, headers=h)
    assert r.status_code == 422
    assert "id_number" in r.get_json()["error"]["details"]["fields"]


def test_identity_taken_by_second_openid_and_mismatch(client, trainee):
    idn = make_id_number(seq="555")
    trainee(name="李四", id_number=idn)
    _, h2 = trainee(bind=False)
    r = client.post("/api/v1/me/identity", json={"name": "李四", "id_number": idn, "phone": "13800138000"}, headers=h2)
    assert r.status_code == 409 and r.get_json()["error"]["code"] == "identity_taken"
    r = client.post("/api/v1/me/identity", json={"name": "王五", "id_number": idn, "phone": "13800138000"}, headers=h2)
    assert r.status_code == 409 and r.get_json()["error"]["code"] == "identity_mismatch"


def test_staff_login_and_wrong_password(client, staff):
    user, _ = staff("supervisor", region_code="3501", username="sup1")
    r = client.post("/api/v1/auth/login", json={"username": "sup1", "password": "password-123"})
    assert r.status_code == 200
    assert r.get_json()["user"] == {"id": user.id, "role": "supervisor", "region_code": "3501",
                                    "institution_id": None, "username": "sup1"}
    for username in ("sup1", "nobody"):
        r = client.post("/api/v1/auth/login", json={"username": username, "password": "wrong"})
        assert r.status_code == 401 and r.get_json()["error"]["code"] == "invalid_credentials"


def test_failed_logins_are_rate_limited_per_username(app_config, staff):
    from backend import create_app
    app_config["RATELIMIT_ENABLED"] = True
    application = create_app(app_config)
    c = application.test_client()
    with application.app_context():
        from backend.extensions import limiter
        limiter.reset()
    codes = [c.post("/api/v1/auth/login", json={"username": "victim", "password": "x"}).status_code for _ in range(6)]
    assert codes[:5] == [401] * 5 and codes[5] == 429
    r = c.post("/api/v1/auth/login", json={"username": "victim", "password": "x"})
    assert r.get_json()["error"]["code"] == "rate_limited" and int(r.headers["Retry-After"]) > 0
    # another username from the same address is not blocked
    assert c.post("/api/v1/auth/login", json={"username": "other", "password": "x"}).status_code == 401


def test_refresh_rotation_and_reuse_revokes_family(client, staff):
    staff("admin", username="adm")
    pair = client.post("/api/v1/auth/login", json={"username": "adm", "password": "password-123"}).get_json()
    r1 = client.post("/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    assert r1.status_code == 200
    new = r1.get_json()
    assert new["refresh_token"] != pair["refresh_token"]
    reuse = client.post("/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    assert reuse.status_code == 401 and reuse.get_json()["error"]["code"] == "token_reused"
    # the whole family is revoked: the newer token no longer works either
    r = client.post("/api/v1/auth/refresh", json={"refresh_token": new["refresh_token"]})
    assert r.status_code == 401 and r.get_json()["error"]["code"] == "token_reused"


def test_access_token_is_not_a_refresh_token(client, staff):
    _, h = staff("admin")
    token = h["Authorization"][7:]
    r = client.post("/api/v1/auth/refresh", json={"refresh_token": token})
    assert r.status_code == 401


def _claims(**over):
    now = int(datetime.now(UTC).timestamp())
    base = {"sub": "u:1", "role": "admin", "iss": "peixunquan", "aud": "peixunquan-api", "iat": now,
            "exp": now + 600, "jti": "x"}
    base.update(over)
    return {k: v for k, v in base.items() if v is not None}


@pytest.mark.parametrize("claims, alg, key", [
    (_claims(), "HS256", "wrong-key-0123456789abcdef0123456789"),
    (_claims(aud="other"), "HS256", None),
    (_claims(iss="other"), "HS256", None),
    (_claims(jti=None), "HS256", None),
    (_claims(role=None), "HS256", None),
    (_claims(exp=int(datetime.now(UTC).timestamp()) - 120), "HS256", None),
    (_claims(), "HS512", None),
])
def test_bad_tokens_rejected(client, claims, alg, key):
    import warnings

    from backend.config import key_bytes
    with warnings.catch_warnings():  # HS512 with our 32+ byte key warns about length; irrelevant here
        warnings.simplefilter("ignore")
        token = jwt.encode(claims, key_bytes(key or TEST_KEYS["SECRET_KEY"]), algorithm=alg)
    r = client.get("/api/v1/me", headers=auth(token))
    assert r.status_code == 401 and r.get_json()["error"]["code"] == "unauthorized"


def test_unsigned_token_rejected(client):
    token = jwt.encode(_claims(), None, algorithm="none")
    assert client.get("/api/v1/me", headers=auth(token)).status_code == 401


def test_token_expiry_follows_server_clock(client, staff, clock):
    clock.set(datetime.now(UTC))
    _, h = staff("admin")
    assert client.get("/api/v1/me", headers=h).status_code == 200
    clock.advance(minutes=14)
    assert client.get("/api/v1/me", headers=h).status_code == 200
    clock.advance(minutes=2)
    r = client.get("/api/v1/me", headers=h)
    assert r.status_code == 401 and r.get_json()["error"]["details"]["reason"] == "token_expired"


class _FakeCode2Session(BaseHTTPRequestHandler):
    responses = {"good": {"openid": "o-live-1", "session_key": "SECRET-SESSION-KEY"},
                 "used": {"errcode": 40163, "errmsg": "code been used"},
                 "bad": {"errcode": 40029, "errmsg": "invalid code"}}

    def do_GET(self):  # noqa: N802
        from urllib.parse import parse_qs, urlparse
        q = parse_qs(urlparse(self.path).query)
        assert q["appid"] == ["wxapp"] and q["secret"] == ["wxsecret"] and q["grant_type"] == ["authorization_code"]
        body = json.dumps(self.responses.get(q["js_code"][0], {"errcode": -1})).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def live_wechat(app_config):
    server = HTTPServer(("127.0.0.1", 0), _FakeCode2Session)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    app_config.update(WECHAT_MODE="live", WECHAT_APPID="wxapp", WECHAT_SECRET="wxsecret",
                      WECHAT_CODE2SESSION_URL=f"http://127.0.0.1:{server.server_port}/sns/jscode2session")
    from backend import create_app
    application = create_app(app_config)
    yield application.test_client()
    server.shutdown()
    server.server_close()


def test_wechat_live_mode_maps_errors_and_hides_session_key(live_wechat, caplog):
    r = live_wechat.post("/api/v1/auth/wechat", json={"code": "good"})
    assert r.status_code == 200
    assert "SECRET-SESSION-KEY" not in r.get_data(as_text=True)
    assert "SECRET-SESSION-KEY" not in caplog.text
    r = live_wechat.post("/api/v1/auth/wechat", json={"code": "used"})
    assert r.status_code == 401 and r.get_json()["error"]["details"]["reason"] == "code_used"
    r = live_wechat.post("/api/v1/auth/wechat", json={"code": "bad"})
    assert r.get_json()["error"]["details"]["reason"] == "invalid_code"
    r = live_wechat.post("/api/v1/auth/wechat", json={"code": "other"})
    assert r.status_code == 503 and r.get_json()["error"]["code"] == "wechat_error"


def test_me_for_trainee_and_staff(client, trainee, staff):
    pid, h = trainee()
    body = client.get("/api/v1/me", headers=h).get_json()
    assert body["bound"] is True and body["person"]["id"] == pid
    _, hs = staff("institution")
    assert client.get("/api/v1/me", headers=hs).get_json()["role"] == "institution"


def test_refresh_tokens_expire_after_14_days(client, staff, clock):
    clock.set(datetime.now(UTC))
    staff("admin", username="adm2")
    pair = client.post("/api/v1/auth/login", json={"username": "adm2", "password": "password-123"}).get_json()
    clock.advance(days=14, minutes=2)
    assert client.post("/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]}).status_code == 401
    _ = timedelta


def test_refresh_refuses_a_deactivated_account_and_picks_up_new_scope(client, staff):
    from backend.extensions import db
    from backend.models import User
    user, _ = staff("supervisor", region_code="3501", username="sup-scope")
    pair = client.post("/api/v1/auth/login", json={"username": "sup-scope", "password": "password-123"}).get_json()
    db.session.get(User, user.id).region_code = "3502"
    db.session.commit()
    new = client.post("/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]}).get_json()
    claims = jwt.decode(new["access_token"], options={"verify_signature": False})
    assert claims["rid"] == "3502"
    db.session.get(User, user.id).active = False
    db.session.commit()
    r = client.post("/api/v1/auth/refresh", json={"refresh_token": new["refresh_token"]})
    assert r.status_code == 401 and r.get_json()["error"]["details"]["reason"] == "account_disabled"


def test_logout_revokes_the_refresh_family_on_the_server(client, staff):
    """Logout used to clear only the browser: a copied refresh token stayed good for 14 days."""
    staff("admin", username="adm-out")
    pair = client.post("/api/v1/auth/login", json={"username": "adm-out", "password": "password-123"}).get_json()
    rotated = client.post("/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]}).get_json()
    other = client.post("/api/v1/auth/login", json={"username": "adm-out", "password": "password-123"}).get_json()
    r = client.post("/api/v1/auth/logout", json={"refresh_token": rotated["refresh_token"]})
    assert r.status_code == 200 and r.get_json() == {"logged_out": True}
    r = client.post("/api/v1/auth/refresh", json={"refresh_token": rotated["refresh_token"]})
    assert r.status_code == 401
    # Idempotent, also with the family's older (already rotated) token.
    for token in (rotated["refresh_token"], pair["refresh_token"]):
        assert client.post("/api/v1/auth/logout", json={"refresh_token": token}).status_code == 200
    # Only that session ended: the same account signed in elsewhere keeps its own.
    assert client.post("/api/v1/auth/refresh", json={"refresh_token": other["refresh_token"]}).status_code == 200


def test_logout_of_a_trainee_and_of_an_expired_token(client, clock):
    clock.set(datetime.now(UTC))
    pair = client.post("/api/v1/auth/wechat", json={"code": "logout-me"}).get_json()
    clock.advance(days=15)  # past REFRESH_TOKEN_DAYS: the token still names its session
    assert client.post("/api/v1/auth/logout", json={"refresh_token": pair["refresh_token"]}).status_code == 200
    from backend.extensions import db
    from backend.models import RefreshToken
    fam = jwt.decode(pair["refresh_token"], options={"verify_signature": False})["fam"]
    rows = db.session.execute(db.select(RefreshToken).where(RefreshToken.family == fam)).scalars().all()
    assert rows and all(row.revoked_at is not None for row in rows)


@pytest.mark.parametrize("token", ["not-a-token-at-all", "access"])
def test_logout_refuses_what_is_not_a_refresh_token_of_ours(client, staff, token):
    _, h = staff("admin")
    if token == "access":
        token = h["Authorization"][7:]
    r = client.post("/api/v1/auth/logout", json={"refresh_token": token})
    assert r.status_code == 401 and r.get_json()["error"]["code"] == "unauthorized"
    forged = jwt.encode(_claims(aud="peixunquan-refresh", fam="f" * 32), b"another-key-0123456789abcdef0123", "HS256")
    assert client.post("/api/v1/auth/logout", json={"refresh_token": forged}).status_code == 401
