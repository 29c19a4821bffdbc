"""PUT /me/pin: the trainee's own card PIN, so card + PIN always works at a kiosk."""
from __future__ import annotations

import pytest

from backend.domain.pins import check_pin
from backend.extensions import db
from backend.models import AuditEntry, Person


@pytest.fixture
def app_config(app_config):
    app_config["PIN_ITERATIONS"] = 1000  # the product default (200,000) is deliberately slow
    return app_config


def test_set_and_change_pin(client, trainee):
    pid, h = trainee()
    r = client.put("/api/v1/me/pin", json={"pin": "135790"}, headers=h)
    assert r.status_code == 200 and r.get_json() == {"pin_set": True, "replaced": False}
    assert check_pin(db.session.get(Person, pid).pin_hash, "135790")
    r = client.put("/api/v1/me/pin", json={"pin": "246801"}, headers=h)
    assert r.status_code == 403 and r.get_json()["error"]["code"] == "pin_mismatch"
    r = client.put("/api/v1/me/pin", json={"pin": "246801", "current_pin": "135790"}, headers=h)
    assert r.status_code == 200 and r.get_json()["replaced"] is True
    db.session.expire_all()
    assert check_pin(db.session.get(Person, pid).pin_hash, "246801")
    entries = db.session.query(AuditEntry).filter_by(action="person.set_pin").all()
    assert len(entries) == 2 and "pbkdf2" not in str([e.after for e in entries])


@pytest.mark.parametrize("pin, code", [("12345", "pin_format"), ("12a456", "pin_format"), ("123456", "pin_too_simple"),
                                       ("000000", "pin_too_simple")])
def test_weak_pins_refused(client, trainee, pin, code):
    _, h = trainee()
    r = client.put("/api/v1/me/pin", json={"pin": pin}, headers=h)
    assert r.status_code == 422 and r.get_json()["error"]["code"] == code


def test_unbound_trainee_cannot_set_pin(client, trainee):
    _, h = trainee(bind=False)
    assert client.put("/api/v1/me/pin", json={"pin": "135790"}, headers=h).status_code == 403
