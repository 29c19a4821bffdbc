"""A PIN typed at a kiosk travels sealed to the server, which alone can check it.

Kiosk manifests used to carry each person's PIN hash so the kiosk could check PINs offline; a stolen
manifest was then an offline oracle (10^6 six-digit PINs, hours of search). Now the manifest carries
only the server's public key: the kiosk seals the typed PIN to it (X25519 key agreement with a fresh
key pair, HKDF-SHA256, ChaCha20-Poly1305) and sends the sealed PIN with the event, or first to
POST /device/pin-check when on line. The associated data binds a sealed PIN to one device, event and
person, so it cannot be replayed onto another event. The server verifies with a failure count and a
lock (services/pins.py). Offline, the kiosk still records card + PIN; the check happens on upload.
"""
from __future__ import annotations

import base64
import binascii
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_INFO = b"peixunquan-pin-seal-v1"
_PUB = 32
_NONCE = 12
MAX_SEALED_CHARS = 256


class SealError(ValueError):
    """A sealed PIN that cannot be opened (malformed, altered, or bound to another event)."""


def _raw(public_key: X25519PublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _key(shared: bytes, ephemeral_pub: bytes, recipient_pub: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=ephemeral_pub + recipient_pub, info=_INFO).derive(shared)


def binding(device_id: object, event_id: str, person_id: object) -> bytes:
    """The associated data a sealed PIN is bound to."""
    return f"{device_id}:{event_id}:{person_id}".encode()


def private_key(seed: bytes) -> X25519PrivateKey:
    """The server's sealing key from 32 secret bytes (derived from DATA_KEY)."""
    return X25519PrivateKey.from_private_bytes(seed[:32])


def public_key_b64(key: X25519PrivateKey) -> str:
    """The public half as base64 (what the manifest carries)."""
    return base64.b64encode(_raw(key.public_key())).decode()


def seal(public_key_b64_text: str, pin: str, aad: bytes) -> str:
    """Seal `pin` to the server's public key, bound to `aad`; base64 text."""
    recipient = X25519PublicKey.from_public_bytes(base64.b64decode(public_key_b64_text))
    ephemeral = X25519PrivateKey.generate()
    epub = _raw(ephemeral.public_key())
    key = _key(ephemeral.exchange(recipient), epub, _raw(recipient))
    nonce = os.urandom(_NONCE)
    return base64.b64encode(epub + nonce + ChaCha20Poly1305(key).encrypt(nonce, pin.encode("utf-8"), aad)).decode()


def open_sealed(key: X25519PrivateKey, sealed: str, aad: bytes) -> str:
    """The PIN inside `sealed`; SealError if it is malformed, altered or bound to something else."""
    if not isinstance(sealed, str) or not sealed or len(sealed) > MAX_SEALED_CHARS:
        raise SealError("malformed")
    try:
        blob = base64.b64decode(sealed, validate=True)
    except (binascii.Error, ValueError):
        raise SealError("malformed") from None
    if len(blob) <= _PUB + _NONCE:
        raise SealError("malformed")
    epub, nonce, body = blob[:_PUB], blob[_PUB:_PUB + _NONCE], blob[_PUB + _NONCE:]
    try:
        shared = key.exchange(X25519PublicKey.from_public_bytes(epub))
        pin = ChaCha20Poly1305(_key(shared, epub, _raw(key.public_key()))).decrypt(nonce, body, aad)
        return pin.decode("utf-8")
    except (InvalidTag, ValueError, UnicodeDecodeError):
        raise SealError("altered") from None
