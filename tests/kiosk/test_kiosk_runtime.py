"""The wired kiosk: --once end to end against the fake server, the daemon loop, the status page."""
import json
import queue
import threading
import time
import urllib.request
from datetime import UTC, datetime, timedelta

from backend.domain.attendance import lesson_day
from kiosk.__main__ import main
from kiosk.config import load_config
from kiosk.core.controller import CARD, Scan
from kiosk.devices.fake import FakeLineSource, FaultSwitches
from kiosk.devices.lines import LineCardReader, LinePinPad
from kiosk.inputs import InputPump
from kiosk.outbox import Outbox
from kiosk.runtime import Kiosk
from kiosk.status_page import StatusServer, render
from tests.kiosk.kiosk_helpers import ALICE_ID, BOB_ID, DEVICE_ID, SECRET, FakePinServer, make_manifest

BOB_PIN = "135790"


def live_manifest():
    now = datetime.now(UTC)
    return make_manifest(start=now - timedelta(minutes=5), end=now + timedelta(hours=1))


def env_for(tmp_path, server_url, **devices):
    env = {"KIOSK_DEVICE_ID": DEVICE_ID, "KIOSK_DEVICE_SECRET": SECRET, "KIOSK_DATA_DIR": str(tmp_path),
           "KIOSK_SERVER_URL": server_url, "KIOSK_STATUS_PORT": "0"}
    env.update({f"KIOSK_{role.upper()}_URL": url for role, url in devices.items()})
    return env


def test_once_records_card_and_pin_and_uploads(tmp_path, fake_server, monkeypatch):
    pins = FakePinServer({2: BOB_PIN})
    fake_server.routes[("GET", "/api/v1/device/manifest")] = lambda p, q: (200, live_manifest())
    fake_server.routes[("POST", "/api/v1/device/heartbeat")] = lambda p, q: (200, {"server_time": "t"})
    fake_server.routes[("POST", "/api/v1/device/pin-check")] = lambda p, q: (
        200, pins.check(p["event_id"], p["person_id"], p["pin_sealed"]))
    fake_server.accept_all()
    env = env_for(tmp_path, fake_server.url, card=f"fake:?script=CARD:{BOB_ID}", pinpad=f"fake:?script={BOB_PIN}")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert main(["--once"]) == 0
    (event,) = fake_server.posted_events()
    assert (event["person_id"], event["kind"], event["method"]) == (2, "check_in", "card+pin")
    assert pins.opened(event["event_id"], 2, event["pin_sealed"]) == BOB_PIN   # sealed, never in clear
    paths = [r["path"] for r in fake_server.requests]
    assert paths == ["/api/v1/device/manifest", "/api/v1/device/pin-check", "/api/v1/device/events",
                     "/api/v1/device/heartbeat"]
    box = Outbox(tmp_path / "kiosk.sqlite3")
    assert box.counts() == {"accepted": 1}
    box.close()


def test_once_offline_keeps_the_event_and_uses_the_cached_manifest(tmp_path, fake_server):
    fake_server.routes[("GET", "/api/v1/device/manifest")] = lambda p, q: (200, live_manifest())
    fake_server.routes[("POST", "/api/v1/device/heartbeat")] = lambda p, q: (200, {})
    fake_server.accept_all()
    first = Kiosk(load_config(None, env_for(tmp_path, fake_server.url)), devices={})
    assert first.run_once() == 0  # caches today's manifest
    first.close()
    # Now the network is gone (nothing listens on port 9).
    env = env_for(tmp_path, "http://127.0.0.1:9", card=f"fake:?script=CARD:{BOB_ID}",
                  pinpad=f"fake:?script={BOB_PIN}")
    kiosk = Kiosk(load_config(None, env), face_verifier=None)
    assert kiosk.run_once() == 1
    assert kiosk.outbox.counts() == {"ready": 1}
    # Off line the PIN cannot be checked: recorded sealed, the server checks it on upload.
    assert kiosk.controller.last_result.code == "checked_in_pin_pending"
    kiosk.close()


def test_config_and_device_errors_exit_2(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("KIOSK_DEVICE_SECRET", raising=False)
    monkeypatch.setenv("KIOSK_DEVICE_ID", "d")
    monkeypatch.setenv("KIOSK_DATA_DIR", str(tmp_path))
    assert main([]) == 2
    monkeypatch.setenv("KIOSK_DEVICE_SECRET", "s")
    monkeypatch.setenv("KIOSK_CAMERA_URL", "serial:///dev/ttyUSB0")
    assert main(["--once"]) == 2
    assert "device error" in capsys.readouterr().err


def test_daemon_loop_handles_scans_until_stopped(tmp_path):
    config = load_config(None, env_for(tmp_path, ""))
    card = LineCardReader(FakeLineSource())
    kiosk = Kiosk(config, devices={"card": card, "pinpad": LinePinPad(FakeLineSource())})
    kiosk.cache.store(lesson_day(datetime.now(UTC)), live_manifest())
    stop = threading.Event()
    thread = threading.Thread(target=kiosk.run_forever, args=(stop,))
    thread.start()
    try:
        card.source.feed(f"CARD:{ALICE_ID}")
        deadline = time.monotonic() + 5
        while kiosk.controller.last_result is None and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        stop.set()
        thread.join(5)
        kiosk.close()
    # Alice has a face template, but there is no camera and she set no PIN.
    assert kiosk.controller.last_result.code == "no_verification_method"


def test_input_pump_survives_device_failures():
    out, stop = queue.Queue(), threading.Event()
    source = FakeLineSource([f"CARD:{ALICE_ID}"], faults=FaultSwitches(disconnect=1.0))
    pump = InputPump({"card": LineCardReader(source)}, out, stop, poll_s=0.01, retry_s=0.01).start()
    try:
        time.sleep(0.05)
        assert out.empty()
        source.faults.disconnect = 0.0  # plugged back in
        assert out.get(timeout=2) == Scan(CARD, ALICE_ID)
    finally:
        stop.set()
        pump.join()


def test_status_page_serves_json_and_escaped_html():
    status = {"state": "idle", "prompt": "", "queue_depth": 3, "online": False, "manifest_loaded": True,
              "results": [{"at": "2025-03-10T01:00:00+00:00", "ok": False, "code": "x",
                           "message": "<script>", "name": "张*", "lesson": "L"}]}
    assert "&lt;script&gt;" in render(status)
    server = StatusServer(lambda: status, 0).start()
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/status.json", timeout=5) as resp:
            assert json.loads(resp.read())["queue_depth"] == 3
        with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/", timeout=5) as resp:
            assert "离线" in resp.read().decode()
    finally:
        server.stop()
