"""The terminal as a device, for laptops and demos (`stdin:` scanner/card reader, `console:` PIN pad).

One thread owns stdin and routes each typed line: to a waiting PIN read first, then to the card
reader if it looks like a card line, otherwise to the QR scanner.
"""
from __future__ import annotations

import queue
import sys
import threading

from kiosk.devices.lines import parse_card_line

_hub = None
_hub_lock = threading.Lock()


class StdinHub:
    """Reads stdin in a background thread and hands lines to whoever should have them."""

    def __init__(self, stream=None):
        self._stream = stream or sys.stdin
        self.queues = {"qr": queue.Queue(), "card": queue.Queue(), "pin": queue.Queue()}
        self._pin_waiting = threading.Event()
        self.closed = threading.Event()
        threading.Thread(target=self._run, name="stdin", daemon=True).start()

    def _run(self) -> None:
        for line in self._stream:
            line = line.rstrip("\r\n")
            if self._pin_waiting.is_set():
                self.queues["pin"].put(line)
            elif parse_card_line(line) is not None:
                self.queues["card"].put(line)
            else:
                self.queues["qr"].put(line)
        self.closed.set()  # end of input (Ctrl-D or a closed pipe)

    def read(self, channel: str, timeout: float) -> str | None:
        """The next line routed to `channel`, or None after `timeout` seconds."""
        if channel == "pin":
            self._pin_waiting.set()
        try:
            return self.queues[channel].get(timeout=max(timeout, 0.0))
        except queue.Empty:
            return None
        finally:
            if channel == "pin":
                self._pin_waiting.clear()


def stdin_hub() -> StdinHub:
    """The process-wide hub (stdin can only have one reader)."""
    global _hub
    with _hub_lock:
        if _hub is None:
            _hub = StdinHub()
        return _hub


class StdinLineSource:
    """A LineSource fed from the terminal through the hub."""

    def __init__(self, channel: str, hub: StdinHub | None = None):
        self.channel = channel
        self.hub = hub or stdin_hub()

    def read_line(self, timeout: float) -> str | None:
        """The next terminal line meant for this channel."""
        if self.exhausted:
            return None
        return self.hub.read(self.channel, timeout)

    @property
    def exhausted(self) -> bool:
        """True once stdin is closed and this channel's lines are used up."""
        return self.hub.closed.is_set() and self.hub.queues[self.channel].empty()

    def close(self) -> None:
        """Nothing to release (the hub thread is a daemon)."""
