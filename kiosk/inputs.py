"""One thread per input device feeding scans into one queue, reconnecting after failures.

Like Home Assistant's serial sensor: the first failure of a device is logged loudly, later ones
quietly, and it is retried after a delay until it comes back.
"""
from __future__ import annotations

import logging
import queue
import threading

from kiosk.core.controller import CARD, QR, Scan
from kiosk.devices.base import DeviceError

log = logging.getLogger(__name__)


def read_scan(role: str, device, timeout: float) -> str | None:
    """One read from a card reader or QR scanner."""
    return device.read_card(timeout) if role == CARD else device.read_code(timeout)


class InputPump:
    """Reads every input device in its own thread and queues Scan objects."""

    def __init__(self, devices: dict[str, object], out: queue.Queue, stop: threading.Event,
                 poll_s: float = 0.5, retry_s: float = 5.0):
        unknown = set(devices) - {CARD, QR}
        if unknown:
            raise ValueError(f"not input roles: {sorted(unknown)}")
        self.devices = devices
        self.out = out
        self.stop = stop
        self.poll_s = poll_s
        self.retry_s = retry_s
        self._threads: list[threading.Thread] = []

    def start(self) -> InputPump:
        """Start one daemon thread per device."""
        for role, device in self.devices.items():
            thread = threading.Thread(target=self._run, args=(role, device), name=f"input-{role}", daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def _run(self, role: str, device) -> None:
        failures = 0
        while not self.stop.is_set():
            try:
                value = read_scan(role, device, self.poll_s)
            except DeviceError as exc:
                failures += 1
                if failures == 1:
                    log.error("%s device failed: %s; retrying every %.0f s", role, exc, self.retry_s)
                else:
                    log.debug("%s device still failing (%d): %s", role, failures, exc)
                self.stop.wait(self.retry_s)
                continue
            except Exception:  # noqa: BLE001 - an adapter bug must not silently kill input forever
                log.exception("%s device read crashed", role)
                self.stop.wait(self.retry_s)
                continue
            if failures:
                log.warning("%s device is back after %d failures", role, failures)
                failures = 0
            if value is not None:
                self.out.put(Scan(role, value))

    def join(self, timeout: float = 2.0) -> None:
        """Wait for the threads after `stop` was set."""
        for thread in self._threads:
            thread.join(timeout)
