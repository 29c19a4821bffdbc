"""A camera that replays image files from a folder (`dir:/path/frames`): the only Pillow importer here."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from kiosk.devices.base import DeviceError

try:
    from PIL import Image
except ImportError:  # pragma: no cover - Pillow is a core dependency
    Image = None

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}


def load_rgb(path: str | Path) -> np.ndarray:
    """An image file as an RGB uint8 array."""
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"), dtype=np.uint8)


class DirCamera:
    """Each capture returns the next image in name order; loops unless `loop=False`."""

    def __init__(self, folder: str | Path, loop: bool = True):
        self.folder = Path(folder)
        self.loop = loop
        self._next = 0

    def _files(self) -> list[Path]:
        # Listed on every capture so frames dropped into the folder at run time are picked up.
        try:
            return sorted(p for p in self.folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        except OSError as exc:
            raise DeviceError(f"dir camera {self.folder}: {exc}") from exc

    def capture(self, timeout: float = 2.0) -> np.ndarray | None:
        """The next frame, or None when the folder is empty (or used up without looping)."""
        files = self._files()
        if not files:
            return None
        if self._next >= len(files):
            if not self.loop:
                return None
            self._next = 0
        path = files[self._next]
        self._next += 1
        try:
            return load_rgb(path)
        except OSError as exc:
            raise DeviceError(f"dir camera {path}: {exc}") from exc

    @property
    def exhausted(self) -> bool:
        """True when a non-looping folder has been played to the end."""
        return not self.loop and self._next >= len(self._files())

    def close(self) -> None:
        """Nothing to release."""
