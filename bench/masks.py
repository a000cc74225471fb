"""
Mask conversion (``pixmux.masks.provider_mask``) against Pillow doing the same work, in one run.

For each mask (a drawn shape, and random noise whose rows use every PNG filter), the time of
``provider_mask`` is printed next to its floor: Pillow opening the PNG, thresholding the alpha
channel and saving an opaque greyscale PNG (C code). Rounds alternate between the two.

    uv run python bench/masks.py            # 1024x1024 and 2048x2048
"""

from __future__ import annotations

import io
import random
import statistics
import sys
import time
from collections.abc import Callable

from PIL import Image, ImageDraw
from pixmux.masks import provider_mask
from pixmux.types import ImageInput

ROUNDS = 7


def drawn(side: int) -> bytes:
    image = Image.new("RGBA", (side, side), (0, 0, 0, 255))
    ImageDraw.Draw(image).ellipse((side // 5, side // 5, side * 4 // 5, side * 2 // 3), fill=(0, 0, 0, 0))
    return _png(image)


def noise(side: int) -> bytes:
    rng = random.Random(side)
    return _png(Image.frombytes("RGBA", (side, side), rng.randbytes(side * side * 4)))


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def with_pillow(data: bytes) -> bytes:
    alpha = Image.open(io.BytesIO(data)).getchannel("A")
    return _png(alpha.point(lambda value: 255 if value < 128 else 0))


def with_pixmux(data: bytes) -> bytes:
    return provider_mask(ImageInput(data=data, media_type="image/png"), edit="white").data


def timed(work: Callable[[bytes], bytes], data: bytes) -> float:
    started = time.perf_counter()
    work(data)
    return time.perf_counter() - started


def main(sides: list[int]) -> None:
    print(f"{'mask':<16} {'pixmux':>9} {'Pillow':>9} {'ratio':>7}")
    for side in sides:
        for name, data in (("drawn", drawn(side)), ("noise", noise(side))):
            ours, floor = [], []
            for _ in range(ROUNDS):
                ours.append(timed(with_pixmux, data))
                floor.append(timed(with_pillow, data))
            mine, base = statistics.median(ours), statistics.median(floor)
            print(f"{name} {side}x{side:<6} {mine * 1000:>7.0f}ms {base * 1000:>7.0f}ms {mine / base:>6.1f}x")


if __name__ == "__main__":
    main([int(arg) for arg in sys.argv[1:]] or [1024, 2048])
