"""Face adapter: the only module that touches dlib; it takes image bytes or arrays and returns numbers only.

Encodings are the face_recognition 128-d ones (same models, same calls as
`face_recognition.face_encodings(..., model="small")`), but dlib is driven directly:
face_recognition 1.3 imports `pkg_resources` (gone from setuptools >= 81), calls quit() when
that fails, and flips Pillow's global LOAD_TRUNCATED_IMAGES on import, none of which a web
server should inherit. Heavy imports happen inside functions so the app starts fast.
"""
from __future__ import annotations

import base64
import binascii
import importlib.util
import io
import os
import re
import threading
import warnings
from typing import NamedTuple

from backend.domain.errors import invalid

ENCODING_SIZE = 128
MATCH_THRESHOLD = 0.5           # DESIGN.md: stricter than face_recognition's 0.6 default
MAX_IMAGE_BYTES = 8 * 1024 * 1024
# The cap of every image upload (backend/uploads.py): a 12-megapixel phone photo passes. Decoding costs
# about 15 bytes a pixel here (Pillow's image, its RGB copy, the numpy array), so the 40 million pixels
# allowed before let a 115 KB PNG cost 600 MB.
MAX_IMAGE_PIXELS = 4096 * 3072
# Detection runs on a copy whose longest side is at most this many pixels: HOG cost grows with
# the pixel count, while the encoding is still taken from the full-resolution image.
# dlib's HOG window is 80 px, so without upsampling the smallest face found spans about
# 80 / max_side of the image's longest side; when nothing is found we retry once upsampled 2x.
# Enrolment always upsamples: it is rare, and faces near the size limit score weakly, so a second
# small face in the photo could otherwise be dropped as noise instead of refused.
ENROLL_DETECT_SIDE = 640
VERIFY_DETECT_SIDE = 800
# HOG noise (suit badges, textured clothing) scores about 0..0.2 while a clear face scores 1..2, so a
# detection counts as a face only if it is the best one, scores at least this, or is nearly as
# strong as the best (two people both near the size limit both score low).
WEAK_FACE_SCORE = 0.3
WEAK_FACE_MARGIN = 0.5
NUM_JITTERS = 1

_ALLOWED_FORMATS = ("JPEG", "PNG")
_DATA_URL = re.compile(r"^data:[\w/+.-]*(;[\w=.-]+)*;base64,", re.IGNORECASE)
_WHITESPACE = re.compile(r"\s+")
_models_lock = threading.Lock()
# dlib's detector and networks are not safe to call from two threads at once (two worker threads
# re-verifying crops crashed the process with SIGSEGV): every call into them holds this lock.
_dlib_lock = threading.Lock()
_models_cache = None


class Face(NamedTuple):
    """A detected face in full-resolution pixel coordinates, with dlib's detection score."""

    left: int
    top: int
    right: int
    bottom: int
    score: float

    @property
    def area(self) -> int:
        """Box area in pixels."""
        return max(0, self.right - self.left) * max(0, self.bottom - self.top)


class _Models(NamedTuple):
    detector: object
    shape_predictor: object
    encoder: object


def _model_path(filename: str) -> str:
    """Path of a model file shipped in face_recognition_models, without importing that package."""
    # Importing face_recognition_models runs `from pkg_resources import ...`; find_spec only locates it.
    override = os.environ.get("FACE_MODELS_DIR")
    if override:
        return os.path.join(override, filename)
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("face_recognition_models is not installed")
    return os.path.join(list(spec.submodule_search_locations)[0], "models", filename)


def _models() -> _Models:
    """Load the dlib detector, 5-point landmark model and ResNet encoder once per process."""
    global _models_cache
    if _models_cache is None:
        with _models_lock:
            if _models_cache is None:
                import dlib

                _models_cache = _Models(
                    dlib.get_frontal_face_detector(),
                    # "small" (5-point) is what dlib's encoder was trained with and is 5x faster than 68.
                    dlib.shape_predictor(_model_path("shape_predictor_5_face_landmarks.dat")),
                    dlib.face_recognition_model_v1(_model_path("dlib_face_recognition_resnet_model_v1.dat")),
                )
    return _models_cache


def warm_up() -> None:
    """Load the models now (about 0.5 s) so the first kiosk or claim request does not pay for it."""
    _models()


def decode_image(data: bytes, max_bytes: int = MAX_IMAGE_BYTES, max_pixels: int = MAX_IMAGE_PIXELS,
                 field: str = "image"):
    """Decode JPEG/PNG bytes into an upright HxWx3 uint8 RGB numpy array, refusing bombs and other formats."""
    import numpy as np
    from PIL import Image, ImageOps, UnidentifiedImageError

    if not data:
        raise invalid("validation_error", field=field, reason="empty")
    if len(data) > max_bytes:
        raise invalid("validation_error", field=field, reason="too_large", max_bytes=max_bytes)
    from backend.uploads import check_pixels

    with warnings.catch_warnings():
        # Pillow only warns between MAX_IMAGE_PIXELS and twice that; a warning is a refusal here.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            img = Image.open(io.BytesIO(data), formats=_ALLOWED_FORMATS)
            # open() reads only the header, so the declared size is checked before any pixel is decoded.
            check_pixels(img, field, max_pixels)
            img.load()
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise invalid("image_too_large", field=field, reason="too_many_pixels",
                          max_pixels=max_pixels) from None
        except UnidentifiedImageError:
            raise invalid("validation_error", field=field, reason="format") from None
        except (OSError, ValueError, SyntaxError, EOFError):
            # Truncated or corrupt data (Pillow raises several types for these).
            raise invalid("validation_error", field=field, reason="corrupt") from None
        try:
            img = ImageOps.exif_transpose(img)
        except Exception:  # noqa: BLE001 - broken EXIF should not reject an otherwise good photo
            pass
        try:
            rgb = img.convert("RGB")
        except (OSError, ValueError):
            raise invalid("validation_error", field=field, reason="corrupt") from None
    return np.ascontiguousarray(np.asarray(rgb, dtype=np.uint8))


def decode_base64_image(s: str, max_bytes: int = MAX_IMAGE_BYTES, max_pixels: int = MAX_IMAGE_PIXELS,
                        field: str = "image_base64"):
    """Decode a base64 (optionally data: URL) JPEG/PNG into an RGB array; errors name `field`."""
    if not isinstance(s, str) or not s:
        raise invalid("validation_error", field=field, reason="empty")
    s = _DATA_URL.sub("", s.strip(), count=1)
    s = _WHITESPACE.sub("", s)  # MIME-style line breaks are common in pasted base64
    # Refuse before decoding so an oversized string is never turned into bytes.
    if len(s) > (max_bytes + 2) // 3 * 4:
        raise invalid("validation_error", field=field, reason="too_large", max_bytes=max_bytes)
    try:
        data = base64.b64decode(s, validate=True)
    except (binascii.Error, ValueError):
        raise invalid("validation_error", field=field, reason="base64") from None
    return decode_image(data, max_bytes=max_bytes, max_pixels=max_pixels, field=field)


def _as_rgb(rgb):
    """The array dlib needs: C-contiguous HxWx3 uint8."""
    import numpy as np

    arr = np.asarray(rgb)
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.dtype != np.uint8:
        raise invalid("validation_error", field="image", reason="not_rgb")
    return np.ascontiguousarray(arr)


def detect_faces(rgb, max_side: int = VERIFY_DETECT_SIDE, upsample: int = 0) -> list[Face]:
    """HOG face boxes (full-resolution coordinates, strongest first), found on a copy downscaled to `max_side`."""
    import numpy as np
    from PIL import Image

    rgb = _as_rgb(rgb)
    h, w = rgb.shape[:2]
    scale = min(1.0, max_side / max(h, w))
    if scale < 1.0:
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        # BILINEAR in Pillow is area-aware when shrinking, so small faces keep their edges.
        small = np.asarray(Image.fromarray(rgb).resize(size, Image.BILINEAR))
    else:
        small = rgb
    detector = _models().detector
    with _dlib_lock:
        rects, scores, _ = detector.run(small, upsample, 0.0)
        if not rects and upsample == 0:
            # Upsampling quadruples the cost but halves the smallest detectable face; only pay it when needed.
            rects, scores, _ = detector.run(small, 1, 0.0)
    sx, sy = w / small.shape[1], h / small.shape[0]
    faces = [Face(max(0, round(r.left() * sx)), max(0, round(r.top() * sy)),
                  min(w, round((r.right() + 1) * sx)), min(h, round((r.bottom() + 1) * sy)), float(score))
             for r, score in zip(rects, scores, strict=True)]
    faces.sort(key=lambda f: f.score, reverse=True)
    return _real_faces(faces)


def _real_faces(faces: list[Face]) -> list[Face]:
    """Drop weak detections that are HOG noise next to a clear face (see WEAK_FACE_SCORE)."""
    if not faces:
        return []
    floor = min(WEAK_FACE_SCORE, faces[0].score - WEAK_FACE_MARGIN)
    return [faces[0]] + [f for f in faces[1:] if f.score >= floor]


def encode_face(rgb, face: Face | tuple[int, int, int, int]) -> list[float]:
    """128-d encoding of the face in box (left, top, right, bottom), taken from the full-resolution image."""
    import dlib
    import numpy as np

    rgb = _as_rgb(rgb)
    left, top, right, bottom = (int(v) for v in tuple(face)[:4])
    models = _models()
    rect = dlib.rectangle(left, top, right - 1, bottom - 1)
    with _dlib_lock:
        shape = models.shape_predictor(rgb, rect)
        descriptor = models.encoder.compute_face_descriptor(rgb, shape, NUM_JITTERS)
    return [float(v) for v in np.asarray(descriptor)]


def face_landmarks5(rgb, face: Face | tuple[int, int, int, int]) -> list[tuple[float, float]]:
    """dlib's 5 landmarks in the box (left, top, right, bottom): two corners of each eye, then below the nose.

    Order as dlib gives them: image-right eye outer, inner; image-left eye outer, inner; nose base
    (face_recognition calls the pairs right_eye / left_eye and the last nose_tip). About 1 ms a call.
    """
    import dlib

    rgb = _as_rgb(rgb)
    left, top, right, bottom = (int(round(v)) for v in tuple(face)[:4])
    rect = dlib.rectangle(left, top, right - 1, bottom - 1)
    predictor = _models().shape_predictor
    with _dlib_lock:
        shape = predictor(rgb, rect)
    return [(float(p.x), float(p.y)) for p in shape.parts()]


def enroll_template(rgb) -> list[float]:
    """The 128-float template of the single face in an enrolment photo; no_face / multiple_faces otherwise."""
    faces = detect_faces(rgb, ENROLL_DETECT_SIDE, upsample=1)
    if not faces:
        raise invalid("no_face")
    if len(faces) > 1:
        raise invalid("multiple_faces", count=len(faces))
    return encode_face(rgb, faces[0])


def probe_encoding(rgb) -> list[float] | None:
    """The encoding of the largest face in a live photo (the person closest to the camera), or None."""
    faces = detect_faces(rgb, VERIFY_DETECT_SIDE)
    if not faces:
        return None
    return encode_face(rgb, max(faces, key=lambda f: (f.area, f.score)))


def verify(rgb, template, threshold: float = MATCH_THRESHOLD) -> tuple[bool, float | None, str | None]:
    """1:1 check of the largest face in a frame against one template: (matched, distance, reason)."""
    matched, distance, reason, _face = verify_face_box(rgb, template, threshold)
    return matched, distance, reason


def verify_face_box(rgb, template, threshold: float = MATCH_THRESHOLD) -> tuple[bool, float | None, str | None,
                                                                              Face | None]:
    """`verify`, also returning the face box it compared (None without a face): the kiosk crops its evidence from it."""
    template = _as_template(template)
    faces = detect_faces(rgb, VERIFY_DETECT_SIDE)
    if not faces:
        return False, None, "no_face", None
    # At a kiosk the person being checked is the one closest to the camera.
    largest = max(faces, key=lambda f: (f.area, f.score))
    distance = face_distance(encode_face(rgb, largest), template)
    if distance <= threshold:
        return True, distance, None, largest
    return False, distance, "face_mismatch", largest


# Evidence crops (shared/API.md POST /device/events: face_jpeg_base64, JPEG ≤ 30 KB). The face box
# grows by CROP_MARGIN on each side so the server's detector finds the face again, and the crop is
# scaled to at most CROP_SIDE px: a face of ~120 px is enough for dlib's 150 px aligned chip.
CROP_MAX_BYTES = 30 * 1024
CROP_SIDE = 200
CROP_MARGIN = 0.4


def crop_jpeg(rgb, face: Face | tuple[int, int, int, int] | None = None, max_bytes: int = CROP_MAX_BYTES,
              side: int = CROP_SIDE) -> bytes:
    """A JPEG of the face (box widened by CROP_MARGIN), or of the frame's centre square without a box, ≤ max_bytes."""
    import numpy as np
    from PIL import Image

    arr = np.asarray(rgb)
    h, w = arr.shape[:2]
    if face is not None:
        left, top, right, bottom = (int(v) for v in tuple(face)[:4])
        mx, my = int((right - left) * CROP_MARGIN), int((bottom - top) * CROP_MARGIN)
        box = (max(0, left - mx), max(0, top - my), min(w, right + mx), min(h, bottom + my))
    else:
        edge = min(h, w)
        box = ((w - edge) // 2, (h - edge) // 2, (w - edge) // 2 + edge, (h - edge) // 2 + edge)
    img = Image.fromarray(np.ascontiguousarray(arr[box[1]:box[3], box[0]:box[2]]).astype(np.uint8))
    img.thumbnail((side, side), Image.BILINEAR)
    for quality in (85, 75, 65, 50, 35):
        buf = io.BytesIO()
        img.save(buf, format="JPEG", quality=quality)
        if buf.tell() <= max_bytes:
            return buf.getvalue()
        img.thumbnail((img.width * 3 // 4, img.height * 3 // 4), Image.BILINEAR)
    raise ValueError("could not make the crop small enough")


def _as_template(template):
    """A stored template as a float64 vector, refusing anything that is not 128 finite numbers."""
    import numpy as np

    try:
        vec = np.asarray(template, dtype=np.float64)
    except (TypeError, ValueError):
        raise invalid("validation_error", field="template", reason="not_numbers") from None
    if vec.shape != (ENCODING_SIZE,) or not np.all(np.isfinite(vec)):
        raise invalid("validation_error", field="template", reason="shape")
    return vec


def face_distance(a, b) -> float:
    """Euclidean distance between two 128-d encodings (face_recognition's scale: <= 0.5 is a match here)."""
    import numpy as np

    return float(np.linalg.norm(_as_template(a) - _as_template(b)))
