"""Guards against quietly changing what attendance and vouchers were judged against."""
from __future__ import annotations

from datetime import timedelta

import pytest

from tests.api.plan_helpers import API, NOW, approved_plan, login, make_site, roster_world


@pytest.mark.parametrize("field, value", [("occupation_code", "6-01-01-01"), ("plan_type", "in_post"),
                                          ("delivery", "blended")])
def test_approved_plan_cannot_change_what_was_reviewed(client, clock, staff, make_institution, field, value):
    w = roster_world(clock, staff, client, make_institution)
    plan = approved_plan(client, w["inst_h"], w["sup_h"], w["site"])
    body = {field: value, "online_platform": "职业技能在线平台"} if field == "delivery" else {field: value}
    r = client.patch(f"{API}/plans/{plan['id']}", json=body, headers=w["inst_h"])
    assert r.status_code == 409 and r.get_json()["error"]["code"] == "change_requires_review"
    assert r.get_json()["error"]["details"]["fields"] == [field]
    r = client.patch(f"{API}/plans/{plan['id']}", json={"title": "新标题"}, headers=w["inst_h"])
    assert r.status_code == 200


def test_site_fence_frozen_once_a_lesson_started(client, clock, staff, make_institution):
    w = roster_world(clock, staff, client, make_institution)
    approved_plan(client, w["inst_h"], w["sup_h"], w["site"])
    assert client.patch(f"{API}/sites/{w['site']}", json={"radius_m": 300}, headers=w["inst_h"]).status_code == 200
    clock.set(NOW + timedelta(days=9, hours=2))  # the first lesson (10 Mar 09:00 Shanghai) has started
    w["inst_h"] = login(client, w["inst_user"])  # a fresh token at the new time
    for body in ({"radius_m": 2000}, {"lat": 26.1, "lon": 119.3, "coord_sys": "wgs84"}):
        r = client.patch(f"{API}/sites/{w['site']}", json=body, headers=w["inst_h"])
        assert r.status_code == 409 and r.get_json()["error"]["code"] == "site_in_use"
    assert client.patch(f"{API}/sites/{w['site']}", json={"name": "新名称"}, headers=w["inst_h"]).status_code == 200
    assert make_site(client, w["inst_h"], name="新基地")["id"] != w["site"]
