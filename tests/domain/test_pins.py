"""Card PIN rules: accepted shapes, the stored form, and checks that fail closed."""
import pytest

from backend.domain.pins import MAX_ITERATIONS, PIN_ITERATIONS, check_pin, hash_pin, pin_problem


@pytest.mark.parametrize("pin, problem", [
    ("135790", None), ("024681357913", None), ("112358", None),
    ("12345", "pin_format"), ("1234567890123", "pin_format"), ("12a456", "pin_format"), ("", "pin_format"),
    ("１３５７９０", "pin_format"),  # full-width digits are not what a PIN pad sends
    (None, "pin_format"),
    ("111111", "pin_too_simple"), ("123456", "pin_too_simple"), ("987654", "pin_too_simple"),
    ("0123456789", "pin_too_simple"), ("135791", None), ("121212", None),
])
def test_pin_problem(pin, problem):
    assert pin_problem(pin) == problem


def test_stored_form_and_check():
    stored = hash_pin("135790", b"\x01" * 16, iterations=1000)
    scheme, iterations, salt, digest = stored.split("$")
    assert (scheme, iterations, salt, len(digest)) == ("pbkdf2_sha256", "1000", "01" * 16, 64)
    assert check_pin(stored, "135790") is True
    assert check_pin(stored, "135791") is False


def test_default_hash_is_salted_and_slow():
    a, b = hash_pin("135790"), hash_pin("135790")
    assert a != b  # random salt per call
    assert int(a.split("$")[1]) == PIN_ITERATIONS >= 200_000
    assert check_pin(a, "135790")


@pytest.mark.parametrize("stored", [
    None, "", "garbage", "md5$1000$00$00", "pbkdf2_sha256$x$00$00", "pbkdf2_sha256$1000$zz$00",
    "pbkdf2_sha256$1000$00$", f"pbkdf2_sha256${MAX_ITERATIONS + 1}$00$00", "pbkdf2_sha256$0$00$00",
])
def test_malformed_or_costly_hash_never_matches(stored):
    assert check_pin(stored, "135790") is False


def test_iteration_bounds_when_hashing():
    with pytest.raises(ValueError):
        hash_pin("135790", iterations=0)
    with pytest.raises(ValueError):
        hash_pin("135790", iterations=MAX_ITERATIONS + 1)
