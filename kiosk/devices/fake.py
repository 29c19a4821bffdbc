"""Virtual devices shipped in the product, so the daemon runs on a laptop with no hardware.

Like OctoPrint's virtual printer they have fault switches, changeable while running:
`drop` loses a scan, `timeout` makes a read wait out its timeout, `garbage` yields line noise,
`slow` delays every delivery, `disconnect` raises DeviceError as an unplugged cable would.
"""
from __future__ import annotations

import queue
import random
import string
import time
from dataclasses import dataclass

import numpy as np

from kiosk.devices.base import DeviceError


@dataclass
class FaultSwitches:
    """Probabilities (0..1) per read, except `slow`, which is seconds."""

    drop: float = 0.0
    timeout: float = 0.0
    garbage: float = 0.0
    slow: float = 0.0
    disconnect: float = 0.0


class _Faulty:
    def __init__(self, faults: FaultSwitches | None, seed: int | None, sleep):
        self.faults = faults or FaultSwitches()
        self._rng = random.Random(seed)
        self._sleep = sleep

    def _roll(self, probability: float) -> bool:
        return probability > 0 and self._rng.random() < probability

    def _before_read(self, timeout: float) -> bool:
        """Apply disconnect/timeout/slow; False means the read should return nothing."""
        if self._roll(self.faults.disconnect):
            raise DeviceError("fake device disconnected")
        if self._roll(self.faults.timeout):
            self._sleep(timeout)
            return False
        if self.faults.slow > 0:
            self._sleep(self.faults.slow)
        return True


class FakeLineSource(_Faulty):
    """A LineSource that plays a script of lines, plus whatever tests `feed()` it."""

    def __init__(self, script=(), faults: FaultSwitches | None = None, seed: int | None = None,
                 sleep=time.sleep):
        super().__init__(faults, seed, sleep)
        self._lines: queue.Queue[str] = queue.Queue()
        self.feed(*script)
        self.closed = False

    def feed(self, *lines: str) -> None:
        """Queue lines as if they had been scanned."""
        for line in lines:
            self._lines.put(line)

    def read_line(self, timeout: float) -> str | None:
        """The next scripted line, subject to the fault switches."""
        if not self._before_read(timeout):
            return None
        if self._roll(self.faults.garbage):
            return "".join(self._rng.choice(string.printable[:94]) for _ in range(self._rng.randint(1, 40)))
        try:
            line = self._lines.get(timeout=max(timeout, 0.0)) if timeout > 0 else self._lines.get_nowait()
        except queue.Empty:
            return None
        if self._roll(self.faults.drop):
            return None
        return line

    @property
    def exhausted(self) -> bool:
        """True when the script has been played to the end."""
        return self._lines.empty()

    def close(self) -> None:
        """Mark the device closed (reads still work, as a reconnect would)."""
        self.closed = True


class FakeCamera(_Faulty):
    """A Camera returning queued frames, else a fixed frame (a loaded image or plain grey)."""

    def __init__(self, default: np.ndarray | None = None, faults: FaultSwitches | None = None,
                 seed: int | None = None, sleep=time.sleep):
        super().__init__(faults, seed, sleep)
        self.default = default if default is not None else np.full((480, 640, 3), 128, dtype=np.uint8)
        self._frames: queue.Queue = queue.Queue()
        self.captures = 0

    def feed(self, *frames: np.ndarray) -> None:
        """Queue frames to be returned before the default one."""
        for frame in frames:
            self._frames.put(frame)

    def capture(self, timeout: float = 2.0) -> np.ndarray | None:
        """The next queued frame or the default, subject to the fault switches."""
        if not self._before_read(timeout):
            return None
        self.captures += 1
        if self._roll(self.faults.drop):
            return None
        if self._roll(self.faults.garbage):
            noise = self._rng.randbytes(120 * 160 * 3)
            return np.frombuffer(noise, dtype=np.uint8).reshape(120, 160, 3).copy()
        try:
            return self._frames.get_nowait()
        except queue.Empty:
            return self.default

    def close(self) -> None:
        """Nothing to release."""
