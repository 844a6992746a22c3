"""The benchmark image set, built in memory from scikit-learn's two sample photos.

Every benchmark that measures image work imports ``build_image_set`` so that all of
them run on the same, reproducible bytes. Each group holds distinct images: the
photos are cropped at different places, flipped, colour-shifted and given a light
grain before being encoded; every random choice is seeded, so the bytes are the
same on every run.
"""

from __future__ import annotations

import io
import random
from dataclasses import dataclass
from functools import cache

import numpy as np
from PIL import Image, ImageChops, ImageDraw, ImageEnhance, ImageOps


@dataclass(frozen=True)
class Group:
    name: str
    format: str
    size: tuple[int, int]
    mode: str = "RGB"


GROUPS: tuple[Group, ...] = (
    Group("jpeg_300x200", "JPEG", (300, 200)),
    Group("jpeg_1200x800", "JPEG", (1200, 800)),
    Group("jpeg_2000x1333", "JPEG", (2000, 1333)),
    Group("jpeg_4000x3000", "JPEG", (4000, 3000)),
    Group("png_1200x800", "PNG", (1200, 800)),
    Group("png_rgba_800x600", "PNG", (800, 600), "RGBA"),
    Group("webp_1200x800", "WEBP", (1200, 800)),
    Group("gif_600x400", "GIF", (600, 400), "P"),
)


@cache
def _photos() -> tuple[Image.Image, ...]:
    from sklearn.datasets import load_sample_image

    return tuple(Image.fromarray(load_sample_image(name)) for name in ("china.jpg", "flower.jpg"))


def _variant(index: int, size: tuple[int, int], rng: random.Random) -> Image.Image:
    photo = _photos()[index % 2]
    pw, ph = photo.size
    # A crop keeping the target's aspect ratio, between 55% and 100% of the photo.
    target_ratio = size[0] / size[1]
    scale = rng.uniform(0.55, 1.0)
    cw = min(pw, int(ph * target_ratio)) * scale
    ch = cw / target_ratio
    left = rng.uniform(0, pw - cw)
    top = rng.uniform(0, ph - ch)
    img = photo.crop((int(left), int(top), int(left + cw), int(top + ch)))
    if rng.random() < 0.5:
        img = ImageOps.mirror(img)
    img = ImageEnhance.Color(img).enhance(rng.uniform(0.6, 1.4))
    img = ImageEnhance.Brightness(img).enhance(rng.uniform(0.8, 1.2))
    img = img.resize(size, Image.Resampling.BICUBIC)
    # Upscaled crops are unnaturally smooth; a light grain gives encoders photo-like work.
    return ImageChops.add(img, _grain(size, rng.randrange(2**32)), scale=1.0, offset=-128)


_TILE = 509  # prime, so the tiled grain never lines up with 8x8 JPEG blocks


def _grain(size: tuple[int, int], seed: int) -> Image.Image:
    """Reproducible Gaussian grain (sigma 6 around 128), tiled from one seeded square."""
    width, height = size
    tile = np.random.default_rng(seed).normal(128, 6, (_TILE, _TILE)).clip(0, 255).astype(np.uint8)
    grain = np.tile(tile, (-(-height // _TILE), -(-width // _TILE)))[:height, :width]
    return Image.fromarray(np.ascontiguousarray(grain), "L").convert("RGB")


def _with_alpha(img: Image.Image, rng: random.Random) -> Image.Image:
    mask = Image.new("L", img.size, 0)
    w, h = img.size
    inset_x, inset_y = int(w * rng.uniform(0.05, 0.2)), int(h * rng.uniform(0.05, 0.2))
    ImageDraw.Draw(mask).ellipse((inset_x, inset_y, w - inset_x, h - inset_y), fill=255)
    rgba = img.convert("RGBA")
    rgba.putalpha(mask)
    return rgba


def encode(img: Image.Image, fmt: str) -> bytes:
    buffer = io.BytesIO()
    if fmt == "JPEG":
        img.save(buffer, "JPEG", quality=88)
    elif fmt == "WEBP":
        img.save(buffer, "WEBP", quality=80)
    elif fmt == "GIF":
        img.convert("P", palette=Image.Palette.ADAPTIVE, colors=256).save(buffer, "GIF")
    else:
        img.save(buffer, fmt)
    return buffer.getvalue()


def build_group(group: Group, count: int, seed: int = 0) -> list[bytes]:
    rng = random.Random(f"{group.name}-{seed}")
    images = []
    for index in range(count):
        img = _variant(index, group.size, rng)
        if group.mode == "RGBA":
            img = _with_alpha(img, rng)
        images.append(encode(img, group.format))
    return images


def build_image_set(count: int = 24, seed: int = 0, groups: tuple[Group, ...] = GROUPS) -> dict[str, list[bytes]]:
    """``{group name: [encoded image bytes, ...]}``, ``count`` distinct images per group."""
    return {group.name: build_group(group, count, seed) for group in groups}
