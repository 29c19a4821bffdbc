"""The rate limiter's in-process storage when there is no Redis: `limits`' memory storage, swept inline.

`limits.storage.MemoryStorage` starts a timer thread 10 ms after every counted hit that walks every
key it holds to drop the expired ones. With a key per trainee that is thousands of keys walked about
a hundred times a second per worker during a check-in storm (the top function of the check-in
profile under gevent, bench/README.md "Check-in: where a worker's time goes"). Every read already
ignores expired counters and window entries, so the sweep only frees memory: here it runs inline, at
most every SWEEP_S seconds, instead. Counting, windows and limits are unchanged.
"""
from __future__ import annotations

import threading
import time

from limits.storage import MemoryStorage

SCHEME = "swept-memory"
SWEEP_S = 5.0


class SweptMemoryStorage(MemoryStorage):
    """MemoryStorage whose expiry sweep runs inline every SWEEP_S seconds instead of on a timer thread."""

    STORAGE_SCHEME = [SCHEME]

    def __init__(self, uri: str | None = None, wrap_exceptions: bool = False, **options: str):
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)
        self.timer.cancel()  # the base class starts one at once; nothing needs it
        self._next_sweep = time.monotonic() + SWEEP_S
        self._sweep_lock = threading.Lock()

    def __setstate__(self, state: dict) -> None:
        super().__setstate__(state)
        self.timer.cancel()
        self._sweep_lock = threading.Lock()

    def _MemoryStorage__schedule_expiry(self) -> None:  # noqa: N802 — overrides the base class's private hook
        """Called by the base class on every counted hit: sweep now if the last sweep is SWEEP_S old."""
        now = time.monotonic()
        if now < self._next_sweep or not self._sweep_lock.acquire(blocking=False):
            return
        try:
            self._next_sweep = now + SWEEP_S
            self._MemoryStorage__expire_events()
        finally:
            self._sweep_lock.release()

    def sweep(self) -> None:
        """Drop expired counters and window entries now (tests; the hits do it on their own)."""
        self._MemoryStorage__expire_events()
