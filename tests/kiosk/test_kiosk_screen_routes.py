"""The kiosk screen's routes without a browser: the PIN pad's guards, the event stream, the status page."""
from __future__ import annotations

import http.client
import json
import threading

import numpy as np
import pytest

from kiosk.devices.screen_pad import ScreenPinHub
from kiosk.display import StatusBoard
from kiosk.screen import PreviewCamera, Screen, preview_jpeg
from kiosk.status_page import StatusServer


@pytest.fixture
def screen_server():
    board = StatusBoard()
    hub = ScreenPinHub()
    screen = Screen(board, lambda: board.snapshot(queue_depth=0, online=False), hub)
    server = StatusServer(lambda: board.snapshot(queue_depth=0, online=False), 0, screen=screen).start()
    yield server, board, hub
    server.stop()


def _post_pin(port: int, body: bytes, headers: dict) -> tuple[int, dict]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    conn.request("POST", "/pin", body=body, headers={"Content-Type": "application/json", **headers})
    resp = conn.getresponse()
    answer = json.loads(resp.read() or b"{}")
    conn.close()
    return resp.status, answer


@pytest.mark.parametrize(("body", "headers", "status"), [
    (b'{"pin": "135790"}', {}, 403),                                  # no screen header: a cross-site form
    (b'{"pin": "13a790"}', {"X-Kiosk-Screen": "1"}, 400),
    (b'{"pin": "1234567890123"}', {"X-Kiosk-Screen": "1"}, 400),      # longer than any PIN
    (b'{"pin": "\\uff11\\uff12\\uff13"}', {"X-Kiosk-Screen": "1"}, 400),  # full-width digits
    (b"not json", {"X-Kiosk-Screen": "1"}, 400),
    (b'{"pin": "135790"}', {"X-Kiosk-Screen": "1"}, 409),             # nobody is asking for a PIN
])
def test_pin_pad_guards(screen_server, body, headers, status):
    server, _, hub = screen_server
    assert _post_pin(server.port, body, headers)[0] == status
    assert hub.read(0.01) is None  # nothing was queued for a later question


def test_pin_reaches_the_waiting_read_only(screen_server):
    server, _, hub = screen_server
    got = []
    reader = threading.Thread(target=lambda: got.append(hub.read(5)))
    reader.start()
    for _ in range(200):
        if hub.waiting.is_set():
            break
        threading.Event().wait(0.01)
    assert _post_pin(server.port, b'{"pin": "135790"}', {"X-Kiosk-Screen": "1"}) == (202, {"ok": True})
    reader.join(5)
    assert got == ["135790"] and not hub.waiting.is_set()


def test_event_stream_pushes_each_change(screen_server):
    server, board, _ = screen_server
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    conn.request("GET", "/events")
    resp = conn.getresponse()
    assert resp.status == 200 and resp.getheader("Content-Type").startswith("text/event-stream")

    def message() -> dict:
        line = resp.fp.readline().decode()
        while not line.startswith("data: "):
            line = resp.fp.readline().decode()
        return json.loads(line[6:])

    assert message()["prompt"] == ""
    board.prompt("请正对摄像头 / Please look at the camera (1/3)")
    assert message()["prompt"].startswith("请正对摄像头")
    conn.close()


def test_status_page_moves_to_status_and_static_files_stay_inside(screen_server):
    server, _, _ = screen_server
    for path, status, kind in (("/", 200, "text/html"), ("/status", 200, "text/html"),
                               ("/static/screen.js", 200, "javascript"), ("/static/../screen.py", 404, None),
                               ("/static/%2e%2e/screen.py", 404, None), ("/preview.jpg", 404, None)):
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
        conn.request("GET", path)
        resp = conn.getresponse()
        body = resp.read().decode(errors="replace")
        assert resp.status == status, path
        if kind:
            assert kind in resp.getheader("Content-Type"), path
        conn.close()
        if path == "/status":
            assert "待上传" in body
        if path == "/":
            assert "请刷社保卡" in body


def test_preview_carries_the_face_box_and_never_breaks_a_capture():
    board = StatusBoard()
    frame = np.full((720, 1280, 3), 100, np.uint8)
    jpeg, box = preview_jpeg(frame, detect=lambda small: [10, 20, 110, 140])
    assert jpeg[:2] == b"\xff\xd8" and box == [round(10 / 480, 4), round(20 / 270, 4), round(110 / 480, 4),
                                                 round(140 / 270, 4)]

    class Camera:
        def capture(self, timeout=2.0):
            return frame

        def close(self):
            pass

    def broken(small):
        raise RuntimeError("detector crashed")
    assert PreviewCamera(Camera(), board, detect=broken).capture() is frame  # the check-in goes on
    assert board.preview is None


def test_a_liveness_burst_is_previewed_at_most_four_times_a_second():
    board = StatusBoard()
    frame = np.full((120, 160, 3), 100, np.uint8)
    clock = iter([0.0, 0.066, 0.133, 0.2, 0.266, 0.333, 0.4, 0.5])
    detections = []

    class Camera:
        def capture(self, timeout=2.0):
            return frame

        def close(self):
            pass

    camera = PreviewCamera(Camera(), board, detect=lambda small: detections.append(1), monotonic=lambda: next(clock))
    for _ in range(8):  # an 8-frame burst at 15 fps
        assert camera.capture() is frame
    assert len(detections) == 2  # at 0.0 and 0.266 s, not once per frame
