"""Sites: WGS-84 / GCJ-02 input stored as WGS-84, radius limits, scope of listing and editing."""
from __future__ import annotations

import pytest

from backend.domain import geo
from backend.extensions import db
from backend.models import AuditEntry
from tests.api.plan_helpers import API, FUZHOU_WGS, err, make_site


@pytest.fixture
def inst(staff):
    _, h = staff("institution")
    return h


def test_wgs84_site_is_stored_as_given(client, inst):
    site = make_site(client, inst)
    assert (site["lat"], site["lon"]) == FUZHOU_WGS
    assert site["radius_m"] == 200 and site["coord_sys"] == "wgs84" and site["require_site_qr"] is False
    assert db.session.execute(db.select(AuditEntry).where(AuditEntry.action == "site.create")).scalar()


@pytest.mark.parametrize("wgs", [(26.0785, 119.2965), (39.9087, 116.3975), (31.2304, 121.4737),
                                 (43.8256, 87.6168), (18.2528, 109.5119)])
def test_gcj02_input_is_converted_to_wgs84(client, inst, wgs):
    gcj = geo.wgs84_to_gcj02(*wgs)
    assert geo.distance_m(*gcj, *wgs) > 100  # the shift the conversion must undo
    site = make_site(client, inst, lat=gcj[0], lon=gcj[1], coord_sys="gcj02")
    assert geo.distance_m(site["lat"], site["lon"], *wgs) < 1.0


@pytest.mark.parametrize("point", [(35.6812, 139.7671), (48.8566, 2.3522), (-33.8688, 151.2093)])
def test_gcj02_outside_china_is_left_unchanged(client, inst, point):
    site = make_site(client, inst, lat=point[0], lon=point[1], coord_sys="gcj02")  # Tokyo, Paris, Sydney
    assert (site["lat"], site["lon"]) == point


def test_radius_defaults_to_config(app, client, inst):
    app.config["DEFAULT_RADIUS_M"] = 150
    body = {"name": "a", "address": "b", "lat": 26.0, "lon": 119.0, "coord_sys": "wgs84"}
    r = client.post(f"{API}/sites", json=body, headers=inst)
    assert r.status_code == 201 and r.get_json()["radius_m"] == 150


@pytest.mark.parametrize("radius, status", [(9, 422), (10, 201), (2000, 201), (2001, 422)])
def test_radius_limits(client, inst, radius, status):
    body = {"name": "a", "address": "b", "lat": 26.0, "lon": 119.0, "coord_sys": "wgs84", "radius_m": radius}
    r = client.post(f"{API}/sites", json=body, headers=inst)
    assert r.status_code == status
    if status == 422:
        assert err(r) == "validation_error"


@pytest.mark.parametrize("over", [{"coord_sys": "bd09"}, {"lat": 91}, {"lon": -181}, {"lat": "x"},
                                  {"coord_sys": None}, {"name": ""}])
def test_bad_site_input(client, inst, over):
    body = {"name": "a", "address": "b", "lat": 26.0, "lon": 119.0, "coord_sys": "wgs84"}
    body.update(over)
    r = client.post(f"{API}/sites", json=body, headers=inst)
    assert r.status_code == 422 and err(r) == "validation_error"


def test_only_institutions_create_sites(client, staff):
    _, sup = staff("supervisor")
    r = client.post(f"{API}/sites", json={"name": "a", "address": "b", "lat": 26.0, "lon": 119.0,
                                          "coord_sys": "wgs84"}, headers=sup)
    assert r.status_code == 403 and err(r) == "forbidden"
    r = client.post(f"{API}/sites", json={"name": "a", "address": "b", "lat": 26.0, "lon": 119.0,
                                          "coord_sys": "wgs84"})
    assert r.status_code == 401 and err(r) == "unauthorized"


def test_suspended_institution_cannot_add_sites(client, staff, make_institution):
    inst = make_institution()
    inst.status = "suspended"
    db.session.commit()
    _, h = staff("institution", institution=inst)
    r = client.post(f"{API}/sites", json={"name": "a", "address": "b", "lat": 26.0, "lon": 119.0,
                                          "coord_sys": "wgs84"}, headers=h)
    assert r.status_code == 403 and r.get_json()["error"]["details"]["reason"] == "institution_suspended"


def test_listing_is_scoped(client, staff, make_institution):
    fuzhou, xiamen = make_institution("350102"), make_institution("350203")
    _, h1 = staff("institution", institution=fuzhou)
    _, h2 = staff("institution", institution=xiamen)
    s1, s2 = make_site(client, h1), make_site(client, h2, name="厦门基地")
    _, sup_fz = staff("supervisor", region_code="3501")
    _, sup_fj = staff("supervisor", region_code="35")
    _, admin = staff("admin")

    def ids(h):
        r = client.get(f"{API}/sites", headers=h)
        assert r.status_code == 200
        return {s["id"] for s in r.get_json()}, r.headers["X-Total-Count"]

    assert ids(h1) == ({s1["id"]}, "1")
    assert ids(sup_fz) == ({s1["id"]}, "1")
    assert ids(sup_fj) == ({s1["id"], s2["id"]}, "2")
    assert ids(admin)[0] == {s1["id"], s2["id"]}
    assert client.get(f"{API}/sites/{s2['id']}", headers=h1).status_code == 403
    assert client.get(f"{API}/sites/{s2['id']}", headers=sup_fz).status_code == 403
    assert client.get(f"{API}/sites/{s1['id']}", headers=sup_fz).get_json()["name"] == "鼓楼实训基地"
    r = client.get(f"{API}/sites/999999", headers=h1)
    assert r.status_code == 404 and err(r) == "not_found"


def test_patch_moves_and_resizes(client, inst):
    site = make_site(client, inst)
    target = (26.08, 119.30)
    gcj = geo.wgs84_to_gcj02(*target)
    r = client.patch(f"{API}/sites/{site['id']}", json={"lat": gcj[0], "lon": gcj[1], "coord_sys": "gcj02",
                                                          "radius_m": 500, "require_site_qr": True}, headers=inst)
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert geo.distance_m(body["lat"], body["lon"], *target) < 1.0
    assert body["radius_m"] == 500 and body["require_site_qr"] is True
    entry = db.session.execute(db.select(AuditEntry).where(AuditEntry.action == "site.update")).scalar()
    assert entry.before["radius_m"] == 200 and entry.after["radius_m"] == 500


@pytest.mark.parametrize("body", [{"lat": 26.1}, {"lat": 26.1, "lon": 119.3}, {"radius_m": 5}])
def test_patch_refuses_partial_moves_and_bad_radius(client, inst, body):
    site = make_site(client, inst)
    r = client.patch(f"{API}/sites/{site['id']}", json=body, headers=inst)
    assert r.status_code == 422 and err(r) == "validation_error"


def test_patch_other_institution_forbidden(client, inst, staff):
    site = make_site(client, inst)
    _, other = staff("institution")
    r = client.patch(f"{API}/sites/{site['id']}", json={"name": "x"}, headers=other)
    assert r.status_code == 403 and err(r) == "forbidden"
