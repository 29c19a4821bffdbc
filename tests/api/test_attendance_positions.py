"""GET /lessons/{id}/attendance carries every phone fix per trainee (the dashboard's fence plot)."""
from __future__ import annotations

from datetime import timedelta

from tests.api import attendance_fixtures
from tests.api.attendance_fixtures import INSIDE, SITE, START

# The shared fixtures, under the names the tests ask for (long_tokens is autouse).
world = attendance_fixtures.world
long_tokens = attendance_fixtures.long_tokens

FAR = (SITE[0] + 0.0090, SITE[1])  # ~1 km north: refused


def test_positions_list_accepted_and_refused_fixes(world, clock):
    clock.set(START + timedelta(minutes=5))
    pid, headers = world.person()
    assert world.post(headers, at=FAR, accuracy_m=25.0).status_code == 422
    assert world.post(headers, at=INSIDE, accuracy_m=12.0).status_code == 201
    _user, staff = world.staff("supervisor")
    body = world.client.get(f"/api/v1/lessons/{world.lesson.id}/attendance", headers=staff).get_json()
    assert body["lesson"]["site"]["radius_m"] == 200
    assert set(body["lesson"]) == {"id", "plan_id", "title", "mode", "starts_at", "ends_at", "class_hours",
                                   "require_site_qr", "site"}
    row = next(t for t in body["trainees"] if t["person_id"] == pid)
    refused, accepted = row["positions"]
    assert (refused["accepted"], refused["reason"], refused["kind"]) == (False, "out_of_fence", "check_in")
    assert refused["distance_m"] > 900 and refused["accuracy_m"] == 25.0
    assert (accepted["accepted"], accepted["reason"]) == (True, None)
    assert abs(accepted["lat"] - INSIDE[0]) < 1e-9 and abs(accepted["lon"] - INSIDE[1]) < 1e-9
    assert accepted["at"].endswith("+08:00")


def test_trainees_without_fixes_have_no_positions(world):
    pid, _headers = world.person()
    _user, staff = world.staff("institution")
    body = world.client.get(f"/api/v1/lessons/{world.lesson.id}/attendance", headers=staff).get_json()
    assert next(t for t in body["trainees"] if t["person_id"] == pid)["positions"] == []
