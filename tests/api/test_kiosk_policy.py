"""A region's policy reaches the kiosk daemon through its manifest, and the daemon judges off line exactly as the
server does: the same event at the same minute gets the same reason from both (backend/domain/judge.py)."""
from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from backend.extensions import db
from backend.models import Person
from backend.services import policies
from kiosk.core.manifest import Manifest
from kiosk.core.schedule import decide, judge_scan
from tests.api.attendance_fixtures import BASE, END, START, World, long_tokens  # noqa: F401 - fixture
from tests.api.device_helpers import FACE_CROP, SignedClient, activate

API = "/api/v1"
NARROW = {"checkin_open_before_min": 10, "checkout_close_after_min": 5, "kiosk_face_max_distance": 0.45}


@pytest.fixture
def world(client, clock, make_institution, trainee, staff):
    return World(client, clock, make_institution, trainee, staff)


@pytest.fixture
def kiosk_world(world, client, staff):
    """The city's narrower policy created through the API, the plan submitted after it, a kiosk at the site and
    a trainee with a face template: (world, kiosk client, person id, manifest as the daemon parsed it)."""
    _, admin = staff("admin")
    r = client.post(f"{API}/policies", headers=admin, json={
        "region_code": "3501", "effective_from": BASE.date().isoformat(), "params": NARROW})
    assert r.status_code == 201, r.get_json()
    policies.snapshot(world.plan, BASE)  # what submitting the plan records
    db.session.commit()
    pid, _ = world.person()
    from backend.security.crypto import vault
    from backend.services.persons import FACE_CONTEXT
    db.session.get(Person, pid).face_template_enc = vault().encrypt_json([0.01] * 128, FACE_CONTEXT)
    db.session.commit()
    _, inst_h = staff("institution", institution=world.inst)
    r = client.post(f"{API}/devices", json={"name": "1号机", "site_id": world.site.id}, headers=inst_h)
    activate(client, staff, r.get_json()["device_id"])
    kiosk = SignedClient(client, r.get_json()["device_id"], r.get_json()["secret"], world.clock)
    body = kiosk.get(f"{API}/device/manifest?date={BASE.date().isoformat()}").get_json()
    return world, kiosk, pid, Manifest.from_dict(body, BASE.date()), body


def _upload(world, kiosk, pid, kind, at, distance=0.3):
    world.clock.set(at)
    [receipt] = kiosk.post(f"{API}/device/events", {"events": [{
        "event_id": str(uuid.uuid4()), "person_id": pid, "lesson_id": world.lesson.id, "kind": kind,
        "method": "card+face", "face_distance": distance, "face_jpeg_base64": FACE_CROP,
        "captured_at": at.isoformat()}]}).get_json()["results"]
    return receipt.get("reason")


def test_the_manifest_carries_the_plans_policy(kiosk_world):
    world, _kiosk, _pid, manifest, body = kiosk_world
    [lesson] = body["lessons"]
    assert lesson["policy"] == {**NARROW, "credit_grace_min": 15}
    assert body["policy"] == lesson["policy"]  # the site's region today: the same city version
    parsed = manifest.lessons[str(world.lesson.id)].policy
    assert (parsed.check_in_before, parsed.check_out_after) == (timedelta(minutes=10), timedelta(minutes=5))
    assert parsed.face_max_distance == 0.45


@pytest.mark.parametrize("minutes_before, reason", [(10, None), (11, "outside_time_window")])
def test_check_in_at_the_narrower_windows_edge_daemon_and_server_agree(kiosk_world, minutes_before, reason):
    world, kiosk, pid, manifest, _ = kiosk_world
    at = START - timedelta(minutes=minutes_before)
    lesson = manifest.lessons[str(world.lesson.id)]
    offline = judge_scan(lesson, "check_in", at, False, False, "card+face", 0.3)
    decision = decide(manifest, manifest.person(pid), at, lambda *_: False)
    # The built-in 30 minutes would let the daemon check in at -11: the region's 10 minutes arrived.
    assert (decision.kind == "check_in") is (reason is None)
    assert offline.code == reason
    assert _upload(world, kiosk, pid, "check_in", at) == reason


@pytest.mark.parametrize("minutes_after, reason", [(5, None), (6, "outside_time_window")])
def test_check_out_at_the_narrower_windows_edge_daemon_and_server_agree(kiosk_world, minutes_after, reason):
    world, kiosk, pid, manifest, _ = kiosk_world
    assert _upload(world, kiosk, pid, "check_in", START) is None
    at = END + timedelta(minutes=minutes_after)
    lesson = manifest.lessons[str(world.lesson.id)]
    offline = judge_scan(lesson, "check_out", at, True, False, "card+face", 0.3)
    decision = decide(manifest, manifest.person(pid), at, lambda _p, _l, kind: kind == "check_in")
    assert (decision.kind == "check_out") is (reason is None)
    assert offline.code == reason
    assert _upload(world, kiosk, pid, "check_out", at) == reason


@pytest.mark.parametrize("distance, reason", [(0.45, None), (0.46, "face_mismatch")])
def test_face_threshold_of_the_policy_daemon_and_server_agree(kiosk_world, distance, reason):
    world, kiosk, pid, manifest, _ = kiosk_world
    lesson = manifest.lessons[str(world.lesson.id)]
    assert judge_scan(lesson, "check_in", START, False, False, "card+face", distance).code == reason
    assert _upload(world, kiosk, pid, "check_in", START, distance) == reason


def test_a_plan_submitted_before_the_version_keeps_the_wider_window(world, client, staff):
    policies.snapshot(world.plan, BASE)  # submitted under the built-in defaults
    db.session.commit()
    _, admin = staff("admin")
    assert client.post(f"{API}/policies", headers=admin, json={
        "region_code": "3501", "effective_from": BASE.date().isoformat(), "params": NARROW}).status_code == 201
    pid, _ = world.person()
    _, inst_h = staff("institution", institution=world.inst)
    r = client.post(f"{API}/devices", json={"name": "1号机", "site_id": world.site.id}, headers=inst_h)
    activate(client, staff, r.get_json()["device_id"])
    kiosk = SignedClient(client, r.get_json()["device_id"], r.get_json()["secret"], world.clock)
    body = kiosk.get(f"{API}/device/manifest?date={BASE.date().isoformat()}").get_json()
    assert body["policy"]["checkin_open_before_min"] == 10  # a plan filed there today would get 10
    assert body["lessons"][0]["policy"]["checkin_open_before_min"] == 30  # this plan keeps its own
    manifest = Manifest.from_dict(body, BASE.date())
    at = START - timedelta(minutes=30)
    assert decide(manifest, manifest.person(pid), at, lambda *_: False).kind == "check_in"
