"""Local copy of each day's manifest, so identification works while the network is down.

The manifest holds names, card keys and face templates, so it is stored encrypted: AES-256-GCM
under a key derived from the device secret with HKDF-SHA256. The date and device id are the
associated data, so a blob cannot be replayed as another day's manifest. A cache that no longer
decrypts (secret rotated, file tampered) reads as missing.
"""
from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from kiosk.core.manifest import Manifest
from kiosk.outbox import connect

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS manifest_cache (
    day TEXT PRIMARY KEY,
    fetched_at TEXT NOT NULL,
    nonce BLOB NOT NULL,
    ciphertext BLOB NOT NULL
);
"""
_HKDF_INFO = b"peixunquan kiosk manifest cache v1"


def derive_key(device_secret: bytes | str) -> bytes:
    """The 256-bit cache key for a device secret."""
    secret = device_secret.encode("utf-8") if isinstance(device_secret, str) else device_secret
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_HKDF_INFO).derive(secret)


def _utc_now() -> datetime:
    return datetime.now(UTC)


class ManifestCache:
    """Encrypted day -> manifest store in the kiosk database."""

    def __init__(self, path: str | Path, device_id: str, device_secret: bytes | str,
                 clock: Callable[[], datetime] = _utc_now):
        self._conn = connect(path)
        self._lock = threading.Lock()
        self._aead = AESGCM(derive_key(device_secret))
        self._device_id = str(device_id)
        self._clock = clock
        with self._lock:
            self._conn.executescript(_SCHEMA)

    def _aad(self, day: date) -> bytes:
        return f"{self._device_id}|{day.isoformat()}".encode()

    def store(self, day: date, manifest: dict) -> None:
        """Encrypt and keep the manifest for `day`, replacing an older copy."""
        nonce = os.urandom(12)  # random 96-bit nonces: fine for the few writes a kiosk makes
        plaintext = json.dumps(manifest, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        ciphertext = self._aead.encrypt(nonce, plaintext, self._aad(day))
        with self._lock:
            self._conn.execute(
                "INSERT OR REPLACE INTO manifest_cache (day, fetched_at, nonce, ciphertext) VALUES (?, ?, ?, ?)",
                (day.isoformat(), self._clock().astimezone(UTC).isoformat(), nonce, ciphertext))

    def load(self, day: date) -> tuple[dict, datetime] | None:
        """(manifest, fetched_at) for `day`, or None if absent or unreadable."""
        with self._lock:
            row = self._conn.execute(
                "SELECT fetched_at, nonce, ciphertext FROM manifest_cache WHERE day = ?",
                (day.isoformat(),)).fetchone()
        if row is None:
            return None
        try:
            plaintext = self._aead.decrypt(row[1], row[2], self._aad(day))
        except InvalidTag:
            log.warning("cached manifest for %s does not decrypt (secret changed?); ignoring it", day)
            return None
        return json.loads(plaintext), datetime.fromisoformat(row[0])

    def prune(self, keep_from: date) -> int:
        """Delete manifests for days before `keep_from` (old rosters and faces should not linger)."""
        with self._lock:
            cur = self._conn.execute("DELETE FROM manifest_cache WHERE day < ?", (keep_from.isoformat(),))
        return cur.rowcount

    def close(self) -> None:
        """Close the database connection."""
        with self._lock:
            self._conn.close()


class ManifestProvider:
    """Today's parsed Manifest for the controller: kept in memory, reloaded from the cache on a new day."""

    def __init__(self, cache: ManifestCache, clock: Callable[[], datetime], day_of: Callable[[datetime], date]):
        self._cache = cache
        self._clock = clock
        self._day_of = day_of
        self._lock = threading.Lock()
        self._current: Manifest | None = None

    def update(self, day: date, data: dict) -> None:
        """Use a freshly downloaded manifest (the Syncer's on_manifest hook)."""
        manifest = Manifest.from_dict(data, day)
        with self._lock:
            self._current = manifest

    def __call__(self) -> Manifest | None:
        """The manifest for today, or None if it was never downloaded."""
        today = self._day_of(self._clock())
        with self._lock:
            if self._current is not None and self._current.day == today:
                return self._current
        loaded = self._cache.load(today)
        if loaded is None:
            return None
        manifest = Manifest.from_dict(loaded[0], today)
        with self._lock:
            self._current = manifest
        return manifest
