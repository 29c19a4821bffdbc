"""The kiosk screen in Chromium, with the daemon running in-process on fake devices (card reader, camera,
the screen's own PIN pad): face failure, face success with the preview, the PIN pad, and offline mode,
at a landscape and a portrait kiosk resolution."""
from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from backend.domain.attendance import lesson_day
from kiosk.config import load_config
from kiosk.devices.fake import FakeCamera, FakeLineSource
from kiosk.devices.lines import LineCardReader
from kiosk.devices.screen_pad import ScreenPinPad, screen_pin_hub
from kiosk.runtime import Kiosk
from tests.e2e.helpers import new_context, snap
from tests.kiosk.kiosk_helpers import (
    ALICE_ID,
    BOB_ID,
    DEVICE_ID,
    SECRET,
    FakePinServer,
    FakeServer,
    make_manifest,
)
from tests.kiosk.live_server import free_port, wait_for

BOB_PIN = "135790"
LANDSCAPE = {"width": 1280, "height": 800}
PORTRAIT = {"width": 800, "height": 1280}


def _astronaut() -> np.ndarray:
    from skimage import data

    frame = data.astronaut().copy()
    frame[0, 0] = (1, 2, 3)  # the fake verifier's mark for "this is Alice"
    return frame


def _fake_verifier(delay: float):
    crop = _jpeg()

    def verify(rgb, template, threshold):
        time.sleep(delay)  # long enough for the screen to show the face step
        if tuple(rgb[0, 0]) == (1, 2, 3):
            return True, 0.31, None, crop
        return False, 0.82, "face_mismatch", None
    return verify


def _jpeg() -> bytes:
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (64, 64), (120, 100, 90)).save(out, "JPEG")
    return out.getvalue()


class RunningKiosk:
    """A Kiosk daemon (run_forever) in a thread, with a scripted card reader and camera."""

    def __init__(self, tmp_path, server_url: str, manifest: dict | None = None, secret: str = SECRET):
        self.port = free_port()
        env = {"KIOSK_DEVICE_ID": DEVICE_ID, "KIOSK_DEVICE_SECRET": secret, "KIOSK_DATA_DIR": str(tmp_path),
               "KIOSK_SERVER_URL": server_url, "KIOSK_STATUS_PORT": str(self.port),
               "KIOSK_RESULT_DISPLAY_S": "1.5", "KIOSK_DUPLICATE_WINDOW_S": "0.5", "KIOSK_SYNC_INTERVAL_S": "0.5",
               "KIOSK_FACE_ATTEMPTS": "2",
               # The fake camera's frames hold no face for the liveness burst (tests/kiosk/test_liveness.py
               # and test_controller_liveness.py cover it); this test is about the screen.
               "KIOSK_LIVENESS": "0"}
        self.cards = FakeLineSource()
        self.camera = FakeCamera()
        self.kiosk = Kiosk(load_config(None, env), face_verifier=_fake_verifier(0.8),
                           devices={"card": LineCardReader(self.cards), "camera": self.camera,
                                    "pinpad": ScreenPinPad()})
        if manifest is not None:  # an offline kiosk works from the manifest it cached earlier
            day = lesson_day(datetime.now(UTC))
            self.kiosk.cache.store(day, manifest)
            self.kiosk.manifest.update(day, manifest)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.kiosk.run_forever, args=(self.stop,), daemon=True)

    @property
    def url(self) -> str:
        """The screen's address."""
        return f"http://127.0.0.1:{self.port}/"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(timeout=10)
        self.kiosk.close()

    def scan(self, id_number: str, *frames) -> None:
        """Present frames to the camera, then a card to the reader."""
        if frames:
            self.camera.feed(*frames)
        self.cards.feed(f"CARD:{id_number}")


def _live_manifest() -> dict:
    now = datetime.now(UTC)
    return make_manifest(start=now - timedelta(minutes=5), end=now + timedelta(hours=1))


@pytest.fixture
def device_server():
    server = FakeServer()
    pins = FakePinServer({2: BOB_PIN})
    server.routes[("GET", "/api/v1/device/manifest")] = lambda p, q: (200, _live_manifest())
    server.routes[("POST", "/api/v1/device/heartbeat")] = lambda p, q: (200, {"server_time": "t"})
    server.routes[("POST", "/api/v1/device/pin-check")] = lambda p, q: (
        200, pins.check(p["event_id"], p["person_id"], p["pin_sealed"]))
    # Bob's check-in was already recorded by another kiosk: the server refuses this one after the
    # screen had said "签到成功", and the screen must then say so.
    def events(payload, query):
        return 200, {"results": [
            {"event_id": e["event_id"], "status": "rejected", "reason": "already_checked_in"}
            if e["person_id"] == 2 else {"event_id": e["event_id"], "status": "accepted"}
            for e in payload["events"]]}
    server.routes[("POST", "/api/v1/device/events")] = events
    yield server
    server.stop()


def _result(page, text: str) -> None:
    page.wait_for_selector("#panel-result:not([hidden])", timeout=20_000)
    page.wait_for_function("t => document.querySelector('#result-text').textContent.includes(t)", arg=text,
                           timeout=20_000)


def _idle(page) -> None:
    page.wait_for_selector("#panel-idle:not([hidden])", timeout=20_000)


def test_screen_walks_face_failure_face_success_and_the_pin_pad(browser, screenshots, tmp_path, device_server):
    grey = np.full((480, 640, 3), 90, np.uint8)
    with RunningKiosk(tmp_path, device_server.url) as k:
        context = new_context(browser, LANDSCAPE)
        page = context.new_page()
        errors = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(k.url)
        page.wait_for_function("() => document.querySelector('#net').textContent === '在线'", timeout=20_000)
        _idle(page)
        assert "请刷社保卡" in page.inner_text("#panel-idle")
        assert "电工基础 第1课" in page.inner_text("#lessons")
        assert page.inner_text("#site").startswith("鼓楼实训基地")
        snap(page, screenshots, "kiosk-screen-idle")

        # Face failure: a face-enrolled trainee, frames that do not match.
        k.scan(ALICE_ID, grey, grey)
        page.wait_for_selector("#panel-face:not([hidden])", timeout=20_000)
        assert "摄像头" in page.inner_text("#face-prompt")
        assert page.get_attribute("#steps li[data-step=verify]", "class") == "now"
        _result(page, "人脸核验未通过")
        assert page.inner_text("#result-mark") == "✗"
        assert "正对镜头" in page.inner_text("#result-hint")
        snap(page, screenshots, "kiosk-screen-face-failed")
        _idle(page)

        # Face success: the preview shows her with the face box while the match runs.
        k.scan(ALICE_ID, _astronaut())
        page.wait_for_selector("#face-frame:not([hidden])", timeout=20_000)
        box = page.eval_on_selector("#face-frame", "e => [e.offsetWidth, e.offsetHeight]")
        assert box[0] > 40 and box[1] > 40, box
        snap(page, screenshots, "kiosk-screen-face")
        _result(page, "签到成功")
        assert page.inner_text("#result-mark") == "✓"
        assert "张" in page.inner_text("#result-who")
        _idle(page)

        # Card + PIN on the on-screen pad: a wrong PIN first, then the right one.
        k.scan(BOB_ID)
        page.wait_for_selector("#panel-pin:not([hidden])", timeout=20_000)
        assert page.inner_text("#verify-label") == "输入密码"
        for digit in "111222":
            page.click(f"#pad button[data-key='{digit}']")
        assert page.inner_text("#pin-dots") == "●" * 6  # never the digits
        page.click("#pad button[data-key='ok']")
        page.wait_for_function("() => document.querySelector('#pin-prompt').textContent.includes('2/')",
                               timeout=20_000)
        for digit in BOB_PIN:
            page.click(f"#pad button[data-key='{digit}']")
        snap(page, screenshots, "kiosk-screen-pin")
        page.click("#pad button[data-key='ok']")
        _result(page, "签到成功")
        # The server's later verdict reaches the screen (and stays listed until the day ends).
        page.wait_for_selector("#late:not([hidden])", timeout=20_000)
        late = page.inner_text("#late")
        assert "服务器未认可" in late and "欧阳**" in late and "已签到" in late
        snap(page, screenshots, "kiosk-screen-late-verdict")
        assert errors == []
        context.close()
        # What the kiosk recorded is what the screen showed: Alice by face, Bob by PIN.
        wait_for(lambda: len(device_server.posted_events()) >= 2, 20, what="events uploaded")
    events = {(e["person_id"], e["method"]) for e in device_server.posted_events()}
    assert events == {(1, "card+face"), (2, "card+pin")}


def test_screen_offline_portrait(browser, screenshots, tmp_path):
    port = free_port()  # nothing listens: the kiosk is off line
    with RunningKiosk(tmp_path, f"http://127.0.0.1:{port}", manifest=_live_manifest()) as k:
        context = new_context(browser, PORTRAIT)
        page = context.new_page()
        page.goto(k.url)
        _idle(page)
        page.wait_for_function("() => document.querySelector('#net').textContent.startsWith('离线')",
                               timeout=20_000)
        k.scan(BOB_ID)
        page.wait_for_selector("#panel-pin:not([hidden])", timeout=20_000)
        for digit in BOB_PIN:
            page.click(f"#pad button[data-key='{digit}']")
        page.click("#pad button[data-key='ok']")
        # Off line the PIN is sealed and recorded; the screen says the server checks it later.
        _result(page, "签到已记录")
        wait_for(lambda: "待上传 1 条" in page.inner_text("#queue"), 10, what="queue depth on screen")
        snap(page, screenshots, "kiosk-screen-offline")
        assert page.evaluate("() => document.documentElement.scrollWidth") <= PORTRAIT["width"]
        context.close()
    assert not screen_pin_hub().waiting.is_set()


def test_screen_says_refused_not_offline(browser, tmp_path, device_server):
    with RunningKiosk(tmp_path, device_server.url, secret="a-secret-the-server-does-not-know") as k:
        context = new_context(browser, LANDSCAPE)
        page = context.new_page()
        page.goto(k.url)
        page.wait_for_function("() => document.querySelector('#net').textContent === '设备未激活或密钥错误'",
                               timeout=20_000)
        assert "refused" in page.get_attribute("#net", "class")
        context.close()
