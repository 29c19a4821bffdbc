"""How a kiosk manifest names a social-security card without revealing the ID number on it.

card_key = scrypt(ID number, salt = the site's random salt): a kiosk that reads an ID number off a card
derives the same key (one scrypt, ~40 ms) and finds the person in its manifest. ID numbers have little
entropy (region × birth date × sequence: about 2·10^7 per region), so a fast keyed hash lets anyone with
a stolen kiosk secret and a manifest enumerate them in seconds; a memory-hard hash with these costs
makes the same search take core-days per region, and the per-site salt makes every site a new search.
Pure functions: the server (services/card_keys.py, cached per site and person) and the kiosk share them.
"""
from __future__ import annotations

import hashlib
import os

SALT_BYTES = 16
# scrypt N=2^14, r=8 (16 MiB of memory per hash, ~40 ms on one core), p=1: cheap once per card tap,
# dear for a search over millions of candidates, and the memory makes GPU search much less effective.
SCRYPT_N = 2 ** 14
SCRYPT_R = 8
SCRYPT_P = 1
KEY_BYTES = 32
_MAXMEM = 64 * 1024 * 1024


def new_site_salt() -> bytes:
    """A fresh random salt for a site's card keys."""
    return os.urandom(SALT_BYTES)


def normalize(id_number: str) -> str:
    """The form both sides hash: trimmed, upper-case X check digit."""
    return id_number.strip().upper()


def card_key(site_salt: bytes, id_number: str) -> str:
    """64 hex characters: scrypt of the ID number under the site's salt."""
    if not isinstance(site_salt, bytes | bytearray) or len(site_salt) < SALT_BYTES:
        raise ValueError("a site salt of at least 16 bytes is required")
    return hashlib.scrypt(normalize(id_number).encode("utf-8"), salt=bytes(site_salt), n=SCRYPT_N, r=SCRYPT_R,
                          p=SCRYPT_P, dklen=KEY_BYTES, maxmem=_MAXMEM).hex()
