"""QR codes decoded from camera frames with zxing-cpp: the only zxingcpp importer."""
from __future__ import annotations

import time

import numpy as np

from kiosk.devices.base import Camera, DeviceUnavailable
from kiosk.devices.lines import parse_qr_line

try:
    import zxingcpp
except ImportError:
    zxingcpp = None


def _gray(frame: np.ndarray) -> np.ndarray:
    # zxing reads 3-channel arrays as BGR; grey avoids caring which order the camera used.
    if frame.ndim == 2:
        return frame
    return (frame[..., :3] @ np.array([0.299, 0.587, 0.114])).astype(np.uint8)


def decode_qr(frame: np.ndarray) -> str | None:
    """The text of the first QR code in an RGB or grey frame, or None."""
    if zxingcpp is None:
        raise DeviceUnavailable("QR from frames needs zxing-cpp (pip install 'zxing-cpp>=2.2')")
    for barcode in zxingcpp.read_barcodes(_gray(frame), formats=zxingcpp.BarcodeFormat.QRCode):
        text = parse_qr_line(barcode.text)
        if text:
            return text
    return None


class FrameQrScanner:
    """A QrScanner that looks for QR codes in a camera's frames."""

    def __init__(self, camera: Camera, interval_s: float = 0.1, sleep=time.sleep, monotonic=time.monotonic):
        if zxingcpp is None:
            raise DeviceUnavailable("QR from frames needs zxing-cpp (pip install 'zxing-cpp>=2.2')")
        self.camera = camera
        self.interval_s = interval_s
        self._sleep = sleep
        self._monotonic = monotonic

    def read_code(self, timeout: float) -> str | None:
        """Grab frames until one holds a QR code or `timeout` seconds pass."""
        deadline = self._monotonic() + timeout
        while True:
            frame = self.camera.capture(timeout=max(0.0, deadline - self._monotonic()))
            if frame is not None:
                text = decode_qr(frame)
                if text:
                    return text
            if self._monotonic() + self.interval_s > deadline:
                return None
            self._sleep(self.interval_s)

    @property
    def exhausted(self) -> bool:
        """Mirrors the camera (a non-looping folder ends)."""
        return bool(getattr(self.camera, "exhausted", False))

    def close(self) -> None:
        """Release the camera."""
        self.camera.close()
