"""`flask persons set-pin`: asked twice, stored hashed, audited, and shipped in the kiosk manifest."""
from __future__ import annotations

from datetime import timedelta

from backend.domain.pins import verify_pin
from backend.extensions import db
from backend.models import AuditEntry, Person
from backend.security.crypto import vault
from tests.api.device_helpers import SignedClient, activate, lesson_setup
from tests.api.test_devices import START
from tests.conftest import make_id_number


def check_pin(stored, pin, pid):
    """The server's check of a stored PIN."""
    return verify_pin(stored, pin, vault().pin_key, pid)

def _set_pin(app, id_number, typed):
    return app.test_cli_runner().invoke(args=["persons", "set-pin", id_number], input=typed)


def test_set_pin_twice_hashed_and_audited(app, trainee):
    idn = make_id_number(seq="031")
    pid, _ = trainee(name="王五", id_number=idn)
    r = _set_pin(app, idn.lower(), "135790\n135790\n")
    assert r.exit_code == 0, r.output
    assert "135790" not in r.output and "set for person" in r.output
    person = db.session.get(Person, pid)
    db.session.refresh(person)
    # The keyed form only the server can check (kiosks send PINs sealed): no work factor, no oracle without the key.
    assert person.pin_hash.startswith("hmac_sha256$") and check_pin(person.pin_hash, "135790", pid)
    entry = db.session.execute(db.select(AuditEntry).where(AuditEntry.action == "person.set_pin")).scalar_one()
    assert entry.after == {"pin_set": True} and entry.before == {"pin_set": False}
    assert "hmac" not in str(entry.after)
    # Replacing it keeps one hash, the new one.
    old = person.pin_hash
    assert "replaced" in _set_pin(app, idn, "246813\n246813\n").output
    db.session.refresh(person)
    assert person.pin_hash != old and check_pin(person.pin_hash, "246813", pid)


def test_set_pin_refusals(app, trainee):
    idn = make_id_number(seq="032")
    pid, _ = trainee(name="王五", id_number=idn)
    r = _set_pin(app, make_id_number(seq="099"), "135790\n135790\n")
    assert r.exit_code != 0 and "no person" in r.output
    assert make_id_number(seq="099") not in r.output  # masked
    for typed, words in (("12345\n12345\n", "6-12"), ("123456\n123456\n", "too simple")):
        r = _set_pin(app, idn, typed)
        assert r.exit_code != 0 and words in r.output
    # The two entries differ and input ends: nothing is stored.
    r = _set_pin(app, idn, "135790\n135791\n")
    assert r.exit_code != 0
    assert db.session.get(Person, pid).pin_hash is None


def test_manifest_says_who_set_a_pin_and_never_carries_a_hash(app, client, staff, make_institution, trainee, clock):
    clock.set(START + timedelta(minutes=5))
    inst = make_institution()
    _, h = staff("institution", institution=inst)
    with_pin, _ = trainee(name="张三", id_number=make_id_number(seq="041"))
    without, _ = trainee(name="李四", id_number=make_id_number(seq="042"))
    site, _ = lesson_setup(inst, START, people=(with_pin, without))
    assert _set_pin(app, make_id_number(seq="041"), "135790\n135790\n").exit_code == 0
    body = client.post("/api/v1/devices", json={"name": "1号机", "site_id": site.id}, headers=h).get_json()
    activate(client, staff, body["device_id"], inst.region_code[:4])
    signed = SignedClient(client, body["device_id"], body["secret"], clock)
    r = signed.get("/api/v1/device/manifest?date=2026-12-01")
    people = {p["person_id"]: p for p in r.get_json()["people"]}
    assert (people[with_pin]["pin_set"], people[without]["pin_set"]) == (True, False)
    stored = db.session.get(Person, with_pin).pin_hash
    assert stored not in r.get_data(as_text=True) and "pin_hash" not in r.get_data(as_text=True)
