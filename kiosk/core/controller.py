"""scan -> identify -> verify -> record -> show: one person at a time, clock injected.

The controller never says OK before the event is committed to the outbox, and never records
an event whose holder was not verified by face or PIN.
"""
from __future__ import annotations

import base64
import hashlib
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from backend.domain.card_keys import card_key
from backend.domain.identity import mask_name
from kiosk.core.liveness import LivenessChecker, Risk
from kiosk.core.manifest import Manifest, Person
from kiosk.core.messages import text
from kiosk.core.pin import PinVerifier
from kiosk.core.schedule import decide, judge_scan
from kiosk.core.state import State, StateMachine
from kiosk.core.verify import FaceVerifier, Verification, default_face_verifier, verify_face, verify_pin

log = logging.getLogger(__name__)

CARD, QR = "card", "qr"
# Verify-endpoint reasons that mean the token itself is not genuine or current. Other reasons
# (used, returned, ...) describe the voucher, not the holder, and the roster decides attendance.
_BAD_TOKEN = {"token_expired", "token_invalid"}


@dataclass(frozen=True)
class Scan:
    """One input event: a card's ID number or a QR code's text."""

    source: str  # CARD or QR
    value: str


@dataclass(frozen=True)
class Result:
    """What the screen shows for one scan."""

    ok: bool
    code: str
    at: datetime
    name_masked: str = ""
    kind: str | None = None
    lesson_id: object = None
    lesson_title: str = ""
    method: str | None = None
    face_distance: float | None = None
    event_id: str | None = None

    @property
    def message(self) -> str:
        """The bilingual screen text for this outcome."""
        return text(self.code)


@dataclass(frozen=True)
class ControllerSettings:
    """Tunables from the kiosk config; durations in seconds."""

    face_threshold: float = 0.5
    face_attempts: int = 3
    pin_attempts: int = 3
    pin_fallback: bool = True
    pin_timeout_s: float = 30.0
    capture_timeout_s: float = 2.0
    duplicate_window_s: float = 10.0
    bounce_s: float = 1.5
    result_display_s: float = 3.0
    liveness_attempts: int = 2
    # A check-out before the lesson ends is recorded only when the person scans again within this many
    # seconds of being asked (0: never ask): a second tap after the start must not end the lesson by mistake.
    confirm_check_out_s: float = 20.0


class _NullDisplay:
    """Used when no display is given (tests that only look at return values)."""

    def show(self, result: Result) -> None:
        """Show nothing."""

    def prompt(self, message: str) -> None:
        """Prompt nothing."""

    def clear(self) -> None:
        """Clear nothing."""


class Controller:
    """The kiosk state machine driven by scans (`handle`) and time (`tick`)."""

    def __init__(self, *, clock: Callable[[], datetime], outbox, manifest: Callable[[], Manifest | None],
                 camera=None, pinpad=None,
                 face_verifier: FaceVerifier | None = default_face_verifier,
                 pin_verifier: PinVerifier | None = None,
                 qr_verifier: Callable[[str], dict] | None = None, is_online: Callable[[], bool] = lambda: False,
                 display=None, settings: ControllerSettings | None = None,
                 liveness: LivenessChecker | None = None):
        self.clock = clock
        self.outbox = outbox
        self.manifest = manifest
        self.camera = camera
        self.pinpad = pinpad
        self.face_verifier = face_verifier
        self.pin_verifier = pin_verifier
        self.qr_verifier = qr_verifier
        self.is_online = is_online
        self.display = display or _NullDisplay()
        self.settings = settings or ControllerSettings()
        # None: no liveness check (its events carry no `liveness`, and the server flags them).
        self.liveness = liveness
        self.machine = StateMachine()
        self.last_result: Result | None = None
        self._check_out_asked: dict[tuple[str, str], datetime] = {}  # (person, lesson) -> when asked
        self._shown_at: datetime | None = None
        # Recent scans and people, keyed by hashes so raw ID numbers are not kept in memory.
        self._recent_values: dict[str, tuple[datetime, bool]] = {}
        self._recent_people: dict[str, datetime] = {}

    @property
    def state(self) -> State:
        """The current state."""
        return self.machine.state

    def reset(self) -> None:
        """Recover to IDLE after an unexpected error inside `handle`."""
        self.machine.reset()
        self.display.clear()

    # ---- time ---------------------------------------------------------------------------------

    def tick(self) -> None:
        """Return to IDLE once a result has been on screen long enough."""
        if self.state is State.SHOWING_RESULT and self._shown_at is not None:
            if self.clock() - self._shown_at >= timedelta(seconds=self.settings.result_display_s):
                self.machine.go(State.IDLE)
                self.display.clear()

    # ---- the flow -----------------------------------------------------------------------------

    def handle(self, scan: Scan) -> Result | None:
        """Process one scan to a shown Result; None when it was a repeat and is ignored."""
        if self.state is State.SHOWING_RESULT:
            self.machine.go(State.IDLE)  # the next person does not wait for the timeout
        if self.state is not State.IDLE:
            raise RuntimeError(f"scan handled while {self.state.name}")
        now = self.clock()
        self._forget_old(now)
        value_key = hashlib.sha256(f"{scan.source}:{scan.value}".encode()).hexdigest()
        if self._is_repeat_value(value_key, now):
            log.debug("repeat %s scan ignored", scan.source)
            return None
        manifest = self.manifest()
        person, refusal = self._identify(scan, manifest)
        if person is None:
            return self._finish(value_key, None, Result(False, refusal, now))
        self.machine.go(State.IDENTIFIED)
        seen = self._recent_people.get(str(person.person_id))
        if seen is not None and now - seen < timedelta(seconds=self.settings.duplicate_window_s):
            log.debug("repeat scan of a person just handled ignored")
            self.machine.go(State.IDLE)
            return None
        name = mask_name(person.name)
        decision = decide(manifest, person, now, self.outbox.has_event)
        if decision.refusal:
            ok = decision.refusal in ("already_checked_out", "already_checked_in")
            return self._finish(value_key, person, Result(ok, decision.refusal, now, name))
        lesson = decision.lesson
        base = dict(name_masked=name, kind=decision.kind, lesson_id=lesson.lesson_id, lesson_title=lesson.title)
        if self._needs_confirmation(decision.kind, person, lesson, now):
            return self._finish(value_key, person, Result(False, "confirm_check_out", now, **base))
        self.machine.go(State.VERIFYING)
        # The id exists before verification: a typed PIN is sealed to this very event.
        event_id = str(uuid.uuid4())
        method, verification = self._verify(scan, person, event_id, lesson.policy.face_max_distance)
        if not verification.ok:
            return self._finish(value_key, person, Result(
                False, verification.reason, now, face_distance=verification.face_distance, **base))
        # The whole event, evidence included, through the server's judge: what it would reject is not recorded.
        verdict = judge_scan(lesson, decision.kind, now, decision.kind == "check_out", False, method,
                             verification.face_distance)
        if not verdict.accepted:
            return self._finish(value_key, person, Result(
                False, verdict.code, now, face_distance=verification.face_distance, **base))
        self.machine.go(State.RECORDING)
        event = {
            "event_id": event_id,
            "person_id": person.person_id,
            "lesson_id": lesson.lesson_id,
            "kind": decision.kind,
            "method": method,
            "captured_at": now.astimezone(UTC).isoformat(timespec="milliseconds"),
        }
        if verification.face_distance is not None:
            event["face_distance"] = round(verification.face_distance, 4)
        if verification.crop is not None:
            # The face the kiosk matched travels with the event: the server keeps it (encrypted) and
            # re-verifies it, so a kiosk's "matched" is evidence, not the last word.
            event["face_jpeg_base64"] = base64.b64encode(verification.crop).decode()
        if verification.pin_sealed is not None:
            event["pin_sealed"] = verification.pin_sealed
        if verification.liveness is not None:
            event["liveness"] = verification.liveness.event_field()
        try:
            self.outbox.put(event)
        except Exception:  # noqa: BLE001 - disk full, locked database...: never say OK unrecorded
            log.exception("could not write the event to the outbox")
            return self._finish(value_key, person, Result(False, "record_failed", now, **base))
        code = "checked_in" if decision.kind == "check_in" else "checked_out"
        if verification.pin_pending:
            code += "_pin_pending"  # off line: recorded; the server checks the PIN when it arrives
        elif verification.liveness is not None and not verification.liveness.passed:
            code += "_liveness_review"  # recorded with the failed check: the server flags it for review
        return self._finish(value_key, person, Result(
            True, code, now, method=method, face_distance=event.get("face_distance"),
            event_id=event["event_id"], **base))

    # ---- steps --------------------------------------------------------------------------------

    def _identify(self, scan: Scan, manifest: Manifest | None) -> tuple[Person | None, str | None]:
        if manifest is None:
            return None, "no_manifest"
        if scan.source == CARD:
            if manifest.card_salt is None:
                return None, "no_manifest"
            person = manifest.by_card_key(card_key(manifest.card_salt, scan.value))
            return (person, None) if person else (None, "not_on_roster")
        if scan.source != QR:
            raise ValueError(f"unknown scan source {scan.source!r}")
        if self.qr_verifier is None or not self.is_online():
            return None, "qr_offline"
        try:
            answer = self.qr_verifier(scan.value)
        except ConnectionError as exc:
            log.info("QR verification unreachable: %s", exc)
            return None, "qr_offline"
        if not isinstance(answer, dict) or answer.get("reason") in _BAD_TOKEN:
            return None, "qr_invalid"
        holder = (answer.get("voucher") or {}).get("holder") or {}
        if holder.get("person_id") is None:
            return None, "qr_no_holder"
        person = manifest.person(holder["person_id"])
        return (person, None) if person else (None, "not_on_roster")

    def _verify(self, scan: Scan, person: Person, event_id: str, policy_threshold: float) -> tuple[str, Verification]:
        s = self.settings
        # The stricter of the kiosk's own threshold and the plan's policy: a match the server would reject
        # is retried here, while the person is still in front of the camera.
        threshold = min(s.face_threshold, policy_threshold)
        face_possible = (self.camera is not None and self.face_verifier is not None
                         and person.face_encoding is not None)
        has_pin = getattr(self.pin_verifier, "has_pin", None)
        pin_possible = (scan.source == CARD and self.pinpad is not None and self.pin_verifier is not None
                        and (has_pin is None or has_pin(person)))
        if scan.source == QR and not face_possible:
            return "qr+face", Verification(False, "qr_needs_face")
        if face_possible:
            result = verify_face(self.camera, person, self.face_verifier, threshold, s.face_attempts,
                                 self.display.prompt, s.capture_timeout_s, self.liveness,
                                 lambda distance: self._risk(person, distance), s.liveness_attempts)
            live = result.liveness is None or result.liveness.passed
            if (result.ok and live) or not (pin_possible and s.pin_fallback):
                # A match whose liveness failed is still recorded when no PIN can prove it: with the
                # failed check in the event, the server holds it for review instead of it being lost.
                return f"{scan.source}+face", result
            self.display.prompt(text(result.reason if not result.ok else "liveness_failed"))
        if not pin_possible:
            return "card+pin", Verification(False, "no_verification_method")
        return "card+pin", verify_pin(self.pinpad, person, self.pin_verifier, s.pin_attempts,
                                      self.display.prompt, event_id, s.pin_timeout_s)

    def _risk(self, person: Person, distance: float | None) -> Risk:
        """What this kiosk knows about how risky the attempt is (flagged person, weak match, first visit)."""
        has_person = getattr(self.outbox, "has_person", None)
        return Risk(flagged=person.flagged,
                    match_margin=None if distance is None else self.settings.face_threshold - distance,
                    first_visit=bool(has_person) and not has_person(person.person_id))

    def _finish(self, value_key: str, person: Person | None, result: Result) -> Result:
        self.machine.go(State.SHOWING_RESULT)
        end = self.clock()
        self._recent_values[value_key] = (end, result.ok)
        if person is not None and result.ok:
            self._recent_people[str(person.person_id)] = end
        self.last_result = result
        self._shown_at = end
        level = logging.INFO if result.ok else logging.WARNING
        log.log(level, "%s %s %s", result.code, result.name_masked, result.lesson_title)
        self.display.show(result)
        return result

    def _needs_confirmation(self, kind: str | None, person: Person, lesson, now: datetime) -> bool:
        """True (and remember the question) for an early check-out not yet confirmed by a second scan."""
        window = self.settings.confirm_check_out_s
        if kind != "check_out" or window <= 0 or now >= lesson.ends_at:
            return False
        key = (str(person.person_id), str(lesson.lesson_id))
        asked = self._check_out_asked.pop(key, None)
        if asked is not None and now - asked <= timedelta(seconds=window):
            return False  # the second scan: confirmed
        self._check_out_asked[key] = now
        return True

    def _is_repeat_value(self, value_key: str, now: datetime) -> bool:
        seen = self._recent_values.get(value_key)
        if seen is None:
            return False
        at, ok = seen
        age = now - at
        # A reader bouncing the same card is always ignored; a success blocks the whole window.
        return age < timedelta(seconds=self.settings.bounce_s) or (
            ok and age < timedelta(seconds=self.settings.duplicate_window_s))

    def _forget_old(self, now: datetime) -> None:
        horizon = timedelta(seconds=max(self.settings.duplicate_window_s, self.settings.bounce_s))
        self._recent_values = {k: v for k, v in self._recent_values.items() if now - v[0] < horizon}
        self._recent_people = {k: v for k, v in self._recent_people.items() if now - v < horizon}
        confirm = timedelta(seconds=self.settings.confirm_check_out_s)
        self._check_out_asked = {k: v for k, v in self._check_out_asked.items() if now - v <= confirm}
