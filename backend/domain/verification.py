"""One-time SMS codes for real-name binding: format, lifetime, tries, resend window and daily cap.

Plain rules with `now` passed in; the service stores only a keyed hash of each code.
"""
from __future__ import annotations

import math
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta

from .errors import AppError, invalid

CODE_LENGTH = 6
DAY = timedelta(days=1)


@dataclass(frozen=True)
class CodeRules:
    """The numbers of the code rule (API.md: valid 10 min, 5 tries; one new code a minute)."""

    ttl_s: int = 600
    max_attempts: int = 5
    resend_s: int = 60
    daily_cap: int = 10

    @classmethod
    def from_config(cls, cfg) -> CodeRules:
        """Read the SMS_CODE_* settings."""
        return cls(ttl_s=int(cfg["SMS_CODE_TTL_S"]), max_attempts=int(cfg["SMS_CODE_MAX_ATTEMPTS"]),
                   resend_s=int(cfg["SMS_RESEND_S"]), daily_cap=int(cfg["SMS_DAILY_CAP"]))


def new_code() -> str:
    """A fresh random 6-digit code (leading zeros kept)."""
    return f"{secrets.randbelow(10 ** CODE_LENGTH):0{CODE_LENGTH}d}"


def normalize_code(raw) -> str:
    """The code as 6 ASCII digits (full-width digits and spaces allowed), else 422 validation_error."""
    if not isinstance(raw, str):
        raise invalid("validation_error", fields={"sms_code": ["must be a string of 6 digits"]})
    code = unicodedata.normalize("NFKC", raw).replace(" ", "")
    if len(code) != CODE_LENGTH or not all("0" <= c <= "9" for c in code):
        raise invalid("validation_error", fields={"sms_code": ["must be 6 digits"]})
    return code


def code_message(code: str, ttl_s: int) -> str:
    """The SMS text a trainee receives (Simplified Chinese)."""
    minutes = max(1, ttl_s // 60)
    return (f"【职业技能培训券】您正在进行实名认证，验证码 {code}，{minutes}分钟内有效。"
            "如非本人操作，请勿将验证码告诉他人，并联系当地人社部门。")


def expires_at(sent_at: datetime, rules: CodeRules) -> datetime:
    """When a code sent at `sent_at` stops working."""
    return sent_at + timedelta(seconds=rules.ttl_s)


def code_state(expires: datetime, attempts: int, used_at: datetime | None, rules: CodeRules,
               now: datetime) -> str:
    """'live', or why the code no longer works: 'used', 'expired', 'too_many_attempts'."""
    if used_at is not None:
        return "used"
    if attempts >= rules.max_attempts:
        return "too_many_attempts"
    if now >= expires:
        return "expired"
    return "live"


def resend_wait_s(last_sent_at: datetime | None, rules: CodeRules, now: datetime) -> int:
    """Seconds before the person may get a new code (0 = now)."""
    if last_sent_at is None:
        return 0
    left = (last_sent_at + timedelta(seconds=rules.resend_s) - now).total_seconds()
    return max(0, math.ceil(left))


def check_daily_cap(sent_in_last_day: list[datetime], rules: CodeRules, now: datetime) -> None:
    """429 rate_limited when the last 24 hours already hold the daily number of codes."""
    if len(sent_in_last_day) < rules.daily_cap:
        return
    oldest = sorted(sent_in_last_day)[-rules.daily_cap]
    retry = max(1, math.ceil((oldest + DAY - now).total_seconds()))
    raise AppError("rate_limited", 429, {"reason": "sms_daily_cap", "retry_after_s": retry},
                   headers={"Retry-After": str(retry)})


def verification_details(phone_masked: str, rules: CodeRules, code_sent: bool, resend_after_s: int) -> dict:
    """`details` of 409 verification_required: how to verify, where the code went, when to ask again."""
    out = {"method": "sms", "phone_masked": phone_masked, "code_sent": code_sent,
           "resend_after_s": resend_after_s, "code_length": CODE_LENGTH}
    if code_sent:
        out["expires_in_s"] = rules.ttl_s
    return out
