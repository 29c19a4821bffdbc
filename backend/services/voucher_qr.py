"""The rotating voucher QR: a short signed token naming voucher and holder, and its PNG/SVG image."""
from __future__ import annotations

import io
from datetime import UTC, datetime

from ..domain import vouchers as rules
from ..domain.errors import conflict, invalid
from ..security.actor import Actor
from ..security.crypto import vault
from .vouchers import own_voucher

FORMATS = {"png": "image/png", "svg": "image/svg+xml"}


def qr_token(a: Actor, code: str, now: datetime, ttl_s: int, refresh_after_s: int) -> dict:
    """A fresh token for the caller's usable voucher: {token, expires_at, refresh_after_s, code}."""
    voucher = own_voucher(a, code)
    reason = rules.verify_reason(voucher.status, voucher.expires_at, now)
    if reason:
        # A used, returned or expired voucher has nothing to show at a desk.
        raise conflict(reason, status=reason)
    issued = int(now.timestamp())
    token = rules.encode_qr_token(vault().token_key, voucher.id, voucher.person_id, issued, ttl_s)
    expires_at = datetime.fromtimestamp(issued + ttl_s, UTC)
    return {"token": token, "expires_at": expires_at.isoformat(), "refresh_after_s": refresh_after_s,
            "code": voucher.code}


def render_qr(text: str, fmt: str) -> tuple[bytes, str]:
    """The QR image of `text` as (bytes, mimetype); fmt is 'png' or 'svg'."""
    import qrcode
    import qrcode.image.svg

    if fmt not in FORMATS:
        raise invalid("validation_error", fields={"format": [f"one of {sorted(FORMATS)}"]})
    # Medium error correction survives a scratched phone screen; the token is upper-case base32,
    # so the encoder picks alphanumeric mode and the symbol stays small (version 3 at M).
    qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=8, border=4)
    qr.add_data(text)
    qr.make(fit=True)
    buf = io.BytesIO()
    if fmt == "svg":
        qr.make_image(image_factory=qrcode.image.svg.SvgPathImage).save(buf)
    else:
        qr.make_image().save(buf, format="PNG")
    return buf.getvalue(), FORMATS[fmt]
