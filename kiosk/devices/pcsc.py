"""PC/SC social-security card readers through pyscard: the only pyscard importer.

Reading the holder's number from a Chinese social-security card (社保卡) is card- and
reader-specific: many cards need the reader's PSAM for protected files. The APDUs are therefore
configurable (`pcsc:?apdu=...&apdu=...`); the defaults select the SSSE application and read the
holder record, and the first valid 18-character ID number found in the replies is the result.
"""
from __future__ import annotations

import logging
import re
import time

from backend.domain.identity import id_check_digit
from kiosk.devices.base import DeviceError, DeviceUnavailable

try:
    from smartcard.Exceptions import CardConnectionException, NoCardException
    from smartcard.System import readers as _system_readers
except ImportError:
    _system_readers = None
    NoCardException = CardConnectionException = None

log = logging.getLogger(__name__)

DEFAULT_APDUS = (
    "00A404000F7378312E73682EC9E7BBE1B1A3CFD5",  # SELECT DDF1 "sx1.sh.社会保障" (GBK)
    "00A4020002EF06",                            # SELECT EF06, holder's basic information
    "00B2080400",                                # READ RECORD 8: social-security (= ID) number
)
_ID_IN_TEXT = re.compile(r"[0-9]{17}[0-9Xx]")
POLL_S = 0.2


def extract_id_number(data: bytes) -> str | None:
    """The first 18-character ID number with a valid check digit inside raw card bytes."""
    text = data.decode("latin-1")
    for match in _ID_IN_TEXT.finditer(text):
        number = match.group().upper()
        if id_check_digit(number[:17]) == number[17]:
            return number
    return None


def _transmit(connection, apdu: list[int]) -> tuple[bytes, int, int]:
    data, sw1, sw2 = connection.transmit(apdu)
    data = list(data)
    for _ in range(16):  # bounded: a confused card must not hang the reader thread
        if sw1 != 0x61:  # 61xx (T=0): more data waiting, fetched with GET RESPONSE
            break
        more, sw1, sw2 = connection.transmit([0x00, 0xC0, 0x00, 0x00, sw2])
        data.extend(more)
    return bytes(data), sw1, sw2


class PcscCardReader:
    """A CardReader that reports each newly inserted card once."""

    def __init__(self, reader_filter: str = "", apdus: tuple[str, ...] = DEFAULT_APDUS,
                 list_readers=None, sleep=time.sleep, monotonic=time.monotonic):
        list_readers = list_readers or _system_readers
        if list_readers is None:
            raise DeviceUnavailable("pcsc: devices need pyscard (pip install 'pyscard>=2.0') and pcscd")
        self._list_readers = list_readers
        self.reader_filter = reader_filter
        self.apdus = [list(bytes.fromhex(a)) for a in apdus]
        self._sleep = sleep
        self._monotonic = monotonic
        self._card_present = False

    def _reader(self):
        try:
            candidates = [r for r in self._list_readers() if self.reader_filter in str(r)]
        except Exception as exc:  # pcscd down raises its own exception types
            raise DeviceError(f"pcsc: {exc}") from exc
        if not candidates:
            raise DeviceError(f"pcsc: no reader matching {self.reader_filter!r}")
        return candidates[0]

    def _try_read(self) -> str | None:
        connection = self._reader().createConnection()
        try:
            connection.connect()
        except Exception as exc:
            if NoCardException is None or isinstance(exc, (NoCardException, CardConnectionException)):
                self._card_present = False
                return None
            raise DeviceError(f"pcsc: {exc}") from exc
        try:
            if self._card_present:
                return None  # the same card is still in the slot: report it once
            self._card_present = True
            replies = bytearray()
            for apdu in self.apdus:
                data, sw1, sw2 = _transmit(connection, apdu)
                if sw1 != 0x90:
                    log.info("card answered %02X%02X to an APDU", sw1, sw2)
                replies.extend(data)
            number = extract_id_number(bytes(replies))
            if number is None:
                log.warning("card read, but no ID number found; check the pcsc apdu settings")
            return number
        finally:
            try:
                connection.disconnect()
            except Exception:  # noqa: BLE001 - a pulled card makes disconnect fail too
                pass

    def read_card(self, timeout: float) -> str | None:
        """The ID number of the next inserted card, or None after `timeout` seconds."""
        deadline = self._monotonic() + timeout
        while True:
            number = self._try_read()
            if number is not None:
                return number
            if self._monotonic() + POLL_S > deadline:
                return None
            self._sleep(POLL_S)

    def close(self) -> None:
        """Nothing to release: each poll opens and closes its own connection."""
