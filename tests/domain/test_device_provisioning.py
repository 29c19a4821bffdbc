"""The kiosk provisioning code at its edges: what decodes, and what a bad scan is told."""
import pytest

from backend.domain.device_provisioning import PREFIX, decode, encode

SECRET = "s" * 43


def test_round_trip():
    code = encode("https://peixun.example.gov.cn/", 17, SECRET)
    assert code.startswith(PREFIX) and "=" not in code
    assert decode(f"  {code}\n") == {"url": "https://peixun.example.gov.cn", "device_id": 17, "secret": SECRET}


@pytest.mark.parametrize(("text", "says"), [
    ("", "not a kiosk provisioning code"),
    ("CARD:350102199003071234", "not a kiosk provisioning code"),
    (PREFIX + "x" * 2000, "not a kiosk provisioning code"),
    (PREFIX + "!!!", "damaged"),
    (PREFIX + "WzFd", "damaged"),                                   # [1]: JSON, not an object
    (encode("ftp://x", 1, SECRET), "no server address"),
    (encode("http://x", 1, "short"), "no usable secret"),
    (PREFIX + "eyJ1cmwiOiJodHRwOi8veCIsImRldmljZV9pZCI6dHJ1ZSwic2VjcmV0IjoiIn0", "no device id"),  # device_id true
])
def test_bad_scans(text, says):
    with pytest.raises(ValueError, match=says):
        decode(text)


def test_device_id_zero_is_refused():
    with pytest.raises(ValueError, match="no device id"):
        decode(encode("http://x", 0, SECRET))
