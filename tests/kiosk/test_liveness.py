"""Kiosk liveness: the geometry on exact points, then dlib's landmarks on synthetic astronaut bursts."""
from __future__ import annotations

import random

import numpy as np
import pytest

from kiosk.core import liveness as lv

# A face in IOD units (x right in the image, y down, z towards the camera): dlib's 5 points are the
# image-right eye's outer and inner corners, the image-left eye's, and the point under the nose.
HEAD = np.array([[0.5, 0.0, -0.1], [0.22, 0.02, 0.0], [-0.5, 0.0, -0.1], [-0.22, 0.02, 0.0], [0.0, 0.55, 0.25]])


def view(points3d: np.ndarray, yaw_deg: float = 0.0, scale: float = 60.0, at=(120.0, 100.0),
         roll_deg: float = 0.0) -> np.ndarray:
    """Orthographic view of the head turned by `yaw_deg` (+ = towards image right, the person's left)."""
    y, r = np.deg2rad(yaw_deg), np.deg2rad(roll_deg)
    turn = np.array([[np.cos(y), 0, np.sin(y)], [0, 1, 0], [-np.sin(y), 0, np.cos(y)]])
    p = points3d @ turn.T
    roll = np.array([[np.cos(r), -np.sin(r)], [np.sin(r), np.cos(r)]])
    return p[:, :2] @ roll.T * scale + np.asarray(at)


def through(h: np.ndarray, pts: np.ndarray) -> np.ndarray:
    q = np.column_stack([pts, np.ones(len(pts))]) @ h.T
    return q[:, :2] / q[:, 2:]


def plane_tilt(tilt_deg: float, axis_deg: float, focal: float, centre) -> np.ndarray:
    """The homography of a picture tilted in 3-D about an in-plane axis, seen in perspective."""
    from tests.kiosk.liveness_frames import _plane_homography

    return _plane_homography(tilt_deg, axis_deg, focal, centre)


# ---- geometry on exact points --------------------------------------------------------------------

def test_yaw_proxy_ignores_moving_zooming_and_rotating_a_picture():
    flat = view(HEAD)
    for scale, roll, at in ((60, 0, (120, 100)), (95, 25, (40, 210)), (31, -40, (300, 12))):
        moved = view(HEAD, scale=scale, roll_deg=roll, at=at)
        assert lv.yaw_proxy(moved) == pytest.approx(lv.yaw_proxy(flat), abs=1e-9)
        assert lv.nose_residual(flat, moved) == pytest.approx((0.0, 0.0), abs=1e-9)


def test_a_turning_head_shows_parallax_in_the_direction_it_turns():
    front = view(HEAD)
    for yaw in (15, 20, 30):
        along, _across = lv.nose_residual(front, view(HEAD, yaw))
        assert along > lv.PARALLAX_MIN
        assert lv.yaw_proxy(view(HEAD, yaw)) - lv.yaw_proxy(front) > lv.CHALLENGE_MIN_SHIFT
        assert lv.nose_residual(front, view(HEAD, -yaw))[0] < -lv.PARALLAX_MIN
    # A glance (5 degrees) is not enough: the person is asked for a clear turn.
    assert abs(lv.nose_residual(front, view(HEAD, 5))[0]) < lv.PARALLAX_MIN


def test_a_flat_picture_tilted_up_to_20_degrees_about_any_axis_stays_under_the_threshold():
    front = view(HEAD)
    centre = front[:4].mean(axis=0)
    worst = 0.0
    for focal in (250.0, 600.0, 2000.0):
        for axis in np.linspace(0, 180, 37):
            for tilt in (-20, -10, 10, 20):
                worst = max(worst, abs(lv.nose_residual(front, through(plane_tilt(tilt, axis, focal, centre),
                                                                       front))[0]))
    assert 0.02 < worst < lv.PARALLAX_MIN
    # The limit is real: steeper tilts about a slanted axis look like a turn to five points.
    steep = max(abs(lv.nose_residual(front, through(plane_tilt(30, a, 600.0, centre), front))[0])
                for a in np.linspace(0, 180, 37))
    assert steep > lv.PARALLAX_MIN


def test_four_near_collinear_eye_corners_do_not_determine_a_homography():
    """Why the flat-face model is a similarity: a homography fitted to the eye corners is ill-posed."""
    pts = view(HEAD)
    rows = []
    for x, y in pts[:4]:
        rows.append([x, y, 1, 0, 0, 0, -x * x, -x * y, -x])
        rows.append([0, 0, 0, x, y, 1, -y * x, -y * y, -y])
    sv = np.linalg.svd(np.asarray(rows), compute_uv=False)
    # 8 equations for 8 unknowns (9 up to scale), but the smallest of them carries almost no information.
    assert sv[7] / sv[0] < 1e-3


def track_of(yaws, jitter=0.0, seed=0, **kw):
    rng = np.random.default_rng(seed)
    return [view(HEAD, y, **kw) + rng.normal(0, jitter, (5, 2)) for y in yaws]


def test_judge_passes_a_turn_and_names_why_others_fail():
    turn = track_of([0, 3, 8, 14, 20, 24], jitter=0.3)
    result = lv.judge(turn)
    assert result.passed and result.reason is None and result.parallax > lv.PARALLAX_MIN
    assert result.event_field() == {"passed": True, "challenge": None}
    assert lv.judge(track_of([0] * 6)).reason == "static"
    assert lv.judge(turn, ["same"] * 6).reason == "static"  # identical frames, whatever the landmarks say
    moved = [view(HEAD, 0, scale=60 + 4 * i, roll_deg=2 * i, at=(120 + 6 * i, 100 - 3 * i)) for i in range(6)]
    flat = lv.judge(moved)
    assert (flat.passed, flat.reason) == (False, "flat") and flat.motion > lv.MOTION_MIN
    assert lv.judge(turn[:2]).reason == "face_lost"
    assert lv.judge(turn[:3] + [None] + turn[4:]).reason == "face_lost"


def test_challenge_passes_only_in_the_asked_direction():
    to_left = track_of([0, 5, 12, 20, 25], jitter=0.3)    # the person's left is the image's right (+x)
    to_right = track_of([0, -5, -12, -20, -25], jitter=0.3)
    assert lv.judge(to_left, challenge=lv.LEFT).passed
    assert lv.judge(to_right, challenge=lv.RIGHT).passed
    wrong = lv.judge(to_left, challenge=lv.RIGHT)
    assert (wrong.passed, wrong.reason, wrong.challenge) == (False, "challenge_failed", lv.RIGHT)
    assert lv.judge(to_right, challenge=lv.LEFT).reason == "challenge_failed"
    # Turning both ways (a recording made to answer any challenge) fails either challenge.
    both = track_of([0, -10, -20, 0, 15, 25], jitter=0.3)
    assert lv.judge(both).passed
    assert lv.judge(both, challenge=lv.LEFT).reason == "challenge_failed"
    assert lv.judge(both, challenge=lv.RIGHT).reason == "challenge_failed"


def test_replay_memory_refuses_the_same_burst_twice_but_not_a_new_one():
    memory = lv.ReplayMemory(size=4)
    turn = track_of([0, 5, 12, 20, 25], jitter=0.3, seed=1)
    assert lv.judge(turn, ["a", "b", "c", "d", "e"], memory=memory).passed
    # The same recording replayed: bit-identical frames, or re-encoded (same trajectory, other bytes).
    assert lv.judge(turn, ["a", "b", "c", "d", "e"], memory=memory).reason == "replay"
    shifted = [p * 1.3 + 40 for p in turn]  # the same track seen bigger and elsewhere in the frame
    assert lv.judge(shifted, ["f", "g", "h", "i", "j"], memory=memory).reason == "replay"
    other = track_of([0, 5, 12, 20, 25], jitter=0.3, seed=2)  # the same motion, live again: new noise
    assert lv.judge(other, ["k", "l", "m", "n", "o"], memory=memory).passed
    # A camera handing out its last frame again starts the next burst with a frame already seen: still live.
    again = track_of([0, -5, -12, -20, -25], jitter=0.3, seed=3)
    assert lv.judge(again, ["o", "p", "q", "r", "s"], memory=memory).passed


def test_challenge_is_asked_only_when_the_attempt_is_risky():
    rng = random.Random(3)
    assert lv.pick_challenge(lv.Risk(match_margin=0.2), rng) is None
    assert lv.pick_challenge(lv.Risk(), rng) is None
    risky = [lv.Risk(flagged=True), lv.Risk(match_margin=lv.WEAK_MARGIN / 2), lv.Risk(first_visit=True)]
    asked = [lv.pick_challenge(r, rng) for r in risky for _ in range(10)]
    assert set(asked) == {lv.LEFT, lv.RIGHT}


def test_follow_box_moves_and_scales_with_the_landmarks():
    before = view(HEAD)
    after = view(HEAD, scale=90, at=(150, 130))
    box = (80.0, 60.0, 160.0, 150.0)
    moved = lv.follow_box(box, before, after)
    centre0, centre1 = before.mean(axis=0), after.mean(axis=0)
    assert moved[0] == pytest.approx(centre1[0] + (80 - centre0[0]) * 1.5)
    assert moved[2] - moved[0] == pytest.approx(120.0)


# ---- dlib's landmarks on astronaut bursts --------------------------------------------------------

@pytest.fixture(scope="module")
def frames():
    pytest.importorskip("skimage")
    from tests.kiosk import liveness_frames

    return liveness_frames


def check(bursts, challenge=None, memory=None):
    frames_, box = bursts
    return lv.LivenessChecker(memory=memory or lv.ReplayMemory()).check(frames_, challenge, box)


def test_live_like_bursts_pass_and_report_their_direction(frames):
    rng = np.random.default_rng(11)
    for direction, asked, other in ((1, lv.LEFT, lv.RIGHT), (-1, lv.RIGHT, lv.LEFT)):
        burst = frames.live(rng, shift=0.18, direction=direction)
        passive = check(burst)
        assert passive.passed, passive
        assert passive.yaw_shift * direction > lv.CHALLENGE_MIN_SHIFT
        assert check(burst, asked).passed
        assert check(burst, other).reason == "challenge_failed"


def test_pictures_fail_however_they_move(frames):
    rng = np.random.default_rng(12)
    assert check(frames.static(rng)).reason == "static"
    assert check(frames.static(rng, noise=2.0)).reason == "static"
    for _ in range(2):
        moved = check(frames.rigid(rng))
        assert (moved.passed, moved.reason) == (False, "flat") and moved.motion > lv.MOTION_MIN
        tilted = check(frames.tilted(rng, min_tilt=12, max_tilt=20))
        assert (tilted.passed, tilted.reason) == (False, "flat") and tilted.motion > lv.MOTION_MIN


def test_a_replayed_burst_fails_the_second_time(frames):
    rng = np.random.default_rng(13)
    burst = frames.live(rng, shift=0.2)
    memory = lv.ReplayMemory()
    assert check(burst, memory=memory).passed
    again = check(burst, memory=memory)
    assert (again.passed, again.reason) == (False, "replay")


def test_the_face_box_is_found_when_not_given(frames):
    rng = np.random.default_rng(14)
    burst, _box = frames.live(rng, shift=0.2, n=4)
    assert lv.LivenessChecker().check(burst, None).passed
    blank = [np.zeros((120, 120, 3), np.uint8) + i for i in range(4)]
    assert lv.LivenessChecker().check(blank, None).reason == "face_lost"
