"""Certificate numbers: region + year + sequence + an ISO 7064 MOD 11-2 check character."""
from __future__ import annotations

import re

from backend.domain.errors import invalid

SEQUENCE_DIGITS = 6
_SHAPE = re.compile(r"[0-9]{16}[0-9X]")


def check_char(digits: str) -> str:
    """ISO 7064 MOD 11-2 check character ('0'-'9' or 'X') of a digit string (as GB 11643 ID numbers use)."""
    if not digits.isdigit() or not digits.isascii():
        raise ValueError("digits only")
    p = 0
    for ch in digits:
        p = (p + int(ch)) * 2 % 11
    value = (12 - p) % 11
    return "X" if value == 10 else str(value)


def certificate_prefix(region_code: str, year: int) -> str:
    """The first 10 characters shared by a region's certificates of one year."""
    if len(region_code) != 6 or not region_code.isdigit():
        raise ValueError("region_code must be 6 digits")
    if not 1000 <= year <= 9999:
        raise ValueError("year must have 4 digits")
    return f"{region_code}{year}"


def certificate_number(region_code: str, year: int, sequence: int) -> str:
    """The 17-character number: 6-digit region, 4-digit year, 6-digit sequence (from 1), check char."""
    if not 1 <= sequence < 10 ** SEQUENCE_DIGITS:
        raise ValueError("sequence out of range")
    body = certificate_prefix(region_code, year) + f"{sequence:0{SEQUENCE_DIGITS}d}"
    return body + check_char(body)


def sequence_of(number: str) -> int:
    """The sequence part of a well-formed number."""
    return int(number[10:16])


def normalize_certificate_number(text: str) -> str | None:
    """Canonical form of a typed number (spaces, hyphens, lower-case x allowed), or None if malformed."""
    chars = "".join((text or "").split()).replace("-", "").upper()
    if not _SHAPE.fullmatch(chars) or check_char(chars[:16]) != chars[16]:
        return None
    return chars


def validate_certificate_number(text: str) -> str:
    """The canonical number, or 422 invalid_certificate_number."""
    number = normalize_certificate_number(text)
    if number is None:
        raise invalid("invalid_certificate_number")
    return number
