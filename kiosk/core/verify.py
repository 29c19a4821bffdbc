"""The two ways to prove a scan is its holder: face 1:1 against the template, or a PIN."""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from backend.domain.pins import pin_problem
from kiosk.core.liveness import LivenessChecker, LivenessResult, Risk
from kiosk.core.manifest import Person
from kiosk.core.messages import text
from kiosk.core.pin import PinVerifier
from kiosk.devices.base import Camera, DeviceError, PinPad

log = logging.getLogger(__name__)

# (rgb frame, 128-float template, threshold) -> (matched, distance or None, reason or None[, JPEG crop[, face box]])
FaceVerifier = Callable[[object, object, float], tuple]


@dataclass(frozen=True)
class Verification:
    """Outcome of one verification: the face distance when a face was compared, and on a match the
    JPEG crop of the face that matched (evidence the server re-verifies)."""

    ok: bool
    reason: str | None = None
    face_distance: float | None = None
    crop: bytes | None = None
    pin_sealed: str | None = None
    pin_pending: bool = False  # recorded off line: the server checks the sealed PIN on upload
    liveness: LivenessResult | None = None  # face matches only, when the kiosk checks liveness


def default_face_verifier(rgb, template, threshold: float):
    """backend.faces verification with the matched face's crop, imported on first use (dlib takes a while to load)."""
    from backend.faces import crop_jpeg, verify_face_box

    matched, distance, reason, face = verify_face_box(rgb, template, threshold)
    box = (face.left, face.top, face.right, face.bottom) if face is not None else None
    return matched, distance, reason, (crop_jpeg(rgb, face) if matched else None), box


def evidence_crop(frame, crop: bytes | None) -> bytes | None:
    """The crop a verifier returned, else the frame's centre square (a verifier without boxes): ≤ 30 KB JPEG."""
    if crop is not None:
        return crop
    try:
        from backend.faces import crop_jpeg

        return crop_jpeg(frame)
    except Exception:  # noqa: BLE001 - an odd frame must not stop the check-in; the server then refuses it
        log.exception("could not make the evidence crop")
        return None


def verify_face(camera: Camera, person: Person, face_verifier: FaceVerifier, threshold: float,
                attempts: int, prompt: Callable[[str], None], capture_timeout: float = 2.0,
                liveness: LivenessChecker | None = None, risk: Callable[[float], Risk] | None = None,
                liveness_attempts: int = 2) -> Verification:
    """Up to `attempts` frames compared with the person's template; the first match wins, then (with a
    `liveness` checker) a burst from that frame on must show a live head (`risk(distance)` decides the challenge)."""
    reason, best = "no_face", None
    for attempt in range(1, attempts + 1):
        prompt(f"请正对摄像头 / Please look at the camera ({attempt}/{attempts})")
        try:
            frame = camera.capture(timeout=capture_timeout)
        except DeviceError as exc:
            log.warning("camera failed during verification: %s", exc)
            return Verification(False, "camera_error", best)
        if frame is None:
            continue
        try:
            answer = face_verifier(frame, person.face_encoding, threshold)
            matched, distance, why = answer[:3]
        except Exception:  # noqa: BLE001 - a broken template or model must not stop the kiosk
            log.exception("face verification crashed")
            return Verification(False, "camera_error", best)
        if distance is not None:
            best = distance if best is None else min(best, distance)
        if matched:
            crop = evidence_crop(frame, answer[3] if len(answer) > 3 else None)
            live = None
            if liveness is not None:
                box = answer[4] if len(answer) > 4 else None
                challenge = liveness.challenge_for(risk(distance) if risk is not None else Risk())
                live = check_liveness(camera, liveness, challenge, prompt, frame, box, capture_timeout,
                                      liveness_attempts)
            return Verification(True, None, distance, crop, liveness=live)
        reason = why or "face_mismatch"
        # Once any comparison happened, a later "no face" should not hide that it did not match.
        if best is not None:
            reason = "face_mismatch"
    return Verification(False, reason, best)


def check_liveness(camera: Camera, checker: LivenessChecker, challenge: str | None, prompt: Callable[[str], None],
                   first=None, box=None, capture_timeout: float = 2.0, attempts: int = 2) -> LivenessResult:
    """Bursts of frames judged by `checker` (the matched frame starts the first one); the first pass wins.

    A retry keeps the challenge: asking a new random direction would give a recording of one turn a
    second chance to match.
    """
    result = LivenessResult(False, challenge, "face_lost")
    for attempt in range(1, attempts + 1):
        prompt(text(f"liveness_{challenge or 'turn'}"))
        burst = [first] if attempt == 1 and first is not None else []
        start_box = box if burst else None
        while len(burst) < checker.frames:
            try:
                frame = camera.capture(timeout=capture_timeout)
            except DeviceError as exc:
                log.warning("camera failed during the liveness check: %s", exc)
                return LivenessResult(False, challenge, "camera_error", frames=len(burst))
            if frame is None:
                break
            burst.append(frame)
        try:
            result = checker.check(burst, challenge, start_box)
        except Exception:  # noqa: BLE001 - a model error must not stop the kiosk: the check just failed
            log.exception("liveness check crashed")
            result = LivenessResult(False, challenge, "error", frames=len(burst))
        log.info("liveness %s: %s parallax %.3f yaw %.3f motion %.3f", "passed" if result.passed else "failed",
                 result.reason, result.parallax, result.yaw_shift, result.motion)
        if result.passed:
            return result
    return result


def verify_pin(pinpad: PinPad, person: Person, pin_verifier: PinVerifier, attempts: int,
               prompt: Callable[[str], None], event_id: str, timeout: float = 30.0) -> Verification:
    """Up to `attempts` PIN entries: the server's verdict when on line, else recorded for it to check."""
    reason = "pin_timeout"
    for attempt in range(1, attempts + 1):
        prompt(f"请输入密码 / Please enter your PIN ({attempt}/{attempts})")
        try:
            pin = pinpad.read_pin(timeout)
        except DeviceError as exc:
            log.warning("PIN pad failed: %s", exc)
            return Verification(False, "no_verification_method")
        if pin is None:
            return Verification(False, "pin_timeout")
        problem = pin_problem(pin)
        if problem == "pin_format":
            # Every PIN the server accepts is 6-12 digits: a shorter one cannot be right, and need not count.
            reason = "pin_wrong"
            prompt(text("pin_wrong"))
            continue
        answer = pin_verifier(person, pin, event_id)
        if answer.ok is None and answer.sealed:
            return Verification(True, pin_sealed=answer.sealed, pin_pending=True)
        if answer.ok:
            return Verification(True, pin_sealed=answer.sealed)
        reason = answer.reason or "pin_wrong"
        if reason != "pin_wrong":
            return Verification(False, reason)  # locked, or no manifest: retrying cannot help
        prompt(text("pin_wrong"))
    return Verification(False, reason)
