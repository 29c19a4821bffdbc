"""Serial line devices (USB-serial QR scanners, card readers, PIN pads): the only pyserial importer."""
from __future__ import annotations

import time

from kiosk.devices.base import DeviceError, DeviceUnavailable

try:
    import serial  # pyserial
except ImportError:  # pragma: no cover - pyserial is in the kiosk extra
    serial = None

MAX_LINE = 4096


class SerialLineSource:
    """Reads CR/LF-terminated lines from a serial port, reopening it after a failure."""

    def __init__(self, port: str, baud: int = 9600, encoding: str = "utf-8"):
        if serial is None:
            raise DeviceUnavailable("serial: devices need pyserial (pip install 'pyserial>=3.5')")
        self.port = port
        self.baud = baud
        self.encoding = encoding
        self._conn = None
        self._buffer = bytearray()

    def _open(self):
        if self._conn is None:
            try:
                # A short read timeout keeps read_line responsive to its own deadline.
                self._conn = serial.Serial(self.port, self.baud, timeout=0.05)
            except (serial.SerialException, OSError) as exc:
                raise DeviceError(f"{self.port}: {exc}") from exc
            self._buffer.clear()
        return self._conn

    def _pop_line(self) -> str | None:
        for i, byte in enumerate(self._buffer):
            if byte in (0x0A, 0x0D):
                raw = bytes(self._buffer[:i])
                del self._buffer[: i + 1]
                if raw:  # "\r\n" leaves an empty line between the two terminators
                    return raw.decode(self.encoding, errors="replace")
                return self._pop_line()
        return None

    def read_line(self, timeout: float) -> str | None:
        """The next non-empty line, or None after `timeout` seconds; DeviceError if the port fails."""
        deadline = time.monotonic() + timeout
        conn = self._open()
        while True:
            line = self._pop_line()
            if line is not None:
                return line
            if time.monotonic() >= deadline:
                return None
            try:
                chunk = conn.read(conn.in_waiting or 1)
            except (serial.SerialException, OSError) as exc:
                self.close()
                raise DeviceError(f"{self.port}: {exc}") from exc
            self._buffer.extend(chunk)
            if len(self._buffer) > MAX_LINE:
                # A stuck scanner or line noise without terminators: drop it rather than grow forever.
                self._buffer.clear()

    def close(self) -> None:
        """Close the port; the next read reopens it."""
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None
