"""Staff password rules: what a new password must be (length, variety, not the username or the old one)."""
from __future__ import annotations

from backend.domain.errors import invalid

MIN_LENGTH = 10          # as POST /users asks of a new account
MAX_LENGTH = 256
MIN_CLASSES = 2          # of: lower-case letters, upper-case letters, digits, other characters
# A few passwords that pass the length and variety checks and are still the first ones tried.
COMMON = frozenset({"password123", "password1234", "qwerty123456", "1234567890a", "a1234567890",
                    "abc123456789", "admin123456", "p@ssw0rd123", "woaini1314520", "qwertyuiop123"})


def _classes(password: str) -> int:
    kinds = (any(c.islower() for c in password), any(c.isupper() for c in password),
             any(c.isdigit() for c in password), any(not c.isalnum() for c in password))
    return sum(kinds)


def check_new_password(new: str, username: str, old: str) -> None:
    """Raise 422 weak_password (details.field new_password, reason) unless `new` is acceptable."""
    def weak(reason: str, **more):
        return invalid("weak_password", field="new_password", reason=reason, **more)

    if len(new) < MIN_LENGTH:
        raise weak("too_short", min_length=MIN_LENGTH)
    if len(new) > MAX_LENGTH:
        raise weak("too_long", max_length=MAX_LENGTH)
    if new == old:
        raise weak("same_as_old")
    if username and username.lower() in new.lower():
        raise weak("contains_username")
    if len(set(new)) < 4:
        raise weak("too_repetitive")
    if _classes(new) < MIN_CLASSES:
        raise weak("too_simple", min_classes=MIN_CLASSES)
    if new.lower() in COMMON:
        raise weak("too_common")
