"""USB/CSI cameras through OpenCV: the only cv2 importer."""
from __future__ import annotations

from kiosk.devices.base import DeviceError, DeviceUnavailable

try:
    import cv2
except ImportError:
    cv2 = None


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
