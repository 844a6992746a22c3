"""The reposting evaluation set: pictures from independent sources, each republished with edits.

Sources, all available offline from installed packages or generated here:

* ``skimage``: scikit-image's bundled photos (astronaut, camera, cat, coffee, Hubble deep
  field, immunohistochemistry slide, motorcycle, rocket, retina, coins, moon and three
  textures: grass, gravel, brick);
* ``sklearn``: scikit-learn's two sample photos (china, flower), whole;
* ``scene``: generated landscapes (sky gradient, ridges, sun, trees, grain), each from its seed;
* ``product``: generated product shots, one object on the same white background (hard negatives);
* ``screen``: generated screenshots of one site's layout, same header and sidebar (hard negatives);
* ``more products``, ``more screens``: 32 more of each (:data:`MORE_NEGATIVES`), after the
  others, at a web size only.

Every picture is published at one size, alternately a web size (long side 640 to 1024 px)
and a camera size (long side 3000 to 4000 px, upscaled with a light grain: the sources
are not that large, and what matters here is that the analysis decodes such files the
way it decodes camera files). Then every edit of :data:`EDITS` is applied to the decoded
original and published again as a JPEG. The watermark is the same on every picture, and
the frame colours repeat: pictures that differ but share a frame or a mark are negatives.

The split: pictures (never images) are shuffled once with the seed :data:`SPLIT_SEED`
within each source and dealt alternately to the tuning half and the held-out half.
Thresholds are chosen on the tuning half only.
"""

from __future__ import annotations

import io
import random
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont, ImageOps

from tests.support.photo_edits import (
    FRAME_COLOURS,
    asymmetric_crop,
    caption,
    centre_square,
    cut,
    cut_each_border,
    framed,
    watermark,
)

SPLIT_SEED = 19
SKIMAGE_PHOTOS = (
    "astronaut", "camera", "chelsea", "coffee", "hubble_deep_field", "immunohistochemistry",
    "motorcycle_left", "rocket", "retina", "coins", "moon", "grass", "gravel", "brick",
)  # fmt: skip
GENERATED = {"scene": 12, "product": 8, "screen": 8}
# More hard negatives, appended after the set above as sources of their own so that the
# earlier pictures keep their size and their half: (source, maker, first number, count).
MORE_NEGATIVES = (("more products", "product", 8, 32), ("more screens", "screen", 8, 32))


@dataclass(frozen=True)
class Picture:
    name: str
    source: str
    image: Image.Image
    camera: bool  # published at a camera size rather than a web size


def _skimage_photo(name: str) -> Image.Image:
    from skimage import data

    array = data.stereo_motorcycle()[0] if name == "motorcycle_left" else getattr(data, name)()
    return Image.fromarray(array).convert("RGB")


def _sklearn_photo(name: str) -> Image.Image:
    from sklearn.datasets import load_sample_image

    return Image.fromarray(load_sample_image(name))


def _grain(image: Image.Image, rng: np.random.Generator, sigma: float = 4.0) -> Image.Image:
    pixels = np.asarray(image.convert("RGB"), dtype=np.float32)
    pixels += rng.normal(0, sigma, pixels.shape[:2])[..., None]
    return Image.fromarray(pixels.clip(0, 255).astype(np.uint8))


def scene(seed: int) -> Image.Image:
    rng = random.Random(seed)
    w, h = 960, rng.choice((640, 720, 540))
    sky_top = np.array([rng.randint(20, 120), rng.randint(60, 160), rng.randint(150, 255)], dtype=np.float32)
    sky_low = np.array([rng.randint(180, 255), rng.randint(150, 230), rng.randint(120, 220)], dtype=np.float32)
    t = np.linspace(0, 1, h, dtype=np.float32)[:, None, None]
    sky = (sky_top * (1 - t) + sky_low * t) * np.ones((1, w, 1), dtype=np.float32)
    image = Image.fromarray(sky.astype(np.uint8))
    draw = ImageDraw.Draw(image)
    sx, sy, r = rng.randint(0, w), rng.randint(0, h // 3), rng.randint(20, 70)
    draw.ellipse((sx - r, sy - r, sx + r, sy + r), fill=(255, rng.randint(200, 250), rng.randint(120, 200)))
    for layer in range(rng.randint(2, 4)):
        base = h * (0.35 + 0.15 * layer) + rng.uniform(-30, 30)
        xs = np.linspace(0, w, rng.randint(5, 12))
        ys = [base + rng.uniform(-h * 0.15, h * 0.1) for _ in xs]
        shade = 40 + 35 * layer
        colour = (rng.randint(20, shade), rng.randint(shade, shade + 60), rng.randint(20, shade))
        draw.polygon([(0, h), *zip(xs.tolist(), ys, strict=True), (w, h)], fill=colour)
    for _ in range(rng.randint(3, 15)):
        x, y = rng.randint(0, w), rng.randint(h // 2, h)
        size = rng.randint(15, 60)
        draw.polygon([(x, y - size * 2), (x - size // 2, y), (x + size // 2, y)], fill=(10, rng.randint(50, 110), 30))
    image = image.filter(ImageFilter.GaussianBlur(1.2))
    return _grain(image, np.random.default_rng(seed))


def product(seed: int) -> Image.Image:
    rng = random.Random(seed)
    w, h = rng.choice(((800, 800), (900, 700), (700, 900)))
    image = Image.new("RGB", (w, h), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    cx, cy = w // 2 + rng.randint(-40, 40), h // 2 + rng.randint(-40, 40)
    colour = (rng.randint(0, 220), rng.randint(0, 220), rng.randint(0, 220))
    kind = seed % 4
    bw, bh = rng.randint(w // 5, w // 3), rng.randint(h // 5, h // 3)
    # A soft shadow, then the object.
    draw.ellipse((cx - bw, cy + bh - 15, cx + bw, cy + bh + 25), fill=(225, 225, 225))
    if kind == 0:
        draw.rounded_rectangle((cx - bw, cy - bh, cx + bw, cy + bh), radius=30, fill=colour)
    elif kind == 1:
        draw.ellipse((cx - bw, cy - bh, cx + bw, cy + bh), fill=colour)
    elif kind == 2:
        draw.polygon([(cx, cy - bh), (cx - bw, cy + bh), (cx + bw, cy + bh)], fill=colour)
    else:
        draw.rectangle((cx - bw // 3, cy - bh, cx + bw // 3, cy + bh), fill=colour)
        draw.ellipse((cx - bw, cy - bh // 3, cx + bw, cy + bh // 3), fill=colour)
    highlight = tuple(min(255, c + 60) for c in colour)
    draw.ellipse((cx - bw // 3, cy - bh // 2, cx, cy - bh // 4), fill=highlight)
    image = image.filter(ImageFilter.GaussianBlur(1.5))
    return _grain(image, np.random.default_rng(seed), sigma=1.5)


def screen(seed: int) -> Image.Image:
    rng = random.Random(seed)
    w, h = 1280, 800
    image = Image.new("RGB", (w, h), (250, 250, 250))
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=18)
    title = ImageFont.load_default(size=30)
    draw.rectangle((0, 0, w, 70), fill=(30, 60, 120))
    draw.text((24, 18), "The Daily Site", fill=(255, 255, 255), font=title)
    for i, item in enumerate(("News", "World", "Sport", "Culture")):
        draw.text((700 + 120 * i, 26), item, fill=(220, 230, 255), font=font)
    draw.rectangle((0, 70, 220, h), fill=(235, 238, 242))
    for i in range(12):
        draw.text((20, 100 + 40 * i), f"Section {i + 1}", fill=(60, 60, 80), font=font)
    words = ["city", "report", "market", "council", "river", "festival", "study", "team", "vote", "storm"]
    head = " ".join(rng.choice(words).capitalize() for _ in range(rng.randint(3, 6)))
    draw.text((260, 100), head, fill=(20, 20, 20), font=title)
    y = 160
    if rng.random() < 0.6:
        box = (260, y, 260 + rng.randint(300, 600), y + rng.randint(160, 300))
        draw.rectangle(box, fill=(rng.randint(60, 200), rng.randint(60, 200), rng.randint(60, 200)))
        y = box[3] + 20
    while y < h - 40:
        line = " ".join(rng.choice(words) for _ in range(rng.randint(6, 14)))
        draw.text((260, y), line, fill=(40, 40, 40), font=font)
        y += rng.choice((26, 26, 26, 52))
    return image


def pictures() -> list[Picture]:
    """Every picture of the set, each at its published size."""
    found: list[tuple[str, str, Image.Image]] = []
    found += [(name, "skimage", _skimage_photo(name)) for name in SKIMAGE_PHOTOS]
    found += [(name.split(".")[0], "sklearn", _sklearn_photo(name)) for name in ("china.jpg", "flower.jpg")]
    makers: dict[str, Callable[[int], Image.Image]] = {"scene": scene, "product": product, "screen": screen}
    for source, count in GENERATED.items():
        found += [(f"{source}{i}", source, makers[source](1000 * len(source) + i)) for i in range(count)]
    for source, maker, first, count in MORE_NEGATIVES:
        numbers = range(first, first + count)
        found += [(f"{maker}{i}", source, makers[maker](1000 * len(maker) + i)) for i in numbers]
    rng = random.Random(5)
    out = []
    more = {source for source, *_ in MORE_NEGATIVES}
    for index, (name, source, image) in enumerate(found):
        # The extra negatives are about what they show, not about decoding: web size only.
        camera = index % 2 == 1 and source not in more
        long_side = rng.randint(3000, 4000) if camera else rng.randint(640, 1024)
        scale = long_side / max(image.size)
        size = (round(image.width * scale), round(image.height * scale))
        image = image.resize(size, Image.Resampling.LANCZOS)
        if camera:
            image = _grain(image, np.random.default_rng(index), sigma=3.0)
        out.append(Picture(name, source, image, camera))
    return out


def split(items: list[Picture]) -> tuple[list[int], list[int]]:
    """Indexes of the tuning and held-out pictures: shuffled once per source, dealt alternately."""
    rng = random.Random(SPLIT_SEED)
    tuning: list[int] = []
    held_out: list[int] = []
    turn = 0
    for source in dict.fromkeys(p.source for p in items):
        indexes = [i for i, p in enumerate(items) if p.source == source]
        rng.shuffle(indexes)
        for i in indexes:
            (tuning if turn % 2 == 0 else held_out).append(i)
            turn += 1
    return sorted(tuning), sorted(held_out)


def random_crop(image: Image.Image, variant: int) -> Image.Image:
    """One side cut by 6-18 % and another by 0-7 %, adjacent or opposite, drawn from the picture's seed.

    The regions are placed for 12 % and 4 %: this edit measures how far they reach.
    """
    rng = random.Random(1000 + variant)
    big, small = rng.sample(range(4), 2)
    shares = [0.0, 0.0, 0.0, 0.0]  # left, top, right, bottom
    shares[big], shares[small] = rng.uniform(0.06, 0.18), rng.uniform(0.0, 0.07)
    return cut(image, *shares)


RANDOM_CROP = "random crop 6-18 %/0-7 %"
# name -> edit(picture, variant); None when the edit does not apply (square crop of a non-landscape).
EDITS: dict[str, Callable[[Image.Image, int], tuple[Image.Image, int] | None]] = {
    "cut 5 % each border": lambda im, v: (cut_each_border(im), 90),
    "asymmetric 12 %/4 %": lambda im, v: (asymmetric_crop(im, v), 90),
    "frame 8 %": lambda im, v: (framed(im, FRAME_COLOURS[v % len(FRAME_COLOURS)]), 90),
    "centre square": lambda im, v: (centre_square(im), 90) if im.width >= im.height * 1.2 else None,
    "mirror": lambda im, v: (ImageOps.mirror(im), 90),
    "half size": lambda im, v: (im.resize((im.width // 2, im.height // 2), Image.Resampling.LANCZOS), 90),
    "JPEG q50": lambda im, v: (im, 50),
    "greyscale": lambda im, v: (im.convert("L"), 90),
    "caption": lambda im, v: (caption(im), 90),
    "watermark": lambda im, v: (watermark(im), 90),
    RANDOM_CROP: lambda im, v: (random_crop(im, v), 90),
}


def jpeg(image: Image.Image, quality: int = 90) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def published(items: list[Picture]) -> list[tuple[int, str, bytes]]:
    """(picture index, edit, JPEG bytes): each original ("original") and its edited copies."""
    out = []
    for index, picture in enumerate(items):
        data = jpeg(picture.image)
        out.append((index, "original", data))
        original = Image.open(io.BytesIO(data))
        original.load()
        for edit, apply in EDITS.items():
            edited = apply(original, index)
            if edited is not None:
                out.append((index, edit, jpeg(edited[0], edited[1])))
    return out
