"""Images built in memory for the analysis tests, plus scikit-learn's two sample photos."""

from __future__ import annotations

import io
from functools import cache

import pytest
from PIL import Image


def encode(img: Image.Image, fmt: str, **params) -> bytes:
    buffer = io.BytesIO()
    img.save(buffer, fmt, **params)
    return buffer.getvalue()


def gradient(size: tuple[int, int] = (300, 200)) -> Image.Image:
    """An RGB image with smooth variation on every channel (no flat areas)."""
    width, height = size
    red = Image.linear_gradient("L").resize(size)
    green = Image.linear_gradient("L").rotate(90).resize(size)
    blue = Image.radial_gradient("L").resize((width, height))
    return Image.merge("RGB", (red, green, blue))


@cache
def _photo(name: str) -> Image.Image:
    from sklearn.datasets import load_sample_image

    return Image.fromarray(load_sample_image(name))


@pytest.fixture(params=["china.jpg", "flower.jpg"])
def photo(request) -> Image.Image:
    return _photo(request.param).copy()


@pytest.fixture
def china() -> Image.Image:
    return _photo("china.jpg").copy()


@pytest.fixture
def flower() -> Image.Image:
    return _photo("flower.jpg").copy()


@pytest.fixture
def pillow_limit():
    """Pillow's process-wide pixel limit, restored after the test.

    An analysis whose options allow more pixels than Pillow's current limit raises that
    limit for the whole process (it is never lowered under other threads' feet); a test
    that does so must not leave it raised for the tests after it.
    """
    saved = Image.MAX_IMAGE_PIXELS
    yield
    Image.MAX_IMAGE_PIXELS = saved
