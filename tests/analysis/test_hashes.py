import io

import imagehash
import numpy as np
import pytest
from PIL import Image

from media_analysis.engine.image import analyse_image
from media_analysis.engine.image.decode import JPEG_DRAFT_MIN, JPEG_DRAFT_SIDE, normalised
from media_analysis.engine.image.hashes import colour_hash, hex_bits, perceptual_hashes
from tests.analysis.conftest import encode, gradient
from tests.support.graphics import GRAPHICS, encoded

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
    small = photo.resize((240, 160))
    for fmt in ("PNG", "JPEG"):
        assert _distances(encode(small, fmt)) == dict.fromkeys(HASHES, 0), fmt


def test_tiny_image_colour_hash_is_exact():
    distances = _distances(encode(gradient((90, 60)), "PNG"))

    assert distances == dict.fromkeys(HASHES, 0)


def test_hashes_have_the_stored_lengths(photo):
    result = analyse_image(encode(photo, "PNG"))

    # 64 bits for pHash, dHash and the average hash, 14 bins of 3 bits for the colour hash.
    assert (len(result.phash), len(result.dhash), len(result.ahash), len(result.colorhash)) == (16, 16, 16, 11)


def _photo_variant(photo: Image.Image, size: tuple[int, int], mode: str) -> Image.Image:
    img = photo.resize(size, Image.Resampling.BICUBIC)
    if mode == "RGBA":
        img.putalpha(Image.radial_gradient("L").resize(size))
    elif mode == "P":
        img = img.convert("P", palette=Image.Palette.ADAPTIVE)
    return img


@pytest.mark.parametrize(
    ("size", "fmt", "mode", "params"),
    [
        ((640, 427), "PNG", "RGB", {}),
        ((800, 533), "PNG", "RGBA", {}),
        ((640, 427), "WEBP", "RGB", {"lossless": True}),
        ((640, 427), "WEBP", "RGB", {"quality": 80}),
        ((640, 427), "GIF", "P", {}),
        ((640, 427), "BMP", "RGB", {}),
        ((640, 427), "TIFF", "RGB", {}),
        ((600, 399), "JPEG", "RGB", {}),  # below the draft threshold: fully decoded
    ],
)
def test_fully_decoded_images_hash_exactly_like_imagehash(photo, size, fmt, mode, params):
    distances = _distances(encode(_photo_variant(photo, size, mode), fmt, **params))

    assert distances == dict.fromkeys(HASHES, 0)


def _jpeg(photo: Image.Image, size: tuple[int, int], encoding: str) -> bytes:
    img = photo.resize(size, Image.Resampling.BICUBIC)
    if encoding == "greyscale":
        return encode(img.convert("L"), "JPEG", quality=85)
    if encoding == "cmyk":
        return encode(img.convert("CMYK"), "JPEG", quality=90)
    if encoding == "progressive":
        return encode(img, "JPEG", quality=80, progressive=True)
    if encoding == "4:4:4":
        return encode(img, "JPEG", quality=95, subsampling=0)
    return encode(img, "JPEG", quality=88)


@pytest.mark.parametrize(
    ("size", "encoding"),
    [((320, 240), "baseline"), ((599, 399), "progressive"), ((399, 1000), "greyscale"), ((640, 360), "cmyk")],
)
def test_jpegs_under_the_draft_threshold_hash_exactly_like_imagehash(photo, size, encoding):
    assert min(size) < JPEG_DRAFT_MIN  # fully decoded
    assert _distances(_jpeg(photo, size, encoding)) == dict.fromkeys(HASHES, 0)


@pytest.mark.parametrize(
    ("size", "encoding"),
    [
        ((800, 600), "baseline"),
        ((1200, 800), "baseline"),
        ((1201, 799), "greyscale"),
        ((1600, 1067), "progressive"),
        ((2000, 1333), "cmyk"),
        ((600, 1000), "4:4:4"),
        ((2400, 1600), "baseline"),
    ],
)
def test_jpegs_decoded_at_reduced_scale_hash_within_two_bits_of_imagehash(photo, size, encoding):
    assert min(size) >= JPEG_DRAFT_MIN  # decoded at reduced DCT scale
    distances = _distances(_jpeg(photo, size, encoding))

    assert max(distances.values()) <= 2, distances


def test_large_jpeg_hashes_are_imagehashs_of_the_dct_scaled_draft(china):
    # The stored hashes of a large JPEG are imagehash's on the draft the engine decodes:
    # decoding it another way changes them, which calls for a new analysis version.
    data = _jpeg(china, (1200, 800), "baseline")
    with Image.open(io.BytesIO(data)) as img:
        img.draft(None, (JPEG_DRAFT_SIDE * 3 // 2, JPEG_DRAFT_SIDE))
        img.load()
        draft = img.copy()

    result = analyse_image(data)

    assert draft.size == (150, 100)
    assert (result.phash, result.dhash, result.ahash, result.colorhash) == tuple(
        str(function(draft)) for function in HASHES.values()
    )


@pytest.mark.xfail(
    strict=True,
    reason="known gap (docs/benchmarks/analysis.md): on grainy photos and sharp graphics decoded at reduced "
    "DCT scale, dHash, the colour hash and sometimes pHash differ by up to 5 bits; only the full decode meets it",
)
def test_every_large_benchmark_jpeg_hashes_within_two_bits_of_imagehash():
    from bench._images import GROUPS, build_group

    group = next(group for group in GROUPS if group.name == "jpeg_1200x800")
    worst = max(max(_distances(data).values()) for data in build_group(group, 8))

    assert worst <= 2


@pytest.mark.parametrize("kind", sorted(GRAPHICS))
@pytest.mark.parametrize("fmt", ["PNG", "GIF", "WEBP", "BMP", "TIFF"])
def test_graphics_hash_exactly_like_imagehash(kind, fmt):
    # Flat areas, hard edges and few colours: where hashes computed another way drift.
    for size in ((320, 240), (900, 600)):
        distances = _distances(encoded(GRAPHICS[kind](size, 1), fmt))
        assert distances == dict.fromkeys(HASHES, 0), (size, distances)


def test_flat_image_phash_is_imagehashs():
    # Only the DC coefficient is non-zero: imagehash sets the first bit alone, or no
    # bit at all for black, where every coefficient is zero.
    for colour, expected in (((255, 255, 255), "8000000000000000"), ((40, 90, 200), "8000000000000000"),
                             ((0, 0, 0), "0000000000000000")):  # fmt: skip
        for size, fmt in (((300, 300), "PNG"), ((1200, 800), "JPEG")):
            img = Image.new("RGB", size, colour)
            result = analyse_image(encode(img, fmt))
            assert result.phash == expected == str(imagehash.phash(img)), (colour, fmt)
            assert result.dhash == result.ahash == "0000000000000000", (colour, fmt)


def test_deep_images_are_hashed_scaled_to_eight_bits():
    # Pillow's conversion to 8 bits clips a 16-bit image to white, so imagehash on the
    # file gives every such image about the same hashes; the engine hashes it scaled.
    ramp = np.linspace(0, 60000, 400)
    pixels = np.add.outer(ramp[:300] * 0.5, ramp).clip(0, 65535).astype(np.uint16)
    data = encode(Image.fromarray(pixels), "PNG")
    scaled = Image.fromarray(np.rint(pixels / 65535 * 255).astype(np.uint8), "L")

    result = analyse_image(data)

    assert result.phash == str(imagehash.phash(scaled))
    assert result.dhash == str(imagehash.dhash(scaled))
    assert result.phash != "8000000000000000"


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


def _modes_of(img: Image.Image) -> dict[str, Image.Image]:
    """``img`` in the modes the analysis hashes, each as the decoder hands it over, then normalised."""
    rgba = img.convert("RGBA")
    rgba.putalpha(Image.radial_gradient("L").resize(img.size))
    deep = Image.fromarray((np.asarray(img.convert("L")).astype(np.uint16) * 257).astype(np.uint16))
    images = {
        "RGB": img,
        "RGBA": rgba,
        "P": img.convert("P", palette=Image.Palette.ADAPTIVE),
        "LA": rgba.convert("LA"),
        "L": img.convert("L"),
        "CMYK": img.convert("CMYK"),
        "1": img.convert("1"),
        "I;16": deep,
    }
    return {mode: normalised(image) for mode, image in images.items()}


@pytest.mark.parametrize("size", [(320, 213), (61, 47), (1, 1)])
def test_shared_greyscale_gives_imagehashs_hashes_in_every_mode(photo, size):
    for mode, img in _modes_of(photo.resize(size)).items():
        ours = perceptual_hashes(img)
        theirs = {name: str(function(img)) for name, function in HASHES.items()}

        assert (ours.phash, ours.dhash, ours.ahash, ours.colorhash) == tuple(theirs.values()), mode


def _hsv_sweep(value: int) -> Image.Image:
    """Every hue and saturation at one value, as RGB: pixels on each side of every bin's edge."""
    hue, saturation = np.meshgrid(np.arange(256), np.arange(256), indexing="ij")
    hsv = np.stack([hue, saturation, np.full_like(hue, value)], axis=-1).astype(np.uint8)
    return Image.fromarray(hsv, "HSV").convert("RGB")


def test_colour_hash_counts_every_bin_as_imagehash_does():
    rng = np.random.default_rng(3)
    images = [_hsv_sweep(value) for value in (20, 31, 32, 33, 90, 170, 255)]
    # Crops of the sweep shift the shares across the 3-bit levels of every bin.
    images += [img.crop((0, 0, int(rng.integers(1, 256)), int(rng.integers(1, 256)))) for img in images]
    images += [Image.fromarray(rng.integers(0, 256, (40, 60, 3), dtype=np.uint8)) for _ in range(20)]
    # Few colours, all in one or two bins: fields at their top level (7) and empty ones.
    images += [Image.new("RGB", (9, 7), tuple(int(v) for v in rng.integers(0, 256, 3))) for _ in range(20)]
    for img in images:
        assert colour_hash(img) == str(imagehash.colorhash(img, binbits=3))


def test_hex_bits_writes_imagehashs_hex():
    rng = np.random.default_rng(4)
    for length in (1, 3, 4, 5, 42, 64, 100):
        for _ in range(20):
            bits = rng.random(length) < rng.random()
            assert hex_bits(bits) == str(imagehash.ImageHash(bits)), length
