"""One error shape everywhere under /api, the OpenAPI document, offline docs and health probes."""
from __future__ import annotations

import re
import sqlite3

import pytest
from openapi_spec_validator import validate


def test_openapi_document_validates(client):
    r = client.get("/api/v1/openapi.json")
    assert r.status_code == 200
    spec = r.get_json()
    validate(spec)
    assert "/api/v1/auth/login" in spec["paths"]


def test_docs_page_uses_only_local_assets(client):
    html = client.get("/api/v1/docs").get_data(as_text=True)
    urls = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert urls and all(u.startswith("/") for u in urls), urls
    for u in urls:
        r = client.get(u)
        assert r.status_code == 200, u
        r.close()


def test_docs_page_has_a_csp_with_the_hashes_of_its_own_inline_blocks(client):
    """The docs page used to be sent without any Content-Security-Policy."""
    import base64
    import hashlib
    r = client.get("/api/v1/docs")
    csp = r.headers.get("Content-Security-Policy", "")
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    html = r.get_data(as_text=True)
    scripts = re.findall(r"<script>(.*?)</script>", html, re.S)
    styles = re.findall(r"<style>(.*?)</style>", html, re.S)
    assert scripts and styles
    for block, directive in [(b, "script-src") for b in scripts] + [(b, "style-src") for b in styles]:
        digest = base64.b64encode(hashlib.sha256(block.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in directives[directive].split()
    assert directives["connect-src"] == "'self'" and "http" not in csp
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    # The API's JSON answers are left alone (a CSP is about documents).
    assert "Content-Security-Policy" not in client.get("/api/v1/openapi.json").headers


@pytest.mark.parametrize("method, path, status, code", [
    ("get", "/api/v1/does-not-exist", 404, "not_found"),
    ("get", "/api/v1/auth/login", 405, "method_not_allowed"),
    ("get", "/api/v1/me", 401, "unauthorized"),
])
def test_error_shape(client, method, path, status, code):
    r = getattr(client, method)(path)
    assert r.status_code == status
    err = r.get_json()["error"]
    assert err["code"] == code and err["message"] and isinstance(err["details"], dict)


def test_malformed_json_is_validation_error(client):
    r = client.post("/api/v1/auth/login", data="{not json", headers={"Content-Type": "application/json"})
    assert r.status_code in (400, 422)
    assert r.get_json()["error"]["code"] == "validation_error"


def test_payload_too_large_is_json(app, client):
    app.config["MAX_CONTENT_LENGTH"] = 1000
    r = client.post("/api/v1/auth/login", data="x" * 5000, headers={"Content-Type": "application/json"})
    assert r.status_code == 413 and r.get_json()["error"]["code"] == "payload_too_large"


def test_messages_in_english_on_request(client):
    zh = client.get("/api/v1/me").get_json()["error"]["message"]
    en = client.get("/api/v1/me", headers={"Accept-Language": "en"}).get_json()["error"]["message"]
    assert zh == "未登录或登录已失效" and en.startswith("Authentication")


def test_unexpected_error_is_json_500_without_trace(app, client):
    from backend.security.authz import public

    @app.get("/api/v1/_boom")
    @public
    def boom():
        raise RuntimeError("secret internals")

    r = client.get("/api/v1/_boom")
    assert r.status_code == 500
    body = r.get_data(as_text=True)
    assert r.get_json()["error"]["code"] == "internal_error" and "secret internals" not in body
    assert "Traceback" not in body


@pytest.mark.parametrize("orig, status, code", [
    (sqlite3.OperationalError("database is locked"), 503, "service_busy"),     # SQLite's busy timeout ran out
    (sqlite3.OperationalError("database table is locked"), 503, "service_busy"),
    (sqlite3.OperationalError("no such table: plans"), 500, "internal_error"),  # a defect, not a busy database
    (ConnectionResetError("server closed the connection"), 503, "service_busy"),  # PostgreSQL gone mid-request
])
def test_a_busy_database_is_503_with_retry_after_not_500(app, client, orig, status, code):
    from sqlalchemy.exc import OperationalError

    from backend.security.authz import public

    @app.post("/api/v1/_busy")
    @public
    def busy():
        raise OperationalError("BEGIN IMMEDIATE", {}, orig)

    r = client.post("/api/v1/_busy", headers={"Accept-Language": "zh-CN"})
    body = r.get_json()["error"]
    assert (r.status_code, body["code"]) == (status, code)
    if status == 503:
        assert r.headers["Retry-After"] == "2" and body["message"] == "服务器繁忙，请稍后重试"
    assert "locked" not in r.get_data(as_text=True) and "no such table" not in r.get_data(as_text=True)


@pytest.mark.parametrize("orig, busy", [
    (sqlite3.OperationalError("database is locked"), True),
    (sqlite3.OperationalError("no such table: plans"), False),
    (ConnectionResetError("server closed the connection"), True),
])
def test_requests_and_jobs_share_one_rule_for_a_busy_database(orig, busy):
    from sqlalchemy.exc import OperationalError

    from backend.db_setup import database_busy
    from backend.jobs import is_transient
    err = OperationalError("BEGIN IMMEDIATE", {}, orig)
    assert database_busy(err) == is_transient(err) == busy  # a 503 for a request is a retry for a job


def test_health_probes(client):
    assert client.get("/healthz").get_json() == {"status": "ok"}
    r = client.get("/readyz")
    assert r.status_code == 200 and r.get_json()["status"] == "ok"


def test_request_id_echoed(client):
    r = client.get("/healthz", headers={"X-Request-Id": "abc123"})
    assert r.headers["X-Request-Id"] == "abc123"
    assert len(client.get("/healthz").headers["X-Request-Id"]) == 32


def test_idempotency_key_replays_first_response(client, staff):
    _, h = staff("admin")
    body = {"username": "newsup", "password": "long-password-1", "role": "supervisor", "region_code": "3501"}
    h1 = dict(h, **{"Idempotency-Key": "k-1"})
    r1 = client.post("/api/v1/users", json=body, headers=h1)
    r2 = client.post("/api/v1/users", json=body, headers=h1)
    assert r1.status_code == r2.status_code == 201 and r1.get_json() == r2.get_json()
    assert r2.headers.get("Idempotent-Replayed") == "true"
    r3 = client.post("/api/v1/users", json=dict(body, username="other"), headers=h1)
    assert r3.status_code == 422 and r3.get_json()["error"]["code"] == "idempotency_key_reused"


def test_json_logs_carry_request_id(app, client, capsys):
    import json
    import logging

    from backend.logs import JsonFormatter
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    logging.getLogger("access").addHandler(handler)
    app.config["ACCESS_LOG"] = True
    try:
        client.get("/healthz", headers={"X-Request-Id": "rid-42"})
    finally:
        logging.getLogger("access").removeHandler(handler)
    line = [ln for ln in capsys.readouterr().err.splitlines() if "rid-42" in ln][0]
    rec = json.loads(line)
    assert rec["request_id"] == "rid-42" and rec["status"] == 200 and rec["path"] == "/healthz"


def test_gunicorn_log_lines_still_format_once_the_app_is_loaded(app):
    """The app trims what log records collect, but not the process id gunicorn's own format prints: a
    worker's "Error handling request" or "Worker exiting" line must not turn into a logging error."""
    import logging
    import os

    from gunicorn.glogging import Logger
    record = logging.getLogger("gunicorn.error").makeRecord("gunicorn.error", logging.INFO, __file__, 1,
                                                             "Worker exiting (pid: %s)", (os.getpid(),), None)
    line = logging.Formatter(Logger.error_fmt, Logger.datefmt).format(record)
    assert f"[{os.getpid()}] [INFO] Worker exiting (pid: {os.getpid()})" in line


def test_no_two_schemas_share_a_name_in_the_openapi_document(app):
    """apispec renames a clashing schema (DecisionIn2…) with only a warning: clients would get unstable names."""
    import warnings
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        app._get_spec(force_update=True)
    clashes = [str(w.message) for w in caught if "Multiple schemas resolved" in str(w.message)]
    assert clashes == []


def test_an_id_beyond_the_database_integer_is_not_found_on_every_method(client, staff):
    """It was a 405 "use POST" where the path also takes POST: werkzeug notes the methods before the
    bounded int converter refuses the id (found by tests/api/test_openapi_fuzz.py)."""
    _, h = staff("institution")
    for method, path in [("get", "/api/v1/plans/5662540432287/lessons"), ("post", "/api/v1/plans/5662540432287"),
                         ("get", "/api/v1/enrollments/99999999999/contract")]:
        r = getattr(client, method)(path, headers=h)
        assert r.status_code == 404 and r.get_json()["error"]["code"] == "not_found", (method, path)
        assert "Allow" not in r.headers
    r = client.delete("/api/v1/plans/1/lessons", headers=h)
    assert r.status_code == 405 and set(r.headers["Allow"].split(", ")) == {"GET", "HEAD", "OPTIONS", "POST"}


def test_file_answers_document_their_media_types(client):
    """A QR image answered as image/png was undocumented (the document named only application/json)."""
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    content = lambda path: set(paths[path]["get"]["responses"]["200"]["content"])  # noqa: E731
    assert content("/api/v1/me/vouchers/{code}/qr") == {"application/json", "image/png", "image/svg+xml"}
    assert content("/api/v1/lessons/{lesson_id}/site-qr") == {"application/json", "image/png", "image/svg+xml"}
    assert content("/api/v1/makeups/{makeup_id}/photos/{which}") == {"image/jpeg", "image/png"}
    assert "application/pdf" in content("/api/v1/enrollments/{enrollment_id}/contract")
    assert "text/csv" in content("/api/v1/stats/export")
    receipt = paths["/api/v1/device/events"]["post"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert receipt["properties"]["results"]["items"]["properties"]["event_id"]["type"] == ["string", "null"]


def test_a_date_before_year_one_in_utc_is_bad_input_not_a_crash(client, staff):
    """?from=0001-01-01 (midnight in Shanghai) is before year 1 in UTC: the column type could not bind it,
    a 500 (found by tests/api/test_openapi_fuzz.py)."""
    _, h = staff("supervisor")
    r = client.get("/api/v1/stats/overview?from=0001-01-01", headers=h)
    assert r.status_code == 422 and r.get_json()["error"] == {
        "code": "validation_error", "message": "请求数据不合法", "details": {"reason": "out_of_range"}}
    assert client.get("/api/v1/readyz").status_code == 200


def test_readiness_probe_documents_both_answers(client):
    responses = client.get("/api/v1/openapi.json").get_json()["paths"]["/api/v1/readyz"]["get"]["responses"]
    assert set(responses) == {"200", "503"}
