"""Web graphics built in code: flat colour, gradients, a two-colour logo, line art, a chart, a screenshot.

Photos hash alike whatever the method; graphics do not: large flat areas, hard
edges and few colours are where a hash computed another way than imagehash's
drifts from it. The analysis tests and bench/hash_agreement.py share these
builders. Every random choice is seeded: the same bytes on every run.
"""

from __future__ import annotations

import io
import random
from collections.abc import Callable

from PIL import Image, ImageDraw, ImageFont


def flat(size: tuple[int, int], seed: int = 0) -> Image.Image:
    rng = random.Random(seed)
    return Image.new("RGB", size, (rng.randrange(256), rng.randrange(256), rng.randrange(256)))


def linear_gradient(size: tuple[int, int], seed: int = 0) -> Image.Image:
    ramp = Image.linear_gradient("L").rotate(90 * (seed % 4)).resize(size, Image.Resampling.BICUBIC)
    return Image.merge("RGB", (ramp, ramp.transpose(Image.Transpose.FLIP_LEFT_RIGHT), Image.new("L", size, 90)))


def logo(size: tuple[int, int], seed: int = 0) -> Image.Image:
    """Two colours: a disc, a bar and a letter in one colour on a background of another."""
    rng = random.Random(seed)
    width, height = size
    background = (255, 255, 255) if seed % 2 == 0 else (20, 40, 90)
    ink = (rng.randrange(200), rng.randrange(200), rng.randrange(200)) if seed % 2 == 0 else (250, 200, 30)
    img = Image.new("RGB", size, background)
    draw = ImageDraw.Draw(img)
    side = min(width, height)
    cx, cy, r = width * rng.uniform(0.25, 0.4), height / 2, side * rng.uniform(0.2, 0.3)
    draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=ink)
    draw.rectangle((width * 0.55, height * 0.35, width * rng.uniform(0.8, 0.92), height * 0.5), fill=ink)
    font = ImageFont.load_default(size=max(10, side // 5))
    draw.text((width * 0.55, height * 0.55), "Ab", fill=ink, font=font)
    return img


def line_art(size: tuple[int, int], seed: int = 0) -> Image.Image:
    """Thin black strokes on white, as in a drawing or a diagram."""
    rng = random.Random(seed)
    width, height = size
    img = Image.new("RGB", size, (255, 255, 255))
    draw = ImageDraw.Draw(img)
    for _ in range(12):
        points = [(rng.uniform(0, width), rng.uniform(0, height)) for _ in range(3)]
        draw.line(points, fill=(0, 0, 0), width=rng.choice((1, 2, 3)))
    for _ in range(3):
        x, y, r = rng.uniform(0, width), rng.uniform(0, height), rng.uniform(10, min(width, height) / 4)
        draw.ellipse((x - r, y - r, x + r, y + r), outline=(0, 0, 0), width=2)
    return img


def chart(size: tuple[int, int], seed: int = 0) -> Image.Image:
    """A bar chart: axes, grid lines, coloured bars, labels."""
    rng = random.Random(seed)
    width, height = size
    img = Image.new("RGB", size, (255, 255, 255))
    draw = ImageDraw.Draw(img)
    left, bottom, top, right = width * 0.1, height * 0.9, height * 0.08, width * 0.95
    for step in range(1, 6):
        y = bottom - (bottom - top) * step / 5
        draw.line((left, y, right, y), fill=(220, 220, 220))
    draw.line((left, top, left, bottom), fill=(0, 0, 0), width=2)
    draw.line((left, bottom, right, bottom), fill=(0, 0, 0), width=2)
    bars = rng.randrange(4, 9)
    slot = (right - left) / bars
    colours = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40)]
    font = ImageFont.load_default(size=max(8, height // 30))
    for index in range(bars):
        x0 = left + slot * index + slot * 0.15
        y0 = bottom - (bottom - top) * rng.uniform(0.1, 1.0)
        draw.rectangle((x0, y0, x0 + slot * 0.7, bottom - 1), fill=colours[index % len(colours)])
        draw.text((x0, bottom + 4), f"Q{index + 1}", fill=(60, 60, 60), font=font)
    return img


def screenshot(size: tuple[int, int], seed: int = 0) -> Image.Image:
    """A window: title bar, sidebar and lines of text on a light background."""
    rng = random.Random(seed)
    width, height = size
    img = Image.new("RGB", size, (246, 246, 246))
    draw = ImageDraw.Draw(img)
    bar = max(12, height // 16)
    draw.rectangle((0, 0, width, bar), fill=(60, 64, 72))
    draw.rectangle((0, bar, width // 5, height), fill=(230, 233, 238))
    font = ImageFont.load_default(size=max(8, height // 40))
    line = max(10, height // 28)
    words = ("analysis", "media", "land", "hash", "cluster", "export", "the", "of", "image", "job")
    y = bar + line
    while y < height - line:
        text = " ".join(rng.choice(words) for _ in range(rng.randrange(3, 12)))
        draw.text((width // 5 + 12, y), text, fill=(30, 30, 30), font=font)
        y += line
    return img


GRAPHICS: dict[str, Callable[[tuple[int, int], int], Image.Image]] = {
    "flat": flat,
    "gradient": linear_gradient,
    "logo": logo,
    "line_art": line_art,
    "chart": chart,
    "screenshot": screenshot,
}


def encoded(img: Image.Image, fmt: str) -> bytes:
    """``img`` in ``fmt``; "WEBP" is lossless WebP, "GIF" an adaptive palette."""
    buffer = io.BytesIO()
    if fmt == "WEBP":
        img.save(buffer, "WEBP", lossless=True)
    elif fmt == "GIF":
        img.convert("P", palette=Image.Palette.ADAPTIVE, colors=256).save(buffer, "GIF")
    elif fmt == "JPEG":
        img.save(buffer, "JPEG", quality=88)
    else:
        img.save(buffer, fmt)
    return buffer.getvalue()
