"""Sync against a signature-checking fake server: batches, receipts, failures, manifest, heartbeat."""
import logging
import random
import uuid
from datetime import UTC, date, datetime

import pytest

from kiosk.http_client import DeviceClient, HttpError, NetworkError
from kiosk.manifest_cache import ManifestCache
from kiosk.outbox import Outbox
from kiosk.sync import Backoff, FailureLog, Syncer, SyncLoop
from tests.kiosk.kiosk_helpers import DEVICE_ID, SECRET, FakeClock, FakeServer, make_manifest


def event(i=0):
    return {"event_id": str(uuid.uuid4()), "person_id": i, "lesson_id": 101, "kind": "check_in",
            "method": "card+face", "face_distance": 0.3, "captured_at": "2025-03-10T00:55:00.000+00:00"}


@pytest.fixture
def parts(tmp_path, fake_server):
    clock = FakeClock(datetime.now(UTC))
    outbox = Outbox(tmp_path / "k.sqlite3", clock=clock)
    cache = ManifestCache(tmp_path / "k.sqlite3", DEVICE_ID, SECRET, clock=clock)
    client = DeviceClient(fake_server.url, DEVICE_ID, SECRET, timeout=5)
    syncer = Syncer(client, outbox, cache, clock=clock, version="9.9.9")
    yield syncer, outbox, cache, fake_server
    outbox.close()
    cache.close()


def test_upload_is_signed_and_receipts_settle_each_event(parts):
    syncer, outbox, _, server = parts
    events = [event(i) for i in range(3)]
    for e in events:
        outbox.put(e)
    statuses = {events[0]["event_id"]: ("accepted", None), events[1]["event_id"]: ("duplicate", None),
                events[2]["event_id"]: ("rejected", "outside_time_window")}
    server.routes[("POST", "/api/v1/device/events")] = lambda payload, q: (200, {"results": [
        {"event_id": e["event_id"], "status": statuses[e["event_id"]][0], "reason": statuses[e["event_id"]][1]}
        for e in payload["events"]]})
    assert syncer.push_all() == {"accepted": 1, "duplicate": 1, "rejected": 1}
    assert server.requests[-1]["device"] == DEVICE_ID
    assert server.posted_events() == events
    assert outbox.get(events[2]["event_id"])["reason"] == "outside_time_window"
    assert outbox.depth() == 0 and syncer.online


def test_batches_hold_at_most_500_events(parts):
    syncer, outbox, _, server = parts
    for i in range(1203):
        outbox.put(event(i))
    server.accept_all()
    assert syncer.push_all() == {"accepted": 1203}
    sizes = [len(r["json"]["events"]) for r in server.requests if r["path"] == "/api/v1/device/events"]
    assert sizes == [500, 500, 203]


def test_server_error_keeps_events_ready(parts):
    syncer, outbox, _, server = parts
    outbox.put(event())
    server.routes[("POST", "/api/v1/device/events")] = lambda p, q: (503, {}, {"Retry-After": "7"})
    with pytest.raises(NetworkError) as err:
        syncer.push_all()
    assert err.value.status == 503 and err.value.retry_after == 7
    assert outbox.counts() == {"ready": 1} and not syncer.online


def test_unreachable_server_keeps_events_ready(tmp_path):
    clock = FakeClock(datetime.now(UTC))
    outbox = Outbox(tmp_path / "k.sqlite3", clock=clock)
    cache = ManifestCache(tmp_path / "k.sqlite3", DEVICE_ID, SECRET)
    # Port 9 (discard) on loopback: nothing listens, the connection is refused at once.
    syncer = Syncer(DeviceClient("http://127.0.0.1:9", DEVICE_ID, SECRET, timeout=2), outbox, cache,
                    clock=clock, version="1")
    outbox.put(event())
    with pytest.raises(NetworkError):
        syncer.push_all()
    assert outbox.counts() == {"ready": 1}
    outbox.close()
    cache.close()


def test_events_without_receipt_are_retried(parts):
    syncer, outbox, _, server = parts
    a, b = event(1), event(2)
    outbox.put(a)
    outbox.put(b)
    server.routes[("POST", "/api/v1/device/events")] = lambda p, q: (
        200, {"results": [{"event_id": a["event_id"], "status": "accepted"}]})
    assert syncer.push_all() == {"accepted": 1}
    assert outbox.get(b["event_id"])["state"] == "ready"


def test_422_batch_is_split_until_the_bad_event_is_set_aside(parts):
    syncer, outbox, _, server = parts
    events = [event(i) for i in range(7)]
    events[4]["kind"] = "teleport"
    for e in events:
        outbox.put(e)

    def route(payload, q):
        if any(e["kind"] == "teleport" for e in payload["events"]):
            return 422, {"error": {"code": "validation_error", "message": "", "details": {"field": "kind"}}}
        return 200, {"results": [{"event_id": e["event_id"], "status": "accepted"} for e in payload["events"]]}

    server.routes[("POST", "/api/v1/device/events")] = route
    assert syncer.push_all() == {"accepted": 6, "rejected": 1}
    assert outbox.get(events[4]["event_id"])["reason"] == "http_422_validation_error"


def test_revoked_device_is_not_mistaken_for_bad_events(parts):
    syncer, outbox, _, server = parts
    outbox.put(event())
    server.secret = "revoked-or-rotated"
    with pytest.raises(HttpError) as err:
        syncer.push_all()
    assert err.value.status == 401 and err.value.details == {"reason": "signature"}
    assert outbox.counts() == {"ready": 1}


def test_clock_skew_is_learned_from_the_date_header(tmp_path):
    # The device clock runs an hour behind the server.
    server_now = datetime.now(UTC).timestamp()
    server = FakeServer(now=lambda: server_now)
    try:
        client = DeviceClient(server.url, DEVICE_ID, SECRET, now=lambda: server_now - 3600)
        server.routes[("POST", "/api/v1/device/heartbeat")] = lambda p, q: (200, {"server_time": "x"})
        # http.server sends its own Date header (the real clock), which is what the client learns from.
        assert client.post("/device/heartbeat", {"queue_depth": 0}) == {"server_time": "x"}
        assert 3500 < client.clock_offset < 3700
        assert [r.get("status") for r in server.requests] == [401, None]
    finally:
        server.stop()


def test_manifest_pull_signs_the_query_and_caches(parts):
    syncer, _, cache, server = parts
    seen = []
    server.routes[("GET", "/api/v1/device/manifest")] = lambda p, q: (200, make_manifest())
    syncer.on_manifest = lambda day, data: seen.append(day)
    day = date(2025, 3, 10)
    assert syncer.pull_manifest(day) == make_manifest()
    assert server.requests[-1]["query"] == {"date": "2025-03-10"}
    assert cache.load(day)[0] == make_manifest() and seen == [day]


def test_heartbeat_reports_depth_clock_version(parts):
    syncer, outbox, _, server = parts
    outbox.put(event())
    server.routes[("POST", "/api/v1/device/heartbeat")] = lambda p, q: (
        200, {"server_time": datetime.now(UTC).isoformat()})
    syncer.heartbeat()
    body = server.requests[-1]["json"]
    assert body["queue_depth"] == 1 and body["version"] == "9.9.9"
    assert datetime.fromisoformat(body["clock"]).tzinfo is not None


def test_verify_qr_online_and_refused(parts):
    syncer, _, _, server = parts
    server.routes[("POST", "/api/v1/vouchers/verify")] = lambda p, q: (
        200, {"valid": True, "voucher": {"holder": {"person_id": 1}}}) if p["token"] == "good" else (
        403, {"error": {"code": "forbidden", "message": "", "details": {}}})
    assert syncer.verify_qr("good")["voucher"]["holder"]["person_id"] == 1
    assert syncer.verify_qr("bad") == {"valid": False, "reason": "token_invalid"}


def test_backoff_grows_with_jitter_and_caps():
    backoff = Backoff(base=1, cap=60, rng=random.Random(3))
    delays = [backoff.next_delay() for _ in range(10)]
    for n, delay in enumerate(delays):
        ceiling = min(60, 2 ** n)
        assert ceiling / 2 <= delay <= ceiling
    backoff.reset()
    assert backoff.next_delay() <= 1


def test_failure_log_is_loud_once_then_quiet(caplog):
    failures = FailureLog("sync", logging.getLogger("test.sync"))
    with caplog.at_level(logging.DEBUG, logger="test.sync"):
        for _ in range(3):
            failures.failed(NetworkError("down"))
        failures.succeeded()
    levels = [r.levelno for r in caplog.records]
    assert levels == [logging.WARNING, logging.DEBUG, logging.DEBUG, logging.WARNING]


def test_sync_loop_round_pulls_pushes_and_beats(parts):
    syncer, outbox, _, server = parts
    server.routes[("GET", "/api/v1/device/manifest")] = lambda p, q: (200, make_manifest())
    server.routes[("POST", "/api/v1/device/heartbeat")] = lambda p, q: (200, {"server_time": "x"})
    server.accept_all()
    outbox.put(event())
    ticks = iter(range(0, 10_000, 10))
    loop = SyncLoop(syncer, manifest_refresh_s=600, heartbeat_s=60, monotonic=lambda: next(ticks))
    assert loop.run_once() is True
    paths = [r["path"] for r in server.requests]
    assert paths == ["/api/v1/device/manifest", "/api/v1/device/events", "/api/v1/device/heartbeat"]
    assert loop.run_once() is True  # 10 s later: nothing due, nothing queued
    assert len(server.requests) == 3
    server.routes.pop(("GET", "/api/v1/device/manifest"))
    loop._manifest_at = None
    assert loop.run_once() is False and loop.failures.failures == 1


@pytest.mark.parametrize(("secret", "route", "refused"), [
    ("not-the-device-secret-0000000000", None, "unauthorized:signature"),       # wrong secret
    (SECRET, (403, {"error": {"code": "device_not_active", "details": {"status": "pending"}}}), "device_not_active"),
])
def test_a_refused_device_is_not_offline(tmp_path, fake_server, secret, route, refused):
    """The server refusing the device is told apart from a network outage, and cleared by a success."""
    clock = FakeClock(datetime.now(UTC))
    outbox = Outbox(tmp_path / "k.sqlite3", clock=clock)
    cache = ManifestCache(tmp_path / "k.sqlite3", DEVICE_ID, secret, clock=clock)
    client = DeviceClient(fake_server.url, DEVICE_ID, secret, timeout=5)
    syncer = Syncer(client, outbox, cache, clock=clock, version="9.9.9")
    if route is not None:
        fake_server.routes[("GET", "/api/v1/device/manifest")] = lambda p, q: route
    with pytest.raises(HttpError):
        syncer.pull_manifest(date(2025, 3, 10))
    assert (syncer.online, syncer.refused) == (False, refused)
    fake_server.secret = secret  # activated / secret fixed on the server
    fake_server.routes[("GET", "/api/v1/device/manifest")] = lambda p, q: (200, make_manifest())
    syncer.pull_manifest(date(2025, 3, 10))
    assert (syncer.online, syncer.refused) == (True, None)
    outbox.close()
    cache.close()
