"""Hardware behind small Protocols: adapters per library, fakes with fault switches, one factory."""
from kiosk.devices.base import (
    Camera,
    CardReader,
    DeviceError,
    DeviceUnavailable,
    LineSource,
    PinPad,
    QrScanner,
)
from kiosk.devices.factory import open_device

__all__ = ["Camera", "CardReader", "DeviceError", "DeviceUnavailable", "LineSource", "PinPad",
           "QrScanner", "open_device"]
