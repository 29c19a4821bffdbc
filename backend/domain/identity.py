"""Chinese identifiers: person names, resident ID numbers, social credit codes, mobile numbers, region codes, masks."""
from __future__ import annotations

import re
import unicodedata
from datetime import date

from backend.domain.errors import AppError, invalid

# GB/T 2260 provincial-level codes (first two digits of every region code and ID number).
PROVINCES: dict[str, str] = {
    "11": "北京", "12": "天津", "13": "河北", "14": "山西", "15": "内蒙古",
    "21": "辽宁", "22": "吉林", "23": "黑龙江",
    "31": "上海", "32": "江苏", "33": "浙江", "34": "安徽", "35": "福建", "36": "江西", "37": "山东",
    "41": "河南", "42": "湖北", "43": "湖南", "44": "广东", "45": "广西", "46": "海南",
    "50": "重庆", "51": "四川", "52": "贵州", "53": "云南", "54": "西藏",
    "61": "陕西", "62": "甘肃", "63": "青海", "64": "宁夏", "65": "新疆",
    "71": "台湾", "81": "香港", "82": "澳门",
}

# ---- person names ----------------------------------------------------------------------------

NAME_MAX_LENGTH = 50
# Han characters (basic block, extension A, compatibility ideographs, extensions B-G where rare name
# characters live, and 〇) and Latin letters with their accented forms (foreign permanent residents).
_HAN = "\u3007\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f"
_LATIN = "A-Za-z\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f"
_LETTERS = f"[{_HAN}{_LATIN}]+"
# Runs of letters joined by one separator: the middle dot of ethnic-minority names (买买提·艾力), a
# space, a hyphen or an apostrophe (Latin names); a full stop may close an initial ("J. SMITH"). So a
# name starts with a letter: never with = + - @ (a formula in a spreadsheet), a blank or a control.
_NAME = re.compile(rf"{_LETTERS}(?:(?:[ ·'\-]|\. ?){_LETTERS})*\.?")
# What people type for the middle dot: bullet, hyphenation point, bullet operator, dot operator,
# katakana middle dot (NFKC folds the half-width one into it), black circle.
_MIDDLE_DOTS = str.maketrans(dict.fromkeys("\u2022\u2027\u2219\u22c5\u30fb\u25cf", "\u00b7"))
_BLANKS = re.compile(r"[ \t]+")  # inside a name; a line break there is refused, not folded


def normalize_name(s: str) -> str:
    """Trimmed, full-width letters and blanks folded (NFKC), middle-dot look-alikes as '·', blank runs as one space."""
    return _BLANKS.sub(" ", unicodedata.normalize("NFKC", s).translate(_MIDDLE_DOTS).strip())


def validate_name(s, field: str = "name") -> str:
    """Return the normalised name, or raise 422 invalid_name (reason: required / too_long / characters)."""
    if not isinstance(s, str):
        raise invalid("invalid_name", field=field, reason="characters")
    name = normalize_name(s)
    if not name:
        raise invalid("invalid_name", field=field, reason="required")
    if len(name) > NAME_MAX_LENGTH:
        raise invalid("invalid_name", field=field, reason="too_long", max_length=NAME_MAX_LENGTH)
    if not _NAME.fullmatch(name):
        raise invalid("invalid_name", field=field, reason="characters")
    return name


# ---- resident ID number (GB 11643-1999) -------------------------------------------------------

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
_ID_SHAPE = re.compile(r"[0-9]{17}[0-9X]")
_EARLIEST_BIRTH = date(1900, 1, 1)


def _nfkc(s: str) -> str:
    # Chinese IMEs often produce full-width digits and letters ("３５０１…Ｘ"); NFKC folds them to ASCII.
    return unicodedata.normalize("NFKC", s).strip()


def id_check_digit(first17: str) -> str:
    """The GB 11643 check character for the first 17 digits of an ID number."""
    total = sum(int(c) * w for c, w in zip(first17, _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11]


def normalize_id_number(s: str) -> str:
    """Strip blanks, fold full-width characters and upper-case a trailing x."""
    return _nfkc(s).upper()


def _bad_id(reason: str):
    return invalid("invalid_id_number", field="id_number", reason=reason)


def _parse_birth(id_number: str) -> date:
    try:
        return date(int(id_number[6:10]), int(id_number[10:12]), int(id_number[12:14]))
    except ValueError:
        raise _bad_id("birth_date") from None


def validate_id_number(s: str, today: date) -> str:
    """Return the normalized 18-character ID number, or raise invalid_id_number with a reason."""
    if not isinstance(s, str):
        raise _bad_id("format")
    number = normalize_id_number(s)
    if len(number) != 18:
        raise _bad_id("length")  # 15-digit first-generation numbers are out of service
    if not _ID_SHAPE.fullmatch(number):
        raise _bad_id("format")
    if id_check_digit(number[:17]) != number[17]:
        raise _bad_id("check_digit")
    if number[:2] not in PROVINCES:
        raise _bad_id("region")
    born = _parse_birth(number)
    if born < _EARLIEST_BIRTH or born > today:
        raise _bad_id("birth_date")
    return number


def birth_date(id_number: str) -> date:
    """Birth date encoded in a (validated) ID number."""
    return _parse_birth(id_number)


def gender(id_number: str) -> str:
    """'male' when the 17th digit (sequence code) is odd, else 'female'."""
    return "male" if int(id_number[16]) % 2 else "female"


def household_region(id_number: str) -> str:
    """The 6-digit region code of the household registration at issue time."""
    return id_number[:6]


def province_code(id_number: str) -> str:
    """The 2-digit province code of an ID number or region code."""
    return id_number[:2]


def province_name(code: str) -> str | None:
    """Short Chinese name of the province a region code (2+ digits) belongs to; None if unknown."""
    return PROVINCES.get((code or "")[:2])


def age_on(id_or_birth: str | date, on: date) -> int:
    """Full years of age on `on`; a 29 February birthday counts as reached on 1 March in common years."""
    born = id_or_birth if isinstance(id_or_birth, date) else birth_date(id_or_birth)
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


# ---- masks ---------------------------------------------------------------------------------

# Compound surnames stay visible so "欧阳娜娜" reads "欧阳**", not "欧***".
_COMPOUND_SURNAMES = frozenset(
    "欧阳 司马 上官 诸葛 东方 皇甫 尉迟 公孙 慕容 长孙 宇文 司徒 令狐 夏侯 轩辕 端木 独孤 南宫 西门 "
    "百里 呼延 万俟 澹台 公冶 太史 申屠 闻人 钟离 赫连 濮阳 淳于 单于 鲜于 闾丘 拓跋 完颜".split()
)


def _keep_ends(s: str, head: int, tail: int) -> str:
    # Anything too short to keep both ends is masked entirely: a mask must never leak a whole value.
    if len(s) <= head + tail:
        return "*" * len(s)
    return s[:head] + "*" * (len(s) - head - tail) + s[len(s) - tail:]


def mask_id_number(id_number: str) -> str:
    """First 4 and last 4 characters visible, e.g. '3501**********123X'."""
    return _keep_ends(normalize_id_number(id_number or ""), 4, 4)


def mask_name(name: str) -> str:
    """Keep the surname (first character, or a compound surname) and star the rest: '张*', '欧阳**'."""
    name = (name or "").strip()
    if len(name) <= 1:
        return "*" * len(name)
    keep = 2 if len(name) > 2 and name[:2] in _COMPOUND_SURNAMES else 1
    return name[:keep] + "*" * (len(name) - keep)


def mask_phone(phone: str) -> str:
    """First 3 and last 4 digits visible, e.g. '138****1234'."""
    try:
        phone = validate_phone(phone)
    except AppError:  # an odd stored value still gets masked, never echoed
        phone = _nfkc(phone or "")
    return _keep_ends(phone, 3, 4)


# ---- mainland mobile number ----------------------------------------------------------------

_PHONE_SEPARATORS = re.compile(r"[\s\-]")
_MOBILE = re.compile(r"1[3-9][0-9]{9}")


def validate_phone(s: str) -> str:
    """Return the 11-digit mainland mobile number, accepting +86/86 prefixes, spaces and hyphens."""
    if not isinstance(s, str):
        raise invalid("invalid_phone", field="phone")
    digits = _PHONE_SEPARATORS.sub("", _nfkc(s))
    if digits.startswith("+86"):
        digits = digits[3:]
    elif digits.startswith("86") and len(digits) == 13:
        digits = digits[2:]
    if not _MOBILE.fullmatch(digits):
        raise invalid("invalid_phone", field="phone")
    return digits


# ---- unified social credit code (GB 32100-2015) --------------------------------------------

CREDIT_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # no I, O, S, V, Z
_CREDIT_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
# The registration authorities listed in GB 32100-2015 itself: 机构编制, 民政, 工商, 其他.
CREDIT_AUTHORITIES = frozenset("159Y")
_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)


def credit_check_char(first17: str) -> str:
    """The GB 32100 check character (18th) for the first 17 characters."""
    total = sum(CREDIT_ALPHABET.index(c) * w for c, w in zip(first17, _CREDIT_WEIGHTS, strict=True))
    return CREDIT_ALPHABET[-total % 31]


def org_check_char(first8: str) -> str:
    """The GB 11714 check character (9th) of an organisation code; letters count 10 (A) to 35 (Z)."""
    total = sum(int(c, 36) * w for c, w in zip(first8, _ORG_WEIGHTS, strict=True))
    value = 11 - total % 11
    return {10: "X", 11: "0"}.get(value, str(value))


def _bad_credit(reason: str):
    return invalid("invalid_credit_code", field="credit_code", reason=reason)


def validate_credit_code(s: str) -> str:
    """Return the normalized 18-character credit code, or raise invalid_credit_code with a reason."""
    if not isinstance(s, str):
        raise _bad_credit("format")
    code = _nfkc(s).upper()
    if len(code) != 18:
        raise _bad_credit("length")
    if any(c not in CREDIT_ALPHABET for c in code):
        raise _bad_credit("format")
    if code[0] not in CREDIT_AUTHORITIES:
        raise _bad_credit("registration_authority")
    # Only digits are checked, not the province: central registrations use 100000.
    if not code[2:8].isdigit():
        raise _bad_credit("region")
    if org_check_char(code[8:16]) != code[16]:
        raise _bad_credit("org_code_check")
    if credit_check_char(code[:17]) != code[17]:
        raise _bad_credit("check_char")
    return code


# ---- region codes (GB/T 2260) --------------------------------------------------------------

_REGION_SHAPE = re.compile(r"[0-9]{2}|[0-9]{4}|[0-9]{6}")


def validate_region_code(s: str) -> str:
    """Return a 2-, 4- or 6-digit region code (or scope prefix) under a known province."""
    code = _nfkc(s) if isinstance(s, str) else ""
    if not _REGION_SHAPE.fullmatch(code):
        raise invalid("invalid_region_code", field="region_code", reason="format")
    if code[:2] not in PROVINCES:
        raise invalid("invalid_region_code", field="region_code", reason="region")
    return code


def region_prefix(code: str) -> str:
    """Drop trailing '00' pairs: '350100' (Fuzhou city) scopes like '3501', '350000' like '35'."""
    while len(code) > 2 and code.endswith("00"):
        code = code[:-2]
    return code


def region_in_scope(region_code: str | None, scope_prefix: str | None) -> bool:
    """Whether a region falls under a supervisor's scope; scope None (admin) covers everything."""
    if scope_prefix is None:
        return True
    if not region_code:
        return False
    return region_code.startswith(region_prefix(scope_prefix))
