"""Test photos with texture (a difference hash needs structure; a plain colour hashes to zero)."""
from __future__ import annotations

import io
import random

from PIL import Image, ImageDraw


def textured_jpeg(seed: int, size=(640, 480), quality=90) -> bytes:
    """A JPEG of random coloured rectangles: a different picture per seed, the same one for the same seed."""
    rnd = random.Random(seed)
    img = Image.new("RGB", size, (240, 240, 235))
    draw = ImageDraw.Draw(img)
    for _ in range(40):
        x, y = rnd.randrange(size[0]), rnd.randrange(size[1])
        draw.rectangle([x, y, x + rnd.randrange(20, 200), y + rnd.randrange(10, 120)],
                       fill=tuple(rnd.randrange(256) for _ in range(3)))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality)
    return buf.getvalue()
