"""The kiosk's explicit states and the only transitions between them."""
from __future__ import annotations

from enum import Enum


class State(Enum):
    """Where the kiosk is in handling one person."""

    IDLE = "idle"
    IDENTIFIED = "identified"          # card or QR resolved to a person on today's roster
    VERIFYING = "verifying"            # face or PIN check running
    RECORDING = "recording"            # writing the event to the outbox
    SHOWING_RESULT = "showing_result"  # OK or the reason it failed, until it times out or the next scan


TRANSITIONS: dict[State, frozenset[State]] = {
    State.IDLE: frozenset({State.IDENTIFIED, State.SHOWING_RESULT}),
    # IDENTIFIED -> IDLE: a repeat scan of someone just handled is dropped without a new screen.
    State.IDENTIFIED: frozenset({State.VERIFYING, State.SHOWING_RESULT, State.IDLE}),
    State.VERIFYING: frozenset({State.RECORDING, State.SHOWING_RESULT}),
    State.RECORDING: frozenset({State.SHOWING_RESULT}),
    State.SHOWING_RESULT: frozenset({State.IDLE}),
}


class StateMachine:
    """Holds the current state, refuses illegal moves, and tells listeners about each change."""

    def __init__(self, listeners=()):
        self.state = State.IDLE
        self._listeners = list(listeners)

    def add_listener(self, listener) -> None:
        """Call `listener(old, new)` after every transition."""
        self._listeners.append(listener)

    def go(self, new: State) -> None:
        """Move to `new`; an illegal move is a programming error and raises RuntimeError."""
        old = self.state
        if new not in TRANSITIONS[old]:
            raise RuntimeError(f"illegal kiosk transition {old.name} -> {new.name}")
        self.state = new
        for listener in self._listeners:
            listener(old, new)

    def reset(self) -> None:
        """Back to IDLE from anywhere: only for recovering after an unexpected error."""
        old, self.state = self.state, State.IDLE
        for listener in self._listeners:
            listener(old, State.IDLE)
