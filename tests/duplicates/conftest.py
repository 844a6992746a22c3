"""Pictures for the near-duplicate tests: real photos cut into distinct pictures, and edited copies."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable

import imagehash
import pytest
from PIL import Image, ImageDraw, ImageFont, ImageOps
from sklearn.datasets import load_sample_image

from media_analysis.near_duplicates import HashedImage


def encode_jpeg(image: Image.Image, quality: int = 90) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def decode(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def hashed(key: int, data: bytes) -> HashedImage:
    """Hash a file the way the analysis stores it: SHA-256 of the bytes, perceptual hashes of the pixels."""
    image = decode(data)
    return HashedImage.from_hex(
        key,
        sha256=hashlib.sha256(data).hexdigest(),
        phash=str(imagehash.phash(image)),
        dhash=str(imagehash.dhash(image)),
        colorhash=str(imagehash.colorhash(image)),
    )


def _caption(image: Image.Image) -> Image.Image:
    image = image.convert("RGB")
    ImageDraw.Draw(image).text(
        (6, image.height - 18), "(c) some news site", fill=(255, 255, 255), font=ImageFont.load_default()
    )
    return image


def _crop_5_percent(image: Image.Image) -> Image.Image:
    dx, dy = round(image.width * 0.025), round(image.height * 0.025)
    return image.crop((dx, dy, image.width - dx, image.height - dy))


# Each edit returns the edited picture and the JPEG quality it is published with.
EDITS: dict[str, Callable[[Image.Image], tuple[Image.Image, int]]] = {
    "half": lambda im: (im.resize((im.width // 2, im.height // 2), Image.Resampling.LANCZOS), 90),
    "jpeg50": lambda im: (im, 50),
    "crop5": lambda im: (_crop_5_percent(im), 90),
    "grey": lambda im: (im.convert("L"), 90),
    "text": lambda im: (_caption(im), 90),
    "mirror": lambda im: (ImageOps.mirror(im), 90),
}


@pytest.fixture(scope="session")
def pictures() -> list[bytes]:
    """Eight distinct pictures (quadrants of the two sample photos), as JPEG files."""
    files = []
    for name in ("china.jpg", "flower.jpg"):
        photo = Image.fromarray(load_sample_image(name))
        w, h = photo.size
        for box in ((0, 0, w // 2, h // 2), (w // 2, 0, w, h // 2), (0, h // 2, w // 2, h), (w // 2, h // 2, w, h)):
            files.append(encode_jpeg(photo.crop(box)))
    return files


@pytest.fixture(scope="session")
def edited_set(pictures) -> tuple[list[HashedImage], dict[int, tuple[int, str]]]:
    """Every picture and one copy per edit; truth maps key -> (picture index, edit name)."""
    items, truth = [], {}
    for index, data in enumerate(pictures):
        key = 100 * (index + 1)
        items.append(hashed(key, data))
        truth[key] = (index, "original")
        original = decode(data)
        for offset, (edit, apply) in enumerate(EDITS.items(), start=1):
            image, quality = apply(original)
            items.append(hashed(key + offset, encode_jpeg(image, quality)))
            truth[key + offset] = (index, edit)
    return items, truth
