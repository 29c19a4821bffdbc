"""Trust flags: signs that the party who profits from attendance made the proof alone.

shared/DESIGN.md "Trust". Plain functions over plain values; the services gather the facts where the
data arrives (kiosk upload, phone check-in, face enrolment, server re-verification) and the
completion review reads them. Every flag but `gps_only` blocks a completion until a supervisor
decides per trainee (accept with a reason, or exclude).
"""
from __future__ import annotations

import binascii
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from backend.domain.errors import conflict, invalid

SHARED_FACE = "shared_face"
FACE_BY_STAFF = "face_by_staff"
NEVER_BOUND = "never_bound"
LATE_UPLOAD = "late_upload"
KIOSK_BURST = "kiosk_burst"
GPS_ONLY = "gps_only"
FACE_RECHECK_FAILED = "face_recheck_failed"
LIVENESS_FAILED = "liveness_failed"
LIVENESS_MISSING = "liveness_missing"

FLAG_CODES = (SHARED_FACE, FACE_BY_STAFF, NEVER_BOUND, LATE_UPLOAD, KIOSK_BURST, GPS_ONLY, FACE_RECHECK_FAILED,
              LIVENESS_FAILED, LIVENESS_MISSING)
# Shown, but not blocking: GPS without the site QR is the common case where a region does not require the QR.
INFORMATIONAL = frozenset({GPS_ONLY})

# What the supervisor reads next to each flag (zh-CN; the codes are the contract).
FLAG_LABELS = {
    SHARED_FACE: "人脸模板与他人过于相似",
    FACE_BY_STAFF: "人脸由机构人员代为采集",
    NEVER_BOUND: "从未绑定手机，仅凭考勤机签到",
    LATE_UPLOAD: "课后很久才上传，且上课期间考勤机无心跳",
    KIOSK_BURST: "同一考勤机 2 秒内连续人脸核验",
    GPS_ONLY: "仅凭定位签到（未扫现场码）",
    FACE_RECHECK_FAILED: "服务器复核人脸不一致",
    LIVENESS_FAILED: "考勤机活体检测未通过（可能为照片或翻拍）",
    LIVENESS_MISSING: "人脸签到未做活体检测（旧版考勤机）",
}

# face_recognition's scale: two photos of one person are usually 0.3-0.5 apart, two people 0.6+.
SHARED_FACE_DISTANCE = 0.4
BURST_SECONDS = 2.0
FACE_METHODS = ("card+face", "qr+face")
MAX_CROP_BYTES = 30 * 1024


def is_blocking(code: str) -> bool:
    """Every trust flag blocks the completion except the informational ones."""
    return code not in INFORMATIONAL


def is_face_method(method: str | None) -> bool:
    """A kiosk event proven by a face match (its crop is evidence)."""
    return method in FACE_METHODS


def liveness_flag(method: str | None, liveness: dict | None) -> str | None:
    """The flag of a kiosk face event by its liveness result: failed, or absent (a kiosk that does not check).

    A flag, not a rejection: the hours are held for a supervisor's decision, and kiosks from before
    the check keep working. Card + PIN needs no liveness.
    """
    if not is_face_method(method):
        return None
    if liveness is None:
        return LIVENESS_MISSING
    return None if liveness.get("passed") is True else LIVENESS_FAILED


def asks_challenge(facts: dict) -> bool:
    """Whether kiosks ask this person a liveness challenge (manifest `flagged`): a fact behind a trust flag.

    `facts` as gathered per person for kiosk uploads: a face enrolled by staff, a face shared with
    someone else, a failed server re-verification, or no phone ever bound.
    """
    return bool(facts.get("face_by_staff") or facts.get("shared_face") or facts.get("recheck_failed")
                or not facts.get("bound"))


def decode_face_crop(value) -> tuple[bytes | None, str | None]:
    """(JPEG bytes, None) for a usable face crop, or (None, reason): evidence_missing / evidence_invalid.

    Only the container is checked here (base64, JPEG markers, ≤ 30 KB): it is cheap enough for a
    500-event upload. The server's background re-verification decodes the picture itself.
    """
    if value is None or value == "":
        return None, "evidence_missing"
    if not isinstance(value, str) or len(value) > (MAX_CROP_BYTES + 2) // 3 * 4 + 64:
        return None, "evidence_invalid"
    raw = value.split(",", 1)[1] if value.startswith("data:") and "," in value else value
    try:
        # strict_mode validates in C; b64decode(validate=True) runs a regex over the text first, which
        # for 500 crops of ~9.5 KB each took ~20 ms of a kiosk upload.
        data = binascii.a2b_base64(raw, strict_mode=True)
    except (binascii.Error, ValueError):
        return None, "evidence_invalid"
    if not data or len(data) > MAX_CROP_BYTES or not data.startswith(b"\xff\xd8\xff") or \
            not data.rstrip(b"\x00").endswith(b"\xff\xd9"):
        return None, "evidence_invalid"
    return data, None


def is_late_upload(received_at: datetime, lesson_ends_at: datetime, late_after: timedelta,
                   online_during_lesson: bool) -> bool:
    """Uploaded more than `late_after` after the lesson ended by a device not heard from while it ran."""
    return received_at - lesson_ends_at > late_after and not online_during_lesson


def burst_members(new: Sequence[tuple[object, datetime]], earlier: Sequence[tuple[object, datetime]],
                  window_s: float = BURST_SECONDS) -> set:
    """Keys of face verifications on one device closer than `window_s` to another one.

    `new` are this upload's face events, `earlier` the device's stored ones near them; a pair counts
    when strictly less than the window apart (2.0 s apart is physically possible at a kiosk).
    Returns keys from both lists that belong to such a pair.
    """
    items = sorted([(at, 0, key) for key, at in new] + [(at, 1, key) for key, at in earlier],
                   key=lambda x: x[0])
    members = set()
    for (a_at, a_src, a_key), (b_at, b_src, b_key) in zip(items, items[1:], strict=False):
        if (b_at - a_at).total_seconds() < window_s and (a_src == 0 or b_src == 0):
            members.update((a_key, b_key))
    return members


def close_pairs(templates: dict, threshold: float = SHARED_FACE_DISTANCE) -> list[tuple[object, object, float]]:
    """Pairs of distinct keys whose 128-d templates are closer than `threshold` (strict), nearest first."""
    import numpy as np

    keys = [k for k, v in templates.items() if v is not None]
    if len(keys) < 2:
        return []
    mat = np.asarray([templates[k] for k in keys], dtype=np.float64)
    sq = np.sum(mat * mat, axis=1)
    dist2 = np.maximum(sq[:, None] + sq[None, :] - 2.0 * mat @ mat.T, 0.0)
    rows, cols = np.nonzero(np.triu(dist2 < threshold * threshold, k=1))
    pairs = [(keys[i], keys[j], float(np.sqrt(dist2[i, j]))) for i, j in zip(rows, cols, strict=True)]
    return sorted(pairs, key=lambda p: p[2])


def close_to(template, others: dict, threshold: float = SHARED_FACE_DISTANCE) -> list[tuple[object, float]]:
    """Keys of `others` whose template is closer than `threshold` to `template`, nearest first."""
    import numpy as np

    keys = [k for k, v in others.items() if v is not None]
    if not keys or template is None:
        return []
    mat = np.asarray([others[k] for k in keys], dtype=np.float64)
    dist = np.linalg.norm(mat - np.asarray(template, dtype=np.float64)[None, :], axis=1)
    return sorted(((keys[i], float(dist[i])) for i in np.nonzero(dist < threshold)[0]), key=lambda p: p[1])


@dataclass(frozen=True)
class Decision:
    """A supervisor's decision on one flagged trainee at completion: accept (with a reason) or exclude."""

    person_id: int
    accept: bool
    reason: str


def check_decisions(blocked: dict[int, Iterable[str]], decisions: Iterable[Decision],
                    roster: set[int]) -> dict[int, Decision]:
    """Validate the decisions against the roster; 409 decisions_required while a blocked trainee has none.

    `blocked` maps each rostered trainee with a blocking flag to its flag codes. A decision may be
    given for any rostered trainee (a supervisor may exclude on other evidence), once per trainee,
    always with a reason.
    """
    by_person: dict[int, Decision] = {}
    for d in decisions:
        if d.person_id not in roster:
            raise invalid("validation_error", fields={"decisions": [f"person {d.person_id} is not on the roster"]})
        if d.person_id in by_person:
            raise invalid("validation_error", fields={"decisions": [f"person {d.person_id} decided twice"]})
        if not (d.reason or "").strip():
            raise invalid("validation_error", fields={"decisions": [f"person {d.person_id}: a reason is required"]})
        by_person[d.person_id] = d
    missing = sorted(pid for pid in blocked if pid in roster and pid not in by_person)
    if missing:
        raise conflict("decisions_required", person_ids=missing,
                       flags={str(pid): sorted(set(blocked[pid])) for pid in missing})
    return by_person
