"""Encryption at rest (AES-GCM) and keyed blind indexes (HMAC) for personal data."""
from __future__ import annotations

import hashlib
import hmac
import json
import os

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from ..config import key_bytes

_VERSION = b"\x01"


def derive(master: bytes, purpose: str, length: int = 32) -> bytes:
    """A purpose-bound subkey, so one leaked use never unlocks another."""
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=None, info=purpose.encode()).derive(master)


class DataVault:
    """Encrypts personal fields and computes blind indexes from DATA_KEY."""

    def __init__(self, data_key: str):
        master = key_bytes(data_key)
        self._aead = AESGCM(derive(master, "pii-encryption-v1"))
        self._index_key = derive(master, "pii-blind-index-v1")
        self._token_key = derive(master, "qr-token-v1")
        self._pin_key = derive(master, "pin-hmac-v1")
        self._seal_seed = derive(master, "pin-seal-x25519-v1")

    @property
    def token_key(self) -> bytes:
        """Key for signing short-lived QR tokens."""
        return self._token_key

    @property
    def pin_key(self) -> bytes:
        """Key of the stored PIN form (HMAC), never leaves the server."""
        return self._pin_key

    @property
    def seal_seed(self) -> bytes:
        """Seed of the X25519 key kiosks seal typed PINs to (its public half is in the manifest)."""
        return self._seal_seed

    def encrypt(self, plaintext: bytes, context: str) -> bytes:
        """AES-GCM with a random nonce; `context` is bound as associated data (e.g. the column)."""
        nonce = os.urandom(12)
        return _VERSION + nonce + self._aead.encrypt(nonce, plaintext, context.encode())

    def decrypt(self, blob: bytes, context: str) -> bytes:
        """Reverse of encrypt; raises if the blob was altered or moved to another column."""
        if not blob or blob[:1] != _VERSION:
            raise ValueError("unknown ciphertext version")
        return self._aead.decrypt(blob[1:13], blob[13:], context.encode())

    def encrypt_text(self, text: str, context: str) -> bytes:
        """Encrypt a string."""
        return self.encrypt(text.encode(), context)

    def decrypt_text(self, blob: bytes, context: str) -> str:
        """Decrypt a string."""
        return self.decrypt(blob, context).decode()

    def encrypt_json(self, value, context: str) -> bytes:
        """Encrypt a JSON-serialisable value (face templates)."""
        return self.encrypt(json.dumps(value, separators=(",", ":")).encode(), context)

    def decrypt_json(self, blob: bytes, context: str):
        """Decrypt a JSON value."""
        return json.loads(self.decrypt(blob, context))

    def blind_index(self, value: str, kind: str = "id_number") -> str:
        """Keyed HMAC for equality lookups; unkeyed hashes of an enumerable ID space are reversible."""
        return hmac.new(self._index_key, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()


def vault():
    """The app's DataVault."""
    from flask import current_app
    return current_app.extensions["data_vault"]
