import io

import imagehash
import numpy as np
import pytest
from PIL import Image

from media_analysis.engine.image import analyse_image
from media_analysis.engine.image.decode import decode_first_frame, normalised
from media_analysis.engine.image.hashes import HASH_GRIDS, hash_grids
from tests.analysis.conftest import encode, gradient

HASHES = {
    "phash": imagehash.phash,
    "dhash": imagehash.dhash,
    "ahash": imagehash.average_hash,
    "colorhash": imagehash.colorhash,
}


def _distances(data: bytes) -> dict[str, int]:
    """Hamming distance of each of our hashes to imagehash's on the fully decoded image."""
    result = analyse_image(data)
    with Image.open(io.BytesIO(data)) as img:
        img.load()
        return {
            name: bin(int(str(function(img)), 16) ^ int(getattr(result, name), 16)).count("1")
            for name, function in HASHES.items()
        }


def test_small_images_hash_exactly_like_imagehash(photo):
    # At most 200 pixels on the short side: hashed from the full image, as imagehash does.
    small = photo.resize((240, 160))
    for fmt in ("PNG", "JPEG"):
        distances = _distances(encode(small, fmt))
        assert distances["phash"] == distances["dhash"] == distances["ahash"] == 0, fmt


def test_tiny_image_colour_hash_is_exact():
    distances = _distances(encode(gradient((90, 60)), "PNG"))

    assert distances == dict.fromkeys(HASHES, 0)


@pytest.mark.parametrize(
    ("size", "fmt", "mode"),
    [
        ((640, 427), "PNG", "RGB"),
        ((640, 427), "WEBP", "RGB"),
        ((600, 399), "JPEG", "RGB"),
        ((1600, 1067), "JPEG", "RGB"),
        ((2400, 1600), "JPEG", "RGB"),
        ((800, 533), "PNG", "RGBA"),
        ((640, 427), "GIF", "P"),
    ],
)
def test_hashes_within_two_bits_of_imagehash(photo, size, fmt, mode):
    img = photo.resize(size, Image.Resampling.BICUBIC)
    if mode == "RGBA":
        img.putalpha(Image.radial_gradient("L").resize(size))
    elif mode == "P":
        img = img.convert("P", palette=Image.Palette.ADAPTIVE)

    distances = _distances(encode(img, fmt))

    assert max(distances.values()) <= 2, distances


def test_identical_content_gives_identical_hashes_across_formats(china):
    png = analyse_image(encode(china, "PNG"))
    bmp = analyse_image(encode(china, "BMP"))

    assert (png.phash, png.dhash, png.ahash, png.colorhash) == (bmp.phash, bmp.dhash, bmp.ahash, bmp.colorhash)
    assert png.image_hash != bmp.image_hash


def test_near_duplicates_have_close_phashes(china):
    original = analyse_image(encode(china, "PNG"))
    recompressed = analyse_image(encode(china.resize((480, 320)), "JPEG", quality=60))
    other = analyse_image(encode(china.transpose(Image.FLIP_TOP_BOTTOM), "PNG"))

    def distance(a: str, b: str) -> int:
        return bin(int(a, 16) ^ int(b, 16)).count("1")

    assert distance(original.phash, recompressed.phash) <= 4
    assert distance(original.phash, other.phash) > 10


def test_flat_image_hashes():
    data = encode(Image.new("RGB", (300, 300), (0, 0, 0)), "PNG")
    distances = _distances(data)
    result = analyse_image(data)

    assert distances == dict.fromkeys(HASHES, 0)
    assert result.ahash == "0000000000000000"
    assert int(result.colorhash, 16) == int(str(imagehash.colorhash(Image.new("RGB", (8, 8)))), 16)


@pytest.mark.parametrize(("size", "fmt"), [((1200, 800), "PNG"), ((1000, 667), "GIF"), ((1600, 1067), "JPEG")])
def test_hash_grids_follow_pillows_lanczos_on_the_full_image(photo, size, fmt):
    data = encode(photo.resize(size, Image.Resampling.BICUBIC), fmt)
    with Image.open(io.BytesIO(data)) as full:
        full.load()
        grey = full.convert("L")
        expected = {name: np.asarray(grey.resize(grid, Image.Resampling.LANCZOS)) for name, grid in HASH_GRIDS.items()}
    with Image.open(io.BytesIO(data)) as img:
        size = img.size  # a DCT-scaled decode shrinks it
        decoded, draft_box = decode_first_frame(img, data)
        grids = hash_grids(normalised(decoded), draft_box, size)

    for name, grid in grids.items():
        difference = np.abs(grid.astype(int) - expected[name].astype(int))
        # Block means of a full decode: rounding only. A DCT-scaled JPEG: also libjpeg's
        # clamping of overshooting pixels, which only a full decode performs.
        assert difference.max() <= (2 if fmt == "JPEG" else 1), name
        assert difference.mean() < 0.5, name
