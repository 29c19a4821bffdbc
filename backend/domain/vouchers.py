"""Voucher rules: status, claiming, eligibility, verification, signed QR tokens and voucher codes."""
from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import struct
from datetime import date, datetime

from backend.domain.errors import AppError, conflict, invalid

CLAIMED = "claimed"
USED = "used"
RETURNED = "returned"
EXPIRED = "expired"
WRITTEN_OFF = "written_off"
VOIDED = "voided"
STATES = (CLAIMED, USED, RETURNED, EXPIRED, WRITTEN_OFF, VOIDED)


def effective_status(status: str, expires_at: datetime, now: datetime) -> str:
    """The status as seen now: an unused voucher past expiry reads as expired before any job marks it."""
    if status == CLAIMED and now >= expires_at:
        return EXPIRED
    return status


def check_claim(batch_status: str, claim_starts_at: datetime, claim_ends_at: datetime,
                now: datetime) -> None:
    """Raise 409 claim_window_closed unless the batch is published and now is in [start, end)."""
    if batch_status != "published" or not claim_starts_at <= now < claim_ends_at:
        raise conflict("claim_window_closed")


def _age_on(birth: date, today: date) -> int:
    # Someone born on 29 February turns a year older on 1 March in common years.
    return today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))


def eligibility_reasons(person: dict, batch_rules: dict, today: date) -> list[str]:
    """Reasons the person may not claim from the batch (empty = eligible); a None or empty rule is no limit.

    person: groups (set), birth_date, household_region, id_number.
    batch_rules: groups, age_min, age_max (inclusive), household_regions (code prefixes),
    directed (ID numbers).
    """
    reasons = []
    groups = batch_rules.get("groups")
    if groups and not set(groups) & set(person.get("groups") or ()):
        reasons.append("group")
    age_min, age_max = batch_rules.get("age_min"), batch_rules.get("age_max")
    if age_min is not None or age_max is not None:
        birth = person.get("birth_date")
        age = _age_on(birth, today) if birth else None
        if (age is None or (age_min is not None and age < age_min)
                or (age_max is not None and age > age_max)):
            reasons.append("age")
    regions = batch_rules.get("household_regions")
    if regions:
        home = person.get("household_region") or ""
        if not any(home.startswith(prefix) for prefix in regions):
            reasons.append("household_region")
    directed = batch_rules.get("directed")
    if directed:
        # The check digit X is typed in either case.
        wanted = {str(n).upper() for n in directed}
        if str(person.get("id_number") or "").upper() not in wanted:
            reasons.append("not_directed")
    return reasons


def check_return(status: str) -> None:
    """Raise 409 not_returnable unless claimed; pass effective_status() so expired ones are refused."""
    if status != CLAIMED:
        raise conflict("not_returnable", status=status)


def verify_reason(status: str, expires_at: datetime, now: datetime) -> str | None:
    """Why a voucher fails to verify (expired, returned, used, written_off, voided); None when valid."""
    current = effective_status(status, expires_at, now)
    if current == CLAIMED:
        return None
    if current not in STATES:
        raise ValueError(f"unknown voucher status {status!r}")
    return current


def covers_occupation(batch_occupations, occupation: str) -> bool:
    """Whether a batch's vouchers pay for training in this occupation (its list of codes; none: no occupation)."""
    return occupation in set(batch_occupations or ())


def usable_at(batch_institution_ids, batch_region: str, institution_id: int, institution_region: str,
              plan_occupation: str | None, batch_occupations) -> str | None:
    """Why the voucher cannot be used here ("not_allowed_institution", "occupation_not_covered"), or None.

    With no institution list, any institution in the batch's region qualifies.
    """
    if batch_institution_ids:
        if institution_id not in set(batch_institution_ids):
            return "not_allowed_institution"
    elif not (institution_region or "").startswith(batch_region):
        return "not_allowed_institution"
    # No plan yet (e.g. verifying at the desk): only the institution can be judged.
    if plan_occupation is not None and not covers_occupation(batch_occupations, plan_occupation):
        return "occupation_not_covered"
    return None


# ---- signed compact tokens ----------------------------------------------------
# Layout: version u8 | purpose u8 | a u32 | b u32 | expires u32 | nonce 4 bytes | HMAC-SHA256[:10].
# 28 bytes → 45 base32 characters (A–Z, 2–7): all in the QR alphanumeric set, so the QR stays small.
TOKEN_VERSION = 1
PURPOSE_VOUCHER = 1
PURPOSE_SITE = 2
_BODY = struct.Struct(">BBIII4s")
_MAC_LEN = 10
_TOKEN_BYTES = _BODY.size + _MAC_LEN
_UINT32_MAX = 2**32 - 1


def _mac(key: bytes, body: bytes) -> bytes:
    return hmac.new(key, body, hashlib.sha256).digest()[:_MAC_LEN]


def encode_token(key: bytes, purpose: int, a: int, b: int, expires: int, nonce: bytes | None = None) -> str:
    """Sign (purpose, a, b, expires unix) into a short base32 token; the nonce is random unless given."""
    if not all(0 <= v <= _UINT32_MAX for v in (a, b, expires)):
        raise ValueError("token fields must fit in uint32")
    nonce = secrets.token_bytes(4) if nonce is None else nonce
    if len(nonce) != 4:
        raise ValueError("nonce must be 4 bytes")
    body = _BODY.pack(TOKEN_VERSION, purpose, a, b, expires, nonce)
    return base64.b32encode(body + _mac(key, body)).decode("ascii").rstrip("=")


def decode_token(key: bytes, token: str, purpose: int, now_unix: int) -> tuple[int, int, int, str]:
    """Verify a token, return (a, b, expires, nonce_hex); 422 token_invalid, or token_expired from expiry."""
    try:
        raw = base64.b32decode(token + "=" * (-len(token) % 8), casefold=True)
    except (ValueError, TypeError):
        raise invalid("token_invalid") from None
    # The re-encoding check refuses variants that differ only in the unused low bits of the last character.
    if len(raw) != _TOKEN_BYTES or base64.b32encode(raw).decode("ascii").rstrip("=") != token.upper():
        raise invalid("token_invalid")
    body, mac = raw[:_BODY.size], raw[_BODY.size:]
    # Check the MAC before reading any field, so forged tokens learn nothing (not even "expired").
    if not hmac.compare_digest(mac, _mac(key, body)):
        raise invalid("token_invalid")
    version, got_purpose, a, b, expires, nonce = _BODY.unpack(body)
    if version != TOKEN_VERSION or got_purpose != purpose:
        raise invalid("token_invalid")
    if now_unix >= expires:
        raise invalid("token_expired")
    return a, b, expires, nonce.hex()


def encode_qr_token(key: bytes, voucher_id: int, person_id: int, issued_at: int, ttl: int = 60,
                    nonce: bytes | None = None) -> str:
    """A voucher QR token naming the voucher and its holder, valid for ttl seconds from issued_at."""
    return encode_token(key, PURPOSE_VOUCHER, voucher_id, person_id, issued_at + ttl, nonce)


def decode_qr_token(key: bytes, token: str, now_unix: int) -> tuple[int, int, int, str]:
    """Verify a voucher QR token; return (voucher_id, person_id, expires_at, nonce_hex for replay checks)."""
    return decode_token(key, token, PURPOSE_VOUCHER, now_unix)


def site_token_window(now_unix: int, period: int = 30) -> tuple[int, int]:
    """(expires_at, refresh_after_s) for the site token issued now: accepted through the next slot."""
    slot = now_unix // period
    return (slot + 2) * period, (slot + 1) * period - now_unix


def site_token(key: bytes, lesson_id: int, now_unix: int, period: int = 30) -> str:
    """The rotating site QR token of a lesson for the current time slot."""
    slot = now_unix // period
    expires, _ = site_token_window(now_unix, period)
    # A fixed nonce: freshness comes from the slot, and every screen then shows the same code per slot.
    return encode_token(key, PURPOSE_SITE, lesson_id, slot, expires, nonce=bytes(4))


def check_site_token(key: bytes, token: str, lesson_id: int, now_unix: int, period: int = 30) -> None:
    """Raise 422 site_token_invalid unless the token is this lesson's, from the current or previous slot."""
    try:
        got_lesson, slot, _, _ = decode_token(key, token, PURPOSE_SITE, now_unix)
    except AppError:
        raise invalid("site_token_invalid") from None
    current = now_unix // period
    if got_lesson != lesson_id or slot not in (current, current - 1):
        raise invalid("site_token_invalid")


# ---- voucher codes --------------------------------------------------------------
# 16 Crockford base32 characters (80 random bits) plus one Luhn mod 32 check character, shown as
# XXXX-XXXX-XXXX-XXXX-C. Crockford drops I, L, O and U, so a typed code has no look-alike letters;
# the check character catches every single-character typo and most adjacent swaps.
CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_CODE_DATA_CHARS = 16
_TYPO_MAP = str.maketrans({"I": "1", "L": "1", "O": "0"})


def _luhn_sum(chars: str, first_factor: int) -> int:
    total, factor = 0, first_factor
    for ch in reversed(chars):
        addend = factor * CROCKFORD.index(ch)
        total += addend // 32 + addend % 32
        factor = 3 - factor  # alternate 2, 1, 2, ...
    return total


def _check_char(data: str) -> str:
    return CROCKFORD[-_luhn_sum(data, 2) % 32]


def _group(chars: str) -> str:
    return "-".join(chars[i:i + 4] for i in range(0, len(chars), 4))


def new_voucher_code(rng_bytes: bytes) -> str:
    """A new voucher code from ≥ 10 random bytes (pass secrets.token_bytes(10)), e.g. 'AB3D-...-XYZ7-K'."""
    if len(rng_bytes) < 10:
        raise ValueError("need at least 10 random bytes")
    value = int.from_bytes(rng_bytes[:10], "big")
    data = "".join(CROCKFORD[(value >> (5 * i)) & 31] for i in reversed(range(_CODE_DATA_CHARS)))
    return _group(data + _check_char(data))


def normalize_voucher_code(text: str) -> str | None:
    """Canonical form of a typed code (any case, spaces/hyphens, I/L/O typos), or None if not a valid code."""
    chars = "".join(text.upper().split()).replace("-", "").translate(_TYPO_MAP)
    if len(chars) != _CODE_DATA_CHARS + 1 or any(c not in CROCKFORD for c in chars):
        return None
    if _luhn_sum(chars, 1) % 32 != 0:
        return None
    return _group(chars)
