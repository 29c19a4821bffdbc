"""Synthetic frame bursts of scikit-image's astronaut (public domain, NASA) for the liveness tests and bench.

Live-like: the nose region is pushed sideways relative to the eyes by a smooth displacement bump (what a
head turn does to the 2-D image: the nose, standing in front of the eye corners, moves further), on
top of small whole-face jitter and sensor noise. Attacks: the same photo still, moved rigidly
(translated / zoomed / rotated in the image plane), or tilted in 3-D and seen in perspective (a plane
homography per frame). Every burst also returns the face box of its first frame, so the tests skip
face detection (the kiosk gets that box from its face match).

Used by tests/kiosk/test_liveness.py and bench/liveness_bench.py.
"""
from __future__ import annotations

import functools

import numpy as np

# A 256x256 crop around the astronaut's face (512x512 image; face box ~ (179, 83, 267, 171)).
CROP = (96, 20, 352, 276)  # left, top, right, bottom
SIZE = 256


@functools.lru_cache(maxsize=1)
def base() -> tuple[np.ndarray, tuple[int, int, int, int], np.ndarray]:
    """(the 256x256 face crop, its face box, its 5 landmarks) — detected once."""
    from skimage import data

    from backend.faces import detect_faces, face_landmarks5

    left, top, right, bottom = CROP
    img = np.ascontiguousarray(data.astronaut()[top:bottom, left:right])
    face = max(detect_faces(img), key=lambda f: f.area)
    box = (face.left, face.top, face.right, face.bottom)
    return img, box, np.asarray(face_landmarks5(img, box), dtype=np.float64)


def _iod(points: np.ndarray) -> float:
    return float(np.linalg.norm(points[0] - points[2]))


def _warp(img: np.ndarray, inverse_map) -> np.ndarray:
    from skimage.transform import warp

    out = warp(img, inverse_map, order=1, mode="edge", preserve_range=True)
    return out


def _finish(img: np.ndarray, rng: np.random.Generator, noise: float) -> np.ndarray:
    if noise:
        img = img + rng.normal(0.0, noise, img.shape)
    return np.ascontiguousarray(np.clip(np.rint(img), 0, 255).astype(np.uint8))


def _box_through(matrix: np.ndarray, box) -> tuple[int, int, int, int]:
    """The axis-aligned box around a box's corners mapped by a 3x3 forward transform."""
    left, top, right, bottom = box
    corners = np.array([[left, top, 1], [right, top, 1], [left, bottom, 1], [right, bottom, 1]], dtype=float)
    mapped = corners @ matrix.T
    mapped = mapped[:, :2] / mapped[:, 2:]
    (x0, y0), (x1, y1) = mapped.min(axis=0), mapped.max(axis=0)
    return int(round(x0)), int(round(y0)), int(round(x1)), int(round(y1))


def _similarity(scale: float, angle_deg: float, tx: float, ty: float, centre) -> np.ndarray:
    """3x3 forward similarity about `centre`."""
    a = np.deg2rad(angle_deg)
    c, s = scale * np.cos(a), scale * np.sin(a)
    cx, cy = centre
    return np.array([[c, -s, cx - c * cx + s * cy + tx], [s, c, cy - s * cx - c * cy + ty], [0, 0, 1.0]])


def _plane_homography(tilt_deg: float, axis_deg: float, focal: float, centre) -> np.ndarray:
    """3x3 forward homography of the image plane rotated by `tilt_deg` about an in-plane axis at
    `axis_deg`, seen by a pinhole camera of focal length `focal` px looking at `centre`."""
    t, phi = np.deg2rad(tilt_deg), np.deg2rad(axis_deg)
    k = np.array([np.cos(phi), np.sin(phi), 0.0])
    kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    rot = np.eye(3) + np.sin(t) * kx + (1 - np.cos(t)) * kx @ kx
    cx, cy = centre
    cam = np.array([[focal, 0, cx], [0, focal, cy], [0, 0, 1.0]])
    # Plane z = focal (image size at unit zoom), points (x - cx, y - cy, 0) rotated about the centre.
    to_plane = np.array([[1, 0, -cx], [0, 1, -cy], [0, 0, 0.0]])
    plane_pts = rot @ to_plane + np.array([[0, 0, 0], [0, 0, 0], [0, 0, focal]])
    return cam @ plane_pts


def _apply(img: np.ndarray, forward: np.ndarray) -> np.ndarray:
    inverse = np.linalg.inv(forward)

    def inverse_map(coords):
        pts = np.column_stack([coords, np.ones(len(coords))]) @ inverse.T
        return pts[:, :2] / pts[:, 2:]
    return _warp(img, inverse_map)


def live(rng: np.random.Generator, n: int = 8, shift: float = 0.12, direction: int = 1, noise: float = 2.0,
         jitter: bool = True) -> tuple[list[np.ndarray], tuple]:
    """A head turning: the nose region moves `shift` IODs sideways by the last frame (+1 = image right,
    the person's left), eyes nearly still, with small whole-face jitter and noise."""
    img, box, pts = base()
    d = _iod(pts)
    # The nose body: from between the eyes down to the landmark under the nose.
    cx, cy = pts[4][0], pts[4][1] - 0.25 * d
    sx, sy = 0.28 * d, 0.38 * d
    centre = pts[:4].mean(axis=0)
    frames, first_box = [], box
    for i in range(n):
        t = i / (n - 1)
        amount = direction * shift * d * (3 * t * t - 2 * t * t * t)  # smooth start and stop
        if jitter and i:
            m = _similarity(1 + rng.uniform(-0.015, 0.015), rng.uniform(-1.5, 1.5),
                            rng.uniform(-2, 2), rng.uniform(-2, 2), centre)
        else:
            m = np.eye(3)
        inverse = np.linalg.inv(m)

        def inverse_map(coords, amount=amount, inverse=inverse):
            pts_h = np.column_stack([coords, np.ones(len(coords))]) @ inverse.T
            xy = pts_h[:, :2] / pts_h[:, 2:]
            bump = np.exp(-((xy[:, 0] - cx) ** 2) / (2 * sx * sx) - ((xy[:, 1] - cy) ** 2) / (2 * sy * sy))
            xy[:, 0] -= amount * bump
            return xy
        frames.append(_finish(_warp(img, inverse_map), rng, noise))
    return frames, first_box


def static(rng: np.random.Generator, n: int = 8, noise: float = 0.0) -> tuple[list[np.ndarray], tuple]:
    """A still photo: the same frame n times (with `noise`, a camera's sensor noise on it)."""
    img, box, _pts = base()
    return [_finish(img.astype(float), rng, noise) for _ in range(n)], box


def rigid(rng: np.random.Generator, n: int = 8, noise: float = 2.0, max_shift: float = 20.0,
          max_zoom: float = 0.12, max_angle: float = 10.0) -> tuple[list[np.ndarray], tuple]:
    """A photo or screen moved in the image plane: translated, zoomed and rotated progressively."""
    img, box, pts = base()
    centre = pts[:4].mean(axis=0)
    end = (rng.uniform(1 - max_zoom, 1 + max_zoom), rng.uniform(-max_angle, max_angle),
           rng.uniform(-max_shift, max_shift), rng.uniform(-max_shift, max_shift))
    frames = []
    for i in range(n):
        t = i / (n - 1)
        m = _similarity(1 + (end[0] - 1) * t, end[1] * t, end[2] * t, end[3] * t, centre)
        frames.append(_finish(_apply(img.astype(float), m), rng, noise))
    return frames, box


def tilted(rng: np.random.Generator, n: int = 8, noise: float = 2.0, min_tilt: float = 5.0,
           max_tilt: float = 20.0, focal: float | None = None, max_shift: float = 10.0) -> tuple[list[np.ndarray], tuple]:
    """A photo tilted in 3-D (about a random in-plane axis, min_tilt..max_tilt degrees by the last frame)
    and seen in perspective, while drifting: one plane homography per frame."""
    img, box, pts = base()
    centre = pts[:4].mean(axis=0)
    focal = focal if focal is not None else rng.uniform(250, 600)  # a photo held 1-2 face widths away
    tilt, axis = rng.uniform(min_tilt, max_tilt) * rng.choice([-1, 1]), rng.uniform(0, 180)
    drift = rng.uniform(-max_shift, max_shift, 2)
    frames = []
    for i in range(n):
        t = i / (n - 1)
        h = _plane_homography(tilt * t, axis, focal, centre)
        h = _similarity(1.0, 0.0, drift[0] * t, drift[1] * t, centre) @ h
        frames.append(_finish(_apply(img.astype(float), h), rng, noise))
    return frames, box
