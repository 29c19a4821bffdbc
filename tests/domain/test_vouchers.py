import re
from datetime import UTC, date, datetime, timedelta

import pytest

from backend.domain import vouchers as v
from backend.domain.errors import AppError

T0 = datetime(2026, 3, 1, 0, 0, tzinfo=UTC)
US = timedelta(microseconds=1)
KEY = b"k" * 32


def error_of(fn, *args, **kwargs) -> tuple[str, int]:
    with pytest.raises(AppError) as e:
        fn(*args, **kwargs)
    return e.value.code, e.value.status


# ---- status ---------------------------------------------------------------------

@pytest.mark.parametrize("status, now, expected", [
    ("claimed", T0 - US, "claimed"),
    ("claimed", T0, "expired"),
    ("used", T0 + timedelta(days=1), "used"),  # only unused vouchers expire
    ("returned", T0 + timedelta(days=1), "returned"),
    ("written_off", T0 + timedelta(days=1), "written_off"),
    ("voided", T0 - US, "voided"),
])
def test_effective_status(status, now, expected):
    assert v.effective_status(status, T0, now) == expected


# ---- claiming -------------------------------------------------------------------
START, END = T0, T0 + timedelta(days=10)


@pytest.mark.parametrize("batch_status, now, ok", [
    ("published", START, True),
    ("published", END - US, True),
    ("published", START - US, False),
    ("published", END, False),
    ("draft", START + timedelta(days=1), False),
    ("closed", START + timedelta(days=1), False),
])
def test_check_claim(batch_status, now, ok):
    if ok:
        v.check_claim(batch_status, START, END, now)
    else:
        assert error_of(v.check_claim, batch_status, START, END, now) == ("claim_window_closed", 409)


# ---- eligibility ----------------------------------------------------------------
TODAY = date(2026, 3, 1)
PERSON = {"groups": {"unemployed"}, "birth_date": date(1990, 3, 1),  # 36 today
          "household_region": "350102", "id_number": "35010219900301123X"}


@pytest.mark.parametrize("rules, person_changes, reasons", [
    ({}, {}, []),
    ({"groups": None, "age_min": None, "age_max": None, "household_regions": None, "directed": None}, {}, []),
    ({"groups": [], "household_regions": [], "directed": set()}, {}, []),  # empty = no limit
    ({"groups": {"unemployed", "veteran"}}, {}, []),
    ({"groups": {"veteran"}}, {}, ["group"]),
    ({"groups": {"veteran"}}, {"groups": set()}, ["group"]),
    ({"age_min": 36}, {}, []),                                       # inclusive lower bound
    ({"age_max": 36}, {}, []),                                       # inclusive upper bound
    ({"age_min": 37}, {}, ["age"]),
    ({"age_max": 35}, {}, ["age"]),
    ({"age_max": 35}, {"birth_date": date(1990, 3, 2)}, []),         # 36th birthday is tomorrow
    ({"age_min": 16}, {"birth_date": date(2010, 3, 1)}, []),         # 16 today
    ({"age_min": 16}, {"birth_date": date(2010, 3, 2)}, ["age"]),    # 16 tomorrow
    ({"age_min": 16}, {"birth_date": None}, ["age"]),
    ({"household_regions": ["35"]}, {}, []),
    ({"household_regions": ["3501", "3601"]}, {}, []),
    ({"household_regions": ["350102"]}, {}, []),
    ({"household_regions": ["350103", "3502"]}, {}, ["household_region"]),
    ({"household_regions": ["35"]}, {"household_region": None}, ["household_region"]),
    ({"directed": {"35010219900301123x"}}, {}, []),                  # X in either case
    ({"directed": {"350102199003011247"}}, {}, ["not_directed"]),
    ({"groups": {"veteran"}, "age_max": 30, "household_regions": ["36"], "directed": {"1"}}, {},
     ["group", "age", "household_region", "not_directed"]),
])
def test_eligibility_reasons(rules, person_changes, reasons):
    assert v.eligibility_reasons({**PERSON, **person_changes}, rules, TODAY) == reasons


@pytest.mark.parametrize("today, age_max, reasons", [
    (date(2061, 2, 28), 60, []),       # born 2000-02-29: still 60 on 28 Feb of a common year
    (date(2061, 3, 1), 60, ["age"]),   # 61 from 1 March
    (date(2060, 2, 29), 59, ["age"]),  # 60 on the leap day itself
])
def test_age_of_leap_day_birth(today, age_max, reasons):
    person = {**PERSON, "birth_date": date(2000, 2, 29)}
    assert v.eligibility_reasons(person, {"age_max": age_max}, today) == reasons


# ---- return and verification ------------------------------------------------------

def test_check_return_claimed():
    v.check_return("claimed")


@pytest.mark.parametrize("status", ["used", "returned", "expired", "written_off", "voided"])
def test_check_return_refused(status):
    assert error_of(v.check_return, status) == ("not_returnable", 409)


@pytest.mark.parametrize("status, now, reason", [
    ("claimed", T0 - US, None),
    ("claimed", T0, "expired"),
    ("expired", T0 - timedelta(days=1), "expired"),
    ("returned", T0 - US, "returned"),
    ("used", T0 - US, "used"),
    ("written_off", T0 - US, "written_off"),
    ("voided", T0 - US, "voided"),
])
def test_verify_reason(status, now, reason):
    assert v.verify_reason(status, T0, now) == reason


def test_verify_reason_unknown_status_is_a_bug():
    with pytest.raises(ValueError):
        v.verify_reason("lost", T0, T0)


@pytest.mark.parametrize("inst_ids, inst_id, inst_region, plan_occ, expected", [
    (None, 7, "350102", "4-01-01-01", None),
    ([], 7, "350102", "4-01-01-01", None),                     # empty list = whole region
    (None, 7, "360102", "4-01-01-01", "not_allowed_institution"),
    ([7, 8], 7, "360102", "4-01-01-01", None),                 # named institutions need not be in the region
    ([8], 7, "350102", "4-01-01-01", "not_allowed_institution"),
    (None, 7, "350102", "6-01-01-01", "occupation_not_covered"),
    (None, 7, "350102", None, None),                           # no plan yet: institution only
    ([8], 7, "350102", "6-01-01-01", "not_allowed_institution"),
])
def test_usable_at(inst_ids, inst_id, inst_region, plan_occ, expected):
    assert v.usable_at(inst_ids, "3501", inst_id, inst_region, plan_occ, ["4-01-01-01"]) == expected


# ---- voucher QR tokens -------------------------------------------------------------
ISSUED = 1_780_000_000


def test_qr_token_round_trip_and_shape():
    token = v.encode_qr_token(KEY, 4_294_967_295, 12, ISSUED, nonce=b"\x01\x02\x03\x04")
    assert len(token) <= 48
    assert re.fullmatch(r"[A-Z2-7]+", token)  # QR alphanumeric mode
    assert v.decode_qr_token(KEY, token, ISSUED) == (4_294_967_295, 12, ISSUED + 60, "01020304")
    assert v.decode_qr_token(KEY, token.lower(), ISSUED)[0] == 4_294_967_295


def test_qr_tokens_differ_by_nonce():
    assert v.encode_qr_token(KEY, 1, 2, ISSUED) != v.encode_qr_token(KEY, 1, 2, ISSUED)


@pytest.mark.parametrize("now, ttl, error", [
    (ISSUED + 59, 60, None),
    (ISSUED + 60, 60, "token_expired"),
    (ISSUED + 10, 10, "token_expired"),
    (ISSUED + 9, 10, None),
])
def test_qr_token_expiry(now, ttl, error):
    token = v.encode_qr_token(KEY, 1, 2, ISSUED, ttl=ttl)
    if error is None:
        assert v.decode_qr_token(KEY, token, now)[:3] == (1, 2, ISSUED + ttl)
    else:
        assert error_of(v.decode_qr_token, KEY, token, now) == (error, 422)


def _flip(token: str, i: int) -> str:
    return token[:i] + ("A" if token[i] != "A" else "B") + token[i + 1:]


def _pad_bit_variant(token: str) -> str:
    # 28 bytes fill 44 characters and 4 bits of the 45th; its lowest bit carries no data.
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
    return token[:-1] + alphabet[alphabet.index(token[-1]) ^ 1]


GOOD = v.encode_qr_token(KEY, 1, 2, ISSUED, nonce=b"abcd")


@pytest.mark.parametrize("token", [
    "", "ABC", "!" * 45, GOOD[:-1], GOOD + "A", GOOD + "AAAAAAAA", "0" + GOOD[1:], "A=" + GOOD,
    "环" * 45, *[_flip(GOOD, i) for i in range(0, 45, 4)],
    _pad_bit_variant(GOOD),
])
def test_qr_token_malformed_or_tampered(token):
    assert error_of(v.decode_qr_token, KEY, token, ISSUED) == ("token_invalid", 422)


def test_qr_token_wrong_key_beats_expiry():
    # A forged token says "invalid", never "expired".
    assert error_of(v.decode_qr_token, b"other", GOOD, ISSUED + 3600) == ("token_invalid", 422)


def test_site_token_is_not_a_voucher_token():
    site = v.site_token(KEY, 1, ISSUED)
    assert error_of(v.decode_qr_token, KEY, site, ISSUED) == ("token_invalid", 422)


def test_encode_token_rejects_out_of_range():
    with pytest.raises(ValueError):
        v.encode_token(KEY, 1, 2**32, 0, ISSUED)
    with pytest.raises(ValueError):
        v.encode_token(KEY, 1, -1, 0, ISSUED)


# ---- site tokens -----------------------------------------------------------------
SLOT_START = 1_780_000_020  # a multiple of 30


@pytest.mark.parametrize("issued, checked, ok", [
    (SLOT_START, SLOT_START, True),
    (SLOT_START, SLOT_START + 29, True),
    (SLOT_START + 29, SLOT_START + 30, True),   # previous slot still accepted
    (SLOT_START, SLOT_START + 59, True),
    (SLOT_START, SLOT_START + 60, False),        # two slots old
    (SLOT_START + 30, SLOT_START + 29, False),   # from the future
])
def test_site_token_slots(issued, checked, ok):
    token = v.site_token(KEY, 42, issued)
    if ok:
        v.check_site_token(KEY, token, 42, checked)
    else:
        assert error_of(v.check_site_token, KEY, token, 42, checked) == ("site_token_invalid", 422)


@pytest.mark.parametrize("token", [
    v.site_token(KEY, 43, SLOT_START),                 # another lesson
    v.site_token(b"other", 42, SLOT_START),            # another key
    v.encode_qr_token(KEY, 42, SLOT_START // 30, SLOT_START),  # a voucher token
    "garbage",
])
def test_site_token_invalid(token):
    assert error_of(v.check_site_token, KEY, token, 42, SLOT_START) == ("site_token_invalid", 422)


def test_site_token_stable_within_slot_and_window():
    assert v.site_token(KEY, 42, SLOT_START) == v.site_token(KEY, 42, SLOT_START + 29)
    assert v.site_token(KEY, 42, SLOT_START) != v.site_token(KEY, 42, SLOT_START + 30)
    assert v.site_token_window(SLOT_START + 10) == (SLOT_START + 60, 20)


# ---- voucher codes -----------------------------------------------------------------

def test_voucher_code_shape_and_determinism():
    code = v.new_voucher_code(bytes(range(10)))
    assert re.fullmatch(r"([0-9A-HJKMNP-TV-Z]{4}-){4}[0-9A-HJKMNP-TV-Z]", code)
    assert code == v.new_voucher_code(bytes(range(10)) + b"ignored")
    assert v.new_voucher_code(bytes(10)) == "0000-0000-0000-0000-0"
    assert v.normalize_voucher_code(code) == code


def test_voucher_code_needs_enough_randomness():
    with pytest.raises(ValueError):
        v.new_voucher_code(b"123456789")


def test_voucher_code_typing_variants():
    code = v.new_voucher_code(bytes.fromhex("ffeeddccbbaa99887766"))
    typed = code.lower().replace("-", " ")
    assert v.normalize_voucher_code(typed) == code
    zeros = v.new_voucher_code(bytes(10))
    assert v.normalize_voucher_code("oooo-OOOO-0000-0000-0") == zeros
    ones = "1" * 16
    canonical = v.normalize_voucher_code(ones + v._check_char(ones))
    assert canonical is not None
    assert v.normalize_voucher_code("IiLl" * 4 + canonical[-1]) == canonical


def test_voucher_code_check_char_catches_every_single_substitution():
    code = v.new_voucher_code(bytes.fromhex("0123456789abcdef0123")).replace("-", "")
    for i in range(len(code)):
        for ch in v.CROCKFORD:
            if ch != code[i]:
                assert v.normalize_voucher_code(code[:i] + ch + code[i + 1:]) is None


@pytest.mark.parametrize("text", ["", "ABCD", "0000-0000-0000-0000", "0000-0000-0000-0000-00",
                                  "0000-0000-0000-0000-U", "0000-0000-0000-0001-0"])
def test_voucher_code_rejects(text):
    assert v.normalize_voucher_code(text) is None
