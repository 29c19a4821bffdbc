"""Signed JSON requests from the kiosk to the server, over the standard library's urllib.

Every request carries the device signature headers (backend/domain/device_signature.py).
Network trouble, 5xx and 429 raise NetworkError (worth retrying later); other 4xx raise
HttpError with the server's error code.
"""
from __future__ import annotations

import email.utils
import json
import logging
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from urllib.parse import urlencode

from backend.domain.device_signature import signature_headers

log = logging.getLogger(__name__)

API_PREFIX = "/api/v1"


class NetworkError(ConnectionError):
    """The server could not be reached or answered 5xx/429; `retry_after` in seconds if it said."""

    def __init__(self, message: str, status: int | None = None, retry_after: float | None = None):
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


class HttpError(Exception):
    """The server refused the request (4xx other than 429)."""

    def __init__(self, status: int, code: str, details: dict | None = None):
        super().__init__(f"HTTP {status} {code}")
        self.status = status
        self.code = code
        self.details = details or {}
        self.clock_fixed = False  # True when a skew refusal taught the client the server's time


def _retry_after(headers) -> float | None:
    value = headers.get("Retry-After") if headers else None
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def _error_body(raw: bytes) -> tuple[str, dict]:
    try:
        error = json.loads(raw).get("error") or {}
        return str(error.get("code") or "http_error"), error.get("details") or {}
    except (ValueError, AttributeError):
        return "http_error", {}


class DeviceClient:
    """Talks to /api/v1 as one device; `now` gives unix seconds (injected for tests)."""

    def __init__(self, base_url: str, device_id: str, device_secret: bytes | str, timeout: float = 10.0,
                 now: Callable[[], float] = time.time, opener: urllib.request.OpenerDirector | None = None):
        self.base_url = base_url.rstrip("/")
        self.device_id = device_id
        self._secret = device_secret
        self.timeout = timeout
        self._now = now
        self._opener = opener or urllib.request.build_opener()
        # Seconds to add to the local clock when signing, learned from a skew refusal.
        self.clock_offset = 0.0

    def request(self, method: str, path: str, body: dict | None = None, query: dict | None = None,
                timeout: float | None = None):
        """Send one signed request; returns the decoded JSON answer."""
        try:
            return self._send(method, path, body, query, timeout)
        except HttpError as exc:
            if exc.clock_fixed:
                log.warning("device clock is off by %.0f s; signing with the server's time", self.clock_offset)
                return self._send(method, path, body, query, timeout)
            raise

    def get(self, path: str, query: dict | None = None, timeout: float | None = None):
        """A signed GET under /api/v1."""
        return self.request("GET", path, None, query, timeout)

    def post(self, path: str, body: dict | bytes, timeout: float | None = None):
        """A signed POST of a JSON body under /api/v1 (a dict, or the JSON text already encoded as bytes)."""
        return self.request("POST", path, body, None, timeout)

    def _send(self, method: str, path: str, body: dict | bytes | None, query: dict | None, timeout: float | None):
        path_with_query = API_PREFIX + path + (f"?{urlencode(query)}" if query else "")
        if body is None or isinstance(body, bytes):
            data = body or b""
        else:
            data = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
        headers = signature_headers(self.device_id, self._secret, method, path_with_query, data,
                                    self._now() + self.clock_offset)
        headers["Accept"] = "application/json"
        if body is not None:
            headers["Content-Type"] = "application/json"
        req = urllib.request.Request(self.base_url + path_with_query, data=data if body is not None else None,
                                     headers=headers, method=method)
        try:
            with self._opener.open(req, timeout=timeout or self.timeout) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as exc:
            with exc:
                raw = exc.read()
                status = exc.code
                if status >= 500 or status == 429:
                    raise NetworkError(f"HTTP {status}", status, _retry_after(exc.headers)) from None
                code, details = _error_body(raw)
                error = HttpError(status, code, details)
                if status == 401 and details.get("reason") == "skew":
                    error.clock_fixed = self._learn_offset(exc.headers)
                raise error from None
        except (TimeoutError, urllib.error.URLError, ConnectionError, OSError) as exc:
            raise NetworkError(str(getattr(exc, "reason", exc))) from None
        try:
            return json.loads(raw) if raw else {}
        except ValueError:
            raise NetworkError("answer is not JSON") from None

    def _learn_offset(self, headers) -> bool:
        # The Date header is the server's clock at second resolution: plenty against a 300 s window.
        date = headers.get("Date") if headers else None
        if not date:
            return False
        try:
            server = email.utils.parsedate_to_datetime(date).timestamp()
        except (TypeError, ValueError):
            return False
        self.clock_offset = server - self._now()
        return True
