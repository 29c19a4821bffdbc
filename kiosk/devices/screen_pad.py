"""The kiosk screen's on-screen PIN pad as a PinPad (`screen:` URL): PINs arrive by POST /pin from the
page the daemon serves on loopback (kiosk/screen.py), one hub per process."""
from __future__ import annotations

import queue
import threading


class ScreenPinHub:
    """Hands PINs typed on the screen to the one PIN read waiting for them."""

    def __init__(self):
        self._pins: queue.Queue[str] = queue.Queue()
        self.waiting = threading.Event()  # a PIN is being asked: the screen shows the pad

    def submit(self, pin: str) -> bool:
        """A PIN from the screen; refused (False) when nobody is asking for one."""
        if not self.waiting.is_set():
            return False
        self._pins.put(pin)
        return True

    def read(self, timeout: float) -> str | None:
        """Wait up to `timeout` seconds for the next PIN from the screen."""
        # A PIN typed for an earlier question must not answer this one.
        while not self._pins.empty():
            self._pins.get_nowait()
        self.waiting.set()
        try:
            return self._pins.get(timeout=max(timeout, 0.0))
        except queue.Empty:
            return None
        finally:
            self.waiting.clear()


_hub: ScreenPinHub | None = None
_hub_lock = threading.Lock()


def screen_pin_hub() -> ScreenPinHub:
    """The process-wide hub shared by the `screen:` PIN pad and the screen server."""
    global _hub
    with _hub_lock:
        if _hub is None:
            _hub = ScreenPinHub()
        return _hub


class ScreenPinPad:
    """PinPad reading PINs from the on-screen pad."""

    def __init__(self, hub: ScreenPinHub | None = None):
        self.hub = hub or screen_pin_hub()

    def read_pin(self, timeout: float) -> str | None:
        """The PIN the person typed on the screen, or None after `timeout`."""
        return self.hub.read(timeout)

    def close(self) -> None:
        """Nothing to release."""
