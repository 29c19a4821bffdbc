"""Line protocol shared by serial, keyboard-wedge, terminal and fake devices: one line per scan.

A card reader line is the ID number, optionally prefixed "CARD:"; a scanner line is the QR text;
a PIN pad line is the PIN. Lines that do not parse are dropped here (a misread is not a scan).
"""
from __future__ import annotations

import logging
import re
import time

from backend.domain.identity import id_check_digit, normalize_id_number
from kiosk.devices.base import LineSource

log = logging.getLogger(__name__)

_ID_SHAPE = re.compile(r"[0-9]{17}[0-9X]")
# Any run of up to 12 digits is a PIN entry; whether it can be a PIN at all is the one rule of
# backend.domain.pins (6-12 digits), applied by the controller, which answers a short one as wrong.
_PIN_SHAPE = re.compile(r"[0-9]{1,12}")
MAX_QR_LEN = 2048


def parse_card_line(line: str) -> str | None:
    """The ID number in a card-reader line ("CARD:<id>" or "<id>"), or None if it is not valid."""
    text = line.strip()
    if text[:5].upper() == "CARD:":
        text = text[5:]
    number = normalize_id_number(text)
    # The check digit catches most misreads before they turn into "not on the roster".
    if not _ID_SHAPE.fullmatch(number) or id_check_digit(number[:17]) != number[17]:
        return None
    return number


def parse_qr_line(line: str) -> str | None:
    """The scanned QR text, or None for empty, oversized or binary-looking lines."""
    text = line.strip()
    if not text or len(text) > MAX_QR_LEN or not text.isprintable() or "\ufffd" in text:
        return None
    return text


def parse_pin_line(line: str) -> str | None:
    """The digits (1-12) typed on a PIN-pad line, or None."""
    text = line.strip()
    return text if _PIN_SHAPE.fullmatch(text) else None


class _LineRole:
    """Reads lines from a source until one parses or the timeout passes."""

    def __init__(self, source: LineSource, parse, what: str, monotonic=None):
        self.source = source
        self._parse = parse
        self._what = what
        self._monotonic = monotonic or time.monotonic

    def _read(self, timeout: float) -> str | None:
        deadline = self._monotonic() + timeout
        while True:
            remaining = deadline - self._monotonic()
            if remaining <= 0:
                return None
            line = self.source.read_line(remaining)
            if line is None:
                return None
            value = self._parse(line)
            if value is not None:
                return value
            # Never log the line itself: it may be a partial ID number.
            log.info("unreadable %s line ignored (%d chars)", self._what, len(line))

    def close(self) -> None:
        """Release the underlying line source."""
        self.source.close()

    @property
    def exhausted(self) -> bool:
        """True when a scripted source has nothing more to give (real devices never are)."""
        return bool(getattr(self.source, "exhausted", False))


class LineQrScanner(_LineRole):
    """A QrScanner over a line source."""

    def __init__(self, source: LineSource, **kw):
        super().__init__(source, parse_qr_line, "QR", **kw)

    def read_code(self, timeout: float) -> str | None:
        """The next valid QR text, or None after `timeout` seconds."""
        return self._read(timeout)


class LineCardReader(_LineRole):
    """A CardReader over a line source."""

    def __init__(self, source: LineSource, **kw):
        super().__init__(source, parse_card_line, "card", **kw)

    def read_card(self, timeout: float) -> str | None:
        """The next valid ID number, or None after `timeout` seconds."""
        return self._read(timeout)


class LinePinPad(_LineRole):
    """A PinPad over a line source."""

    def __init__(self, source: LineSource, **kw):
        super().__init__(source, parse_pin_line, "PIN", **kw)

    def read_pin(self, timeout: float) -> str | None:
        """The next well-formed PIN, or None after `timeout` seconds."""
        return self._read(timeout)
