"""Authorization matrix: every API route declares its roles, the table below is the reviewed
truth, and each role outside a route's set is refused before anything else happens.

A new route fails `test_every_route_is_in_the_matrix` until it is added here on purpose."""
from __future__ import annotations

import re

import pytest

from tests.authz.routes import declared_roles

# "METHOD /path": roles allowed ("public" = anyone, no token)
EXPECTED = {
    "GET /api/v1/institutions": {'supervisor', 'admin'},
    "GET /api/v1/users": {'supervisor', 'admin'},
    "GET /api/v1/occupations": {'supervisor', 'institution', 'trainee', 'admin'},
    "GET /api/v1/voucher-batches/<int:batch_id>/vouchers": {'supervisor', 'admin'},
    "POST /api/v1/plans/<int:plan_id>/completion/reject": {'supervisor'},
    "POST /api/v1/plans/<int:plan_id>/change-requests": {'institution'},
    "GET /api/v1/plans/<int:plan_id>/change-requests": {'supervisor', 'institution', 'admin'},
    "POST /api/v1/plans/<int:plan_id>/change-requests/<int:request_id>/approve": {'supervisor'},
    "POST /api/v1/plans/<int:plan_id>/change-requests/<int:request_id>/reject": {'supervisor'},
    "GET /api/v1/change-requests": {'supervisor', 'institution', 'admin'},
    "GET /api/v1/plans/<int:plan_id>/completion/preview": {'supervisor', 'institution', 'admin'},
    "DELETE /api/v1/me/face": {'trainee'},
    "DELETE /api/v1/lessons/<int:lesson_id>": {'institution'},
    "DELETE /api/v1/plans/<int:plan_id>/enrollments/<int:enrollment_id>": {'institution'},
    "POST /api/v1/auth/password": {'institution', 'supervisor', 'admin'},
    "POST /api/v1/plans/<int:plan_id>/contracts": {'institution'},
    "GET /api/v1/plans/<int:plan_id>/exports/roster": {'institution', 'supervisor', 'admin'},
    "GET /api/v1/plans/<int:plan_id>/exports/hours": {'institution', 'supervisor', 'admin'},
    "GET /api/v1/plans/<int:plan_id>/exports/claim": {'institution', 'supervisor', 'admin'},
    "GET /api/v1/plans/<int:plan_id>/lessons/template.xlsx": {'institution', 'supervisor', 'admin'},
    "POST /api/v1/plans/<int:plan_id>/lessons/import": {'institution'},
    "GET /api/v1/plans/<int:plan_id>/online-records/template.xlsx": {'institution', 'supervisor', 'admin'},
    "GET /api/v1/audit": {'supervisor', 'admin'},
    'GET /api/v1/audit/objects': {'supervisor', 'admin'},
    "GET /api/v1/certificates/<number>": {'public'},
    "GET /api/v1/device/manifest": {'device'},
    "GET /api/v1/stats/overdue": {'supervisor', 'admin'},
    "GET /api/v1/policies": {'supervisor', 'admin'},
    "GET /api/v1/policies/effective": {'institution', 'supervisor', 'admin'},
    "POST /api/v1/policies": {'supervisor', 'admin'},
    "GET /api/v1/plans/<int:plan_id>/flags": {'supervisor', 'institution', 'admin'},
    "GET /api/v1/dev/sms": {'admin'},
    "GET /api/v1/devices": {'supervisor', 'institution', 'admin'},
    "GET /api/v1/docs/assets/<path:filename>": {'public'},
    "GET /api/v1/enrollments/<int:enrollment_id>/contract": {'supervisor', 'institution', 'admin'},
    "GET /api/v1/healthz": {'public'},
    "GET /api/v1/institutions/<int:institution_id>": {'supervisor', 'institution', 'trainee', 'admin'},
    "GET /api/v1/institutions/<int:institution_id>/rating": {'public'},
    "GET /api/v1/institutions/nearby": {'supervisor', 'institution', 'trainee', 'admin'},
    "GET /api/v1/publicity": {'public'},
    "GET /api/v1/lessons/<int:lesson_id>": {'supervisor', 'institution', 'admin'},
    "GET /api/v1/lessons/<int:lesson_id>/attendance": {'supervisor', 'institution', 'admin'},
    "GET /api/v1/lessons/<int:lesson_id>/site-qr": {'institution'},
    "GET /api/v1/live/lessons": {'supervisor', 'admin'},
    "GET /api/v1/live/stream": {'supervisor', 'admin'},
    "GET /api/v1/makeups": {'supervisor', 'institution', 'admin'},
    "GET /api/v1/makeups/<int:makeup_id>": {'supervisor', 'institution', 'admin'},
    "GET /api/v1/makeups/<int:makeup_id>/photos/<which>": {'supervisor', 'institution', 'admin'},
    "GET /api/v1/me": {'supervisor', 'institution', 'trainee', 'admin'},
    "GET /api/v1/me/archive": {'trainee'},
    "GET /api/v1/me/certificates": {'trainee'},
    "GET /api/v1/me/lessons": {'trainee'},
    "GET /api/v1/me/subsidies": {'trainee'},
    "GET /api/v1/me/vouchers": {'trainee'},
    "GET /api/v1/me/vouchers/<code>": {'trainee'},
    "GET /api/v1/me/vouchers/<code>/qr": {'trainee'},
    "GET /api/v1/plans": {'supervisor', 'institution', 'admin'},
    "GET /api/v1/plans/<int:plan_id>": {'supervisor', 'institution', 'admin'},
    "GET /api/v1/plans/<int:plan_id>/certificates": {'supervisor', 'institution', 'admin'},
    "GET /api/v1/plans/<int:plan_id>/enrollments": {'supervisor', 'institution', 'admin'},
    "GET /api/v1/plans/<int:plan_id>/hours": {'supervisor', 'institution', 'admin'},
    "GET /api/v1/plans/<int:plan_id>/lessons": {'supervisor', 'institution', 'admin'},
    "GET /api/v1/plans/<int:plan_id>/results": {'supervisor', 'institution', 'admin'},
    "GET /api/v1/plans/<int:plan_id>/results/template.xlsx": {'institution'},
    "GET /api/v1/plans/<int:plan_id>/roster/template.xlsx": {'supervisor', 'institution', 'admin'},
    "GET /api/v1/readyz": {'public'},
    "GET /api/v1/sites": {'supervisor', 'institution', 'admin'},
    "GET /api/v1/sites/<int:site_id>": {'supervisor', 'institution', 'admin'},
    "GET /api/v1/stats/export": {'supervisor', 'admin'},
    "GET /api/v1/stats/overview": {'supervisor', 'admin'},
    "GET /api/v1/subsidy-claims": {'supervisor', 'institution', 'admin'},
    "GET /api/v1/subsidy-claims/<int:claim_id>": {'supervisor', 'institution', 'admin'},
    "GET /api/v1/voucher-batches": {'supervisor', 'trainee', 'admin'},
    "GET /api/v1/voucher-batches/<int:batch_id>": {'supervisor', 'trainee', 'admin'},
    "PATCH /api/v1/enrollments/<int:enrollment_id>": {'institution'},
    "PATCH /api/v1/lessons/<int:lesson_id>": {'institution'},
    "PATCH /api/v1/plans/<int:plan_id>": {'institution'},
    "PATCH /api/v1/sites/<int:site_id>": {'institution'},
    "POST /api/v1/attendance": {'trainee'},
    "POST /api/v1/auth/login": {'public'},
    "POST /api/v1/auth/logout": {'public'},
    "POST /api/v1/auth/refresh": {'public'},
    "POST /api/v1/auth/wechat": {'public'},
    "POST /api/v1/device/events": {'device'},
    "POST /api/v1/device/pin-check": {'device'},
    "POST /api/v1/device/heartbeat": {'device'},
    "POST /api/v1/voucher-batches/<int:batch_id>/code-enrollment": {'supervisor', 'admin'},
    "POST /api/v1/devices": {'supervisor', 'institution', 'admin'},
    "POST /api/v1/devices/<int:device_id>/revoke": {'supervisor', 'institution', 'admin'},
    "POST /api/v1/devices/<int:device_id>/activate": {'supervisor'},
    "POST /api/v1/enrollments/<int:enrollment_id>/contract": {'institution'},
    "POST /api/v1/institutions": {'supervisor', 'admin'},
    "POST /api/v1/lessons/<int:lesson_id>/makeups": {'institution'},
    "POST /api/v1/makeups/<int:makeup_id>/approve": {'supervisor'},
    "POST /api/v1/makeups/<int:makeup_id>/reject": {'supervisor'},
    "POST /api/v1/me/evaluations": {'trainee'},
    "POST /api/v1/me/identity": {'trainee'},
    "POST /api/v1/me/vouchers/<code>/return": {'trainee'},
    "POST /api/v1/persons/<int:person_id>/unbind": {'supervisor', 'admin'},
    "POST /api/v1/plans": {'institution'},
    "POST /api/v1/plans/<int:plan_id>/approve": {'supervisor'},
    "POST /api/v1/plans/<int:plan_id>/completion": {'institution'},
    "POST /api/v1/plans/<int:plan_id>/completion/approve": {'supervisor'},
    "POST /api/v1/plans/<int:plan_id>/enrollments": {'institution'},
    "POST /api/v1/plans/<int:plan_id>/lessons": {'institution'},
    "POST /api/v1/plans/<int:plan_id>/online-records": {'institution'},
    "POST /api/v1/plans/<int:plan_id>/reject": {'supervisor'},
    "POST /api/v1/plans/<int:plan_id>/results": {'institution'},
    "POST /api/v1/plans/<int:plan_id>/roster": {'institution'},
    "POST /api/v1/plans/<int:plan_id>/submit": {'institution'},
    "POST /api/v1/plans/<int:plan_id>/withdraw": {'institution'},
    "POST /api/v1/sites": {'institution'},
    "POST /api/v1/subsidy-claims/<int:claim_id>/approve": {'supervisor'},
    "POST /api/v1/subsidy-claims/<int:claim_id>/disburse": {'supervisor'},
    "POST /api/v1/subsidy-claims/<int:claim_id>/objections": {'supervisor'},
    "POST /api/v1/subsidy-claims/<int:claim_id>/objections/<int:objection_id>/resolve": {'supervisor'},
    "POST /api/v1/subsidy-claims/<int:claim_id>/reject": {'supervisor'},
    "POST /api/v1/certificates/<number>/revoke": {'supervisor'},
    "POST /api/v1/users": {'supervisor', 'admin'},
    "POST /api/v1/voucher-batches": {'supervisor', 'admin'},
    "POST /api/v1/voucher-batches/<int:batch_id>/claims": {'trainee'},
    "POST /api/v1/voucher-batches/<int:batch_id>/close": {'supervisor', 'admin'},
    "POST /api/v1/voucher-batches/<int:batch_id>/publish": {'supervisor', 'admin'},
    "POST /api/v1/vouchers/<code>/void": {'supervisor', 'admin'},
    "POST /api/v1/vouchers/verify": {'institution', 'device', 'supervisor', 'admin'},
    "PUT /api/v1/me/face": {'trainee'},
    "PUT /api/v1/me/pin": {'trainee'},
    "GET /api/v1/me/notifications": {'trainee'},
    "POST /api/v1/me/notifications/<int:notification_id>/read": {'trainee'},
    "GET /api/v1/me/notification-preferences": {'trainee'},
    "PUT /api/v1/me/notification-preferences": {'trainee'},
    "GET /api/v1/escalations": {'institution', 'supervisor', 'admin'},
    "GET /api/v1/notifications/failures": {'admin'},
    "GET /api/v1/dev/notifications": {'admin'},
    "PUT /api/v1/persons/<int:person_id>/face": {'supervisor', 'institution'},
}

ROLES = ("trainee", "institution", "supervisor", "admin")


def test_every_route_is_in_the_matrix(app):
    declared = declared_roles(app)
    undeclared = sorted(k for k, v in declared.items() if v is None)
    assert not undeclared, f"routes without requires()/public: {undeclared}"
    assert {k: set(v) for k, v in declared.items()} == EXPECTED


@pytest.fixture
def role_headers(staff, trainee):
    """A logged-in caller per role."""
    out = {"anonymous": {}}
    _, out["trainee"] = trainee()
    _, out["institution"] = staff("institution")
    _, out["supervisor"] = staff("supervisor", region_code="3501")
    _, out["admin"] = staff("admin")
    return out


def _url(route: str) -> str:
    # Placeholder ids: the role gate runs before the object is even looked up.
    return re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", lambda m: "x.txt" if m.group(1) == "filename" else "1", route)


@pytest.mark.parametrize("key", sorted(EXPECTED))
def test_roles_outside_the_matrix_are_refused(client, role_headers, key):
    method, route = key.split(" ", 1)
    allowed = EXPECTED[key]
    for role in ("anonymous", *ROLES):
        if "public" in allowed or role in allowed:
            continue
        r = client.open(_url(route), method=method, headers=role_headers[role], json={})
        r.close()
        if role == "anonymous":
            assert r.status_code == 401, (key, role, r.status_code)
        else:
            assert r.status_code == 403, (key, role, r.status_code)
            assert r.get_json()["error"]["details"].get("required_roles"), (key, role)


@pytest.mark.parametrize("key", sorted(EXPECTED))
def test_allowed_roles_pass_the_gate(client, role_headers, key):
    method, route = key.split(" ", 1)
    allowed = EXPECTED[key]
    callers = ROLES if "public" in allowed else [r for r in ROLES if r in allowed]
    for role in callers:
        r = client.open(_url(route), method=method, headers=role_headers[role], json={})
        assert r.status_code != 401, (key, role)
        if r.mimetype == "text/event-stream":  # an open stream: the gate let it through
            r.close()
            continue
        body = r.get_json(silent=True) or {}
        r.close()
        assert not (r.status_code == 403 and body.get("error", {}).get("details", {}).get("required_roles")), (key, role)
        assert r.status_code < 500, (key, role, r.status_code, body)
