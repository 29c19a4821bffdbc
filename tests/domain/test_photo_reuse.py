"""backend.domain.photo_reuse: when two photo hashes are the same picture (table at the boundary)."""
import pytest

from backend.domain.photo_reuse import REUSE_MAX_BITS, hamming, reused, same_picture

BASE = "f0f0f0f0f0f0f0f0"


def _flip(h: str, bits: int) -> str:
    return f"{int(h, 16) ^ ((1 << bits) - 1):016x}"


@pytest.mark.parametrize(("bits", "same"), [(0, True), (1, True), (REUSE_MAX_BITS, True),
                                            (REUSE_MAX_BITS + 1, False), (32, False), (64, False)])
def test_same_picture_up_to_the_bit_limit(bits, same):
    other = _flip(BASE, bits)
    assert hamming(BASE, other) == bits
    assert same_picture(BASE, other) is same


@pytest.mark.parametrize(("a", "b"), [(None, BASE), (BASE, None), (None, None), ("", BASE)])
def test_a_missing_hash_never_matches(a, b):
    assert same_picture(a, b) is False


def test_reused_names_each_repeated_photo_and_its_source():
    photos = {"sign_sheet": BASE, "panorama": _flip(BASE, 40)}
    others = [(7, "sign_sheet", _flip(BASE, 2)), (7, "panorama", "0" * 16), (9, "panorama", _flip(BASE, 40)),
              (11, "sign_sheet", None)]
    assert reused(photos, others) == [{"photo": "sign_sheet", "makeup_id": 7, "other_photo": "sign_sheet"},
                                      {"photo": "panorama", "makeup_id": 9, "other_photo": "panorama"}]
