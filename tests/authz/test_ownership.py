"""The owner dimension of the matrix: staff see only their institution, supervisors only their region,
trainees only their own records — whatever the role allows in general."""
from __future__ import annotations

import pytest

from tests.api.plan_helpers import (
    API,
    add_lesson,
    approved_plan,
    lesson_body,
    make_person,
    make_plan,
    make_site,
    make_voucher,
)
from tests.conftest import make_id_number


@pytest.fixture
def world(clock, staff, client, make_institution, trainee):
    from tests.api.plan_helpers import NOW
    clock.set(NOW)
    inst = make_institution("350102")
    _, inst_h = staff("institution", institution=inst)
    _, sup_h = staff("supervisor", region_code="3501")
    _, other_inst_h = staff("institution", institution=make_institution("350103"))
    _, far_sup_h = staff("supervisor", region_code="3502")
    site = make_site(client, inst_h)
    plan = approved_plan(client, inst_h, sup_h, site["id"])
    draft = make_plan(client, inst_h)
    add_lesson(client, inst_h, draft["id"], site_id=site["id"])
    client.post(f"{API}/plans/{draft['id']}/submit", headers=inst_h)
    owner_pid, owner_h = trainee(name="张三", id_number=make_id_number(seq="101"))
    voucher = make_voucher(owner_pid)
    _, stranger_h = trainee(name="李四", id_number=make_id_number(seq="202"))
    person = make_person("王五", make_id_number(seq="303"))
    return {"inst_h": inst_h, "sup_h": sup_h, "other_inst_h": other_inst_h, "far_sup_h": far_sup_h,
            "site": site["id"], "plan": plan["id"], "draft": draft["id"], "voucher": voucher.code,
            "owner_h": owner_h, "stranger_h": stranger_h, "person": person.id}


OTHER_INSTITUTION = [
    ("GET", "/plans/{plan}"), ("PATCH", "/plans/{plan}"), ("GET", "/plans/{plan}/hours"),
    ("GET", "/plans/{plan}/enrollments"), ("POST", "/plans/{plan}/roster"), ("POST", "/plans/{plan}/lessons"),
    ("GET", "/sites/{site}"), ("PATCH", "/sites/{site}"), ("POST", "/plans/{draft}/withdraw"),
    ("GET", "/plans/{plan}/roster/template.xlsx"), ("POST", "/plans/{plan}/completion"),
]

FAR_SUPERVISOR = [
    ("GET", "/plans/{plan}"), ("POST", "/plans/{draft}/approve"), ("POST", "/plans/{draft}/reject"),
    ("GET", "/plans/{plan}/hours"), ("GET", "/stats/overview?region_code=3501"),
    ("PUT", "/persons/{person}/face"),
]


def _call(client, method, path, w, headers):
    # Valid bodies, so the refusal comes from ownership and not from schema validation.
    body = {}
    if path.endswith("/reject"):
        body = {"reason": "不符合要求"}
    elif path.endswith("/face"):
        body = {"image_base64": "AAAA", "consent": True}
    elif path.endswith("/lessons"):
        body = lesson_body(day=12, site_id=w["site"])
    return client.open(API + path.format(**w), method=method, headers=headers, json=body)


@pytest.mark.parametrize("method, path", OTHER_INSTITUTION)
def test_other_institution_is_refused(client, world, method, path):
    r = _call(client, method, path, world, world["other_inst_h"])
    assert r.status_code in (403, 404), (method, path, r.status_code, r.get_json())


@pytest.mark.parametrize("method, path", FAR_SUPERVISOR)
def test_supervisor_outside_region_is_refused(client, world, method, path):
    r = _call(client, method, path, world, world["far_sup_h"])
    assert r.status_code in (403, 404), (method, path, r.status_code, r.get_json())


def test_owners_still_allowed(client, world):
    assert client.get(f"{API}/plans/{world['plan']}", headers=world["inst_h"]).status_code == 200
    assert client.get(f"{API}/plans/{world['plan']}", headers=world["sup_h"]).status_code == 200
    assert client.get(f"{API}/me/vouchers/{world['voucher']}", headers=world["owner_h"]).status_code == 200


@pytest.mark.parametrize("method, suffix", [("GET", ""), ("GET", "/qr"), ("POST", "/return")])
def test_trainee_cannot_touch_another_trainees_voucher(client, world, method, suffix):
    r = client.open(f"{API}/me/vouchers/{world['voucher']}{suffix}", method=method, headers=world["stranger_h"])
    assert r.status_code == 404
    mine = client.get(f"{API}/me/vouchers", headers=world["stranger_h"]).get_json()
    assert mine == []


def test_plan_lists_are_scoped(client, world):
    assert client.get(f"{API}/plans", headers=world["other_inst_h"]).get_json() == []
    assert client.get(f"{API}/plans", headers=world["far_sup_h"]).get_json() == []
    assert len(client.get(f"{API}/plans", headers=world["sup_h"]).get_json()) == 2
