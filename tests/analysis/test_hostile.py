"""Every input ends in a result or in one of the three analysis failures, never anything else."""

import io
import struct
import threading
import warnings
import zlib

import numpy as np
import pytest
from PIL import Image

from media_analysis.engine.errors import CorruptImage, DecompressionBomb, NotAnImage, UnsupportedFormat
from media_analysis.engine.image import AnalysisOptions, analyse_image
from media_analysis.engine.sniff import sniff_image_mime
from tests.analysis.conftest import encode, gradient


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_declaring(width: int, height: int) -> bytes:
    """A tiny PNG whose header declares the given size (a decompression bomb when large)."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + _chunk(b"IEND", b"")
    )


def test_decompression_bomb_header():
    with pytest.raises(DecompressionBomb) as caught:
        analyse_image(png_declaring(30000, 30000))
    assert caught.value.error_class == "decompression_bomb"
    assert caught.value.mime_type == "image/png"


def test_max_pixels_option_is_enforced_before_decoding():
    data = encode(gradient((300, 200)), "PNG")

    with pytest.raises(DecompressionBomb):
        analyse_image(data, AnalysisOptions(max_pixels=300 * 200 - 1))
    assert analyse_image(data, AnalysisOptions(max_pixels=300 * 200)).width == 300


def test_bomb_between_pillow_warning_and_error_limits():
    # 10000x10000 only makes Pillow warn; the option rejects it, even with warnings as errors.
    data = png_declaring(10000, 10000)
    with pytest.raises(DecompressionBomb):
        analyse_image(data)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(DecompressionBomb):
            analyse_image(data)


@pytest.mark.usefixtures("pillow_limit")
def test_larger_limit_than_pillows_default_is_honoured():
    # The declared size passes our limit, so the (fake) pixel data is what fails.
    with pytest.raises(CorruptImage):
        analyse_image(png_declaring(9500, 9500), AnalysisOptions(max_pixels=91_000_000))
    assert Image.MAX_IMAGE_PIXELS == 91_000_000


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "GIF"])
def test_truncated_files(fmt):
    data = encode(gradient((400, 300)), fmt)

    with pytest.raises(CorruptImage) as caught:
        analyse_image(data[: len(data) // 2])
    assert caught.value.error_class == "corrupt_image"
    assert caught.value.mime_type.startswith("image/")


def test_truncated_large_jpeg_decoded_at_reduced_scale(china):
    data = encode(china.resize((1600, 1200)), "JPEG")

    with pytest.raises(CorruptImage):
        analyse_image(data[: len(data) // 3])


@pytest.mark.parametrize(
    "data",
    [
        b"\xff\xd8\xff\xe0" + b"\x00garbage" * 50,
        b"\x89PNG\r\n\x1a\n",
        b"GIF89a\x00\x00",
        b"RIFF\x10\x00\x00\x00WEBPVP8 ",
    ],
)
def test_image_signature_with_garbage(data):
    with pytest.raises(CorruptImage):
        analyse_image(data)


@pytest.mark.parametrize(
    ("data", "mime"),
    [
        (b"", "application/x-empty"),
        (b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="9" height="9"/>', "image/svg+xml"),
        (b'<svg xmlns="http://www.w3.org/2000/svg"><rect width="5" height="5"/></svg>', "image/svg+xml"),
        (b"<!DOCTYPE html><html><head><title>404</title></head><body>Not found</body></html>", "text/html"),
        (b"\n  <html><body>moved</body></html>", "text/html"),
        (b'{"error": "forbidden"}', "application/json"),
        (b"just some text", "text/plain"),
        (b"%PDF-1.7\n", "application/pdf"),
        (bytes(range(256)) * 4, "application/octet-stream"),
    ],
)
def test_not_images(data, mime):
    with pytest.raises(NotAnImage) as caught:
        analyse_image(data)
    assert caught.value.mime_type == mime
    assert caught.value.error_class == "not_an_image"
    assert sniff_image_mime(data) == mime


def test_random_bytes_never_escape():
    rng = np.random.default_rng(7)
    good = encode(gradient((64, 48)), "PNG")
    for _ in range(40):
        mutated = bytearray(good)
        for position in rng.integers(8, len(mutated), size=6):
            mutated[position] = int(rng.integers(0, 256))
        try:
            analyse_image(bytes(mutated))
        except (NotAnImage, UnsupportedFormat, CorruptImage, DecompressionBomb):
            pass


def _no_garbage_colours(result, low: int = 0, high: int = 255) -> None:
    for colour in result.dominant_colors:
        assert all(low <= v <= high for v in colour["rgb"])


def test_cmyk_jpeg(china):
    result = analyse_image(encode(china.convert("CMYK"), "JPEG"))

    assert result.color_mode == "CMYK"
    reference = analyse_image(encode(china, "PNG"))
    # Same photo: the main colours stay close (CMYK round trip is naive but not garbage).
    first, ref_first = result.dominant_colors[0]["rgb"], reference.dominant_colors[0]["rgb"]
    assert sum(abs(a - b) for a, b in zip(first, ref_first, strict=True)) < 60


def test_sixteen_bit_png_is_scaled_not_clipped():
    ramp = np.tile(np.linspace(0, 65535, 256).astype("<u2"), (128, 1))
    img = Image.frombytes("I;16", (256, 128), ramp.tobytes())

    result = analyse_image(encode(img, "PNG"))

    assert result.color_mode in ("I;16", "I")
    greys = [c["rgb"][0] for c in result.dominant_colors]
    # A full black-to-white ramp: colours spread over the range, not all white.
    assert min(greys) < 60
    assert max(greys) > 195
    assert all(c["rgb"][0] == c["rgb"][1] == c["rgb"][2] for c in result.dominant_colors)


def test_float_and_int_modes():
    values = np.linspace(0, 1, 100 * 80, dtype=np.float32).reshape(80, 100)
    float_result = analyse_image(encode(Image.fromarray(values, "F"), "TIFF"))
    int_result = analyse_image(encode(Image.fromarray((values * 1000).astype(np.int32), "I"), "TIFF"))

    for result in (float_result, int_result):
        greys = [c["rgb"][0] for c in result.dominant_colors]
        assert min(greys) < 60
        assert max(greys) > 195


def test_multi_frame_tiff():
    frames = [gradient(), gradient().rotate(180), gradient().convert("L").convert("RGB")]
    data = encode(frames[0], "TIFF", save_all=True, append_images=frames[1:])

    result = analyse_image(data)

    assert result.format == "TIFF"
    assert result.frames == 3


def test_ico():
    result = analyse_image(encode(gradient((64, 64)), "ICO", sizes=[(16, 16), (64, 64)]))

    assert result.format == "ICO"
    assert result.mime_type == "image/x-icon"
    assert (result.width, result.height) == (64, 64)


def test_one_bit_image():
    img = gradient().convert("1")

    result = analyse_image(encode(img, "PNG"))

    assert result.color_mode == "1"
    assert {c["hex"] for c in result.dominant_colors} == {"#000000", "#ffffff"}


def test_grayscale_jpeg(photo):
    result = analyse_image(encode(photo.convert("L"), "JPEG"))

    assert result.color_mode == "L"
    assert all(c["rgb"][0] == c["rgb"][1] == c["rgb"][2] for c in result.dominant_colors)


def test_palette_and_la_images(photo):
    palette = analyse_image(encode(photo.convert("P", palette=Image.Palette.ADAPTIVE), "PNG"))
    la = analyse_image(encode(photo.convert("LA"), "PNG"))

    assert palette.color_mode == "P"
    assert len(palette.dominant_colors) == 5
    assert la.color_mode == "LA"
    assert len(la.dominant_colors) == 5


def test_palette_alpha_png():
    img = gradient().convert("RGBA").quantize(16)

    result = analyse_image(encode(img, "PNG"))

    assert len(result.dominant_colors) == 5


def test_concurrent_calls_with_different_limits() -> None:
    small = encode(gradient((300, 200)), "PNG")
    errors: list[BaseException] = []

    def worker(limit: int, expect_bomb: bool) -> None:
        try:
            for _ in range(5):
                if expect_bomb:
                    with pytest.raises(DecompressionBomb):
                        analyse_image(small, AnalysisOptions(max_pixels=limit))
                else:
                    assert analyse_image(small, AnalysisOptions(max_pixels=limit)).width == 300
        except BaseException as exc:  # collected for the main thread
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(1000, True)), threading.Thread(target=worker, args=(10**8, False))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors


def test_bmp_and_reading_from_memory_only():
    data = encode(gradient(), "BMP")

    result = analyse_image(data)

    assert result.format == "BMP"
    assert io.BytesIO(data).getvalue() == data
