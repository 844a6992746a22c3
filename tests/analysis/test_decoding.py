"""The faster decoders for PNG and still WebP give Pillow's pixels, or step aside for Pillow."""

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from media_analysis.engine.errors import CorruptImage
from media_analysis.engine.image import analyse_image, decode
from tests.analysis.conftest import encode, gradient


def _opened(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data))


def _pillow_pixels(data: bytes) -> np.ndarray:
    with _opened(data) as img:
        img.load()
        return np.asarray(img)


@pytest.mark.parametrize(
    ("fmt", "mode", "params"),
    [
        ("PNG", "RGB", {}),
        ("PNG", "RGBA", {}),
        ("PNG", "L", {}),
        ("PNG", "LA", {}),
        ("WEBP", "RGB", {"quality": 80}),
        ("WEBP", "RGBA", {"quality": 80}),
        ("WEBP", "RGB", {"lossless": True}),
    ],
)
def test_fast_path_decodes_the_pixels_pillow_decodes(photo, fmt, mode, params):
    img = photo.resize((320, 213))
    if mode in ("RGBA", "LA"):
        img.putalpha(Image.radial_gradient("L").resize(img.size))
    data = encode(img.convert(mode), fmt, **params)

    fast = decode._fast_decoded(_opened(data), data)

    assert fast is not None
    # Still WebP comes as RGBX, Pillow's own four-byte layout of RGB, to avoid a copy.
    assert fast.mode == ("RGBX" if (fmt, mode) == ("WEBP", "RGB") else mode)
    assert np.array_equal(np.asarray(fast.convert(mode)), _pillow_pixels(data))


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda img: encode(img.convert("P", palette=Image.Palette.ADAPTIVE), "PNG"), id="palette"),
        pytest.param(lambda img: encode(img.convert("I;16"), "PNG"), id="16-bit"),
        pytest.param(lambda img: encode(img, "PNG", transparency=(0, 0, 0)), id="colour-key"),
        pytest.param(lambda img: encode(img, "GIF"), id="gif"),
        pytest.param(lambda img: encode(img, "JPEG"), id="jpeg"),
        pytest.param(lambda img: encode(img, "PNG", save_all=True, append_images=[img.rotate(90)]), id="animated-png"),
        pytest.param(
            lambda img: encode(img, "WEBP", save_all=True, append_images=[img.rotate(90)]), id="animated-webp"
        ),
    ],
)
def test_other_images_are_left_to_pillow(gradient_image, make):
    data = make(gradient_image)

    assert decode._fast_decoded(_opened(data), data) is None


@pytest.fixture
def gradient_image() -> Image.Image:
    return gradient((240, 160))


def _with_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def _with_chunk_after_image_data(png: bytes, kind: bytes, payload: bytes) -> bytes:
    end = png.rindex(b"IEND") - 4
    return png[:end] + _with_chunk(kind, payload) + png[end:]


def _exif_bytes(make: str) -> bytes:
    exif = Image.Exif()
    exif[0x010F] = make
    return exif.tobytes()


def test_exif_after_the_image_data_is_still_read(gradient_image):
    data = _with_chunk_after_image_data(encode(gradient_image, "PNG"), b"eXIf", _exif_bytes("LateCamera"))

    assert decode._fast_decoded(_opened(data), data) is None
    assert analyse_image(data).exif_make == "LateCamera"


def test_exif_before_the_image_data_takes_the_fast_path(gradient_image):
    data = encode(gradient_image, "PNG", exif=_exif_bytes("EarlyCamera"))

    assert decode._fast_decoded(_opened(data), data) is not None
    assert analyse_image(data).exif_make == "EarlyCamera"


def test_truncated_png_is_still_reported_corrupt(photo):
    data = encode(photo.resize((320, 213)), "PNG")

    with pytest.raises(CorruptImage):
        analyse_image(data[: len(data) // 2])


@pytest.mark.parametrize("fmt", ["PNG", "WEBP"])
def test_results_do_not_depend_on_the_decoder(photo, fmt, monkeypatch):
    data = encode(photo.resize((640, 427)), fmt)
    fast = analyse_image(data)
    monkeypatch.setattr(decode, "imagecodecs", None)
    pillow = analyse_image(data)

    assert fast == pillow


def _corrupt_image_data_crc(png: bytes) -> bytes:
    start = png.index(b"IDAT") - 4
    length = int.from_bytes(png[start : start + 4], "big")
    crc_at = start + 8 + length
    return png[:crc_at] + bytes(b ^ 0xFF for b in png[crc_at : crc_at + 4]) + png[crc_at + 4 :]


def test_a_bad_crc_on_the_image_data_is_ignored_as_pillow_ignores_it(photo, monkeypatch):
    img = photo.resize((320, 213))
    data = _corrupt_image_data_crc(encode(img, "PNG"))
    with pytest.raises(Exception):  # noqa: B017 - whichever error libpng raises
        decode.imagecodecs.png_decode(data)

    fast = analyse_image(data)
    monkeypatch.setattr(decode, "imagecodecs", None)

    assert fast == analyse_image(data)


def test_what_the_fast_decoder_refuses_pillow_still_decodes(photo, monkeypatch):
    data = encode(photo.resize((320, 213)), "PNG")
    expected = analyse_image(data)

    def refuse(*args, **kwargs):
        raise RuntimeError("refused")

    monkeypatch.setattr(decode.imagecodecs, "png_decode", refuse)

    assert analyse_image(data) == expected


def test_truncated_webp_is_reported_corrupt(photo):
    data = encode(photo.resize((320, 213)), "WEBP")

    with pytest.raises(CorruptImage):
        analyse_image(data[: len(data) // 2])


def test_very_large_pngs_are_left_to_pillow_to_spare_memory(gradient_image, monkeypatch):
    data = encode(gradient_image, "PNG")
    monkeypatch.setattr(decode, "FAST_PNG_MAX_PIXELS", gradient_image.width * gradient_image.height - 1)

    assert decode._fast_decoded(_opened(data), data) is None
    assert analyse_image(data).width == gradient_image.width


def _chunks(png: bytes) -> list[tuple[bytes, int, int]]:
    found, position = [], 8
    while position + 8 <= len(png):
        length = int.from_bytes(png[position : position + 4], "big")
        found.append((png[position + 4 : position + 8], position, length))
        position += length + 12
    return found


def test_image_data_over_many_chunks_decodes_to_pillows_pixels(photo):
    data = encode(photo.resize((900, 600)).convert("RGBA"), "PNG")
    assert sum(kind == b"IDAT" for kind, _, _ in _chunks(data)) > 1

    fast = decode._fast_decoded(_opened(data), data)

    assert fast is not None
    assert np.array_equal(np.asarray(fast), _pillow_pixels(data))


def _with_damaged_image_data(png: bytes) -> bytes:
    """Flip bytes in the middle of the compressed data, with a CRC that matches them."""
    _, position, length = next(chunk for chunk in _chunks(png) if chunk[0] == b"IDAT")
    payload = bytearray(png[position + 8 : position + 8 + length])
    middle = len(payload) // 2
    payload[middle : middle + 16] = bytes(b ^ 0x5A for b in payload[middle : middle + 16])
    return png[:position] + _with_chunk(b"IDAT", bytes(payload)) + png[position + 12 + length :]


def test_damaged_image_data_is_reported_as_pillow_reports_it(photo, monkeypatch):
    data = _with_damaged_image_data(encode(photo.resize((320, 213)), "PNG"))

    with pytest.raises(CorruptImage) as fast:
        analyse_image(data)
    monkeypatch.setattr(decode, "imagecodecs", None)
    with pytest.raises(CorruptImage) as pillow:
        analyse_image(data)
    assert fast.value.mime_type == pillow.value.mime_type == "image/png"


def test_a_chunk_between_image_data_chunks_is_reported_as_pillow_reports_it(photo, monkeypatch):
    data = encode(photo.resize((900, 600)), "PNG")
    position, length = next((p, n) for kind, p, n in _chunks(data) if kind == b"IDAT")
    after_first = position + 12 + length
    data = data[:after_first] + _with_chunk(b"tIME", b"\x07\xea\x0c\x02\x00\x00\x00") + data[after_first:]

    with pytest.raises(CorruptImage, match="truncated"):
        analyse_image(data)
    monkeypatch.setattr(decode, "imagecodecs", None)
    with pytest.raises(CorruptImage, match="truncated"):
        analyse_image(data)
