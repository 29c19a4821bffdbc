"""`open_device(url, role)`: one URL names the adapter, the role names what the kiosk wants from it.

Schemes: serial:///dev/ttyUSB0?baud=9600, hid:/dev/input/by-id/..., pcsc:?reader=ACS&apdu=..,
camera:0, dir:/path/frames, stdin:, console:, screen: (the PIN pad of the kiosk screen),
fake:?script=a,b&drop=0.1&seed=1.
Adapters import their libraries lazily, so a kiosk without OpenCV still runs with a serial scanner.
"""
from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from kiosk.devices.base import DeviceUnavailable

ROLES = ("qr", "card", "camera", "pinpad")
_FAULTS = ("drop", "timeout", "garbage", "slow", "disconnect")


def _params(url: str) -> tuple[str, str, dict[str, list[str]]]:
    parts = urlsplit(url)
    # "serial:///dev/x" has the path in .path, "camera:0" and "dir:/x" too; netloc joins them back.
    target = unquote((parts.netloc or "") + parts.path)
    return parts.scheme.lower(), target, parse_qs(parts.query, keep_blank_values=True)


def _one(params: dict, name: str, default: str = "") -> str:
    return params.get(name, [default])[-1]


def _fake_source(params: dict):
    from kiosk.devices.fake import FakeLineSource, FaultSwitches

    script = [s for s in _one(params, "script").split(",") if s]
    if _one(params, "script_file"):
        lines = Path(_one(params, "script_file")).read_text(encoding="utf-8").splitlines()
        script.extend(line for line in lines if line.strip())
    faults = FaultSwitches(**{k: float(_one(params, k, "0")) for k in _FAULTS})
    seed = int(_one(params, "seed")) if _one(params, "seed") else None
    return FakeLineSource(script, faults=faults, seed=seed)


def _line_source(scheme: str, target: str, params: dict, role: str):
    if scheme == "serial":
        from kiosk.devices.serial_line import SerialLineSource

        return SerialLineSource(target, baud=int(_one(params, "baud", "9600")),
                                encoding=_one(params, "encoding", "utf-8"))
    if scheme == "hid":
        from kiosk.devices.hid import EvdevLineSource

        return EvdevLineSource(target)
    if scheme in ("stdin", "console"):
        from kiosk.devices.console import StdinLineSource

        return StdinLineSource("pin" if role == "pinpad" else role)
    if scheme == "fake":
        return _fake_source(params)
    return None


def _camera(scheme: str, target: str, params: dict):
    if scheme == "camera":
        from kiosk.devices.camera import MissingOpenCvCamera, OpenCvCamera, opencv_available

        if not opencv_available():
            return MissingOpenCvCamera(f"camera:{target}")

        width, height = _one(params, "width"), _one(params, "height")
        return OpenCvCamera(target or "0", int(width) if width else None, int(height) if height else None)
    if scheme == "dir":
        from kiosk.devices.image_dir import DirCamera

        return DirCamera(target, loop=_one(params, "loop", "1") not in ("0", "false"))
    if scheme == "fake":
        from kiosk.devices.fake import FakeCamera, FaultSwitches

        default = None
        if _one(params, "image"):
            from kiosk.devices.image_dir import load_rgb

            default = load_rgb(_one(params, "image"))
        faults = FaultSwitches(**{k: float(_one(params, k, "0")) for k in _FAULTS})
        seed = int(_one(params, "seed")) if _one(params, "seed") else None
        return FakeCamera(default, faults=faults, seed=seed)
    return None


def open_device(url: str, role: str):
    """An adapter for `role` ("qr", "card", "camera" or "pinpad") from a device URL."""
    if role not in ROLES:
        raise ValueError(f"unknown device role {role!r}")
    scheme, target, params = _params(url)
    if role == "camera":
        camera = _camera(scheme, target, params)
        if camera is None:
            raise DeviceUnavailable(f"{url!r} is not a camera URL")
        return camera
    if role == "card" and scheme == "pcsc":
        from kiosk.devices.pcsc import DEFAULT_APDUS, PcscCardReader

        return PcscCardReader(_one(params, "reader"), tuple(params.get("apdu") or DEFAULT_APDUS))
    if role == "qr" and scheme in ("camera", "dir"):
        from kiosk.devices.qr_frames import FrameQrScanner

        return FrameQrScanner(_camera(scheme, target, params))
    if role == "pinpad" and scheme == "screen":
        from kiosk.devices.screen_pad import ScreenPinPad

        return ScreenPinPad()
    source = _line_source(scheme, target, params, role)
    if source is None:
        raise DeviceUnavailable(f"{url!r} cannot serve as a {role} device")
    from kiosk.devices.lines import LineCardReader, LinePinPad, LineQrScanner

    return {"qr": LineQrScanner, "card": LineCardReader, "pinpad": LinePinPad}[role](source)
