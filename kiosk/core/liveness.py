"""Is the face at the kiosk a live head, or a picture of one? Geometry of dlib's 5 landmarks over a burst.

A flat picture (a printed photo, a phone or tablet screen), however it is moved, tilted or zoomed,
moves its five landmark points by one plane projective transform. A real head that turns moves the
point below the nose (which stands ~2 cm in front of the eye corners) sideways relative to the eye
corners: parallax. So the check is:

1. Landmarks in every frame of a short burst (the face box of the first frame, then followed from
   frame to frame by the landmarks themselves: about 1 ms a frame, no detection per frame).
2. For each frame i, the similarity transform (rotation, scale, translation) that best maps the four
   eye corners of frame 0 onto those of frame i predicts where the nose point should be if the face
   were flat; the nose's actual position differs by the residual. Its component along the eye line,
   divided by the inter-ocular distance (IOD, between the outer eye corners), is the parallax.
   Why not a full homography or affine from the four eye points: the four eye corners lie nearly on
   one line, and 4 collinear points do not determine a homography (nor the affine's action across
   the line) — any such fit can put the nose anywhere, so its residual is always ~0. A similarity is
   well determined by collinear points; what it cannot explain of a tilted flat picture (its
   foreshortening and, for tilts about a slanted axis, a small shear) was measured on homography warps
   of photos (bench/liveness_bench.py) and the threshold is set above it.
3. Fails: no motion at all (a still picture: every frame the same or the landmarks not moving),
   parallax below the threshold (a picture moved, zoomed, rotated or tilted), a burst whose frames or
   landmark track repeat one seen recently (a replayed recording), lost landmarks.
4. When the attempt is risky (person flagged, weak face match, first visit here) a random challenge is
   asked: "turn your head to your left / right". It passes only when the yaw proxy — the nose's
   sideways offset from the eye midpoint in IODs — moves in the asked direction by at least
   CHALLENGE_MIN_SHIFT, and does not also move the other way by PARALLAX_MIN (a recording that turns
   both ways would otherwise answer any challenge). The person's left is the camera image's right
   (the camera faces the person and frames are not mirrored), so "left" means the nose moves to +x.

Limits (stated plainly in bench/README.md): a 3-D mask, or a video of the real person turning their
head replayed to the camera (when the direction happens to match), shows true parallax and passes;
this is a geometric check against flat pictures and replays, not a certified anti-spoofing model.
"""
from __future__ import annotations

import hashlib
import random
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

LEFT, RIGHT = "turn_left", "turn_right"
CHALLENGES = (LEFT, RIGHT)

# Thresholds, in inter-ocular distances (IOD, outer eye corner to outer eye corner), chosen from the
# measurements in bench/README.md "Kiosk liveness" (bench/liveness_bench.py):
# - a flat picture tilted in 3-D about its worst in-plane axis shows, in exact geometry, a sideways nose
#   residual of 0.043 IOD at 20 degrees (0.065 at 25, 0.092 at 30): 0.05 rejects every tilt up to 20
#   degrees about any axis; moved / zoomed / rotated in the image plane a picture measured <= 0.023;
# - synthetic head turns whose landmarks moved 0.06-0.11 IOD sideways all passed; a real head turning
#   15-30 degrees moves the point under the nose roughly 0.06-0.12 IOD (it stands ~0.25 IOD in front of
#   the eye corners), so the person is asked for a clear turn, not a glance.
PARALLAX_MIN = 0.05
# The challenge asks for the same amount of turn, in the asked direction (the sign is what it adds).
CHALLENGE_MIN_SHIFT = 0.05
# Below this the landmarks did not move at all (in IOD, largest displacement of any point in any frame):
# a still picture, a frozen video. dlib's points are whole pixels, so sensor noise alone moves one by
# a pixel now and then: 1 px is 0.017 IOD for a 60 px IOD (measured 0.017 on a noisy still photo).
MOTION_MIN = 0.03
# A match this close to the threshold is "weak": the challenge is asked (face_recognition scale).
WEAK_MARGIN = 0.08
BURST_FRAMES = 8
# Replay memory: this many recent bursts; two tracks closer than REPLAY_TOLERANCE (IOD, mean absolute
# difference of the normalised trajectories) are the same recording. Live bursts differ by far more:
# none of the 40 seeded live bursts judged into one memory by bench/liveness_bench.py tripped it.
REPLAY_MEMORY = 256
REPLAY_TOLERANCE = 0.002

# dlib 5-point order (backend/faces.face_landmarks5).
_IMG_RIGHT_EYE = (0, 1)   # outer, inner corner
_IMG_LEFT_EYE = (2, 3)    # outer, inner corner
_NOSE = 4
_EYES = (0, 1, 2, 3)


@dataclass(frozen=True)
class LivenessResult:
    """The verdict of one burst: `passed`, the challenge asked (or None), why it failed, and the measures."""

    passed: bool
    challenge: str | None = None
    reason: str | None = None
    parallax: float = 0.0      # largest |sideways nose residual| over the burst, IOD
    yaw_shift: float = 0.0     # signed largest yaw-proxy change (+ = towards the person's left), IOD
    motion: float = 0.0        # largest landmark displacement from frame 0, IOD
    frames: int = 0

    def event_field(self) -> dict:
        """The `liveness` member of a kiosk event (shared/API.md POST /device/events)."""
        return {"passed": self.passed, "challenge": self.challenge}


def _as_points(points) -> np.ndarray:
    arr = np.asarray(points, dtype=np.float64)
    if arr.shape != (5, 2) or not np.all(np.isfinite(arr)):
        raise ValueError("expected 5 landmark points (x, y)")
    return arr


def iod(points) -> float:
    """Inter-ocular distance: outer corner to outer corner, in pixels."""
    p = _as_points(points)
    return float(np.linalg.norm(p[_IMG_RIGHT_EYE[0]] - p[_IMG_LEFT_EYE[0]]))


def yaw_proxy(points) -> float:
    """The nose point's offset from the eye midpoint along the eye line, in IOD (+ = image right).

    Invariant under moving, zooming and rotating a picture in the image plane; a head turning to the
    person's left raises it.
    """
    p = _as_points(points)
    left_eye = p[list(_IMG_LEFT_EYE)].mean(axis=0)
    right_eye = p[list(_IMG_RIGHT_EYE)].mean(axis=0)
    axis = right_eye - left_eye
    length = float(np.linalg.norm(axis))
    if length == 0:
        raise ValueError("degenerate landmarks")
    mid = (left_eye + right_eye) / 2
    return float(np.dot(p[_NOSE] - mid, axis / length) / iod(p))


def similarity_fit(src, dst) -> np.ndarray:
    """Least-squares 2x3 similarity (rotation, uniform scale, translation) mapping src points onto dst."""
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    # Unknowns a, b, tx, ty of x' = a x - b y + tx, y' = b x + a y + ty.
    rows = []
    rhs = []
    for (x, y), (u, v) in zip(src, dst, strict=True):
        rows.append((x, -y, 1.0, 0.0))
        rhs.append(u)
        rows.append((y, x, 0.0, 1.0))
        rhs.append(v)
    (a, b, tx, ty), *_ = np.linalg.lstsq(np.asarray(rows), np.asarray(rhs), rcond=None)
    return np.array([[a, -b, tx], [b, a, ty]])


def nose_residual(first, other) -> tuple[float, float]:
    """(along, across) the eye line: where the nose of `other` is versus where a flat face would put it, in IOD.

    The flat-face prediction maps frame 0's nose by the similarity fitted on the four eye corners.
    """
    p0, p1 = _as_points(first), _as_points(other)
    m = similarity_fit(p0[list(_EYES)], p1[list(_EYES)])
    predicted = m[:, :2] @ p0[_NOSE] + m[:, 2]
    residual = p1[_NOSE] - predicted
    axis = p1[list(_IMG_RIGHT_EYE)].mean(axis=0) - p1[list(_IMG_LEFT_EYE)].mean(axis=0)
    axis = axis / np.linalg.norm(axis)
    normal = np.array([-axis[1], axis[0]])
    scale = iod(p1)
    return float(residual @ axis / scale), float(residual @ normal / scale)


def track_signature(track: Sequence) -> np.ndarray:
    """The burst's landmark trajectory in frame 0's eye frame (translation, scale and rotation removed), IOD."""
    p0 = _as_points(track[0])
    origin = p0[list(_EYES)].mean(axis=0)
    axis = p0[_IMG_RIGHT_EYE[0]] - p0[_IMG_LEFT_EYE[0]]
    scale = float(np.linalg.norm(axis))
    c, s = axis / scale
    rot = np.array([[c, s], [-s, c]])
    return np.stack([(_as_points(p) - origin) @ rot.T / scale for p in track])


def frame_digest(frame) -> str:
    """A short hash of a frame's pixels (a bit-identical replay of a recording has the same digests).

    Every 4th pixel of every 4th row: sensor noise changes those as surely as the others, and a 1280x720
    frame then hashes in ~0.3 ms instead of ~3 ms.
    """
    arr = np.ascontiguousarray(np.asarray(frame)[::4, ::4])
    return hashlib.blake2b(arr.tobytes(), digest_size=12).hexdigest()


class ReplayMemory:
    """The signatures of recent bursts, so a recording played twice is refused the second time."""

    def __init__(self, size: int = REPLAY_MEMORY, tolerance: float = REPLAY_TOLERANCE):
        self.tolerance = tolerance
        self._tracks: deque[np.ndarray] = deque(maxlen=size)
        self._digests: deque[frozenset[str]] = deque(maxlen=size)

    def seen(self, signature: np.ndarray, digests: Sequence[str]) -> bool:
        """Whether a burst with these frames or this trajectory was judged recently (then also remember it)."""
        digest_set = frozenset(digests)
        # Half the frames or more: a camera that hands out its last frame again (the first frame of a
        # retry burst equal to the last of the failed one) must not make a live retry a "replay".
        need = max(2, len(digest_set) // 2)
        hit = bool(digest_set) and any(len(digest_set & old) >= need for old in self._digests)
        if not hit:
            for old in self._tracks:
                if old.shape == signature.shape and float(np.mean(np.abs(old - signature))) < self.tolerance:
                    hit = True
                    break
        self._tracks.append(signature)
        self._digests.append(digest_set)
        return hit


@dataclass(frozen=True)
class Risk:
    """What makes an attempt risky enough for a challenge; each input is the kiosk's own knowledge."""

    flagged: bool = False            # the manifest marks the person (trust flags on the server)
    match_margin: float | None = None  # face threshold minus the matched distance
    first_visit: bool = False        # no earlier event of this person in this kiosk's outbox

    def risky(self, weak_margin: float = WEAK_MARGIN) -> bool:
        """A challenge is asked for flagged people, weak matches and people this kiosk has not seen."""
        weak = self.match_margin is not None and self.match_margin < weak_margin
        return self.flagged or weak or self.first_visit


def pick_challenge(risk: Risk, rng: random.Random | None = None) -> str | None:
    """A random direction for a risky attempt, None otherwise (the passive check only)."""
    if not risk.risky():
        return None
    return (rng or random.SystemRandom()).choice(CHALLENGES)


def judge(track: Sequence, digests: Sequence[str] = (), challenge: str | None = None,
          memory: ReplayMemory | None = None) -> LivenessResult:
    """Judge one burst's landmark track (a list of 5x2 points per frame; None where the face was lost)."""
    frames = len(track)
    if frames < 3 or any(p is None for p in track):
        return LivenessResult(False, challenge, "face_lost", frames=frames)
    points = [_as_points(p) for p in track]
    scale = iod(points[0])
    motion = max(float(np.max(np.linalg.norm(p - points[0], axis=1))) for p in points[1:]) / scale
    along = [nose_residual(points[0], p)[0] for p in points[1:]]
    parallax = max(abs(a) for a in along)
    yaw0 = yaw_proxy(points[0])
    shifts = [yaw_proxy(p) - yaw0 for p in points[1:]]
    yaw_shift = max(shifts, key=abs)
    measures = dict(parallax=round(parallax, 4), yaw_shift=round(yaw_shift, 4), motion=round(motion, 4),
                    frames=frames)
    replay = memory.seen(track_signature(points), digests) if memory is not None else False
    if digests and len(set(digests)) == 1 or motion < MOTION_MIN:
        return LivenessResult(False, challenge, "static", **measures)
    if replay:
        return LivenessResult(False, challenge, "replay", **measures)
    if parallax < PARALLAX_MIN:
        return LivenessResult(False, challenge, "flat", **measures)
    if challenge is not None:
        sign = 1.0 if challenge == LEFT else -1.0
        # The asked way, and not also the other way: a recording that turns both ways would pass any challenge.
        if max(sign * s for s in shifts) < CHALLENGE_MIN_SHIFT or max(-sign * s for s in shifts) >= PARALLAX_MIN:
            return LivenessResult(False, challenge, "challenge_failed", **measures)
    return LivenessResult(True, challenge, None, **measures)


# ---- landmarks over a burst ----------------------------------------------------------------------

Landmarker = Callable[[object, tuple], Sequence]  # (rgb, (left, top, right, bottom)) -> 5 points
Detector = Callable[[object], tuple | None]       # rgb -> the largest face box, or None


def default_landmarker(rgb, box) -> list[tuple[float, float]]:
    """backend.faces' 5-point landmarks (dlib), imported on first use."""
    from backend.faces import face_landmarks5

    return face_landmarks5(rgb, box)


def default_detector(rgb) -> tuple | None:
    """The largest face's box in a frame, or None (HOG, backend.faces)."""
    from backend.faces import detect_faces

    faces = detect_faces(rgb)
    if not faces:
        return None
    face = max(faces, key=lambda f: (f.area, f.score))
    return (face.left, face.top, face.right, face.bottom)


def follow_box(box, before, after) -> tuple[float, float, float, float]:
    """Move and scale a face box the way the landmarks moved between two frames (tracking without detection)."""
    b0, b1 = _as_points(before), _as_points(after)
    s = iod(b1) / iod(b0)
    c0, c1 = b0.mean(axis=0), b1.mean(axis=0)
    left, top, right, bottom = (float(v) for v in box[:4])
    # The box keeps its offset from the landmarks' centroid, scaled with the face.
    return (c1[0] + (left - c0[0]) * s, c1[1] + (top - c0[1]) * s,
            c1[0] + (right - c0[0]) * s, c1[1] + (bottom - c0[1]) * s)


def landmark_track(frames: Sequence, box=None, landmarker: Landmarker = default_landmarker,
                   detector: Detector = default_detector) -> list:
    """5-point landmarks in each frame, the face box followed from frame to frame; None once the face is lost."""
    track: list = []
    if box is None and frames:
        box = detector(frames[0])
    for frame in frames:
        if box is None:
            track.append(None)
            continue
        h, w = np.asarray(frame).shape[:2]
        if box[2] <= 0 or box[3] <= 0 or box[0] >= w or box[1] >= h or box[2] - box[0] < 20:
            track.append(None)
            box = None
            continue
        points = _as_points(landmarker(frame, tuple(int(round(v)) for v in box)))
        if track and track[-1] is not None:
            box = follow_box(box, track[-1], points)
        track.append(points)
    return track


@dataclass
class LivenessChecker:
    """What the kiosk's face path calls: capture a burst, judge it, remember it against replays."""

    frames: int = BURST_FRAMES
    landmarker: Landmarker = default_landmarker
    detector: Detector = default_detector
    rng: random.Random = field(default_factory=random.SystemRandom)
    memory: ReplayMemory = field(default_factory=ReplayMemory)

    def challenge_for(self, risk: Risk) -> str | None:
        """The challenge to ask for this attempt (None: passive check only)."""
        return pick_challenge(risk, self.rng)

    def check(self, burst: Sequence, challenge: str | None, box=None) -> LivenessResult:
        """Judge a captured burst (RGB frames, in order); `box` is the face box in the first frame if known."""
        if len(burst) < 3:
            return LivenessResult(False, challenge, "face_lost", frames=len(burst))
        track = landmark_track(burst, box, self.landmarker, self.detector)
        return judge(track, [frame_digest(f) for f in burst], challenge, self.memory)
