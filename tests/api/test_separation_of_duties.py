"""Separation of duties on money: only admins create supervisors, and a claim is disbursed by a
supervisor who neither approved it nor was created by (or created) the approver."""
from __future__ import annotations

from datetime import UTC, datetime

import pytest
from werkzeug.security import generate_password_hash

from backend.extensions import db
from backend.models import AuditEntry, SubsidyClaim, User
from tests.api import outcomes_fixtures as fx
from tests.api.outcomes_fixtures import API, complete_and_approve, error, sh
from tests.conftest import auth

app_config, world = fx.app_config, fx.world  # shared fixtures


@pytest.mark.parametrize("creator, role, region, status", [
    ("supervisor", "supervisor", "3501", 403),     # a second supervisor in the own region: refused
    ("supervisor", "supervisor", "350102", 403),
    ("supervisor", "admin", None, 403),
    ("supervisor", "institution", None, 201),      # institution accounts in the region stay allowed
    ("admin", "supervisor", "3501", 201),
    ("admin", "admin", None, 201),
])
def test_who_creates_which_account(client, staff, make_institution, creator, role, region, status):
    inst = make_institution("350102")
    me, headers = staff(creator, region_code="3501")
    body = {"username": f"new-{role}-{creator}", "password": "long-enough-pw-1", "role": role}
    if region:
        body["region_code"] = region
    if role == "institution":
        body["institution_id"] = inst.id
    r = client.post(f"{API}/users", json=body, headers=headers)
    assert r.status_code == status, r.get_json()
    if status == 201:
        made = db.session.get(User, r.get_json()["id"])
        assert made.created_by == me.id
        entry = db.session.query(AuditEntry).filter_by(action="user.create", object_id=str(made.id)).one()
        assert entry.after["created_by"] == me.id
    else:
        assert db.session.query(User).filter_by(username=body["username"]).count() == 0


def _login(client, user: User) -> dict:
    r = client.post(f"{API}/auth/login", json={"username": user.username, "password": "password-123"})
    assert r.status_code == 200, r.get_json()
    return auth(r.get_json()["access_token"])


def _account(created_by: int | None, name: str) -> User:
    """A supervisor account as one made before the rule (a supervisor's own second account)."""
    user = User(username=name, password_hash=generate_password_hash("password-123", method="pbkdf2:sha256:1000"),
                role="supervisor", region_code="3501", created_at=datetime.now(UTC), created_by=created_by)
    db.session.add(user)
    db.session.commit()
    return user


def _approved_claim(client, clock, w, approver_h) -> int:
    claim_id = complete_and_approve(client, clock, w)["subsidy_claim_id"]
    assert client.post(f"{API}/subsidy-claims/{claim_id}/approve", headers=approver_h).status_code == 200
    clock.set(sh(2026, 3, 20, 10))  # publicity over
    return claim_id


def test_a_second_account_made_by_the_approver_cannot_disburse(client, clock, world):
    w = world
    puppet = _account(w.sup1.id, "sup1-second-account")
    claim_id = _approved_claim(client, clock, w, w.sup1_h)
    r = client.post(f"{API}/subsidy-claims/{claim_id}/disburse", headers=_login(client, puppet))
    assert r.status_code == 409 and error(r) == "same_approver"
    assert db.session.get(SubsidyClaim, claim_id).status == "approved"
    # an independent supervisor pays
    r = client.post(f"{API}/subsidy-claims/{claim_id}/disburse", headers=w.sup2_h)
    assert r.status_code == 200, r.get_json()


def test_the_creator_of_the_approver_cannot_disburse_either(client, clock, world):
    w = world
    made_by_sup2 = _account(w.sup2.id, "made-by-sup2")
    claim_id = _approved_claim(client, clock, w, _login(client, made_by_sup2))
    r = client.post(f"{API}/subsidy-claims/{claim_id}/disburse", headers=w.sup2_h)
    assert r.status_code == 409 and error(r) == "same_approver"
    r = client.post(f"{API}/subsidy-claims/{claim_id}/disburse", headers=w.sup1_h)
    assert r.status_code == 200, r.get_json()
