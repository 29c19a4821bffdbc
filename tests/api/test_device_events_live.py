"""Kiosk uploads on the live stream: one LiveEvent per stored event in the same transaction, published
after the commit with the row's id, nothing for a batch that rolls back."""
from __future__ import annotations

from datetime import timedelta

import pytest

from backend.extensions import db
from backend.live import broker
from backend.models import AttendanceEvent, LiveEvent
from tests.api.test_devices import START, ev, kiosk  # noqa: F401 - the fixture


def _drain(sub) -> list[dict]:
    out = []
    while (m := sub.get(0.01)) is not None:
        out.append(m)
    return out


def test_batch_goes_to_live_stream_in_one_insert(kiosk, app, clock):  # noqa: F811
    clock.set(START + timedelta(minutes=5))
    p1, p2 = kiosk["people"]
    events = [ev(kiosk, p1), ev(kiosk, p2, distance=0.7), ev(kiosk, 999999), ev(kiosk, p2, lesson_id=424242)]
    sub = broker().subscribe()
    try:
        res = kiosk["signed"].post("/api/v1/device/events", {"events": events}).get_json()["results"]
        assert [r["status"] for r in res] == ["accepted", "rejected", "rejected", "rejected"]
        published = _drain(sub)
    finally:
        sub.close()
    live = db.session.execute(db.select(LiveEvent).order_by(LiveEvent.id)).scalars().all()
    # The unknown lesson has no stream to go to; the other three do, ids matching the stored rows.
    assert [row.payload["event_id"] for row in live] == [e["event_id"] for e in events[:3]]
    assert [m["id"] for m in published] == [row.id for row in live]
    assert [m["payload"] for m in published] == [row.payload for row in live]
    first, second, third = (row.payload for row in live)
    assert first["accepted"] is True and first["source"] == "kiosk" and first["name_masked"] == "张*"
    assert first["person_id"] == p1 and live[0].lesson_id == kiosk["lesson"].id
    assert second["reason"] == "face_mismatch" and third["person_id"] is None and third["name_masked"] is None
    assert all(row.region_code == kiosk["inst"].region_code for row in live)


def test_nothing_published_when_the_batch_rolls_back(kiosk, app, clock, monkeypatch):  # noqa: F811
    clock.set(START + timedelta(minutes=5))
    from backend.services import device_events

    original = device_events._publish

    def publish_then_fail(device, rows):
        original(device, rows)
        raise RuntimeError("disk full")  # after the LiveEvent rows were written

    monkeypatch.setattr(device_events, "_publish", publish_then_fail)
    app.config["PROPAGATE_EXCEPTIONS"] = False
    sub = broker().subscribe()
    try:
        r = kiosk["signed"].post("/api/v1/device/events", {"events": [ev(kiosk, kiosk["people"][0])]})
        assert r.status_code == 500
        assert _drain(sub) == []
    finally:
        sub.close()
    assert db.session.execute(db.select(db.func.count()).select_from(LiveEvent)).scalar() == 0
    assert db.session.execute(db.select(db.func.count()).select_from(AttendanceEvent)).scalar() == 0


@pytest.mark.parametrize("size", [1, 500])
def test_live_rows_for_full_batches(kiosk, clock, size):  # noqa: F811
    clock.set(START + timedelta(hours=3, minutes=20))
    p1, _ = kiosk["people"]
    # Many face mismatches of one person: all stored (rejected), all on the stream.
    events = [ev(kiosk, p1, distance=0.9) for _ in range(size)]
    res = kiosk["signed"].post("/api/v1/device/events", {"events": events}).get_json()["results"]
    assert {r["reason"] for r in res} == {"face_mismatch"}
    ids = [row.payload["event_id"] for row in db.session.execute(
        db.select(LiveEvent).order_by(LiveEvent.id)).scalars()]
    assert sorted(ids) == sorted(e["event_id"] for e in events)


def test_enrolment_and_sequence_are_judged_per_pair(kiosk, clock):  # noqa: F811
    """Lessons and people are looked up with two IN lists; a row for another pair must never count."""
    from decimal import Decimal

    from backend.models import Enrollment, Lesson, TrainingPlan

    clock.set(START + timedelta(minutes=5))
    p1, p2 = kiosk["people"]
    first = kiosk["lesson"]
    plan = db.session.get(TrainingPlan, first.plan_id)
    other_plan = TrainingPlan(institution_id=plan.institution_id, region_code=plan.region_code, title="计划二",
                              occupation_code=plan.occupation_code, plan_type="pre_job", delivery="offline",
                              starts_on=plan.starts_on, ends_on=plan.ends_on, status="approved",
                              created_at=plan.created_at)
    db.session.add(other_plan)
    db.session.flush()
    second = Lesson(plan_id=other_plan.id, title="实操课二", mode="offline", starts_at=first.starts_at,
                    ends_at=first.ends_at, class_hours=Decimal(3), site_id=first.site_id)
    db.session.add_all([second, Enrollment(plan_id=other_plan.id, person_id=p1, status="active", eligible=True,
                                           reasons=[], groups=[], created_at=plan.created_at)])
    db.session.commit()
    s = kiosk["signed"]
    r = s.post("/api/v1/device/events", {"events": [ev(kiosk, p1, lesson_id=second.id)]}).get_json()["results"]
    assert r[0]["status"] == "accepted"
    res = s.post("/api/v1/device/events", {"events": [
        ev(kiosk, p1),                                              # (first, p1): p1's check-in elsewhere is not this one
        ev(kiosk, p2, kind="check_out", lesson_id=second.id),       # (second, p2): p2 is not on that plan
        ev(kiosk, p2, kind="check_out"),                            # (first, p2): no check-in of p2 here
    ]}).get_json()["results"]
    assert [(x["status"], x.get("reason")) for x in res] == [
        ("accepted", None), ("rejected", "not_enrolled"), ("rejected", "not_checked_in")]
