"""PUT /me/pin: the trainee's own card PIN, so card + PIN always works at a kiosk."""
from __future__ import annotations

import pytest

from backend.domain.pins import verify_pin
from backend.extensions import db
from backend.models import AuditEntry, Person
from backend.security.crypto import vault


def check_pin(stored, pin, pid):
    """The server's check (keyed HMAC form)."""
    return verify_pin(stored, pin, vault().pin_key, pid)


def test_set_and_change_pin(client, trainee):
    pid, h = trainee()
    r = client.put("/api/v1/me/pin", json={"pin": "135790"}, headers=h)
    assert r.status_code == 200 and r.get_json() == {"pin_set": True, "replaced": False}
    stored = db.session.get(Person, pid).pin_hash
    assert stored.startswith("hmac_sha256$") and check_pin(stored, "135790", pid)
    r = client.put("/api/v1/me/pin", json={"pin": "246801"}, headers=h)
    assert r.status_code == 403 and r.get_json()["error"]["code"] == "pin_mismatch"
    r = client.put("/api/v1/me/pin", json={"pin": "246801", "current_pin": "135790"}, headers=h)
    assert r.status_code == 200 and r.get_json()["replaced"] is True
    db.session.expire_all()
    assert check_pin(db.session.get(Person, pid).pin_hash, "246801", pid)
    entries = db.session.query(AuditEntry).filter_by(action="person.set_pin").all()
    assert len(entries) == 2 and "hmac" not in str([e.after for e in entries])


@pytest.mark.parametrize("pin, code", [("12345", "pin_format"), ("12a456", "pin_format"), ("123456", "pin_too_simple"),
                                       ("000000", "pin_too_simple")])
def test_weak_pins_refused(client, trainee, pin, code):
    _, h = trainee()
    r = client.put("/api/v1/me/pin", json={"pin": pin}, headers=h)
    assert r.status_code == 422 and r.get_json()["error"]["code"] == code


def test_unbound_trainee_cannot_set_pin(client, trainee):
    _, h = trainee(bind=False)
    assert client.put("/api/v1/me/pin", json={"pin": "135790"}, headers=h).status_code == 403
