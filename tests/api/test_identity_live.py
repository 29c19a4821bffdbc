"""The live adapters against a fake provider and a fake SMS gateway: signed requests, verdicts, and every
failure (refused connection, timeout, HTTP error, an answer without a verdict) as a clear 503, never a 500."""
from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import func, select

from backend.extensions import db
from backend.models import SmsChallenge, SmsMessage
from tests.api.plan_helpers import NOW, make_person
from tests.api.test_identity_binding import ON_RECORD, bind, error, login
from tests.conftest import make_id_number

MATCH = make_id_number(seq="501")
NO_MATCH = make_id_number(seq="502")
SLOW = make_id_number(seq="503")
BROKEN = make_id_number(seq="504")
HTML = make_id_number(seq="505")
SECRET = "provider-secret"


class _Gateway(BaseHTTPRequestHandler):
    """POST /verify answers by ID number; POST /sms answers {"ok": ...} by phone."""

    seen: list[dict] = []

    def do_POST(self):  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        payload = json.loads(body)
        signed = f"{self.headers['X-Timestamp']}\n{self.headers['X-Nonce']}\n{hashlib.sha256(body).hexdigest()}"
        good_sig = hmac.new(SECRET.encode(), signed.encode(), hashlib.sha256).hexdigest()
        self.seen.append({"path": self.path, "payload": payload, "app_id": self.headers["X-App-Id"],
                          "signed": hmac.compare_digest(good_sig, self.headers["X-Signature"])})
        key = payload.get("id_number") or payload.get("phone")
        if key == SLOW:
            time.sleep(1.5)
        if key in (BROKEN, "13900000009"):
            self.send_response(500)
            self.end_headers()
            return
        if key == HTML:
            out = b"<html>busy</html>"
        elif self.path == "/verify":
            out = json.dumps({"match": key == MATCH or key == make_id_number(seq="506")}).encode()
        else:
            out = json.dumps({"ok": key != "13900000008"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *args):
        pass


@pytest.fixture
def gateway():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Gateway)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _Gateway.seen = []
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def live(app_config, gateway):
    """Both adapters live against the fake gateway (configured before the app is built)."""
    app_config.update(IDENTITY_MODE="live", IDENTITY_VERIFY_URL=f"{gateway}/verify", IDENTITY_APP_ID="idapp",
                      IDENTITY_APP_SECRET=SECRET, IDENTITY_TIMEOUT_S=0.5, SMS_MODE="live",
                      SMS_API_URL=f"{gateway}/sms", SMS_APP_ID="smsapp", SMS_APP_SECRET=SECRET, SMS_TIMEOUT_S=0.5)
    return gateway


@pytest.mark.parametrize("id_number, status, code, reason", [
    (MATCH, 200, None, None),
    (NO_MATCH, 422, "identity_not_verified", None),
    (SLOW, 503, "identity_provider_unavailable", "unreachable"),
    (BROKEN, 503, "identity_provider_unavailable", "http_error"),
    (HTML, 503, "identity_provider_unavailable", "bad_response"),
])
def test_live_identity_provider(live, client, clock, id_number, status, code, reason):
    clock.set(NOW)
    r = bind(client, login(client, "live"), id_number)
    got_status, got_code, details = error(r)
    assert got_status == status and got_code == code, r.get_json()
    if reason:
        assert details["reason"] == reason
    sent = _Gateway.seen[0]
    assert sent["path"] == "/verify" and sent["payload"] == {"name": "王芳", "id_number": id_number}
    assert sent["app_id"] == "idapp" and sent["signed"]
    assert SECRET not in json.dumps(_Gateway.seen)


def test_unreachable_provider_is_503(app_config, clock):
    from backend import create_app
    application = create_app(dict(app_config, IDENTITY_MODE="live", IDENTITY_VERIFY_URL="http://127.0.0.1:9/verify"))
    clock.set(NOW)
    c = application.test_client()
    status, code, details = error(bind(c, login(c, "nowhere"), MATCH))
    assert (status, code, details["reason"]) == (503, "identity_provider_unavailable", "unreachable")


@pytest.mark.parametrize("phone, status, code", [
    (ON_RECORD, 409, "verification_required"),
    ("13900000008", 503, "sms_unavailable"),   # the gateway says no
    ("13900000009", 503, "sms_unavailable"),   # the gateway fails
])
def test_live_sms_gateway(live, client, clock, phone, status, code):
    clock.set(NOW)
    id_number = make_id_number(seq="506")
    make_person("王芳", id_number, phone)
    r = bind(client, login(client, "live"), id_number)
    assert error(r)[:2] == (status, code), r.get_json()
    sms = [s for s in _Gateway.seen if s["path"] == "/sms"]
    assert len(sms) == 1 and sms[0]["payload"]["phone"] == phone and sms[0]["app_id"] == "smsapp" and sms[0]["signed"]
    assert "验证码" in sms[0]["payload"]["text"]
    # Nothing in the stub outbox; a failed send leaves no code behind.
    counts = (db.session.execute(select(func.count(SmsMessage.id))).scalar(),
              db.session.execute(select(func.count(SmsChallenge.id))).scalar())
    db.session.commit()
    assert counts == (0, 1 if status == 409 else 0)
