"""Nearest offline training: geodesic order, GCJ-02 input, occupation filter, rating and usable vouchers."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

from backend.domain.geo import wgs84_to_gcj02
from backend.extensions import db
from backend.models import Site, TrainingPlan, Voucher, VoucherBatch

HERE = (26.0785, 119.2965)  # Fuzhou, WGS-84


def _site(inst, name, lat, lon):
    s = Site(institution_id=inst.id, name=name, address="福州", lat=lat, lon=lon, radius_m=200,
             created_at=datetime.now(UTC))
    db.session.add(s)
    return s


def _plan(inst, occupation):
    t = datetime.now(UTC)
    db.session.add(TrainingPlan(institution_id=inst.id, region_code=inst.region_code, title="p",
                                occupation_code=occupation, plan_type="pre_job", delivery="offline",
                                starts_on=t.date(), ends_on=t.date() + timedelta(days=9), status="approved",
                                created_at=t))


def test_nearest_first_with_gcj_input_and_filters(client, trainee, make_institution, staff):
    near, far, other_region = make_institution("350102"), make_institution("350103"), make_institution("350203")
    _site(near, "近", HERE[0] + 0.001, HERE[1])      # ~111 m
    _site(far, "远", HERE[0] + 0.05, HERE[1])        # ~5.5 km
    _site(other_region, "厦门", 24.48, 118.09)       # ~250 km: outside the default 100 km
    _plan(near, "4-03-02-01")
    _plan(far, "6-01-01-01")
    db.session.commit()
    pid, h = trainee()
    sup, _ = staff("supervisor", region_code="3501")
    t = datetime.now(UTC)
    batch = VoucherBatch(name="券", region_code="3501", occupation_codes=["4-03-02-01"], institution_ids=[near.id],
                         eligibility={}, quantity=5, remaining=4, face_value_fen=100000, claim_starts_at=t,
                         claim_ends_at=t + timedelta(days=3), valid_days=30, funding_source="x",
                         claim_requires_face=False, payee="institution", status="published", created_by=sup.id,
                         created_at=t)
    db.session.add(batch)
    db.session.flush()
    db.session.add(Voucher(code="AAAA-BBBB-CCCC-DDDD-E", batch_id=batch.id, person_id=pid, status="claimed",
                           claimed_at=t, expires_at=t + timedelta(days=30)))
    db.session.commit()
    glat, glon = wgs84_to_gcj02(*HERE)
    r = client.get(f"/api/v1/institutions/nearby?lat={glat}&lon={glon}&coord_sys=gcj02", headers=h)
    assert r.status_code == 200, r.get_json()
    rows = r.get_json()
    assert [x["site_name"] for x in rows] == ["近", "远"] and r.headers["X-Total-Count"] == "2"
    assert 100 < rows[0]["distance_m"] < 125  # GCJ input converted before measuring
    assert rows[0]["usable_vouchers"] == ["AAAA-BBBB-CCCC-DDDD-E"] and rows[1]["usable_vouchers"] == []
    assert rows[0]["rating"] == 3.5
    r = client.get(f"/api/v1/institutions/nearby?lat={HERE[0]}&lon={HERE[1]}&coord_sys=wgs84"
                   "&occupation_code=6-01-01-01", headers=h)
    assert [x["site_name"] for x in r.get_json()] == ["远"]
    r = client.get(f"/api/v1/institutions/nearby?lat={HERE[0]}&lon={HERE[1]}&max_km=300", headers=h)
    assert r.headers["X-Total-Count"] == "3"


def test_nearby_validation(client, trainee):
    _, h = trainee()
    r = client.get("/api/v1/institutions/nearby?lat=100&lon=1", headers=h)
    assert r.status_code == 422 and "lat" in r.get_json()["error"]["details"]["fields"]
    assert client.get("/api/v1/institutions/nearby?lat=1&lon=1").status_code == 401
