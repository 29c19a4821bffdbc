"""Issue 13, finding 3: every upload endpoint has a per-account rate limit (backend/api/upload_limits.py)."""
from __future__ import annotations

import io
import re

import pytest

from backend.api import upload_limits
from backend.extensions import limiter
from tests.api.test_upload_bombs import w  # noqa: F401 - pytest fixture

API = "/api/v1"


@pytest.fixture
def app_config(app_config):
    """Limits on (the suite turns them off), long-lived tokens."""
    app_config.update(RATELIMIT_ENABLED=True, ACCESS_TOKEN_MINUTES=60 * 24 * 365)
    return app_config


@pytest.fixture(autouse=True)
def fresh_limits(app):
    limiter.reset()


def per_minute(limit: str) -> int:
    return int(re.match(r"(\d+) per minute", limit).group(1))


def _files(**extra):
    return {"file": (io.BytesIO(b"PK\x03\x04 not really"), "x.xlsx"), **extra}


# name -> (limit, who, method, path(w), json body or None for multipart, multipart fields)
ENDPOINTS = {
    "PUT /me/face": (upload_limits.FACE_SELF, "trainee", "put", lambda w: "/me/face",
                     {"image_base64": "aGVsbG8=", "consent": True}),
    "PUT /persons/{id}/face": (upload_limits.FACE_STAFF, "sup", "put", lambda w: f"/persons/{w.pid}/face",
                               {"image_base64": "aGVsbG8=", "consent": True}),
    "POST /voucher-batches/{id}/claims": (upload_limits.VOUCHER_CLAIM, "trainee", "post",
                                          lambda w: "/voucher-batches/999/claims", {}),
    "POST /lessons/{id}/makeups": (upload_limits.MAKEUP, "inst", "post", lambda w: f"/lessons/{w.lesson.id}/makeups",
                                   lambda: {"person_id": "1", "kind": "both", "reason": "x",
                                            "sign_sheet": (io.BytesIO(b"x"), "a.jpg"),
                                            "panorama": (io.BytesIO(b"x"), "b.jpg")}),
    "POST /enrollments/{id}/contract": (upload_limits.CONTRACT, "inst", "post", lambda w: "/enrollments/999/contract",
                                        _files),
    "POST /plans/{id}/roster": (upload_limits.SPREADSHEET_IMPORT, "inst", "post",
                                lambda w: f"/plans/{w.draft.id}/roster", _files),
    "POST /plans/{id}/results": (upload_limits.SPREADSHEET_IMPORT, "inst", "post",
                                 lambda w: f"/plans/{w.running.id}/results", _files),
    "POST /plans/{id}/online-records": (upload_limits.SPREADSHEET_IMPORT, "inst", "post",
                                        lambda w: f"/plans/{w.running.id}/online-records", _files),
}


@pytest.mark.parametrize("name", ENDPOINTS)
def test_upload_endpoints_are_limited_per_account(client, staff, trainee, w, name):  # noqa: F811
    limit, who, method, path, body = ENDPOINTS[name]
    second = {"trainee": lambda: trainee(name="李四")[1], "sup": lambda: staff("supervisor", region_code="3501")[1],
              "inst": lambda: staff("institution", institution=w.inst)[1]}[who]()
    headers = {"trainee": w.trainee_h, "sup": w.sup_h, "inst": w.inst_h}[who]

    def send(h):
        if isinstance(body, dict):
            return getattr(client, method)(f"{API}{path(w)}", json=body, headers=h)
        return getattr(client, method)(f"{API}{path(w)}", data=body(), headers=h, content_type="multipart/form-data")

    n = per_minute(limit)
    codes = [send(headers).status_code for _ in range(n)]
    assert 429 not in codes, codes
    r = send(headers)
    assert r.status_code == 429, (name, r.get_json())
    assert r.get_json()["error"]["code"] == "rate_limited" and int(r.headers["Retry-After"]) > 0
    # Keyed on the account: another account of the same kind (same client address) is not held back.
    assert send(second).status_code != 429


def test_daily_ceilings_are_stated_too():
    for limit in (upload_limits.FACE_SELF, upload_limits.FACE_STAFF, upload_limits.VOUCHER_CLAIM,
                  upload_limits.MAKEUP, upload_limits.CONTRACT, upload_limits.SPREADSHEET_IMPORT):
        minute, day = limit.split(";")
        assert minute.endswith("per minute") and day.endswith("per day")
        assert int(day.split()[0]) > int(minute.split()[0])
