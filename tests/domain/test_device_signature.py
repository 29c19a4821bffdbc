"""Device request signatures at their edges: skew, tampering, nonce shape, card keys."""
import hashlib
import hmac

import pytest

from backend.domain.device_signature import (
    canonical_string,
    card_key,
    check_signature,
    sign,
    signature_headers,
)
from backend.domain.errors import AppError

SECRET = "s3cret-device-key"
NOW = 1_741_568_400  # 2025-03-10 01:00 UTC
PATH = "/api/v1/device/events"
BODY = b'{"events": []}'
NONCE = "0123456789abcdef"


def test_canonical_string_layout():
    text = canonical_string("post", "/api/v1/device/manifest?date=2025-03-10", "1741568400", NONCE, b"")
    assert text == ("POST\n/api/v1/device/manifest?date=2025-03-10\n1741568400\n" + NONCE + "\n"
                    + hashlib.sha256(b"").hexdigest())


def test_sign_is_hmac_sha256_of_canonical_string():
    expected = hmac.new(SECRET.encode(), canonical_string("POST", PATH, "1", NONCE, BODY).encode(),
                        hashlib.sha256).hexdigest()
    assert sign(SECRET, "POST", PATH, "1", NONCE, BODY) == expected
    assert sign(SECRET.encode(), "POST", PATH, "1", NONCE, BODY) == expected


def test_headers_carry_a_fresh_long_nonce():
    a = signature_headers("dev-1", SECRET, "POST", PATH, BODY, NOW)
    b = signature_headers("dev-1", SECRET, "POST", PATH, BODY, NOW)
    assert set(a) == {"X-Device-Id", "X-Timestamp", "X-Nonce", "X-Signature"}
    assert a["X-Device-Id"] == "dev-1" and a["X-Timestamp"] == str(NOW)
    assert len(a["X-Nonce"]) >= 16 and a["X-Nonce"] != b["X-Nonce"]


def _signed(now=NOW, nonce=NONCE):
    return signature_headers("dev-1", SECRET, "POST", PATH, BODY, now, nonce=nonce)


@pytest.mark.parametrize(("case", "method", "path", "body", "ts_shift", "nonce", "server_now_shift", "reason"), [
    ("exact", "POST", PATH, BODY, 0, NONCE, 0, None),
    ("clock ahead 300 s", "POST", PATH, BODY, 0, NONCE, 300, None),
    ("clock behind 300 s", "POST", PATH, BODY, 0, NONCE, -300, None),
    ("clock ahead 301 s", "POST", PATH, BODY, 0, NONCE, 301, "skew"),
    ("clock behind 301 s", "POST", PATH, BODY, 0, NONCE, -301, "skew"),
    ("tampered body", "POST", PATH, b'{"events": [1]}', 0, NONCE, 0, "signature"),
    ("wrong path", "POST", "/api/v1/device/heartbeat", BODY, 0, NONCE, 0, "signature"),
    ("query added", "POST", PATH + "?x=1", BODY, 0, NONCE, 0, "signature"),
    ("wrong method", "PUT", PATH, BODY, 0, NONCE, 0, "signature"),
    ("timestamp changed", "POST", PATH, BODY, 1, NONCE, 0, "signature"),
    ("short nonce", "POST", PATH, BODY, 0, "0123456789abcde", 0, "nonce"),
])
def test_check_signature_table(case, method, path, body, ts_shift, nonce, server_now_shift, reason):
    headers = _signed(nonce=nonce if len(nonce) >= 16 else NONCE)
    signature = headers["X-Signature"]
    if len(nonce) < 16:
        # Sign honestly with the short nonce so only its length can fail.
        signature = sign(SECRET, "POST", PATH, str(NOW), nonce, BODY)
    ts = str(NOW + ts_shift)
    call = lambda: check_signature(SECRET, method, path, ts, nonce, body, signature,  # noqa: E731
                                   NOW + server_now_shift)
    if reason is None:
        call()
        return
    with pytest.raises(AppError) as err:
        call()
    assert (err.value.code, err.value.status, err.value.details) == ("unauthorized", 401, {"reason": reason})


@pytest.mark.parametrize(("ts", "signature", "secret", "reason"), [
    ("not-a-number", None, SECRET, "skew"),
    (str(NOW), "zz" * 32, SECRET, "signature"),
    (str(NOW), "签名", SECRET, "signature"),
    (str(NOW), None, "another-secret", "signature"),
])
def test_check_signature_rejects_junk(ts, signature, secret, reason):
    signature = signature or sign(SECRET, "POST", PATH, ts, NONCE, BODY)
    with pytest.raises(AppError) as err:
        check_signature(secret, "POST", PATH, ts, NONCE, BODY, signature, NOW)
    assert err.value.details == {"reason": reason}


def test_upper_case_hex_signature_is_accepted():
    signature = sign(SECRET, "POST", PATH, str(NOW), NONCE, BODY).upper()
    check_signature(SECRET, "POST", PATH, str(NOW), NONCE, BODY, signature, NOW)


def test_card_key_is_hmac_of_normalized_id_number():
    expected = hmac.new(SECRET.encode(), b"11010519491231002X", hashlib.sha256).hexdigest()
    assert card_key(SECRET, "11010519491231002X") == expected
    assert card_key(SECRET, " 11010519491231002x ") == expected
    assert card_key("other", "11010519491231002X") != expected
