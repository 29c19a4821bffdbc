"""Device adapters without hardware: line parsing, fakes' fault switches, HID keys, PC/SC, frames, factory."""
import numpy as np
import pytest

from kiosk.devices import DeviceError, DeviceUnavailable, open_device
from kiosk.devices.base import Camera, CardReader, PinPad, QrScanner
from kiosk.devices.fake import FakeCamera, FakeLineSource, FaultSwitches
from kiosk.devices.hid import KeyLineAssembler
from kiosk.devices.image_dir import DirCamera
from kiosk.devices.lines import LineCardReader, LineQrScanner, parse_card_line, parse_pin_line, parse_qr_line
from kiosk.devices.pcsc import PcscCardReader, extract_id_number
from tests.kiosk.kiosk_helpers import ALICE_ID


@pytest.mark.parametrize(("line", "expected"), [
    (ALICE_ID, ALICE_ID),
    (f"CARD:{ALICE_ID}\r", ALICE_ID),
    (f"card:{ALICE_ID.lower()}", ALICE_ID),
    ("11010519491231002x", "11010519491231002X"),
    ("１１０１０５１９４９１２３１００２Ｘ", "11010519491231002X"),  # full-width from a wedge/IME
    ("110105194912310021", None),  # wrong check digit: a misread
    ("CARD:", None),
    ("hello", None),
])
def test_parse_card_line(line, expected):
    assert parse_card_line(line) == expected


@pytest.mark.parametrize(("line", "expected"), [
    ("eyJhbGciOi.payload.sig\n", "eyJhbGciOi.payload.sig"),
    ("", None),
    ("\x00\x01binary", None),
    ("bad\ufffdutf8", None),
    ("x" * 2049, None),
])
def test_parse_qr_line(line, expected):
    assert parse_qr_line(line) == expected


def test_parse_pin_line():
    assert parse_pin_line(" 123456 ") == "123456"
    # A short entry is read (the controller answers it as a wrong PIN: one rule, backend.domain.pins);
    # anything but digits, or more than 12, is not a PIN-pad entry at all.
    assert parse_pin_line("12") == "12"
    assert parse_pin_line("12ab56") is None and parse_pin_line("1" * 13) is None and parse_pin_line("") is None


def test_line_roles_skip_garbage_and_satisfy_protocols():
    reader = LineCardReader(FakeLineSource(["garbage", f"CARD:{ALICE_ID}"]))
    assert isinstance(reader, CardReader)
    assert reader.read_card(0.1) == ALICE_ID
    assert reader.read_card(0) is None and reader.exhausted
    assert isinstance(LineQrScanner(FakeLineSource()), QrScanner)
    assert isinstance(FakeCamera(), Camera)
    assert isinstance(open_device("fake:", "pinpad"), PinPad)


def test_fault_switches():
    sleeps = []
    drop = FakeLineSource(["a", "b"], faults=FaultSwitches(drop=1.0))
    assert drop.read_line(0) is None and drop.read_line(0) is None and drop.exhausted
    garbage = FakeLineSource(["a"], faults=FaultSwitches(garbage=1.0), seed=1)
    noise = garbage.read_line(0)
    assert noise and noise != "a" and not garbage.exhausted
    timeout = FakeLineSource(["a"], faults=FaultSwitches(timeout=1.0), sleep=sleeps.append)
    assert timeout.read_line(0.25) is None and sleeps == [0.25]
    slow = FakeLineSource(["a"], faults=FaultSwitches(slow=0.5), sleep=sleeps.append)
    assert slow.read_line(0) == "a" and sleeps[-1] == 0.5
    with pytest.raises(DeviceError):
        FakeLineSource(["a"], faults=FaultSwitches(disconnect=1.0)).read_line(0)
    switchable = FakeLineSource(["a", "b"])
    switchable.faults.drop = 1.0  # switches flip while running
    assert switchable.read_line(0) is None
    switchable.faults.drop = 0.0
    assert switchable.read_line(0) == "b"


def test_fake_camera_frames_and_garbage():
    frame = np.zeros((4, 4, 3), dtype=np.uint8)
    camera = FakeCamera()
    camera.feed(frame)
    assert camera.capture() is frame
    assert camera.capture().shape == (480, 640, 3)
    noisy = FakeCamera(faults=FaultSwitches(garbage=1.0), seed=2).capture()
    assert noisy.shape == (120, 160, 3) and noisy.dtype == np.uint8


def test_hid_assembler_shift_and_enter():
    keys = KeyLineAssembler()
    events = [("KEY_LEFTSHIFT", 1), ("KEY_C", 1), ("KEY_C", 0), ("KEY_A", 1), ("KEY_R", 1), ("KEY_D", 1),
              ("KEY_SEMICOLON", 1), ("KEY_LEFTSHIFT", 0), ("KEY_1", 1), ("KEY_1", 2), ("KEY_KP2", 1),
              ("KEY_X", 1), ("KEY_ENTER", 1)]
    lines = [keys.feed(k, v) for k, v in events]
    assert lines[:-1] == [None] * (len(events) - 1)
    assert lines[-1] == "CARD:12x"
    assert keys.feed("KEY_ENTER", 1) is None  # empty lines are not scans


def test_pcsc_reports_each_inserted_card_once():
    record = b"\x08\x12" + ALICE_ID.encode() + b"\x90"

    class Conn:
        present = True

        def connect(self):
            if not Conn.present:
                raise RuntimeError("no card")

        def transmit(self, apdu):
            if apdu[:2] == [0x00, 0xB2]:
                return list(record), 0x61, 0x02  # more data waiting
            if apdu[:2] == [0x00, 0xC0]:
                return [0x90, 0x00], 0x90, 0x00
            return [], 0x90, 0x00

        def disconnect(self):
            pass

    class Reader:
        def __str__(self):
            return "ACS ACR38U 00 00"

        def createConnection(self):  # noqa: N802 - pyscard's name
            return Conn()

    reader = PcscCardReader("ACS", list_readers=lambda: [Reader()], sleep=lambda s: None)
    assert reader.read_card(1) == ALICE_ID
    assert reader.read_card(0) is None  # still inserted: not reported again
    Conn.present = False
    assert reader.read_card(0) is None
    Conn.present = True
    assert reader.read_card(0) == ALICE_ID
    with pytest.raises(DeviceError):
        PcscCardReader("Other", list_readers=lambda: [Reader()]).read_card(0)


def test_extract_id_number_needs_a_valid_check_digit():
    assert extract_id_number(b"\x00" + ALICE_ID.encode() + b"\x00") == ALICE_ID
    assert extract_id_number(b"110105194912310021") is None


def _png(path, array):
    from PIL import Image

    Image.fromarray(array).save(path)


def test_dir_camera_replays_files_in_order(tmp_path):
    for i, value in enumerate((10, 20)):
        _png(tmp_path / f"frame{i}.png", np.full((8, 8, 3), value, dtype=np.uint8))
    (tmp_path / "notes.txt").write_text("ignored")
    camera = open_device(f"dir:{tmp_path}?loop=0", "camera")
    assert isinstance(camera, DirCamera)
    assert camera.capture()[0, 0, 0] == 10 and camera.capture()[0, 0, 0] == 20
    assert camera.capture() is None and camera.exhausted
    looping = DirCamera(tmp_path)
    assert [looping.capture()[0, 0, 0] for _ in range(3)] == [10, 20, 10]
    with pytest.raises(DeviceError):
        DirCamera(tmp_path / "missing").capture()


def test_qr_codes_are_decoded_from_frames(tmp_path):
    import qrcode

    qrcode.make("voucher-token-123").save(tmp_path / "a.png")
    scanner = open_device(f"dir:{tmp_path}", "qr")
    assert scanner.read_code(1.0) == "voucher-token-123"


def test_factory_schemes_and_errors():
    assert isinstance(open_device("fake:?script=" + ALICE_ID, "card"), LineCardReader)
    reader = open_device(f"fake:?script=x,CARD:{ALICE_ID}&seed=1", "card")
    assert reader.read_card(0.1) == ALICE_ID
    assert isinstance(open_device("fake:", "camera"), FakeCamera)
    assert open_device("serial:///dev/ttyS99?baud=115200", "qr").source.baud == 115200
    with pytest.raises(DeviceUnavailable):
        open_device("camera:0", "card")
    with pytest.raises(DeviceUnavailable):
        open_device("ftp://x", "qr")
    with pytest.raises(ValueError):
        open_device("fake:", "printer")
    # Optional libraries that are absent give a clear message instead of an ImportError.
    for url, role, hint in (("hid:/dev/input/event0", "qr", "evdev"), ("pcsc:", "card", "pyscard"),
                            ("camera:0", "camera", "opencv")):
        try:
            open_device(url, role)
        except DeviceUnavailable as exc:
            assert hint in str(exc)


def test_terminal_lines_are_routed_to_pin_card_or_qr():
    import io
    import time

    from kiosk.devices.console import StdinHub, StdinLineSource

    hub = StdinHub(io.StringIO(f"{ALICE_ID}\nsome-token\n"))
    card, qr = StdinLineSource("card", hub), StdinLineSource("qr", hub)
    assert card.read_line(2) == ALICE_ID
    assert qr.read_line(2) == "some-token"
    deadline = time.monotonic() + 2
    while not hub.closed.is_set() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert card.exhausted and qr.exhausted and card.read_line(1) is None
