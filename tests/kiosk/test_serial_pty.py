"""A serial scanner through a pseudo-terminal pair: the real pyserial adapter, no hardware."""
import os

import pytest

from kiosk.devices import DeviceError, open_device
from tests.kiosk.kiosk_helpers import ALICE_ID

pytest.importorskip("serial")


@pytest.fixture
def pty_pair():
    master, slave = os.openpty()
    name = os.ttyname(slave)
    yield master, name
    os.close(master)
    os.close(slave)


def test_card_line_arrives_through_the_serial_adapter(pty_pair):
    master, name = pty_pair
    reader = open_device(f"serial://{name}?baud=9600", "card")
    try:
        assert reader.read_card(0.1) is None  # nothing scanned yet
        os.write(master, b"noise\r\nCARD:" + ALICE_ID.encode() + b"\r\n")
        assert reader.read_card(2.0) == ALICE_ID
    finally:
        reader.close()


def test_qr_lines_split_across_writes(pty_pair):
    master, name = pty_pair
    scanner = open_device(f"serial://{name}", "qr")
    try:
        scanner.read_code(0.05)  # opens the port
        os.write(master, b"token-part-1")
        assert scanner.read_code(0.2) is None
        os.write(master, b"-and-2\n" + b"second\r")
        assert scanner.read_code(2.0) == "token-part-1-and-2"
        assert scanner.read_code(2.0) == "second"
    finally:
        scanner.close()


def test_missing_port_is_a_device_error():
    with pytest.raises(DeviceError):
        open_device("serial:///dev/does-not-exist-kiosk", "card").read_card(0.1)
