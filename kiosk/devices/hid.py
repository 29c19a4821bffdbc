"""Keyboard-wedge scanners read straight from /dev/input through evdev: the only evdev importer.

The device is grabbed so scanned keystrokes do not leak into whatever has keyboard focus.
Key codes are mapped with a US layout, which is what scanners emulate by default.
"""
from __future__ import annotations

import select
import time

from kiosk.devices.base import DeviceError, DeviceUnavailable

try:
    import evdev
except ImportError:
    evdev = None

_PLAIN = {f"KEY_{c}": c.lower() for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ"}
_PLAIN.update({f"KEY_{d}": d for d in "0123456789"})
_PLAIN.update({f"KEY_KP{d}": d for d in "0123456789"})
_PLAIN.update({
    "KEY_MINUS": "-", "KEY_EQUAL": "=", "KEY_LEFTBRACE": "[", "KEY_RIGHTBRACE": "]",
    "KEY_SEMICOLON": ";", "KEY_APOSTROPHE": "'", "KEY_GRAVE": "`", "KEY_BACKSLASH": "\\",
    "KEY_COMMA": ",", "KEY_DOT": ".", "KEY_SLASH": "/", "KEY_SPACE": " ",
    "KEY_KPMINUS": "-", "KEY_KPPLUS": "+", "KEY_KPDOT": ".", "KEY_KPASTERISK": "*", "KEY_KPSLASH": "/",
})
_SHIFTED = {f"KEY_{c}": c for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ"}
_SHIFTED.update(dict(zip((f"KEY_{d}" for d in "1234567890"), "!@#$%^&*()", strict=True)))
_SHIFTED.update({
    "KEY_MINUS": "_", "KEY_EQUAL": "+", "KEY_LEFTBRACE": "{", "KEY_RIGHTBRACE": "}",
    "KEY_SEMICOLON": ":", "KEY_APOSTROPHE": '"', "KEY_GRAVE": "~", "KEY_BACKSLASH": "|",
    "KEY_COMMA": "<", "KEY_DOT": ">", "KEY_SLASH": "?",
})
_SHIFT_KEYS = {"KEY_LEFTSHIFT", "KEY_RIGHTSHIFT"}
_ENTER_KEYS = {"KEY_ENTER", "KEY_KPENTER"}
KEY_UP, KEY_DOWN = 0, 1


class KeyLineAssembler:
    """Turns (key name, value) events into text lines; pure, so it is tested without evdev."""

    def __init__(self):
        self._chars: list[str] = []
        self._shift = False

    def feed(self, key: str, value: int) -> str | None:
        """Consume one key event; return a completed line when Enter is pressed."""
        if key in _SHIFT_KEYS:
            self._shift = value != KEY_UP
            return None
        if value != KEY_DOWN:  # key-up and auto-repeat carry no new character
            return None
        if key in _ENTER_KEYS:
            line, self._chars = "".join(self._chars), []
            return line or None
        table = _SHIFTED if self._shift else _PLAIN
        char = table.get(key) or _PLAIN.get(key)
        if char is not None:
            self._chars.append(char)
        return None


class EvdevLineSource:
    """A LineSource over a keyboard-wedge input device."""

    def __init__(self, path: str):
        if evdev is None:
            raise DeviceUnavailable("hid: devices need evdev (pip install 'evdev>=1.6'), Linux only")
        self.path = path
        self._device = None
        self._assembler = KeyLineAssembler()
        self._pending: list[str] = []

    def _open(self):
        if self._device is None:
            try:
                self._device = evdev.InputDevice(self.path)
                self._device.grab()
            except OSError as exc:
                self._device = None
                raise DeviceError(f"{self.path}: {exc}") from exc
        return self._device

    def read_line(self, timeout: float) -> str | None:
        """The next scanned line, or None after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        device = self._open()
        while not self._pending:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            try:
                ready, _, _ = select.select([device.fd], [], [], remaining)
                if not ready:
                    return None
                for event in device.read():
                    if event.type != evdev.ecodes.EV_KEY:
                        continue
                    name = evdev.ecodes.KEY.get(event.code)
                    if isinstance(name, list):  # some codes have aliases
                        name = name[0]
                    line = self._assembler.feed(name or "", event.value)
                    if line is not None:
                        self._pending.append(line)
            except OSError as exc:
                self.close()
                raise DeviceError(f"{self.path}: {exc}") from exc
        return self._pending.pop(0)

    def close(self) -> None:
        """Release the grab and close the device."""
        if self._device is not None:
            try:
                self._device.ungrab()
            except OSError:
                pass  # already gone (unplugged)
            self._device.close()
            self._device = None
