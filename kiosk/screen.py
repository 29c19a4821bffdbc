"""The kiosk screen: a full-screen page the daemon serves on loopback, shown by Chromium in kiosk mode.

Routes (added to the status server, kiosk/status_page.py): `/` the page (kiosk/screen_static/), `/events`
the board as server-sent events (a new message on every change, a comment every 15 s to keep the line
open), `/preview.jpg` the latest camera frame the kiosk verified with, `POST /pin` a PIN typed on the
on-screen pad (only while a PIN is asked, only with the `X-Kiosk-Screen` header, which a cross-site page
cannot send without a preflight this server never answers), `/status` the technician's status page.
"""
from __future__ import annotations

import io
import json
import logging
import mimetypes
import threading
import time
from pathlib import Path

from kiosk.devices.screen_pad import ScreenPinHub
from kiosk.display import StatusBoard

log = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parent / "screen_static"
KEEPALIVE_S = 15.0
PREVIEW_SIDE = 480  # the preview is for the person to see where they stand, not evidence
PREVIEW_INTERVAL_S = 0.25
MAX_PIN_BODY = 256


class PreviewCamera:
    """Wraps the kiosk's camera: every frame the verifier gets is also offered to the screen, small, with
    the face box found in it (the person sees whether the camera sees them)."""

    def __init__(self, camera, board: StatusBoard, detect=None, min_interval_s: float = PREVIEW_INTERVAL_S,
                 monotonic=time.monotonic):
        self.camera = camera
        self.board = board
        self._detect = detect
        self.min_interval_s = min_interval_s
        self._monotonic = monotonic
        self._last = None

    def capture(self, timeout: float = 2.0):
        """The wrapped camera's frame, unchanged; a preview of it (at most every `min_interval_s`) goes to the board."""
        frame = self.camera.capture(timeout=timeout)
        now = self._monotonic()
        # A liveness burst captures 8 frames at camera speed: previewing (a face detection and a JPEG) each
        # would double the kiosk's CPU per person for frames nobody can see change.
        if frame is not None and (self._last is None or now - self._last >= self.min_interval_s):
            self._last = now
            try:
                self.board.set_preview(*preview_jpeg(frame, self._detect))
            except Exception:  # noqa: BLE001 - the preview must never cost a check-in
                log.exception("camera preview failed")
        return frame

    def close(self) -> None:
        """Close the wrapped camera."""
        self.camera.close()

    def __getattr__(self, name):
        return getattr(self.camera, name)


def _default_detect(small):
    from backend.faces import detect_faces

    faces = detect_faces(small, max_side=max(small.shape[:2]))
    return [faces[0].left, faces[0].top, faces[0].right, faces[0].bottom] if faces else None


def preview_jpeg(frame, detect=None) -> tuple[bytes, list | None]:
    """A JPEG of the frame scaled to PREVIEW_SIDE and the strongest face box in it as fractions
    [left, top, right, bottom] of the picture (None when no face is found)."""
    import numpy as np
    from PIL import Image

    image = Image.fromarray(np.asarray(frame)).convert("RGB")
    scale = min(1.0, PREVIEW_SIDE / max(image.size))
    if scale < 1.0:
        image = image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))),
                             Image.BILINEAR)
    small = np.asarray(image)
    box = (detect or _default_detect)(small)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=70)
    h, w = small.shape[:2]
    fractions = None if box is None else [round(box[0] / w, 4), round(box[1] / h, 4),
                                          round(box[2] / w, 4), round(box[3] / h, 4)]
    return out.getvalue(), fractions


class Screen:
    """The screen's routes over a board; `stop` ends every open event stream."""

    def __init__(self, board: StatusBoard, snapshot, pin_hub: ScreenPinHub, keepalive_s: float = KEEPALIVE_S):
        self.board = board
        self.snapshot = snapshot
        self.pin_hub = pin_hub
        self.keepalive_s = keepalive_s
        self.stopping = threading.Event()

    def get(self, handler, path: str) -> bool:
        """Answer a GET this screen owns; False when the path is not one of its routes."""
        if path in ("/", "/index.html"):
            return _send_file(handler, STATIC / "index.html")
        if path == "/events":
            self._stream(handler)
            return True
        if path == "/preview.jpg":
            preview = self.board.preview
            if preview is None:
                handler.send_error(404)
                return True
            _send(handler, 200, preview[1], "image/jpeg")
            return True
        if path.startswith("/static/"):
            name = path[len("/static/"):]
            target = (STATIC / name).resolve()
            if "/" in name or not target.is_file() or target.parent != STATIC:
                handler.send_error(404)
                return True
            return _send_file(handler, target)
        return False

    def post(self, handler, path: str) -> bool:
        """POST /pin from the on-screen pad; False for other paths."""
        if path != "/pin":
            return False
        if handler.headers.get("X-Kiosk-Screen") != "1":
            _send_json(handler, 403, {"error": "forbidden"})
            return True
        try:
            length = int(handler.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if not 0 < length <= MAX_PIN_BODY:
            _send_json(handler, 400, {"error": "bad_request"})
            return True
        try:
            pin = json.loads(handler.rfile.read(length)).get("pin")
        except (ValueError, AttributeError):
            pin = None
        if not isinstance(pin, str) or not pin.isascii() or not pin.isdigit() or not 1 <= len(pin) <= 12:
            _send_json(handler, 400, {"error": "bad_request"})
            return True
        if not self.pin_hub.submit(pin):
            _send_json(handler, 409, {"error": "pin_not_asked"})
            return True
        _send_json(handler, 202, {"ok": True})
        return True

    def _stream(self, handler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "text/event-stream; charset=utf-8")
        handler.send_header("Cache-Control", "no-store")
        handler.end_headers()
        seen, last, quiet_since = -1, None, time.monotonic()
        try:
            while not self.stopping.is_set():
                body = json.dumps(self.snapshot(), ensure_ascii=False, sort_keys=True)
                if body != last:
                    handler.wfile.write(f"data: {body}\n\n".encode())
                    handler.wfile.flush()
                    last, quiet_since = body, time.monotonic()
                elif time.monotonic() - quiet_since >= self.keepalive_s:
                    handler.wfile.write(b": keepalive\n\n")
                    handler.wfile.flush()
                    quiet_since = time.monotonic()
                # Board changes wake the stream at once; queue depth and on-line state are looked at each second.
                seen = self.board.wait_change(seen, timeout=1.0)
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            return  # the page went away (reload, Chromium restart): nothing to clean up


def _send(handler, status: int, body: bytes, kind: str) -> None:
    handler.send_response(status)
    handler.send_header("Content-Type", kind)
    handler.send_header("Content-Length", str(len(body)))
    handler.send_header("Cache-Control", "no-store")
    handler.end_headers()
    handler.wfile.write(body)


def _send_json(handler, status: int, answer: dict) -> None:
    _send(handler, status, json.dumps(answer).encode(), "application/json")


def _send_file(handler, path: Path) -> bool:
    kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    if kind.startswith("text/") or kind == "application/javascript":
        kind += "; charset=utf-8"
    _send(handler, 200, path.read_bytes(), kind)
    return True
