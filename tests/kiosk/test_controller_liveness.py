"""Liveness in the kiosk's face path: bursts after the match, the risk-tiered challenge, what the event carries."""
import random

import numpy as np
import pytest

from kiosk.core import liveness as lv
from kiosk.core.controller import CARD, Scan
from kiosk.core.manifest import Manifest
from kiosk.core.messages import text
from kiosk.devices.fake import FakeCamera, FakeLineSource
from kiosk.devices.lines import LinePinPad
from tests.kiosk.kiosk_helpers import ALICE_ID, make_manifest
from tests.kiosk.test_controller import DAY, FaceScript, make, outbox, pin_server  # noqa: F401 - fixtures
from tests.kiosk.test_liveness import HEAD, view


class Person:
    """A camera in front of someone who does what the screen says: frames carry their number, the
    landmarker looks the 5 points up by it (no dlib here)."""

    def __init__(self, screen, turns: bool = True, obeys: bool = True):
        self.screen, self.turns, self.obeys = screen, turns, obeys
        self.points: dict[int, np.ndarray] = {}
        self.captures = 0
        self._step = 0

    def capture(self, timeout: float = 2.0):
        prompt = self.screen.prompts[-1] if self.screen.prompts else ""
        direction = 1 if prompt == text("liveness_turn_left") else -1 if prompt == text("liveness_turn_right") else 1
        if not self.obeys:
            direction = -direction
        self._step = 0 if self.captures == 0 or "转头" not in prompt else self._step + 1
        k = self.captures % 250 + 1
        self.captures += 1
        if self.turns:
            pts = view(HEAD, direction * min(25, 5 * self._step)) + np.random.default_rng(k).normal(0, 0.3, (5, 2))
        else:  # a photo moved about
            pts = view(HEAD, 0, scale=60 + 3 * self._step, at=(120 + 5 * self._step, 100))
        self.points[k] = pts
        return np.full((240, 320, 3), k, np.uint8)

    def landmarks(self, frame, box):
        return self.points[int(frame[0, 0, 0])]

    def close(self):
        pass


def checker(cam: Person, seed: int = 1) -> lv.LivenessChecker:
    return lv.LivenessChecker(frames=6, landmarker=cam.landmarks, detector=lambda frame: (60, 40, 180, 170),
                              rng=random.Random(seed))


@pytest.fixture
def with_camera(make):
    """A controller whose camera is a Person (keyword `turns`, `obeys`); `manifest` overrides as in `make`."""
    def build(turns=True, obeys=True, seed=1, **kw):
        controller = make(**kw)
        cam = Person(controller.screen, turns, obeys)
        controller.camera = cam
        controller.liveness = checker(cam, seed)
        return controller, cam
    return build


def test_a_first_visit_is_challenged_and_the_event_says_so(with_camera, outbox):
    controller, cam = with_camera()
    result = controller.handle(Scan(CARD, ALICE_ID))
    assert (result.ok, result.code, result.method) == (True, "checked_in", "card+face")
    stored = outbox.get(result.event_id)
    asked = stored["liveness"]["challenge"]
    assert stored["liveness"] == {"passed": True, "challenge": asked} and asked in lv.CHALLENGES
    assert text(f"liveness_{asked}") in controller.screen.prompts
    assert cam.captures == 6  # the matched frame and 5 more


def test_a_known_person_with_a_clear_match_gets_the_passive_check_only(with_camera, outbox, clock):
    controller, _cam = with_camera()
    controller.handle(Scan(CARD, ALICE_ID))
    clock.advance(2 * 3600 + 15 * 60)  # just after the lesson: check-out (no confirmation); Alice is known now
    result = controller.handle(Scan(CARD, ALICE_ID))
    assert (result.ok, result.code, result.kind) == (True, "checked_out", "check_out")
    assert outbox.get(result.event_id)["liveness"] == {"passed": True, "challenge": None}
    assert controller.screen.prompts[-1] == text("liveness_turn")


@pytest.mark.parametrize("why", ["flagged", "weak_match"])
def test_flagged_people_and_weak_matches_are_challenged(with_camera, outbox, clock, why):
    manifest = make_manifest()
    manifest["people"][0]["flagged"] = why == "flagged"
    face = FaceScript((True, 0.3, None), (True, 0.3 if why == "flagged" else 0.46, None))
    controller, _cam = with_camera(manifest=Manifest.from_dict(manifest, DAY), face_verifier=face)
    controller.handle(Scan(CARD, ALICE_ID))
    clock.advance(2 * 3600 + 15 * 60)  # just after the lesson: check-out, no confirmation asked
    result = controller.handle(Scan(CARD, ALICE_ID))
    assert outbox.get(result.event_id)["liveness"]["challenge"] in lv.CHALLENGES


def test_turning_the_other_way_fails_twice_with_the_same_challenge_and_is_held_for_review(with_camera, outbox):
    controller, cam = with_camera(obeys=False)
    result = controller.handle(Scan(CARD, ALICE_ID))
    # Alice has no PIN: the match is recorded with the failed check, for the server to flag.
    assert (result.ok, result.code) == (True, "checked_in_liveness_review")
    stored = outbox.get(result.event_id)
    assert stored["liveness"]["passed"] is False and stored["method"] == "card+face"
    asked = [p for p in controller.screen.prompts if p.startswith(("请向左", "请向右"))]
    assert len(asked) == 2 and asked[0] == asked[1]  # the retry keeps the direction
    assert cam.captures == 6 + 6
    assert text("checked_in_liveness_review").startswith("签到已记录")


def test_a_moving_photo_falls_back_to_the_pin_when_there_is_one(with_camera, outbox):
    manifest = make_manifest()
    manifest["people"][0]["pin_set"] = True
    controller, _cam = with_camera(turns=False, manifest=Manifest.from_dict(manifest, DAY),
                                   pinpad=LinePinPad(FakeLineSource(["246810"])))
    result = controller.handle(Scan(CARD, ALICE_ID))
    assert (result.ok, result.code, result.method) == (True, "checked_in", "card+pin")
    assert text("liveness_failed") in controller.screen.prompts
    assert "liveness" not in outbox.get(result.event_id)


def test_without_a_checker_events_carry_no_liveness(make, outbox):
    controller = make()
    result = controller.handle(Scan(CARD, ALICE_ID))
    assert result.ok and "liveness" not in outbox.get(result.event_id)


def test_the_real_pipeline_on_an_astronaut_burst(make, outbox, clock):
    """dlib's landmarks on synthetic frames: a turn in the asked direction passes, the same burst replayed fails."""
    pytest.importorskip("skimage")
    from tests.kiosk import liveness_frames

    seed = 5
    asked = random.Random(seed).choice(lv.CHALLENGES)  # Alice's first visit: the checker will ask this
    frames, _box = liveness_frames.live(np.random.default_rng(3), shift=0.2,
                                        direction=1 if asked == lv.LEFT else -1)
    camera = FakeCamera()
    camera.feed(*frames)
    shared = lv.LivenessChecker(rng=random.Random(seed))
    controller = make(camera=camera, liveness=shared)
    result = controller.handle(Scan(CARD, ALICE_ID))
    assert result.code == "checked_in"
    assert outbox.get(result.event_id)["liveness"] == {"passed": True, "challenge": asked}

    clock.advance(2 * 3600 + 15 * 60)  # check-out: the same recording played again (first burst and retry)
    camera.feed(*frames, *frames)
    result = controller.handle(Scan(CARD, ALICE_ID))
    assert (result.code, outbox.get(result.event_id)["liveness"]["passed"]) == ("checked_out_liveness_review", False)
