"""Certificate numbers: shape, check character, normalisation."""
import pytest

from backend.domain.certificates import (
    certificate_number,
    check_char,
    normalize_certificate_number,
    sequence_of,
    validate_certificate_number,
)
from backend.domain.errors import AppError
from backend.domain.identity import id_check_digit


@pytest.mark.parametrize("first17", ["11010519491231002", "35010219900307123", "44030419851111001"])
def test_check_char_is_the_id_number_algorithm(first17):
    assert check_char(first17) == id_check_digit(first17)


@pytest.mark.parametrize("region, year, seq, number", [
    ("350102", 2026, 1, "3501022026000001" + check_char("3501022026000001")),
    ("350102", 2026, 999999, "3501022026999999" + check_char("3501022026999999")),
])
def test_number_shape(region, year, seq, number):
    assert certificate_number(region, year, seq) == number
    assert len(number) == 17
    assert sequence_of(number) == seq
    assert normalize_certificate_number(number) == number


@pytest.mark.parametrize("region, year, seq", [("3501", 2026, 1), ("350102", 2026, 0), ("350102", 2026, 10**6),
                                               ("350102", 999, 1), ("35010a", 2026, 1)])
def test_bad_parts(region, year, seq):
    with pytest.raises(ValueError):
        certificate_number(region, year, seq)


def test_normalise_typing_and_detect_typos():
    number = certificate_number("350102", 2026, 42)
    typed = f" {number[:6]}-{number[6:10]} {number[10:].lower()} "
    assert normalize_certificate_number(typed) == number
    wrong = number[:15] + str((int(number[15]) + 1) % 10) + number[16]
    assert normalize_certificate_number(wrong) is None
    swapped = number[:10] + number[11] + number[10] + number[12:]
    if swapped != number:
        assert normalize_certificate_number(swapped) is None
    assert normalize_certificate_number("") is None
    assert normalize_certificate_number("ABC") is None
    with pytest.raises(AppError) as err:
        validate_certificate_number("123")
    assert err.value.code == "invalid_certificate_number" and err.value.status == 422


def test_check_char_x_case():
    # Find a body whose check value is 10 to be sure 'X' is produced and accepted.
    body = next(f"3501022026{n:06d}" for n in range(1, 100) if check_char(f"3501022026{n:06d}") == "X")
    assert normalize_certificate_number(body + "x") == body + "X"
