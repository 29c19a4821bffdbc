"""Boundary tables for names, ID numbers, credit codes, phones, region codes and masks."""
from datetime import date

import pytest

from backend.domain.errors import AppError
from backend.domain.identity import (
    CREDIT_ALPHABET,
    PROVINCES,
    age_on,
    birth_date,
    credit_check_char,
    gender,
    household_region,
    id_check_digit,
    mask_id_number,
    mask_name,
    mask_phone,
    normalize_id_number,
    org_check_char,
    province_code,
    province_name,
    region_in_scope,
    region_prefix,
    validate_credit_code,
    validate_id_number,
    validate_name,
    validate_phone,
    validate_region_code,
)

TODAY = date(2024, 6, 15)


def make_id(born: str = "19900307", region: str = "350102", seq: str = "112") -> str:
    """A well-formed ID number whose check digit is computed here, independently of the code under test."""
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    first17 = region + born + seq
    return first17 + "10X98765432"[sum(int(c) * w for c, w in zip(first17, weights, strict=True)) % 11]


def make_credit(head: str, org8: str, org_check: str | None = None) -> str:
    """A credit code from 8 leading chars and an 8-char organisation body, with computed check chars."""
    org_weights = (3, 7, 9, 10, 5, 8, 4, 2)
    if org_check is None:
        value = 11 - sum(int(c, 36) * w for c, w in zip(org8, org_weights, strict=True)) % 11
        org_check = {10: "X", 11: "0"}.get(value, str(value))
    first17 = head + org8 + org_check
    weights = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
    total = sum(CREDIT_ALPHABET.index(c) * w for c, w in zip(first17, weights, strict=True))
    return first17 + CREDIT_ALPHABET[(31 - total % 31) % 31]


def raised(fn, *args) -> AppError:
    with pytest.raises(AppError) as info:
        fn(*args)
    assert info.value.status == 422
    return info.value


# ---- resident ID number ----------------------------------------------------------------------

def test_helper_matches_a_known_number():
    assert make_id() == "35010219900307112X"
    assert id_check_digit("35010219900307112") == "X"


@pytest.mark.parametrize("raw, expected", [
    ("35010219900307112X", "35010219900307112X"),
    ("35010219900307112x", "35010219900307112X"),                     # lower-case x
    ("  35010219900307112x\n", "35010219900307112X"),                 # pasted with blanks
    ("３５０１０２１９９００３０７１１２ｘ", "35010219900307112X"),  # full-width IME input
    (make_id("20000229"), make_id("20000229")),                        # Feb 29, leap year
    (make_id("20240615"), make_id("20240615")),                        # born today
    (make_id("19000101"), make_id("19000101")),                        # earliest accepted
    (make_id(region="820000"), make_id(region="820000")),              # Macao
])
def test_valid_id_numbers(raw, expected):
    assert validate_id_number(raw, TODAY) == expected


_GOOD = make_id()


@pytest.mark.parametrize("raw, reason", [
    (_GOOD[:17], "length"),
    (_GOOD + "1", "length"),
    ("", "length"),
    ("350102900307112", "length"),                  # 15-digit first generation
    (_GOOD[:10] + "A" + _GOOD[11:], "format"),       # letter in the middle
    ("X" + _GOOD[1:], "format"),
    (_GOOD[:17] + "Y", "format"),
    (None, "format"),
    (_GOOD[:17] + "1", "check_digit"),
    (_GOOD[:17] + "0", "check_digit"),
    (make_id("19990229"), "birth_date"),            # Feb 29, common year
    (make_id("19901301"), "birth_date"),            # month 13
    (make_id("19900100"), "birth_date"),            # day 0
    (make_id("20240616"), "birth_date"),            # tomorrow
    (make_id("18991231"), "birth_date"),            # before 1900
    (make_id(region="000000"), "region"),
    (make_id(region="990101"), "region"),
    (make_id(region="830000"), "region"),           # Taiwan residence-permit prefix, not a province
])
def test_invalid_id_numbers(raw, reason):
    err = raised(validate_id_number, raw, TODAY)
    assert err.code == "invalid_id_number"
    assert err.details == {"field": "id_number", "reason": reason}


def test_normalize_keeps_digits():
    assert normalize_id_number(" 11010520000229118x ") == "11010520000229118X"


@pytest.mark.parametrize("number, born, sex, region", [
    (make_id("19900307", "350102", "112"), date(1990, 3, 7), "female", "350102"),
    (make_id("20000229", "110105", "131"), date(2000, 2, 29), "male", "110105"),
    (make_id("19000101", "650102", "009"), date(1900, 1, 1), "male", "650102"),
    (make_id("19000101", "650102", "990"), date(1900, 1, 1), "female", "650102"),
])
def test_derived_fields(number, born, sex, region):
    assert birth_date(number) == born
    assert gender(number) == sex
    assert household_region(number) == region
    assert province_code(number) == region[:2]


@pytest.mark.parametrize("code, name", [
    ("11", "北京"), ("35", "福建"), ("350102", "福建"), ("65", "新疆"),
    ("71", "台湾"), ("81", "香港"), ("82", "澳门"), ("83", None), ("99", None), ("", None),
])
def test_province_name(code, name):
    assert province_name(code) == name


def test_province_table_is_complete():
    assert len(PROVINCES) == 34


@pytest.mark.parametrize("who, on, age", [
    (make_id("19900307"), date(2020, 3, 6), 29),   # day before the birthday
    (make_id("19900307"), date(2020, 3, 7), 30),   # on the birthday
    (date(1990, 3, 7), date(1990, 3, 7), 0),
    (date(1990, 3, 7), date(1991, 3, 6), 0),
    (date(2000, 2, 29), date(2018, 2, 28), 17),    # leap-day birthday in a common year ...
    (date(2000, 2, 29), date(2018, 3, 1), 18),     # ... is reached on 1 March
    (date(2000, 2, 29), date(2020, 2, 29), 20),
    (date(2008, 6, 15), TODAY, 16),                # legal working age reached today
    (date(1964, 6, 16), TODAY, 59),                # turns 60 tomorrow
])
def test_age_on(who, on, age):
    assert age_on(who, on) == age


# ---- masks -----------------------------------------------------------------------------------

@pytest.mark.parametrize("raw, masked", [
    ("35010219900307123X", "3501**********123X"),
    ("35010219900307112x", "3501**********112X"),
    ("12345678", "********"),                      # too short to show both ends
    ("123456789", "1234*6789"),
    ("", ""),
    (None, ""),
])
def test_mask_id_number(raw, masked):
    assert mask_id_number(raw) == masked


@pytest.mark.parametrize("raw, masked", [
    ("张三", "张*"),
    ("王小明", "王**"),
    (" 王小明 ", "王**"),
    ("欧阳娜娜", "欧阳**"),
    ("欧阳娜", "欧阳*"),
    ("欧阳", "欧*"),                               # a bare compound surname still hides something
    ("买买提·艾力", "买*****"),
    ("李", "*"),
    ("", ""),
    (None, ""),
])
def test_mask_name(raw, masked):
    assert mask_name(raw) == masked


@pytest.mark.parametrize("raw, masked", [
    ("13800138000", "138****8000"),
    ("+86 138-0013-8000", "138****8000"),
    ("010-12345678", "010*****5678"),              # not a mobile: masked as is
    ("1234567", "*******"),
    ("", ""),
])
def test_mask_phone(raw, masked):
    assert mask_phone(raw) == masked


# ---- mainland mobile numbers ---------------------------------------------------------------------

@pytest.mark.parametrize("raw", [
    "13800138000",
    " 13800138000 ",
    "+8613800138000",
    "+86 138 0013 8000",
    "+86-138-0013-8000",
    "8613800138000",
    "86 138 0013 8000",
    "１３８００１３８０００",
])
def test_valid_phones(raw):
    assert validate_phone(raw) == "13800138000"


@pytest.mark.parametrize("raw, expected", [("19912345678", "19912345678"), ("13000000000", "13000000000")])
def test_phone_prefix_boundaries(raw, expected):
    assert validate_phone(raw) == expected


@pytest.mark.parametrize("raw", [
    "12800138000",          # 12x is not a mobile range
    "10000000000",
    "23800138000",
    "1380013800",           # 10 digits
    "138001380001",         # 12 digits
    "861380013800",         # 86 + 10 digits
    "+85213800138000",      # Hong Kong country code
    "008613800138000",      # international-call prefix: not accepted
    "+86 12800138000",
    "1380013800a",
    "138.0013.8000",
    "",
    None,
])
def test_invalid_phones(raw):
    err = raised(validate_phone, raw)
    assert err.code == "invalid_phone"
    assert err.details == {"field": "phone"}


# ---- unified social credit codes --------------------------------------------------------------

def test_generator_reproduces_a_public_example():
    assert make_credit("91350100", "M000100Y") == "91350100M000100Y43"


@pytest.mark.parametrize("org8, check", [
    ("10000000", "8"), ("10000004", "0"),           # 11 - 0 -> "0"
    ("10000018", "X"),                              # 11 - 1 -> "X"
    ("M000100Y", "4"),
])
def test_org_check_char(org8, check):
    assert org_check_char(org8) == check


@pytest.mark.parametrize("raw", [
    "91350100M000100Y43",                 # public examples, including newer "MA" codes
    "91230184MA1BUFLT44",
    "92371000MA3MXH0E3W",                 # individual business (9 + 2)
    "91350100m000100y43",                 # lower case is normalized
    " 91350100M000100Y43 ",
    make_credit("91350102", "MA2XN0PB"),
    make_credit("12100000", "40000018"),  # central-level public institution, org check "X"
    make_credit("52350100", "10000004"),  # private non-enterprise unit, org check "0"
    make_credit("Y1350100", "MA000001"),
])
def test_valid_credit_codes(raw):
    assert validate_credit_code(raw) == raw.strip().upper()


_CODE = "91350100M000100Y43"


@pytest.mark.parametrize("raw, reason", [
    (_CODE[:17], "length"),
    (_CODE + "1", "length"),
    ("", "length"),
    (None, "format"),
    (_CODE[:8] + "I" + _CODE[9:], "format"),        # forbidden letters I, O, Z, S, V
    (_CODE[:8] + "O" + _CODE[9:], "format"),
    (_CODE[:8] + "Z" + _CODE[9:], "format"),
    (_CODE[:8] + "S" + _CODE[9:], "format"),
    (_CODE[:17] + "V", "format"),
    (_CODE[:8] + "-" + _CODE[9:], "format"),
    (make_credit("21350100", "M000100Y"), "registration_authority"),
    (make_credit("A1350100", "M000100Y"), "registration_authority"),
    (make_credit("9135A100", "M000100Y"), "region"),
    (make_credit("91350100", "M000100Y", org_check="5"), "org_code_check"),
    (make_credit("91350100", "10000018", org_check="0"), "org_code_check"),
    (_CODE[:17] + "4", "check_char"),
    ("91110108MA01G90MXE", "check_char"),           # a sample seen in the wild with a wrong check char
])
def test_invalid_credit_codes(raw, reason):
    err = raised(validate_credit_code, raw)
    assert err.code == "invalid_credit_code"
    assert err.details == {"field": "credit_code", "reason": reason}


def test_only_one_check_char_fits():
    fits = [c for c in CREDIT_ALPHABET if credit_check_char(_CODE[:17]) == c]
    assert fits == ["3"]
    for c in CREDIT_ALPHABET.replace("3", ""):
        assert raised(validate_credit_code, _CODE[:17] + c).details["reason"] == "check_char"


# ---- region codes ------------------------------------------------------------------------------

@pytest.mark.parametrize("raw", ["35", "3501", "350102", "110000", "82", " 350102 "])
def test_valid_region_codes(raw):
    assert validate_region_code(raw) == raw.strip()


@pytest.mark.parametrize("raw, reason", [
    ("3", "format"), ("350", "format"), ("35010", "format"), ("3501021", "format"),
    ("", "format"), ("35a1", "format"), (None, "format"),
    ("99", "region"), ("830000", "region"), ("000000", "region"),
])
def test_invalid_region_codes(raw, reason):
    err = raised(validate_region_code, raw)
    assert err.code == "invalid_region_code"
    assert err.details == {"field": "region_code", "reason": reason}


@pytest.mark.parametrize("code, prefix", [
    ("350102", "350102"), ("350100", "3501"), ("350000", "35"), ("3500", "35"), ("35", "35"),
    ("110000", "11"), ("500100", "5001"),
])
def test_region_prefix(code, prefix):
    assert region_prefix(code) == prefix


@pytest.mark.parametrize("region, scope, inside", [
    ("350102", None, True),          # admin
    (None, None, True),
    ("350102", "35", True),
    ("350102", "3501", True),
    ("350102", "350102", True),
    ("350103", "350102", False),
    ("360102", "35", False),
    ("350102", "350100", True),      # a city's own 6-digit code scopes its districts
    ("350102", "350000", True),
    ("350100", "3501", True),
    ("350100", "350102", False),
    ("350202", "3501", False),
    (None, "35", False),
    ("", "35", False),
])
def test_region_in_scope(region, scope, inside):
    assert region_in_scope(region, scope) is inside


# ---- names ---------------------------------------------------------------------------------

@pytest.mark.parametrize("raw, name", [
    ("张三", "张三"),
    ("欧阳娜娜", "欧阳娜娜"),
    ("𠮷田", "𠮷田"),                          # a rare character outside the basic block (extension B)
    ("买买提·艾力", "买买提·艾力"),             # ethnic-minority name, the standard middle dot
    ("买买提•艾力", "买买提·艾力"),             # bullet typed for the middle dot
    ("阿依古丽・买买提", "阿依古丽·买买提"),     # katakana middle dot (Japanese IME)
    ("阿依古丽･买买提", "阿依古丽·买买提"),      # half-width katakana middle dot
    ("  李四\t", "李四"),
    ("张　三", "张 三"),                          # ideographic space folded by NFKC
    ("ＳＭＩＴＨ　ＪＯＨＮ", "SMITH JOHN"),      # full-width letters from a Chinese IME
    ("J. SMITH", "J. SMITH"),
    ("O'Brien Jean-Luc", "O'Brien Jean-Luc"),
    ("Zoë", "Zoë"),
    ("张" * 50, "张" * 50),
])
def test_valid_names_are_normalised(raw, name):
    assert validate_name(raw) == name


@pytest.mark.parametrize("raw, reason", [
    ('=HYPERLINK("http://x","click")', "characters"),
    ("+1", "characters"), ("-张三", "characters"), ("@张三", "characters"),
    ("张三\x00", "characters"), ("张\n三", "characters"), ("张三\u200b", "characters"),
    ("·张三", "characters"), ("张三·", "characters"), ("张··三", "characters"),
    ("张三1", "characters"), ("<script>", "characters"),
    ("", "required"), ("   ", "required"),
    ("张" * 51, "too_long"),
    (None, "characters"), (123, "characters"),
])
def test_invalid_names_are_refused(raw, reason):
    with pytest.raises(AppError) as e:
        validate_name(raw)
    assert e.value.code == "invalid_name" and e.value.status == 422
    assert e.value.details["reason"] == reason and e.value.details["field"] == "name"
