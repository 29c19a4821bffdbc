"""Kiosk test helpers: a settable clock, a day's manifest, and a small signed-API fake server."""
from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from backend.domain.card_keys import card_key as _card_key
from backend.domain.device_signature import check_signature
from backend.domain.errors import AppError
from backend.domain.identity import id_check_digit
from backend.domain.pin_seal import SealError, binding, open_sealed, private_key, public_key_b64

DEVICE_ID = "dev-test-1"
SECRET = "test-device-secret-0123456789"
# 2025-03-10 09:00-11:00 Asia/Shanghai.
LESSON_START = datetime(2025, 3, 10, 1, 0, tzinfo=UTC)
LESSON_END = datetime(2025, 3, 10, 3, 0, tzinfo=UTC)


def id_number(first17: str) -> str:
    """A valid ID number from its first 17 digits."""
    return first17 + id_check_digit(first17)


ALICE_ID = id_number("35010219900307123")  # face enrolled
BOB_ID = id_number("35010219850101456")    # no face: card + PIN only
CAROL_ID = id_number("35010219950505789")  # not on the roster
ALICE_FACE = [0.01 * i for i in range(128)]
SITE_SALT = bytes(range(16))
# The test stand-in for the server's PIN sealing key: the manifest carries its public half.
SEAL_KEY = private_key(b"\x07" * 32)
PIN_KEY = public_key_b64(SEAL_KEY)


@lru_cache(maxsize=64)
def card_key(salt: bytes, id_number: str) -> str:
    """The card key of an ID number at a site (scrypt is slow: computed once per test run)."""
    return _card_key(salt, id_number)


class FakePinServer:
    """POST /device/pin-check in miniature: opens sealed PINs with the test key, counts failures, locks at 5."""

    def __init__(self, pins: dict, device_id: object = DEVICE_ID, max_failures: int = 5):
        self.pins, self.device_id, self.max_failures = pins, device_id, max_failures
        self.failures: dict = {}
        self.calls: list[tuple] = []

    def opened(self, event_id: str, person_id, sealed: str) -> str:
        """The PIN inside a sealed one (raises SealError when bound to another event)."""
        return open_sealed(SEAL_KEY, sealed, binding(self.device_id, event_id, person_id))

    def check(self, event_id: str, person_id, sealed: str) -> dict:
        """The server's answer to one sealed PIN."""
        self.calls.append((event_id, person_id))
        if self.failures.get(person_id, 0) >= self.max_failures:
            return {"ok": False, "reason": "pin_locked", "attempts_left": 0}
        try:
            pin = self.opened(event_id, person_id, sealed)
        except SealError:
            return {"ok": False, "reason": "evidence_invalid", "attempts_left": 0}
        if pin == self.pins.get(person_id):
            self.failures[person_id] = 0
            return {"ok": True, "reason": None, "attempts_left": self.max_failures}
        self.failures[person_id] = self.failures.get(person_id, 0) + 1
        left = self.max_failures - self.failures[person_id]
        return {"ok": False, "reason": "pin_wrong" if left else "pin_locked", "attempts_left": left}


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move time forward."""
        self.now += timedelta(seconds=seconds)


def make_manifest(start: datetime = LESSON_START, end: datetime = LESSON_END, salt: bytes = SITE_SALT,
                  bob_pin: bool = True) -> dict:
    """A manifest shaped like API.md's GET /device/manifest answer (Bob set a PIN unless told otherwise)."""
    return {
        "site": {"id": 7, "name": "鼓楼实训基地", "card_salt": salt.hex()},
        "pin_key": PIN_KEY,
        "lessons": [{"id": 101, "title": "电工基础 第1课", "starts_at": start.isoformat(),
                     "ends_at": end.isoformat(), "class_hours": 2}],
        "people": [
            {"person_id": 1, "name": "张三丰", "card_key": card_key(salt, ALICE_ID),
             "face_encoding": ALICE_FACE, "lesson_ids": [101], "pin_set": False},
            {"person_id": 2, "name": "欧阳娜娜", "card_key": card_key(salt, BOB_ID),
             "face_encoding": None, "lesson_ids": [101], "pin_set": bob_pin},
        ],
    }


class FakeServer:
    """The device API in miniature: checks signatures, answers from `routes`, records requests."""

    def __init__(self, secret: str = SECRET, now=None):
        self.secret = secret
        self.now = now or (lambda: datetime.now(UTC).timestamp())
        self.requests: list[dict] = []
        self.nonces: set[str] = set()
        self.routes: dict[tuple[str, str], object] = {}
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                try:
                    check_signature(server.secret, self.command, self.path, self.headers.get("X-Timestamp"),
                                    self.headers.get("X-Nonce"), body, self.headers.get("X-Signature"),
                                    server.now())
                    if self.headers.get("X-Nonce") in server.nonces:
                        raise AppError("unauthorized", 401, {"reason": "nonce"})
                except AppError as exc:
                    server.requests.append({"path": parts.path, "status": 401, "reason": exc.details})
                    return self._reply(401, {"error": {"code": exc.code, "message": "", "details": exc.details}})
                server.nonces.add(self.headers["X-Nonce"])
                payload = json.loads(body) if body else None
                query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
                server.requests.append({"method": self.command, "path": parts.path, "query": query,
                                        "json": payload, "device": self.headers.get("X-Device-Id")})
                route = server.routes.get((self.command, parts.path))
                if route is None:
                    return self._reply(404, {"error": {"code": "not_found", "message": "", "details": {}}})
                status, answer, *headers = route(payload, query)
                return self._reply(status, answer, headers[0] if headers else {})

            def _reply(self, status, answer, headers=None):
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _serve

            def log_message(self, format, *args):  # noqa: A002
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def accept_all(self, status: str = "accepted"):
        """Route /device/events to a receipt of `status` for every event."""
        def route(payload, query):
            return 200, {"results": [{"event_id": e["event_id"], "status": status} for e in payload["events"]]}
        self.routes[("POST", "/api/v1/device/events")] = route

    def posted_events(self) -> list[dict]:
        """Every event the server has been sent, in order."""
        return [e for r in self.requests if r.get("path") == "/api/v1/device/events" and r.get("json")
                for e in r["json"]["events"]]

    def stop(self) -> None:
        """Shut down and close the socket."""
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(5)
