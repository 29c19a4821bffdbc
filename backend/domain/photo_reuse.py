"""Make-up photos used twice: a sign-in sheet or a panorama already filed for another make-up.

An institution that fakes a make-up has no real sign sheet to photograph, so the cheapest forgery is an
old photo again, perhaps re-saved, scaled or recompressed. Each stored photo carries a 64-bit
difference hash (dHash: 9x8 greyscale, one bit per pair of horizontal neighbours), which survives
re-encoding and scaling; two photos whose hashes differ in at most REUSE_MAX_BITS bits are the same
picture. A new photo of the same paper sheet differs in framing and light far beyond that. The flag
is a signal for the reviewer, not a refusal: the supervisor sees both requests and decides.
"""
from __future__ import annotations

from collections.abc import Iterable

REUSE_MAX_BITS = 6


def hamming(a: str, b: str) -> int:
    """Bits in which two hex hashes differ."""
    return (int(a, 16) ^ int(b, 16)).bit_count()


def same_picture(a: str | None, b: str | None, max_bits: int = REUSE_MAX_BITS) -> bool:
    """Whether two photo hashes are the same picture (None never matches)."""
    return bool(a) and bool(b) and hamming(a, b) <= max_bits


def reused(photos: dict[str, str | None], others: Iterable[tuple[int, str, str | None]]) -> list[dict]:
    """For one request's photos {name: hash}, the earlier ones they repeat: [{photo, makeup_id, other_photo}].

    `others` are (makeup id, photo name, hash) of the other requests to compare with.
    """
    found = []
    for other_id, other_name, other_hash in others:
        for name, own in photos.items():
            if same_picture(own, other_hash):
                found.append({"photo": name, "makeup_id": other_id, "other_photo": other_name})
    return found
