"""The scan -> identify -> verify -> record -> show flow, driven by fakes and a hand-moved clock."""
from datetime import date, datetime, timedelta

import pytest

from kiosk.core.controller import CARD, QR, Controller, ControllerSettings, Scan
from kiosk.core.manifest import Manifest
from kiosk.core.pin import PinAnswer, SealedPinVerifier
from kiosk.core.schedule import decide
from kiosk.core.state import State, StateMachine
from kiosk.devices.base import DeviceError
from kiosk.devices.fake import FakeCamera, FakeLineSource, FaultSwitches
from kiosk.devices.lines import LinePinPad
from kiosk.outbox import Outbox
from tests.kiosk.kiosk_helpers import (
    ALICE_FACE,
    ALICE_ID,
    BOB_ID,
    CAROL_ID,
    DEVICE_ID,
    LESSON_END,
    LESSON_START,
    FakePinServer,
    make_manifest,
)

DAY = date(2025, 3, 10)
BOB_PIN = "246810"


class FaceScript:
    """Face verifier returning scripted outcomes, then matches at 0.3."""

    def __init__(self, *outcomes):
        self.outcomes = list(outcomes)
        self.calls = []

    def __call__(self, frame, template, threshold):
        self.calls.append((frame.shape, tuple(template), threshold))
        return self.outcomes.pop(0) if self.outcomes else (True, 0.3, None)


class Screen:
    """Display that also checks the event is durable before OK is shown."""

    def __init__(self, outbox):
        self.outbox = outbox
        self.results, self.prompts = [], []

    def show(self, result):
        if result.ok and result.event_id:
            assert self.outbox.get(result.event_id) is not None, "OK shown before the event was stored"
        self.results.append(result)

    def prompt(self, message):
        self.prompts.append(message)

    def clear(self):
        pass


@pytest.fixture
def outbox(tmp_path, clock):
    box = Outbox(tmp_path / "k.sqlite3", clock=clock)
    yield box
    box.close()


@pytest.fixture
def pin_server():
    """The server side of PIN checks: Bob's (and, where a test sets it, Alice's) PIN is 246810."""
    return FakePinServer({2: BOB_PIN, 1: BOB_PIN})


@pytest.fixture
def make(outbox, clock, pin_server):
    """Build a controller (on line: PINs are checked by the fake server at once); keyword arguments override."""
    def build(manifest=None, online=True, **kw):
        manifest = manifest if manifest is not None else Manifest.from_dict(make_manifest(), DAY)
        screen = Screen(outbox)
        verifier = SealedPinVerifier(lambda: manifest, DEVICE_ID, check=pin_server.check, is_online=lambda: online)
        args = dict(clock=clock, outbox=outbox, manifest=lambda: manifest,
                    camera=FakeCamera(), pinpad=LinePinPad(FakeLineSource()), face_verifier=FaceScript(),
                    pin_verifier=verifier, display=screen,
                    settings=ControllerSettings(pin_timeout_s=0.01))
        args.update(kw)
        controller = Controller(**args)
        controller.screen = screen
        return controller
    return build


def test_card_and_face_checks_in_then_out(make, clock, outbox):
    controller = make()
    states = []
    controller.machine.add_listener(lambda old, new: states.append(new))
    result = controller.handle(Scan(CARD, ALICE_ID))
    assert (result.ok, result.code, result.kind, result.method) == (True, "checked_in", "check_in", "card+face")
    assert result.name_masked == "张**" and result.lesson_id == 101
    assert states == [State.IDENTIFIED, State.VERIFYING, State.RECORDING, State.SHOWING_RESULT]
    stored = outbox.get(result.event_id)
    assert stored["person_id"] == 1 and stored["lesson_id"] == 101 and stored["method"] == "card+face"
    assert stored["face_distance"] == 0.3
    assert datetime.fromisoformat(stored["captured_at"]) == clock()
    assert stored["captured_at"].endswith("+00:00")
    assert controller.face_verifier.calls[0][1:] == (tuple(ALICE_FACE), 0.5)

    clock.advance(2 * 3600)  # 10:50 Shanghai: lesson running
    asked = controller.handle(Scan(CARD, ALICE_ID))
    # Before the end a check-out is only asked for: nothing is recorded until she scans again.
    assert (asked.ok, asked.code, asked.kind) == (False, "confirm_check_out", "check_out")
    assert outbox.depth() == 1 and "再刷一次" in asked.message
    clock.advance(2)
    result = controller.handle(Scan(CARD, ALICE_ID))
    assert (result.code, result.kind) == ("checked_out", "check_out")
    clock.advance(60)
    assert controller.handle(Scan(CARD, ALICE_ID)).code == "already_checked_out"


@pytest.mark.parametrize(("first_after_start_s", "second_after_s", "window_s", "codes"), [
    (3600, 2, 20, ["confirm_check_out", "checked_out"]),
    (3600, 20, 20, ["confirm_check_out", "checked_out"]),             # the window's last moment
    (3600, 20.01, 20, ["confirm_check_out", "confirm_check_out"]),    # too late: asked again
    (7200, 11, 20, ["checked_out", "already_checked_out"]),           # at the lesson's end: no question
    (7199, 2, 20, ["confirm_check_out", "checked_out"]),              # a second before the end
    (3600, 11, 0, ["checked_out", "already_checked_out"]),            # confirmation turned off
])
def test_early_check_out_needs_a_second_scan(make, clock, outbox, first_after_start_s, second_after_s, window_s,
                                             codes):
    controller = make(settings=ControllerSettings(pin_timeout_s=0.01, confirm_check_out_s=window_s))
    assert controller.handle(Scan(CARD, ALICE_ID)).code == "checked_in"
    clock.now = LESSON_START + timedelta(seconds=first_after_start_s)
    first = controller.handle(Scan(CARD, ALICE_ID)).code
    clock.advance(second_after_s)
    second = controller.handle(Scan(CARD, ALICE_ID)).code
    assert [first, second] == codes
    assert outbox.depth() == 1 + codes.count("checked_out")


def test_repeat_scans_inside_the_window_are_ignored(make, clock, outbox):
    controller = make()
    assert controller.handle(Scan(CARD, ALICE_ID)).ok
    clock.advance(9.9)
    assert controller.handle(Scan(CARD, ALICE_ID)) is None
    assert controller.state is State.SHOWING_RESULT or controller.state is State.IDLE
    clock.advance(0.2)
    # Outside the window the same person is handled again (here: check-in already stored, lesson not begun).
    assert controller.handle(Scan(CARD, ALICE_ID)).code == "already_checked_in"
    assert outbox.depth() == 1


def test_failed_attempt_can_be_retried_after_a_bounce(make, clock):
    controller = make(face_verifier=FaceScript(*[(False, 0.7, "face_mismatch")] * 3), pinpad=None)
    assert controller.handle(Scan(CARD, ALICE_ID)).code == "face_mismatch"
    clock.advance(0.5)
    assert controller.handle(Scan(CARD, ALICE_ID)) is None  # reader bounce
    clock.advance(1.5)
    assert controller.handle(Scan(CARD, ALICE_ID)).ok


@pytest.mark.parametrize(("scan", "manifest", "shift", "code"), [
    (Scan(CARD, CAROL_ID), "default", timedelta(0), "not_on_roster"),
    (Scan(CARD, ALICE_ID), None, timedelta(0), "no_manifest"),
    (Scan(CARD, ALICE_ID), "default", -timedelta(minutes=21), "no_lesson_now"),  # 08:29, window opens 08:30
    (Scan(CARD, ALICE_ID), "default", LESSON_END - LESSON_START + timedelta(minutes=11), "check_in_closed"),
    (Scan(CARD, ALICE_ID), "default", LESSON_END - LESSON_START + timedelta(minutes=41), "no_lesson_now"),
])
def test_refusals_record_nothing(make, clock, outbox, scan, manifest, shift, code):
    controller = make(manifest=Manifest.from_dict(make_manifest(), DAY) if manifest else None)
    if manifest is None:
        controller.manifest = lambda: None
    clock.advance(shift.total_seconds())
    result = controller.handle(scan)
    assert (result.ok, result.code) == (False, code)
    assert outbox.depth() == 0 and controller.state is State.SHOWING_RESULT


def test_face_retries_are_bounded_then_pin_fallback(make, outbox):
    face = FaceScript((False, None, "no_face"), (False, 0.62, "face_mismatch"), (False, None, "no_face"))
    pinpad = LinePinPad(FakeLineSource(["246810"]))
    manifest = make_manifest()
    manifest["people"][0]["pin_set"] = True  # Alice has a PIN too
    controller = make(manifest=Manifest.from_dict(manifest, DAY), face_verifier=face, pinpad=pinpad)
    result = controller.handle(Scan(CARD, ALICE_ID))
    assert len(face.calls) == 3
    assert (result.ok, result.method, result.face_distance) == (True, "card+pin", None)
    assert "face_distance" not in outbox.get(result.event_id)


def test_face_match_on_a_later_attempt(make):
    controller = make(face_verifier=FaceScript((False, None, "no_face"), (True, 0.44, None)))
    result = controller.handle(Scan(CARD, ALICE_ID))
    assert (result.ok, result.face_distance) == (True, 0.44)


def test_face_failure_without_fallback_reports_mismatch(make, outbox):
    controller = make(face_verifier=FaceScript(*[(False, 0.58, "face_mismatch")] * 3),
                      settings=ControllerSettings(pin_fallback=False))
    result = controller.handle(Scan(CARD, ALICE_ID))
    assert (result.ok, result.code, result.face_distance) == (False, "face_mismatch", 0.58)
    assert outbox.depth() == 0


def test_dropped_frames_count_as_attempts(make):
    camera = FakeCamera(faults=FaultSwitches(drop=1.0))
    controller = make(camera=camera, pinpad=None)
    result = controller.handle(Scan(CARD, ALICE_ID))
    assert (result.code, camera.captures) == ("no_face", 3)
    assert controller.face_verifier.calls == []


def test_camera_failure_falls_back_to_pin(make):
    camera = FakeCamera(faults=FaultSwitches(disconnect=1.0))
    manifest = make_manifest()
    manifest["people"][0]["pin_set"] = True
    controller = make(manifest=Manifest.from_dict(manifest, DAY), camera=camera,
                      pinpad=LinePinPad(FakeLineSource(["246810"])))
    assert controller.handle(Scan(CARD, ALICE_ID)).method == "card+pin"


def test_card_and_pin_without_face_template(make, outbox, pin_server):
    controller = make(pinpad=LinePinPad(FakeLineSource(["111111", "246810"])))
    result = controller.handle(Scan(CARD, BOB_ID))
    assert (result.ok, result.code, result.method, result.name_masked) == (True, "checked_in", "card+pin", "欧阳**")
    assert controller.face_verifier.calls == []
    stored = outbox.get(result.event_id)
    assert stored["method"] == "card+pin" and "246810" not in str(stored)
    # the event carries the PIN sealed to the server, bound to this very event
    assert pin_server.opened(result.event_id, 2, stored["pin_sealed"]) == BOB_PIN
    assert [c[0] for c in pin_server.calls] == [result.event_id, result.event_id]  # the wrong try, then the right


def test_offline_card_and_pin_is_recorded_for_the_server_to_check(make, outbox, pin_server):
    controller = make(online=False, pinpad=LinePinPad(FakeLineSource(["999999"])))
    result = controller.handle(Scan(CARD, BOB_ID))
    # The kiosk cannot tell a wrong PIN off line: it records the event, and the server decides on upload.
    assert (result.ok, result.code) == (True, "checked_in_pin_pending")
    stored = outbox.get(result.event_id)
    assert pin_server.opened(result.event_id, 2, stored["pin_sealed"]) == "999999" and pin_server.calls == []


@pytest.mark.parametrize(("lines", "code"), [
    (["000000", "111111", "222222", "246810"], "pin_wrong"),  # the 4th try is never read
    (["1234", "12", "000000"], "pin_wrong"),                  # too short to be any PIN: not even asked
    ([], "pin_timeout"),
])
def test_pin_failures_record_nothing(make, outbox, pin_server, lines, code):
    controller = make(pinpad=LinePinPad(FakeLineSource(lines)))
    result = controller.handle(Scan(CARD, BOB_ID))
    assert (result.ok, result.code) == (False, code)
    assert outbox.depth() == 0
    assert len(pin_server.calls) == sum(1 for pin in lines[:3] if len(pin) >= 6)


def test_a_locked_pin_stops_at_once(make, outbox, pin_server):
    pin_server.failures[2] = 5
    controller = make(pinpad=LinePinPad(FakeLineSource(["246810", "246810"])))
    result = controller.handle(Scan(CARD, BOB_ID))
    assert (result.ok, result.code) == (False, "pin_locked") and outbox.depth() == 0
    assert len(pin_server.calls) == 1


def test_no_pin_and_no_face_means_no_method(make):
    controller = make(manifest=Manifest.from_dict(make_manifest(bob_pin=False), DAY),
                      pinpad=LinePinPad(FakeLineSource(["246810"])))
    assert controller.handle(Scan(CARD, BOB_ID)).code == "no_verification_method"
    controller = make(pinpad=None)
    assert controller.handle(Scan(CARD, BOB_ID)).code == "no_verification_method"


def test_custom_pin_verifier_callable(make):
    def verifier(person, pin, event_id):
        return PinAnswer(person.person_id == 2 and pin == "123456", "pin_wrong", "sealed-" + event_id)
    controller = make(pinpad=LinePinPad(FakeLineSource(["123456"])), pin_verifier=verifier)
    result = controller.handle(Scan(CARD, BOB_ID))
    assert result.method == "card+pin" and controller.outbox.get(result.event_id)["pin_sealed"].startswith("sealed-")


def test_a_card_is_found_only_through_the_sites_salt(make):
    other = make_manifest(salt=bytes(16))                  # another site's salt: no key matches
    other["people"] = make_manifest()["people"]
    controller = make(manifest=Manifest.from_dict(other, DAY))
    assert controller.handle(Scan(CARD, ALICE_ID)).code == "not_on_roster"
    no_salt = make_manifest()
    del no_salt["site"]["card_salt"]
    assert make(manifest=Manifest.from_dict(no_salt, DAY)).handle(Scan(CARD, ALICE_ID)).code == "no_manifest"


def verify_answer(person_id=1, valid=True, reason=None):
    return {"valid": valid, "reason": reason, "voucher": {"code": "V1", "holder": {
        "name_masked": "张**", "id_number_masked": "3501**********1234", "person_id": person_id}}}


def test_qr_online_needs_face(make):
    calls = []
    controller = make(qr_verifier=lambda token: calls.append(token) or verify_answer(), is_online=lambda: True)
    result = controller.handle(Scan(QR, "signed.token.value"))
    assert (result.ok, result.method) == (True, "qr+face") and calls == ["signed.token.value"]


def test_qr_voucher_state_does_not_block_attendance(make):
    # A voucher bound to the enrollment is "used"; the token still proves who holds it.
    controller = make(qr_verifier=lambda token: verify_answer(valid=False, reason="used"), is_online=lambda: True)
    assert controller.handle(Scan(QR, "t")).ok


def _raise_offline(token):
    raise ConnectionError("no route")


@pytest.mark.parametrize(("online", "verifier", "code"), [
    (False, lambda t: verify_answer(), "qr_offline"),
    (True, None, "qr_offline"),
    (True, _raise_offline, "qr_offline"),
    (True, lambda t: verify_answer(valid=False, reason="token_expired"), "qr_invalid"),
    (True, lambda t: verify_answer(valid=False, reason="token_invalid"), "qr_invalid"),
    (True, lambda t: verify_answer(person_id=None), "qr_no_holder"),
    (True, lambda t: verify_answer(person_id=99), "not_on_roster"),
    (True, lambda t: verify_answer(person_id=2), "qr_needs_face"),  # Bob has no face template
])
def test_qr_refusals(make, outbox, online, verifier, code):
    controller = make(qr_verifier=verifier, is_online=lambda: online)
    result = controller.handle(Scan(QR, "token"))
    assert (result.ok, result.code) == (False, code)
    assert outbox.depth() == 0


def test_qr_without_camera_is_refused(make):
    controller = make(camera=None, qr_verifier=lambda t: verify_answer(), is_online=lambda: True)
    assert controller.handle(Scan(QR, "t")).code == "qr_needs_face"


def test_outbox_failure_never_shows_ok(make, outbox):
    def broken(event):
        raise OSError("disk full")
    outbox.put = broken
    result = make().handle(Scan(CARD, ALICE_ID))
    assert (result.ok, result.code) == (False, "record_failed")


def test_result_times_out_back_to_idle(make, clock):
    controller = make(settings=ControllerSettings(result_display_s=3))
    controller.handle(Scan(CARD, CAROL_ID))
    clock.advance(2.9)
    controller.tick()
    assert controller.state is State.SHOWING_RESULT
    clock.advance(0.1)
    controller.tick()
    assert controller.state is State.IDLE


def test_a_new_scan_replaces_the_shown_result(make, clock):
    controller = make()
    controller.handle(Scan(CARD, CAROL_ID))
    assert controller.handle(Scan(CARD, ALICE_ID)).ok


def test_illegal_transitions_raise_and_reset_recovers():
    machine = StateMachine()
    with pytest.raises(RuntimeError):
        machine.go(State.RECORDING)
    machine.go(State.IDENTIFIED)
    machine.go(State.VERIFYING)
    machine.reset()
    assert machine.state is State.IDLE


def test_device_error_in_pinpad_is_no_method(make):
    class BrokenPad:
        def read_pin(self, timeout):
            raise DeviceError("unplugged")

        def close(self):
            pass
    assert make(pinpad=BrokenPad()).handle(Scan(CARD, BOB_ID)).code == "no_verification_method"


def test_back_to_back_lessons_move_on_after_check_out():
    data = make_manifest()
    data["lessons"].append({"id": 102, "title": "第2课", "starts_at": LESSON_END.isoformat(),
                            "ends_at": (LESSON_END + timedelta(hours=2)).isoformat()})
    data["people"][0]["lesson_ids"] = [101, 102]
    manifest = Manifest.from_dict(data, DAY)
    alice = manifest.person(1)
    done = set()
    has = lambda p, lesson, kind: (str(lesson), kind) in done  # noqa: E731
    now = LESSON_END + timedelta(minutes=5)
    late = decide(manifest, alice, now, has)  # missed the first lesson's check-in entirely
    assert (late.lesson.lesson_id, late.kind) == (102, "check_in")
    done.add(("101", "check_in"))
    first = decide(manifest, alice, now, has)
    assert (first.lesson.lesson_id, first.kind) == (101, "check_out")
    done.add(("101", "check_out"))
    second = decide(manifest, alice, now, has)
    assert (second.lesson.lesson_id, second.kind) == (102, "check_in")


def test_manifest_skips_malformed_rows():
    data = make_manifest()
    data["lessons"].append({"id": 5, "starts_at": "2025-03-10T09:00:00", "ends_at": "x"})
    data["people"].append({"name": "no id"})
    manifest = Manifest.from_dict(data, DAY)
    assert set(manifest.lessons) == {"101"} and set(manifest.people) == {"1", "2"}


@pytest.mark.parametrize("policy, threshold", [({"kiosk_face_max_distance": 0.35}, 0.35),
                                               ({"kiosk_face_max_distance": 0.6}, 0.5)])
def test_face_threshold_is_the_stricter_of_the_kiosk_and_the_plans_policy(make, policy, threshold):
    data = make_manifest()
    data["lessons"][0]["policy"] = policy
    controller = make(manifest=Manifest.from_dict(data, DAY))
    assert controller.handle(Scan(CARD, ALICE_ID)).code == "checked_in"
    assert controller.face_verifier.calls[0][2] == threshold


def test_a_narrower_window_from_the_manifest_refuses_before_it_opens(make, clock, outbox):
    data = make_manifest()  # the clock stands 10 minutes before the lesson
    data["policy"] = {"checkin_open_before_min": 5}  # the site region's, for lessons without their own
    controller = make(manifest=Manifest.from_dict(data, DAY))
    assert controller.handle(Scan(CARD, ALICE_ID)).code == "no_lesson_now"
    assert outbox.counts() == {}
    data["lessons"][0]["policy"] = {"checkin_open_before_min": 10}  # the plan's own wins
    controller = make(manifest=Manifest.from_dict(data, DAY))
    assert controller.handle(Scan(CARD, ALICE_ID)).code == "checked_in"


def test_manifest_policy_values_that_are_not_numbers_are_ignored():
    data = make_manifest()
    data["lessons"][0]["policy"] = {"checkin_open_before_min": "10", "kiosk_face_max_distance": True, "x": 1}
    lesson = Manifest.from_dict(data, DAY).lessons["101"]
    assert lesson.policy.check_in_before == timedelta(minutes=30) and lesson.policy.face_max_distance == 0.5
