"""Issue 13, finding 6: malformed input is a 4xx with the JSON error shape, never a 500.

The review's reproductions: deeply nested JSON on /auth/login; a non-ASCII `?sig=` on the certificate
print page (hmac.compare_digest raises TypeError on a non-ASCII str). Around them, a table of malformed
bodies on several endpoints and of odd query values on every GET endpoint that reads its query string.
"""
from __future__ import annotations

import json
from urllib.parse import quote

import pytest

from tests.api import outcomes_fixtures as fx
from tests.api.outcomes_fixtures import API, complete_and_approve
from tests.api.test_devices import kiosk  # noqa: F401 - pytest fixture

app_config, world = fx.app_config, fx.world  # shared fixtures
DEEP_ARRAY = b"[" * 10_000 + b"]" * 10_000
DEEP_OBJECT = b'{"a":' * 10_000 + b"1" + b"}" * 10_000
MAX_DEPTH, MAX_VALUES = 32, 400_000  # backend/security/json_limits.py


def assert_json_error(r, statuses=range(400, 500)):
    """A client error with {"error": {code, message, details}}."""
    assert r.status_code in statuses, (r.status_code, r.get_data(as_text=True)[:300])
    body = r.get_json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}, body
    assert body["error"]["code"] and body["error"]["message"]
    return body["error"]


# ---- the two reproductions ------------------------------------------------------------------------

def test_deeply_nested_json_on_login_is_422_not_500(client):
    for body in (DEEP_ARRAY, DEEP_OBJECT):
        r = client.post(f"{API}/auth/login", data=body, content_type="application/json")
        err = assert_json_error(r, {422})
        assert err["code"] == "validation_error" and err["details"] == {"reason": "too_deep",
                                                                         "max_depth": MAX_DEPTH}


def test_deeply_nested_json_on_login_with_rate_limits_on(app_config):
    """Production runs with limits on: the login limiter reads the body for its key (request.get_json)."""
    from backend import create_app
    from backend.extensions import limiter
    application = create_app(dict(app_config, RATELIMIT_ENABLED=True))
    with application.app_context():
        limiter.reset()
        c = application.test_client()
        for body in (DEEP_ARRAY, DEEP_OBJECT, b'{"username": ' + b"9" * 5000 + b', "password": "x"}'):
            assert_json_error(c.post(f"{API}/auth/login", data=body, content_type="application/json"))


@pytest.mark.parametrize("sig", ["中文签名", "é" * 32, "\x00", "%FF", "0" * 5000, ""])
def test_certificate_print_page_with_any_sig_is_not_a_500(client, clock, world, sig):
    complete_and_approve(client, clock, world)
    cert = client.get(f"{API}/me/certificates", headers=world.a_h).get_json()[0]
    r = client.get(f"/certificates/{cert['number']}/print?sig={quote(sig) if sig != '%FF' else sig}")
    assert r.status_code == 200, r.get_data(as_text=True)[:300]
    page = r.get_data(as_text=True)
    assert "张三" not in page  # no valid signature: the holder's name stays masked
    assert client.get(cert["print_url"]).status_code == 200 and "张三" in client.get(cert["print_url"]).get_data(
        as_text=True)


# ---- malformed JSON bodies --------------------------------------------------------------------

BODIES = {
    "nested array 10,000 deep": DEEP_ARRAY,
    "nested object 10,000 deep": DEEP_OBJECT,
    "not UTF-8": b'{"name": "\xff\xfe\xfd", "title": "\xc3\x28"}',
    "array where an object is expected": b'[{"username": "a"}, 1, "x"]',
    "a bare string": b'"just a string"',
    "number of 5,000 digits": b'{"lesson_id": ' + b"9" * 5000 + b', "lat": 1, "score": 1}',
    "number 1e400 (infinity)": b'{"lesson_id": 1e400, "lat": 1e400, "lon": -1e400, "quantity": 1e400}',
    "NaN literal": b'{"lat": NaN, "lon": Infinity, "quantity": NaN, "face_value_fen": -Infinity}',
    "integer beyond 64 bits": b'{"lesson_id": 99999999999999999999999, "site_id": 99999999999999999999999}',
    "a million empty arrays": b"[" + b"[]," * 1_000_000 + b"[]]",
    "truncated": b'{"username": "a", "pass',
}
ENDPOINTS = [  # (method, path, who)
    ("post", "/auth/login", None),
    ("post", "/auth/wechat", None),
    ("post", "/auth/refresh", None),
    ("post", "/me/identity", "trainee"),
    ("put", "/me/face", "trainee"),
    ("post", "/attendance", "trainee"),
    ("post", "/plans", "inst"),
    ("post", "/plans/{plan}/results", "inst"),
    ("post", "/plans/{plan}/roster", "inst"),
    ("post", "/voucher-batches", "sup"),
    ("post", "/policies", "sup"),
    ("post", "/me/evaluations", "trainee"),
]


@pytest.fixture
def callers(world):
    return {None: {}, "trainee": world.a_h, "inst": world.inst_h, "sup": world.sup1_h}


@pytest.mark.parametrize("method, path, who", ENDPOINTS)
def test_malformed_bodies_are_client_errors(client, world, callers, method, path, who):
    url = API + path.format(plan=world.plan.id)
    for name, body in BODIES.items():
        r = getattr(client, method)(url, data=body, content_type="application/json", headers=callers[who])
        assert r.status_code < 500, (name, r.status_code, r.get_data(as_text=True)[:200])
        assert_json_error(r)


def test_shapes_of_the_json_limit_answers(client):
    def post(body):
        return client.post(f"{API}/auth/login", data=body, content_type="application/json")
    assert assert_json_error(post(b'{"a": "\xff"}'), {400})["details"] == {"reason": "not_utf8"}
    err = assert_json_error(post(b"[" + b"1," * MAX_VALUES + b"1]"), {413})
    assert err["code"] == "payload_too_large" and err["details"]["reason"] == "too_many_values"
    err = assert_json_error(post(b'{"username": ' + b"1" * 101 + b"}"), {422})
    assert err["details"]["reason"] == "number_too_long"
    # Within the limits the body reaches the schema as before: depth 32 is fine, brackets in strings count not.
    ok_depth = b'{"username": "a", "password": "b", "x": ' + b"[" * 31 + b"]" * 31 + b"}"
    assert assert_json_error(post(ok_depth), {401, 422})["code"] != "payload_too_large"
    in_string = json.dumps({"username": "[" * 64, "password": "{" * 200 + '"\\' + "[" * 50}).encode()
    assert assert_json_error(post(in_string), {401})["code"] == "invalid_credentials"


def test_oversize_bodies_are_413_in_the_json_shape(app, client, world):
    app.config["MAX_CONTENT_LENGTH"] = 10_000
    r = client.post(f"{API}/plans/{world.plan.id}/roster", data={"file": (__import__("io").BytesIO(b"x" * 20_000),
                                                                          "r.xlsx")},
                    headers=world.inst_h, content_type="multipart/form-data")
    assert assert_json_error(r, {413})["code"] == "payload_too_large"
    r = client.put(f"{API}/me/face", json={"image_base64": "A" * 20_000, "consent": True}, headers=world.a_h)
    assert assert_json_error(r, {413})["code"] == "payload_too_large"


@pytest.mark.parametrize("depth, ok", [(MAX_DEPTH, True), (MAX_DEPTH + 1, False)])
def test_depth_limit_boundary(depth, ok):
    from backend.security import json_limits
    assert (json_limits.MAX_DEPTH, json_limits.MAX_VALUES) == (MAX_DEPTH, MAX_VALUES)
    body = b"[" * depth + b"]" * depth
    assert (json_limits.json_problem(body) is None) == ok


# ---- odd query values ---------------------------------------------------------------------------

ODD_VALUES = ["中文", "١٢", "²", "９", "%00", "%FF", "%E4%B8", "9" * 5000, "1e400", "nan", "-1", "", "%20" * 3,
              "a" * 3000]
QUERIES = [  # (path, who, parameter names)
    ("/plans", "inst", ["status", "page", "per_page"]),
    ("/plans/{plan}/enrollments", "inst", ["status", "page", "per_page"]),
    ("/devices", "inst", ["status", "problem", "page"]),
    ("/makeups", "sup", ["status", "page", "per_page"]),
    ("/subsidy-claims", "sup", ["status", "page", "per_page"]),
    ("/me/lessons", "trainee", ["date"]),
    ("/lessons/{lesson}/site-qr", "inst", ["format"]),
    ("/institutions/nearby", "trainee", ["lat", "lon", "coord_sys", "max_km", "page"]),
    ("/stats/overview", "sup", ["region_code", "from", "to"]),
    ("/stats/export", "sup", ["format", "from"]),
    ("/audit", "sup", ["object_type", "object_id", "action", "page"]),
    ("/audit", "admin", ["object_type", "object_id", "action", "per_page"]),
    ("/voucher-batches", "sup", ["page", "per_page"]),
    ("/me/vouchers", "trainee", ["page", "per_page"]),
    ("/plans/{plan}/results", "inst", ["page"]),
]


@pytest.mark.parametrize("path, who, params", QUERIES, ids=[f"{w}:{p}" for p, w, _ in QUERIES])
def test_odd_query_values_are_never_a_500(client, world, callers, staff, path, who, params):
    headers = staff("admin")[1] if who == "admin" else callers[who]
    base = API + path.format(plan=world.plan.id, lesson=world.lessons[0].id)
    for param in params:
        for value in ODD_VALUES:
            # Values given already percent-encoded (%00, %FF) go into the URL as they are.
            raw = value if value.startswith("%") else quote(value)
            extra = "&object_type=plan&object_id=" + raw if path == "/audit" and param == "object_id" else ""
            required = "lat=26.0&lon=119.3&" if "nearby" in path and param not in ("lat", "lon") else ""
            r = client.get(f"{base}?{required}{param}={raw}{extra}", headers=headers)
            assert r.status_code < 500, (param, value, r.status_code, r.get_data(as_text=True)[:200])
            if r.status_code >= 400:
                assert_json_error(r)


def test_device_manifest_odd_dates(kiosk):  # noqa: F811
    for value in ("中文", "２０２６-03-02", "%FF", "9" * 5000, "2026-02-30"):
        raw = value if value.startswith("%") else quote(value)
        r = kiosk["signed"].get(f"{API}/device/manifest?date={raw}")
        assert r.status_code == 422, (value, r.get_data(as_text=True)[:200])
        assert_json_error(r)
