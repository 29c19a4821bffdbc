"""POST /attendance: every rule and error code, stored rejections, repeats, the race guard."""
from __future__ import annotations

import threading
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import false, select

from backend.domain.geo import distance_m, wgs84_to_gcj02
from backend.domain.vouchers import site_token
from backend.extensions import db
from backend.models import AttendanceEvent, AuditEntry, LiveEvent
from tests.api.attendance_fixtures import END, INSIDE, SITE, START, events, long_tokens, world  # noqa: F401

S = timedelta(seconds=1)
M = timedelta(minutes=1)


def _err(r, status, code):
    assert r.status_code == status, r.get_json()
    assert r.get_json()["error"]["code"] == code, r.get_json()
    return r.get_json()["error"]


def test_accepted_check_in_is_stored_and_returned(world, clock):
    pid, h = world.person()
    clock.set(START - 5 * M)
    r = world.post(h, extra_headers={"X-Device-Session": "phone-1"})
    assert r.status_code == 201, r.get_json()
    body = r.get_json()
    assert body["accepted"] is True and body["flags"] == ["gps_only"]  # no site QR at this site: informational
    assert body["distance_m"] == pytest.approx(distance_m(*INSIDE, *SITE), abs=0.1)
    [row] = events(person_id=pid)
    assert (row.accepted, row.kind, row.source, row.method, row.status_code) == (True, "check_in", "mobile",
                                                                                 "gps-wgs84", 201)
    assert row.origin == f"p{pid}" and row.event_id == body["event_id"]
    assert row.lat == INSIDE[0] and row.accuracy_m == 10.0 and row.session_key == "d:phone-1"
    assert row.received_at == START - 5 * M and row.reason is None
    # Check-ins are their own append-only record: no audit entry per event.
    assert db.session.execute(db.select(AuditEntry).where(AuditEntry.object_type == "attendance_event")).first() is None


def test_repeat_of_accepted_event_returns_200_same_body_and_changes_nothing(world, clock):
    _pid, h = world.person()
    clock.set(START)
    eid = str(uuid.uuid4())
    first = world.post(h, event_id=eid)
    assert first.status_code == 201
    clock.advance(minutes=3)
    again = world.post(h, event_id=eid.upper(), at=(SITE[0] + 0.001, SITE[1]))  # same uuid, other casing
    assert again.status_code == 200
    assert again.get_json() == first.get_json()
    assert len(events()) == 1
    assert db.session.execute(db.select(db.func.count()).select_from(LiveEvent)).scalar() == 1


def test_repeat_of_rejected_event_returns_the_same_error_and_changes_nothing(world, clock):
    _pid, h = world.person()
    clock.set(START - 31 * M)
    eid = str(uuid.uuid4())
    err = _err(world.post(h, event_id=eid), 422, "outside_time_window")
    clock.set(START)  # the window is open now, but the event id already has its answer
    again = world.post(h, event_id=eid)
    assert _err(again, 422, "outside_time_window")["details"] == err["details"]
    assert len(events()) == 1


def test_not_enrolled_is_403_and_stored(world, clock):
    pid, h = world.person(enroll=False)
    clock.set(START)
    _err(world.post(h), 403, "not_enrolled")
    [row] = events(person_id=pid)
    assert (row.accepted, row.reason, row.status_code, row.lesson_id) == (False, "not_enrolled", 403, world.lesson.id)


def test_unknown_lesson_is_404_and_stored_without_lesson(world, clock):
    pid, h = world.person()
    clock.set(START)
    r = world.client.post("/api/v1/attendance", headers=h, json={
        "event_id": str(uuid.uuid4()), "lesson_id": 999999, "kind": "check_in", "lat": INSIDE[0], "lon": INSIDE[1],
        "accuracy_m": 5, "coord_sys": "wgs84", "client_time": START.isoformat()})
    _err(r, 404, "not_found")
    [row] = events(person_id=pid)
    assert row.lesson_id is None and row.reason == "not_found"


def test_online_lesson_is_not_offline_lesson(world, clock):
    _pid, h = world.person()
    online = world.add_lesson(mode="online")
    clock.set(START)
    _err(world.post(h, lesson=online), 422, "not_offline_lesson")
    assert events()[0].reason == "not_offline_lesson"


@pytest.mark.parametrize("kind, at, ok", [
    ("check_in", START - 30 * M, True),
    ("check_in", START - 30 * M - S, False),
    ("check_in", END, True),
    ("check_in", END + S, False),
    ("check_out", END + 30 * M, True),
    ("check_out", END + 30 * M + S, False),
    ("check_out", START - S, False),
])
def test_time_window_edges_on_server_clock(world, clock, kind, at, ok):
    pid, h = world.person()
    if kind == "check_out":
        clock.set(START)
        assert world.post(h).status_code == 201
    clock.set(at)
    # The phone's own clock says "inside the window" every time: only the server's clock counts.
    r = world.post(h, kind=kind, client_time=START.isoformat())
    if ok:
        assert r.status_code == 201, r.get_json()
    else:
        err = _err(r, 422, "outside_time_window")
        assert err["details"]["kind"] == kind and err["details"]["opens_at"].endswith("+08:00")
        assert events(person_id=pid, kind=kind)[-1].accepted is False


def test_sequence_conflicts(world, clock):
    _pid, h = world.person()
    clock.set(START)
    _err(world.post(h, kind="check_out"), 409, "not_checked_in")
    assert world.post(h).status_code == 201
    _err(world.post(h), 409, "already_checked_in")
    clock.set(END)
    assert world.post(h, kind="check_out").status_code == 201
    _err(world.post(h, kind="check_out"), 409, "already_checked_out")
    reasons = [e.reason for e in events()]
    assert reasons == ["not_checked_in", None, "already_checked_in", None, "already_checked_out"]


def test_site_token_required_by_lesson(world, clock, app):
    _pid, h = world.person()
    lesson = world.add_lesson(require_site_qr=True)
    clock.set(START)
    assert _err(world.post(h, lesson=lesson), 422, "site_token_invalid")["details"] == {"reason": "missing"}
    _err(world.post(h, lesson=lesson, site_token="NOT-A-TOKEN"), 422, "site_token_invalid")
    key = app.extensions["data_vault"].token_key
    other = site_token(key, world.lesson.id, int(START.timestamp()))
    _err(world.post(h, lesson=lesson, site_token=other), 422, "site_token_invalid")  # another lesson's code
    stale = site_token(key, lesson.id, int((START - 60 * S).timestamp()))
    _err(world.post(h, lesson=lesson, site_token=stale), 422, "site_token_invalid")  # two slots old
    previous = site_token(key, lesson.id, int((START - 30 * S).timestamp()))
    assert world.post(h, lesson=lesson, site_token=previous).status_code == 201


def test_site_token_required_by_site_and_served_by_site_qr(world, clock):
    _pid, h = world.person()
    site = world.add_site(*SITE, require_site_qr=True)
    lesson = world.add_lesson(site=site)
    clock.set(START)
    _err(world.post(h, lesson=lesson), 422, "site_token_invalid")
    _u, staff_h = world.staff("institution")
    qr = world.client.get(f"/api/v1/lessons/{lesson.id}/site-qr", headers=staff_h)
    assert qr.status_code == 200
    assert qr.get_json()["refresh_after_s"] == 30 and qr.get_json()["expires_at"].endswith("+08:00")
    assert world.post(h, lesson=lesson, site_token=qr.get_json()["token"]).status_code == 201


@pytest.mark.parametrize("accuracy, ok", [(100.0, True), (100.01, False)])
def test_accuracy_edge(world, clock, accuracy, ok):
    _pid, h = world.person()
    clock.set(START)
    r = world.post(h, accuracy_m=accuracy)
    if ok:
        assert r.status_code == 201
        assert r.get_json()["flags"] == ["gps_only", "low_accuracy_warn"]
    else:
        _err(r, 422, "low_accuracy")


def test_out_of_fence_details_and_radius_edge(world, clock):
    _pid, h = world.person()
    clock.set(START)
    far = (SITE[0] + 0.0030, SITE[1])  # ~332 m north
    err = _err(world.post(h, at=far), 422, "out_of_fence")
    assert err["details"]["radius_m"] == 200
    assert err["details"]["distance_m"] == pytest.approx(distance_m(*far, *SITE), abs=0.1)
    row = events()[-1]
    assert row.distance_m == pytest.approx(distance_m(*far, *SITE)) and row.accuracy_m == 10.0


def test_gcj02_input_of_the_same_place_is_converted(world, clock):
    _pid, h = world.person()
    _pid2, h2 = world.person("李四")
    clock.set(START)
    gcj = wgs84_to_gcj02(*INSIDE)
    # Read as WGS-84, the GCJ-02 numbers lie hundreds of metres away: outside the fence.
    _err(world.post(h, at=gcj, coord_sys="wgs84"), 422, "out_of_fence")
    r = world.post(h2, at=gcj, coord_sys="gcj02")
    assert r.status_code == 201
    assert r.get_json()["distance_m"] == pytest.approx(distance_m(*INSIDE, *SITE), abs=0.5)
    row = events(accepted=True)[0]
    assert row.method == "gps-gcj02" and row.lat == pytest.approx(INSIDE[0], abs=1e-7)


@pytest.mark.parametrize("patch", [
    {"event_id": "not-a-uuid"}, {"kind": "check_up"}, {"lat": 91}, {"lon": "east"}, {"accuracy_m": -1},
    {"coord_sys": "bd09"}, {"client_time": "2026-03-10T09:00:00"}, {"lesson_id": None},
])
def test_invalid_bodies_are_422_validation_error(world, clock, patch):
    _pid, h = world.person()
    clock.set(START)
    _err(world.post(h, **patch), 422, "validation_error")
    assert events() == []


def test_nan_coordinates_are_refused(world, clock):
    _pid, h = world.person()
    clock.set(START)
    r = world.client.post("/api/v1/attendance", headers={**h, "Content-Type": "application/json"},
                          data=f'{{"event_id": "{uuid.uuid4()}", "lesson_id": {world.lesson.id}, "kind": "check_in", '
                               '"lat": NaN, "lon": 119.3, "accuracy_m": 5, "coord_sys": "wgs84", '
                               '"client_time": "2026-03-10T09:00:00+08:00"}')
    _err(r, 422, "validation_error")


def test_who_may_post(world, clock, trainee):
    clock.set(START)
    _none, unbound = trainee(bind=False)
    _err(world.post(unbound), 403, "identity_not_bound")
    _u, staff_h = world.staff("institution")
    _err(world.post(staff_h), 403, "forbidden")
    _err(world.post({}), 401, "unauthorized")
    assert events() == []


def test_risk_flags_inform_and_never_reject(world, clock):
    _a, ha = world.person("张三")
    _b, hb = world.person("李四")
    _c, hc = world.person("王五")
    clock.set(START + 16 * M)  # past the 15 min grace: late
    ra = world.post(ha, extra_headers={"X-Device-Session": "shared-phone"})
    assert ra.status_code == 201 and ra.get_json()["flags"] == ["gps_only", "late"]
    rb = world.post(hb, extra_headers={"X-Device-Session": "shared-phone"})
    assert rb.get_json()["flags"] == ["gps_only", "identical_coordinates", "late", "shared_device"]
    rc = world.post(hc, at=(INSIDE[0] + 0.0001, INSIDE[1]), accuracy_m=60)
    assert rc.get_json()["flags"] == ["gps_only", "late", "low_accuracy_warn"]
    clock.set(END - 16 * M)
    out = world.post(hc, kind="check_out", at=(INSIDE[0] + 0.0001, INSIDE[1]))
    assert out.get_json()["flags"] == ["gps_only", "left_early"]
    assert [e.flags for e in events(accepted=True)][1] == ["gps_only", "identical_coordinates", "late", "shared_device"]


def test_impossible_speed_between_lessons(world, clock):
    pid, h = world.person()
    far_site = world.add_site(SITE[0] + 0.5, SITE[1])  # ~55 km north
    later = world.add_lesson(starts_at=END, site=far_site)
    clock.set(START)
    assert world.post(h).status_code == 201
    clock.set(END)
    assert world.post(h, kind="check_out").status_code == 201
    clock.set(END + 10 * M)  # 55 km in 10 minutes
    r = world.post(h, lesson=later, at=(SITE[0] + 0.5, SITE[1]))
    assert r.status_code == 201 and "impossible_speed" in r.get_json()["flags"]


def test_race_loser_is_stored_as_already_checked_in(world, clock, monkeypatch):
    """The partial unique index decides when two check-ins pass the sequence check at once."""
    pid, h = world.person()
    clock.set(START)
    assert world.post(h).status_code == 201
    from backend.domain import attendance as rules
    monkeypatch.setattr(rules, "check_sequence", lambda *a, **k: None)  # as if the other was not yet visible
    err = _err(world.post(h), 409, "already_checked_in")
    assert err["details"] == {"reason": "concurrent"}
    rows = events(person_id=pid)
    assert [(r.accepted, r.reason) for r in rows] == [(True, None), (False, "already_checked_in")]


def test_same_event_id_twin_resolves_to_the_first_outcome(world, clock, monkeypatch):
    pid, h = world.person()
    clock.set(START)
    eid = str(uuid.uuid4())
    first = world.post(h, event_id=eid)
    from backend.driver_statement import DriverStatement
    from backend.services import attendance as service
    # As if the twin request read before the first one committed.
    monkeypatch.setattr(service, "_READ", DriverStatement(service._combine(select(*service._EVENT_COLS).where(false()))))
    again = world.post(h, event_id=eid)
    assert again.status_code == 200 and again.get_json() == first.get_json()
    assert len(events(person_id=pid)) == 1


def _token_with_person(pid, clock) -> dict:
    """A trainee token that names its person (as after a login once bound): no lookup before the view."""
    from backend.models import WechatAccount
    from backend.security import tokens
    account = db.session.execute(select(WechatAccount).where(WechatAccount.person_id == pid)).scalar_one()
    pair = tokens.issue_pair(f"w:{account.id}", "trainee", clock(), {"pid": pid})
    db.session.commit()
    return {"Authorization": f"Bearer {pair['access_token']}"}


def _post_at_once(app, world, headers, bodies: list[dict]) -> list[tuple[int, dict]]:
    """POST every body from its own thread and client (own session and connection), released together."""
    results = []
    barrier = threading.Barrier(len(bodies))

    def post(body):
        with app.test_client() as c:
            barrier.wait()
            r = c.post("/api/v1/attendance", headers=headers, json=body)
            results.append((r.status_code, r.get_json()))

    threads = [threading.Thread(target=post, args=(b,)) for b in bodies]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def _body(world, event_id=None) -> dict:
    return {"event_id": event_id or str(uuid.uuid4()), "lesson_id": world.lesson.id, "kind": "check_in",
            "lat": INSIDE[0], "lon": INSIDE[1], "accuracy_m": 5, "coord_sys": "wgs84",
            "client_time": START.isoformat()}


@pytest.fixture
def paths(monkeypatch):
    """Which write path each check-in took: "autocommit" for PostgreSQL's single statement, "read, then
    write" for SQLite's read outside the write transaction, "one unit" for both in the session's."""
    from backend.services import attendance as service
    taken = []
    real = service._record

    def spy(conn, writer, autocommit, *args):
        taken.append("autocommit" if autocommit else "read, then write" if writer is None else "one unit")
        return real(conn, writer, autocommit, *args)

    monkeypatch.setattr(service, "_record", spy)
    return taken


def _expected_path() -> str:
    return "autocommit" if db.engine.dialect.name == "postgresql" else "read, then write"


def test_concurrent_check_ins_accept_exactly_one(world, clock, app, paths):
    """Eight threads, eight event ids, one person and lesson: one accepted, seven stored 409s."""
    pid, _h = world.person()
    clock.set(START)
    h = _token_with_person(pid, clock)
    results = _post_at_once(app, world, h, [_body(world) for _ in range(8)])
    codes = sorted((status, (body.get("error") or {}).get("code")) for status, body in results)
    assert codes == [(201, None)] + [(409, "already_checked_in")] * 7
    rows = events()
    assert len(rows) == 8 and sum(r.accepted for r in rows) == 1
    assert db.session.execute(db.select(db.func.count()).select_from(AttendanceEvent)
                              .where(AttendanceEvent.accepted)).scalar() == 1
    # Every outcome, accepted or lost, reached the live stream's table.
    assert db.session.execute(db.select(db.func.count()).select_from(LiveEvent)).scalar() == 8
    # PostgreSQL writes each event as its own single-statement transaction; SQLite reads first, then
    # writes in the session's transaction: the race is settled by the unique index on both.
    assert paths == [_expected_path()] * 8


def test_concurrent_repeats_of_one_event_id_store_it_once(world, clock, app, paths):
    """Eight threads send the same event id at once: one row, one 201, the rest replay it with 200."""
    pid, _h = world.person()
    clock.set(START)
    h = _token_with_person(pid, clock)
    eid = str(uuid.uuid4())
    results = _post_at_once(app, world, h, [_body(world, eid) for _ in range(8)])
    assert sorted(status for status, _ in results) == [200] * 7 + [201]
    assert len({str(body) for _, body in results}) == 1 and results[0][1]["event_id"] == eid
    assert len(events(person_id=pid)) == 1
    assert db.session.execute(db.select(db.func.count()).select_from(LiveEvent)).scalar() == 1
    assert paths == [_expected_path()] * 8


@pytest.mark.parametrize("status, accepted", [("draft", False), ("submitted", False), ("rejected", False),
                                              ("approved", True), ("in_progress", True),
                                              ("completion_submitted", False), ("completed", False)])
def test_only_running_plans_take_attendance(world, clock, status, accepted):
    pid, h = world.person()
    world.plan.status = status
    db.session.commit()
    clock.set(START - 5 * M)
    r = world.post(h)
    if accepted:
        assert r.status_code == 201, r.get_json()
    else:
        err = _err(r, 409, "plan_not_active")
        assert err["details"]["plan_status"] == status
        [row] = events(person_id=pid)
        assert row.accepted is False and row.reason == "plan_not_active"
