"""USB/CSI cameras through OpenCV: the only cv2 importer.

Without OpenCV a `camera:` URL opens `MissingOpenCvCamera`, the documented fallback: the fake camera's
plain grey frame, so the daemon starts (card + PIN keeps working) and faces never match; it says so
in the log and in `python -m kiosk check`.
"""
from __future__ import annotations

import logging

from kiosk.devices.base import DeviceError, DeviceUnavailable
from kiosk.devices.fake import FakeCamera

try:
    import cv2
except ImportError:
    cv2 = None


log = logging.getLogger(__name__)
OPENCV_HINT = "pip install 'opencv-python-headless>=4.8'"


def opencv_available() -> bool:
    """Whether OpenCV imported (a `camera:` URL needs it for a real camera)."""
    return cv2 is not None


class MissingOpenCvCamera(FakeCamera):
    """The fallback for `camera:` URLs when OpenCV is absent: grey frames, and a reason to show."""

    is_fallback = True

    def __init__(self, url: str):
        super().__init__()
        self.fallback_reason = (f"未安装 OpenCV，{url} 改用假摄像头（灰色画面，人脸核验不会通过，"
                                f"刷卡 + 密码照常）：{OPENCV_HINT}")
        log.warning("OpenCV is not installed: %s serves grey frames, faces will not match (%s)", url, OPENCV_HINT)


class OpenCvCamera:
    """A Camera over cv2.VideoCapture, reopened after a failed grab."""

    def __init__(self, index: int | str = 0, width: int | None = None, height: int | None = None):
        if cv2 is None:
            raise DeviceUnavailable("camera: devices need OpenCV (pip install 'opencv-python-headless>=4.8')")
        self.index = int(index) if str(index).isdigit() else index
        self.width = width
        self.height = height
        self._capture = None

    def _open(self):
        if self._capture is None:
            capture = cv2.VideoCapture(self.index)
            if not capture.isOpened():
                capture.release()
                raise DeviceError(f"camera {self.index!r} cannot be opened")
            if self.width and self.height:
                capture.set(cv2.CAP_PROP_FRAME_WIDTH, self.width)
                capture.set(cv2.CAP_PROP_FRAME_HEIGHT, self.height)
            self._capture = capture
        return self._capture

    def capture(self, timeout: float = 2.0):
        """One RGB frame; DeviceError when the camera stops delivering."""
        ok, frame = self._open().read()
        if not ok or frame is None:
            self.close()
            raise DeviceError(f"camera {self.index!r} returned no frame")
        # OpenCV delivers BGR; face_recognition and the rest of the kiosk expect RGB.
        return cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)

    def close(self) -> None:
        """Release the capture device."""
        if self._capture is not None:
            self._capture.release()
            self._capture = None
