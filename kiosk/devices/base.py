"""What the kiosk needs from its hardware, as small Protocols; adapters live beside this file.

Every blocking read takes a timeout and returns None when nothing arrived, so one thread per
device can poll a stop flag. A lost or unplugged device raises DeviceError; the input pump
(kiosk/inputs.py) logs it and retries.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    import numpy as np


class DeviceError(Exception):
    """The device failed or disappeared; reopening later may help."""


class DeviceUnavailable(DeviceError):
    """The adapter cannot work here at all (optional library missing, bad URL)."""


@runtime_checkable
class LineSource(Protocol):
    """Anything that yields text lines: serial port, keyboard wedge, terminal, fake script."""

    def read_line(self, timeout: float) -> str | None:
        """The next complete line without its terminator, or None after `timeout` seconds."""

    def close(self) -> None:
        """Release the device."""


@runtime_checkable
class QrScanner(Protocol):
    """Yields the text of each scanned QR code (a voucher token)."""

    def read_code(self, timeout: float) -> str | None:
        """The next scanned code, or None after `timeout` seconds."""

    def close(self) -> None:
        """Release the device."""


@runtime_checkable
class CardReader(Protocol):
    """Yields the ID number of each presented social-security card."""

    def read_card(self, timeout: float) -> str | None:
        """The next card's 18-character ID number (upper case), or None after `timeout` seconds."""

    def close(self) -> None:
        """Release the device."""


@runtime_checkable
class Camera(Protocol):
    """Captures still frames for face verification (and QR decoding)."""

    def capture(self, timeout: float = 2.0) -> np.ndarray | None:
        """One RGB frame (H x W x 3, uint8), or None when no frame came in time."""

    def close(self) -> None:
        """Release the device."""


@runtime_checkable
class PinPad(Protocol):
    """Reads a PIN typed by the card holder."""

    def read_pin(self, timeout: float) -> str | None:
        """The typed PIN, or None if nothing was entered in `timeout` seconds."""

    def close(self) -> None:
        """Release the device."""
