"""What the person at the kiosk sees: a terminal line per result, and a status board for the local page."""
from __future__ import annotations

import sys
import threading
from collections import deque

from backend.domain.attendance import SHANGHAI
from kiosk.core.controller import Result
from kiosk.core.state import State


class TerminalDisplay:
    """Prints one line per result and per prompt."""

    def __init__(self, stream=None):
        self.stream = stream or sys.stdout

    def show(self, result: Result) -> None:
        """Print the outcome: time, mark, message, masked name, lesson."""
        mark = "OK " if result.ok else "!! "
        when = result.at.astimezone(SHANGHAI).strftime("%H:%M:%S")
        details = " ".join(x for x in (result.name_masked, result.lesson_title) if x)
        print(f"[{when}] {mark}{result.message}  {details}".rstrip(), file=self.stream, flush=True)

    def prompt(self, message: str) -> None:
        """Print an instruction (look at the camera, enter the PIN)."""
        print(f"    {message}", file=self.stream, flush=True)

    def clear(self) -> None:
        """Nothing to clear on a scrolling terminal."""


class StatusBoard:
    """Thread-safe snapshot of the kiosk for the status page; also a display."""

    def __init__(self, keep: int = 20):
        self._lock = threading.Condition()
        self._results: deque[dict] = deque(maxlen=keep)
        self._prompt = ""
        self.state = State.IDLE
        self.extra: dict = {}
        self.version = 0  # bumped on every change, so the screen's event stream knows when to send
        self.preview: tuple[int, bytes, list | None] | None = None  # (version, JPEG, face box in the JPEG)

    def _changed(self) -> None:
        # Called with the lock held.
        self.version += 1
        self._lock.notify_all()

    def wait_change(self, seen: int, timeout: float) -> int:
        """Block until the version passes `seen` (or `timeout` seconds); returns the current version."""
        with self._lock:
            self._lock.wait_for(lambda: self.version != seen, timeout=timeout)
            return self.version

    def set_preview(self, jpeg: bytes, box: list | None) -> None:
        """The latest camera frame the kiosk verified against (small JPEG) and the face box found in it."""
        with self._lock:
            self.preview = (self.version + 1, jpeg, box)
            self._changed()

    def on_state(self, old: State, new: State) -> None:
        """StateMachine listener."""
        with self._lock:
            self.state = new
            if new is State.IDLE:
                self.preview = None  # the last person's face does not stay on screen
            self._changed()

    def show(self, result: Result) -> None:
        """Remember a result (masked name only)."""
        with self._lock:
            self._prompt = ""
            self._results.appendleft({
                "at": result.at.isoformat(), "ok": result.ok, "code": result.code, "message": result.message,
                "name": result.name_masked, "kind": result.kind, "lesson": result.lesson_title,
                "method": result.method})
            self._changed()

    def prompt(self, message: str) -> None:
        """Remember the current instruction."""
        with self._lock:
            self._prompt = message
            self._changed()

    def clear(self) -> None:
        """Drop the current instruction."""
        with self._lock:
            self._prompt = ""
            self._changed()

    def note(self, key: str, value) -> None:
        """Set one extra value shown on the page (e.g. the server's late verdicts) and wake the stream."""
        with self._lock:
            self.extra[key] = value
            self._changed()

    def snapshot(self, **live) -> dict:
        """Everything the page shows, plus `live` values computed by the caller."""
        with self._lock:
            return {"state": self.state.value, "prompt": self._prompt, "results": list(self._results),
                    "preview": self.preview[0] if self.preview else None,
                    "preview_box": self.preview[2] if self.preview else None, "version": self.version,
                    **self.extra, **live}


class Displays:
    """Fans every call out to several displays."""

    def __init__(self, *displays):
        self.displays = displays

    def show(self, result: Result) -> None:
        """Show on every display."""
        for d in self.displays:
            d.show(result)

    def prompt(self, message: str) -> None:
        """Prompt on every display."""
        for d in self.displays:
            d.prompt(message)

    def clear(self) -> None:
        """Clear every display."""
        for d in self.displays:
            d.clear()

