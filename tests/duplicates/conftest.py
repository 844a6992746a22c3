"""Pictures for the near-duplicate tests: real photos cut into distinct pictures, and edited copies."""

from __future__ import annotations

import hashlib
import io

import imagehash
import pytest
from PIL import Image
from sklearn.datasets import load_sample_image

from media_analysis.engine.duplicates.hashes import HashedImage
from tests.support.photo_edits import EDITS


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
