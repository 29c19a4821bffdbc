"""Real-name binding a stranger who knows a name and an ID number cannot complete: the identity
provider, the SMS code to the phone an institution recorded, resend limits, and nothing shown before."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from backend.extensions import db
from backend.models import Person, SmsChallenge, SmsMessage
from tests.api.plan_helpers import NOW, make_person
from tests.conftest import auth, make_id_number, sent_sms_code

API = "/api/v1"
ON_RECORD = "13900000001"   # the phone the institution entered
TYPED = "13800138000"       # the phone the caller types


def login(client, code: str) -> dict:
    """A fresh WeChat account (stub) and its headers."""
    r = client.post(f"{API}/auth/wechat", json={"code": code})
    assert r.status_code == 200
    return auth(r.get_json()["access_token"])


def bind(client, headers, id_number: str, name: str = "王芳", **extra):
    """POST /me/identity with the typed phone."""
    return client.post(f"{API}/me/identity", headers=headers,
                       json={"name": name, "id_number": id_number, "phone": TYPED, **extra})


def error(r) -> tuple[int, str | None, dict]:
    """(status, code, details) of a response."""
    body = r.get_json() or {}
    err = body.get("error") or {}
    return r.status_code, err.get("code"), err.get("details") or {}


def outbox() -> list[SmsMessage]:
    """The stub SMS outbox, oldest first."""
    rows = db.session.execute(select(SmsMessage).order_by(SmsMessage.id)).scalars().all()
    db.session.commit()
    return rows


@pytest.fixture
def recorded(clock):
    """A person an institution recorded with a phone (as a roster import does); returns the ID number."""
    clock.set(NOW)
    id_number = make_id_number(seq="301")
    make_person("王芳", id_number, ON_RECORD, ["unemployed"])
    return id_number


# ---- without a phone on record: the provider check alone ------------------------------------------

@pytest.mark.parametrize("on_record", [False, True], ids=["not_on_record", "on_record_without_phone"])
def test_binding_without_a_recorded_phone_needs_no_code(client, clock, on_record):
    clock.set(NOW)
    id_number = make_id_number(seq="302")
    if on_record:
        make_person("王芳", id_number)
    r = bind(client, login(client, "no-phone"), id_number)
    assert r.status_code == 200, r.get_json()
    person = r.get_json()
    assert person["id_number"] == id_number and person["phone"] == TYPED
    assert outbox() == []
    row = db.session.get(Person, person["id"])
    assert row.phone_entered_by == "self"


# ---- with a phone on record: the code goes to that phone ------------------------------------------

def test_recorded_phone_needs_the_code_sent_to_it(client, recorded):
    h = login(client, "owner")
    r = bind(client, h, recorded)
    status, code, details = error(r)
    assert (status, code) == (409, "verification_required")
    assert details == {"method": "sms", "phone_masked": "139****0001", "code_sent": True, "resend_after_s": 60,
                       "expires_in_s": 600, "code_length": 6}
    sent = outbox()
    assert [m.phone for m in sent] == [ON_RECORD]  # the recorded phone, not the one typed
    assert "验证码" in sent[0].text
    stored = db.session.execute(select(SmsChallenge)).scalar_one()
    assert sent_sms_code(ON_RECORD) not in stored.code_hash and len(stored.code_hash) == 64

    right = sent_sms_code(ON_RECORD)
    wrong = f"{(int(right) + 1) % 1000000:06d}"
    status, code, details = error(bind(client, h, recorded, sms_code=wrong))
    assert (status, code, details) == (422, "invalid_code", {"reason": "wrong_code", "attempts_left": 4})
    r = bind(client, h, recorded, sms_code=right)
    assert r.status_code == 200, r.get_json()
    person = r.get_json()
    assert person["id_number"] == recorded and person["phone"] == ON_RECORD and person["groups"] == ["unemployed"]
    assert client.get(f"{API}/me", headers=h).get_json()["bound"] is True
    assert len(outbox()) == 1


def _wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1000000:06d}"


@pytest.mark.parametrize("case, expected", [
    ("expired", (422, "invalid_code", {"reason": "expired"})),
    ("five_wrong_then_right", (422, "invalid_code", {"reason": "too_many_attempts", "attempts_left": 0})),
    ("code_for_another_phone", (409, "verification_required", None)),
    ("code_of_another_account", (409, "verification_required", None)),
])
def test_codes_that_no_longer_work(client, clock, recorded, case, expected):
    h = login(client, "owner")
    assert error(bind(client, h, recorded))[1] == "verification_required"
    code = sent_sms_code(ON_RECORD)
    if case == "expired":
        clock.advance(minutes=10, seconds=1)
    elif case == "five_wrong_then_right":
        left = [error(bind(client, h, recorded, sms_code=_wrong(code)))[2]["attempts_left"] for _ in range(5)]
        assert left == [4, 3, 2, 1, 0]
    elif case == "code_for_another_phone":
        clock.advance(seconds=61)
        person = db.session.execute(select(Person)).scalar_one()
        person.phone = "13900000002"  # the institution corrected the phone
        db.session.commit()
    else:
        h = login(client, "someone-else")
    status, err_code, details = error(bind(client, h, recorded, sms_code=code))
    assert (status, err_code) == expected[:2]
    if expected[2] is not None:
        assert details == expected[2]
    if case == "code_for_another_phone":
        assert details["phone_masked"] == "139****0002" and outbox()[-1].phone == "13900000002"
    if case == "code_of_another_account":  # inside the minute: nothing new is sent
        assert details["code_sent"] is False and len(outbox()) == 1
    # Once the minute is over, a call without a code sends a new one, and that one binds.
    clock.advance(seconds=61)
    assert error(bind(client, h, recorded))[:2] == (409, "verification_required")
    r = bind(client, h, recorded, sms_code=sent_sms_code(outbox()[-1].phone))
    assert r.status_code == 200, r.get_json()


def test_resend_window_and_daily_cap(client, clock, recorded):
    h = login(client, "owner")
    assert error(bind(client, h, recorded))[2]["code_sent"] is True
    first = sent_sms_code(ON_RECORD)
    clock.advance(seconds=20)
    status, code, details = error(bind(client, h, recorded))
    assert (status, code, details["code_sent"], details["resend_after_s"]) == (409, "verification_required", False, 40)
    assert len(outbox()) == 1
    clock.advance(seconds=40)
    assert error(bind(client, h, recorded))[2]["code_sent"] is True
    assert len(outbox()) == 2
    # Only the newest code counts.
    second = sent_sms_code(ON_RECORD)
    if second != first:
        assert error(bind(client, h, recorded, sms_code=first))[:2] == (422, "invalid_code")
    for _ in range(8):
        clock.advance(seconds=61)
        assert error(bind(client, h, recorded))[2]["code_sent"] is True
    clock.advance(seconds=61)
    r = bind(client, h, recorded)
    status, code, details = error(r)
    assert (status, code, details["reason"]) == (429, "rate_limited", "sms_daily_cap")
    assert int(r.headers["Retry-After"]) > 0 and len(outbox()) == 10
    clock.advance(hours=24)
    assert error(bind(client, login(client, "owner"), recorded))[2]["code_sent"] is True


# ---- the identity provider ----------------------------------------------------------------------------

REFUSED = make_id_number(seq="399")


@pytest.fixture
def refusing(app_config):
    """The stub provider refuses REFUSED (IDENTITY_STUB_REFUSE)."""
    app_config["IDENTITY_STUB_REFUSE"] = f"{REFUSED.lower()}, 110101199003070000"
    return app_config


@pytest.mark.parametrize("on_record", [False, True])
def test_provider_refusal_comes_before_anything_else(refusing, client, clock, on_record):
    clock.set(NOW)
    if on_record:
        make_person("王芳", REFUSED, ON_RECORD)
    persons_before = db.session.execute(select(func.count(Person.id))).scalar()
    db.session.commit()
    status, code, _ = error(bind(client, login(client, "x"), REFUSED))
    assert (status, code) == (422, "identity_not_verified")
    assert outbox() == [] and db.session.execute(select(func.count(Person.id))).scalar() == persons_before
    assert bind(client, login(client, "y"), make_id_number(seq="398")).status_code == 200


# ---- a stranger sees nothing -------------------------------------------------------------------------

def test_a_stranger_reads_nothing_before_binding(client, recorded):
    stranger = login(client, "stranger")
    r = bind(client, stranger, recorded)
    text = r.get_data(as_text=True)
    assert error(r)[:2] == (409, "verification_required")
    for secret in (recorded, recorded[6:14], ON_RECORD, "unemployed", "王芳"):
        assert secret not in text, secret
    r = client.get(f"{API}/me", headers=stranger)
    assert r.get_json() == {"role": "trainee", "bound": False, "person": None}
    assert client.get(f"{API}/me/lessons", headers=stranger).get_json() == []
    for method, path, body in (("GET", "/me/vouchers", None),
                               ("GET", "/me/archive", None), ("PUT", "/me/pin", {"pin": "258013"}),
                               ("DELETE", "/me/face", None)):
        r = client.open(API + path, method=method, headers=stranger, json=body)
        assert error(r)[:2] == (403, "identity_not_bound"), path
    # Guessing fails like any wrong code; the real phone got the code, not the stranger.
    assert error(bind(client, stranger, recorded, sms_code="000000"))[0] in (409, 422)


@pytest.mark.parametrize("field, value", [
    ("sms_code", 123456), ("sms_code", "1234567"), ("sms_code", "12a456"), ("sms_code", ""),
    ("sms_code", ["123456"]), ("sms_code", {"code": "123456"}), ("sms_code", "１２３４５"),
    ("name", 7), ("id_number", None), ("phone", 13800138000), ("name", "x" * 65),
])
def test_bad_inputs_are_422(client, recorded, field, value):
    body = {"name": "王芳", "id_number": recorded, "phone": TYPED, field: value}
    r = client.post(f"{API}/me/identity", headers=login(client, "bad"), json=body)
    assert r.status_code == 422 and error(r)[1] == "validation_error", r.get_json()
    assert outbox() == []


def test_full_width_code_digits_are_accepted(client, recorded):
    h = login(client, "owner")
    bind(client, h, recorded)
    code = sent_sms_code(ON_RECORD).translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    assert bind(client, h, recorded, sms_code=code).status_code == 200


def test_roster_import_then_stranger_then_owner(client, clock, staff, make_institution):
    """The whole story through the API: an institution imports the trainee with a phone."""
    from tests.api.plan_helpers import add_lesson, make_plan, make_site
    clock.set(NOW)
    inst = make_institution("350102")
    _, desk = staff("institution", institution=inst)
    plan = make_plan(client, desk)
    add_lesson(client, desk, plan["id"], site_id=make_site(client, desk)["id"])
    id_number = make_id_number(seq="311")
    r = client.post(f"{API}/plans/{plan['id']}/roster", headers=desk,
                    json={"trainees": [{"name": "李娜", "id_number": id_number, "phone": ON_RECORD}]})
    assert r.status_code == 200 and r.get_json()["imported"] == 1
    stranger = login(client, "stranger")
    assert error(bind(client, stranger, id_number, name="李娜"))[:2] == (409, "verification_required")
    clock.advance(seconds=61)
    owner = login(client, "owner")
    assert error(bind(client, owner, id_number, name="李娜"))[:2] == (409, "verification_required")
    r = bind(client, owner, id_number, name="李娜", sms_code=sent_sms_code(ON_RECORD))
    assert r.status_code == 200 and r.get_json()["phone"] == ON_RECORD
    assert error(bind(client, stranger, id_number, name="李娜"))[:2] == (409, "identity_taken")


# ---- GET /dev/sms --------------------------------------------------------------------------------------

def test_dev_sms_outbox_for_admins_newest_first(client, clock, staff, trainee, recorded):
    h = login(client, "owner")
    bind(client, h, recorded)
    clock.advance(seconds=61)
    bind(client, h, recorded)
    _, admin = staff("admin")
    r = client.get(f"{API}/dev/sms", headers=admin)
    assert r.status_code == 200 and r.headers["X-Total-Count"] == "2"
    items = r.get_json()
    assert [i["phone"] for i in items] == [ON_RECORD] * 2 and items[0]["sent_at"] > items[1]["sent_at"]
    assert sent_sms_code(ON_RECORD) in items[0]["text"]
    assert client.get(f"{API}/dev/sms?per_page=1", headers=admin).get_json() == items[:1]
    _, sup = staff("supervisor")
    _, t = trainee()
    for headers in (sup, t):
        assert error(client.get(f"{API}/dev/sms", headers=headers))[:2] == (403, "forbidden")
    assert client.get(f"{API}/dev/sms").status_code == 401


def test_dev_sms_is_404_outside_stub_mode(app_config, staff):
    from backend import create_app
    _, admin = staff("admin")  # through the main test app: the same database
    application = create_app(dict(app_config, SMS_MODE="live", SMS_API_URL="http://127.0.0.1:9/sms"))
    with application.app_context():
        assert error(application.test_client().get(f"{API}/dev/sms", headers=admin))[:2] == (404, "not_found")
        db.session.remove()


def test_codes_older_than_a_day_are_dropped(client, clock, recorded):
    h = login(client, "owner")
    bind(client, h, recorded)
    clock.advance(days=1, minutes=5)
    assert error(bind(client, login(client, "owner"), recorded))[2]["code_sent"] is True
    sent = db.session.execute(select(SmsChallenge.sent_at)).scalars().all()
    db.session.commit()
    assert len(sent) == 1 and sent[0] > NOW + timedelta(days=1)
