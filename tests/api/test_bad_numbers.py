"""Numbers too large for the database are bad input (404/422/401), never a 500."""
from __future__ import annotations

import pytest

BIG = "99999999999999999999"


@pytest.mark.parametrize("path", [f"/api/v1/plans/{BIG}", f"/api/v1/lessons/{BIG}",
                                  f"/api/v1/subsidy-claims/{BIG}", f"/api/v1/institutions/{BIG}/rating"])
def test_huge_path_ids_are_not_found(client, staff, path):
    _, h = staff("admin")
    r = client.get(path, headers=h)
    assert r.status_code == 404 and r.get_json()["error"]["code"] == "not_found"


def test_huge_ids_in_bodies_and_queries_are_validation_errors(client, staff, trainee):
    _, h = staff("supervisor", region_code="3501")
    r = client.get(f"/api/v1/audit?object_type=plan&object_id={BIG}", headers=h)
    assert r.status_code in (404, 422)
    r = client.get(f"/api/v1/plans?page={BIG}", headers=h)
    assert r.status_code == 422
    _, th = trainee()
    r = client.post("/api/v1/attendance", headers=th, json={
        "event_id": "7d0c7c2e-4a57-4a1e-9a39-0b6f8f6a7e11", "lesson_id": int(BIG), "kind": "check_in",
        "lat": 26.0, "lon": 119.0, "accuracy_m": 10, "coord_sys": "wgs84", "client_time": "2026-03-10T09:00:00+08:00"})
    assert r.status_code in (404, 422), r.get_json()
    r = client.post("/api/v1/me/evaluations", headers=th, json={"plan_id": int(BIG), "teaching": 5, "facilities": 5,
                                                                 "organisation": 5, "comment": ""})
    assert r.status_code in (404, 422), r.get_json()


def test_huge_device_id_is_unauthorized(client):
    r = client.get("/api/v1/device/manifest", headers={"X-Device-Id": BIG, "X-Timestamp": "1", "X-Nonce": "n" * 16,
                                                       "X-Signature": "00"})
    assert r.status_code == 401
