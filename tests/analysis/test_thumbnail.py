"""Thumbnails made by the analysis: every format, size and aspect, and their trip from a worker process."""

from __future__ import annotations

import base64
import io
import json

import numpy as np
import pytest
from PIL import Image

from media_analysis.engine.errors import CorruptImage
from media_analysis.engine.image import AnalysisOptions, analyse_image, guarded
from media_analysis.engine.image.analyse import analyse_in_process
from media_analysis.engine.image.guarded import GuardedAnalyser, memory_limit
from media_analysis.engine.image.thumbnail import MAX_THUMBNAIL_BYTES, checked_thumbnail

OPTIONS = AnalysisOptions(thumbnail_size=320, thumbnail_redecode=True, timeout=None)


def encode(img: Image.Image, fmt: str, **params) -> bytes:
    out = io.BytesIO()
    img.save(out, fmt, **params)
    return out.getvalue()


def photo(size: tuple[int, int]) -> Image.Image:
    width, height = size
    x = np.linspace(0, 255, width, dtype=np.float32)[None, :]
    y = np.linspace(0, 255, height, dtype=np.float32)[:, None]
    pixels = np.stack([x + 0 * y, y + 0 * x, (x + y) / 2], axis=-1).astype(np.uint8)
    return Image.fromarray(pixels, "RGB")


def opened(data: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(data))
    img.load()
    return img


def thumbnail_of(data: bytes, options: AnalysisOptions = OPTIONS):
    thumb = analyse_image(data, options).thumbnail
    assert thumb is not None
    return thumb, opened(thumb.data)


def test_a_small_jpeg_is_reduced_to_the_size_on_its_long_side_keeping_its_aspect():
    thumb, img = thumbnail_of(encode(photo((900, 300)), "JPEG"))
    assert (thumb.mime_type, img.format, img.size) == ("image/jpeg", "JPEG", (320, 107))
    assert (thumb.width, thumb.height) == img.size
    assert thumb.extension == "jpg"


def test_a_portrait_is_reduced_on_its_height():
    _, img = thumbnail_of(encode(photo((300, 600)), "PNG"))
    assert img.size == (160, 320)


@pytest.mark.parametrize(
    ("size", "expected"), [((1200, 800), (320, 213)), ((2000, 1333), (320, 214)), ((4000, 3000), (320, 240))]
)
def test_a_large_jpeg_thumbnail_reaches_the_size(size, expected):
    # The analysis decodes a 1/8 draft; when that is smaller than the thumbnail, a draft of its own is decoded.
    data = encode(photo(size), "JPEG", quality=88)
    thumb, img = thumbnail_of(data)
    assert img.size == expected
    assert img.mode == "RGB"
    # Colours survive: the top-left corner is dark, the bottom-right light.
    assert sum(img.getpixel((2, 2))) < 60
    assert sum(img.getpixel((expected[0] - 3, expected[1] - 3))) > 600
    assert len(thumb.data) < 40_000
    # The analysis's values do not depend on it.
    without = analyse_image(data, AnalysisOptions(timeout=None))
    assert analyse_image(data, OPTIONS).as_fields() == without.as_fields()


@pytest.mark.parametrize(
    ("orientation", "size", "dark_corner"),
    [(1, (320, 160), (0, 0)), (3, (320, 160), (319, 159)), (6, (160, 320), (159, 0)), (8, (160, 320), (0, 319))],
)
def test_the_thumbnail_is_turned_upright_by_the_exif_orientation(orientation, size, dark_corner):
    exif = Image.Exif()
    exif[0x0112] = orientation
    data = encode(photo((640, 320)), "JPEG", exif=exif.tobytes())
    result = analyse_image(data, OPTIONS)
    assert (result.width, result.height) == (640, 320)  # the values are of the pixels as stored
    img = opened(result.thumbnail.data)
    assert img.size == size
    assert sum(img.getpixel(dark_corner)) < 80


def test_an_image_smaller_than_the_size_keeps_its_size():
    _, img = thumbnail_of(encode(photo((120, 80)), "PNG"))
    assert img.size == (120, 80)


def test_transparency_is_kept_in_webp():
    rgba = photo((400, 400)).convert("RGBA")
    alpha = Image.new("L", (400, 400), 0)
    alpha.paste(255, (100, 100, 300, 300))
    rgba.putalpha(alpha)
    thumb, img = thumbnail_of(encode(rgba, "PNG"))
    assert (thumb.mime_type, img.format, img.mode, img.size) == ("image/webp", "WEBP", "RGBA", (320, 320))
    assert img.getpixel((5, 5))[3] == 0
    assert img.getpixel((160, 160))[3] == 255


def test_palette_transparency_is_kept():
    palette = photo((200, 100)).convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    thumb, img = thumbnail_of(encode(palette, "GIF", transparency=0))
    assert thumb.mime_type == "image/webp"
    assert img.mode == "RGBA"


def test_an_animated_gif_gives_its_first_frame():
    frames = [Image.new("RGB", (200, 100), colour) for colour in ((250, 0, 0), (0, 0, 250), (0, 250, 0))]
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    thumb, img = thumbnail_of(data)
    assert thumb.mime_type == "image/jpeg"
    red, green, blue = img.convert("RGB").getpixel((100, 50))
    assert red > 200
    assert max(green, blue) < 50


def test_a_webp_gives_a_thumbnail():
    thumb, img = thumbnail_of(encode(photo((640, 480)), "WEBP", quality=80))
    assert (thumb.mime_type, img.size) == ("image/jpeg", (320, 240))


def test_a_16_bit_greyscale_image_is_scaled_not_clipped():
    ramp = np.linspace(0, 65535, 400 * 200).reshape(200, 400).astype("<u2")
    deep = Image.frombytes("I;16", (400, 200), ramp.tobytes())
    thumb, img = thumbnail_of(encode(deep, "PNG"))
    assert (thumb.mime_type, img.mode, img.size) == ("image/jpeg", "L", (320, 160))
    # Pillow's own conversion would clip everything above 255 to white.
    assert img.getpixel((2, 2)) < 30
    assert 100 < img.getpixel((160, 80)) < 160


@pytest.mark.parametrize("mode", ["CMYK", "LA", "1", "P"])
def test_other_modes_become_rgb_or_grey(mode):
    source = photo((200, 200)).convert(mode)
    fmt = "TIFF" if mode == "CMYK" else "PNG"
    _, img = thumbnail_of(encode(source, fmt))
    assert img.mode in ("RGB", "L", "RGBA")


def test_every_thumbnail_as_webp_when_asked():
    options = AnalysisOptions(thumbnail_size=200, thumbnail_webp=True, timeout=None)
    thumb, img = thumbnail_of(encode(photo((640, 480)), "PNG"), options)
    assert (thumb.mime_type, thumb.extension, img.size) == ("image/webp", "webp", (200, 150))


def test_no_thumbnail_unless_asked_and_the_fields_never_hold_one():
    data = encode(photo((640, 480)), "JPEG")
    assert analyse_image(data, AnalysisOptions(timeout=None)).thumbnail is None
    result = analyse_image(data, OPTIONS)
    assert result.thumbnail is not None
    assert "thumbnail" not in result.as_fields()
    # The analysis values do not depend on the thumbnail.
    assert result.as_fields() == analyse_image(data, AnalysisOptions(timeout=None)).as_fields()


# --- What comes back from a worker is checked ----------------------------------------------


def test_a_checked_thumbnail_must_be_what_it_claims():
    good = encode(photo((320, 200)), "JPEG")
    assert checked_thumbnail(good, "image/jpeg", 320).width == 320
    with pytest.raises(ValueError, match="not a WebP"):
        checked_thumbnail(good, "image/webp", 320)
    with pytest.raises(ValueError, match="unexpected type"):
        checked_thumbnail(good, "text/html", 320)
    with pytest.raises(ValueError, match="more than 200"):
        checked_thumbnail(good, "image/jpeg", 200)
    with pytest.raises(ValueError, match="bytes"):
        checked_thumbnail(good + b"\0" * MAX_THUMBNAIL_BYTES, "image/jpeg", 320)
    with pytest.raises(ValueError, match="unreadable"):
        checked_thumbnail(b"\xff\xd8\xff" + b"garbage" * 10, "image/jpeg", 320)
    # A PNG header after a JPEG signature is not read as anything but a JPEG.
    with pytest.raises(ValueError):
        checked_thumbnail(b"\xff\xd8\xff" + encode(photo((10, 10)), "PNG"), "image/jpeg", 320)


# A stand-in worker: speaks the worker's protocol and answers a forged thumbnail.
_FORGER = """
import base64, json, sys
from multiprocessing.connection import Connection
connection = Connection(int(sys.argv[1]))
connection.send("ready")
forged = json.loads(open({path!r}, "rb").read())
while True:
    try:
        connection.recv()
    except EOFError:
        break
    connection.send_bytes(json.dumps(forged).encode())
"""


def forged_reply(data: bytes, mime_type: str = "image/jpeg") -> dict:
    fields = analyse_in_process(encode(photo((300, 200)), "PNG")).as_fields()
    return {"fields": fields, "thumbnail": {"mime_type": mime_type, "data": base64.b64encode(data).decode()}}


def run_forger(monkeypatch, tmp_path, reply: dict, options: AnalysisOptions):
    path = tmp_path / "reply.json"
    path.write_text(json.dumps(reply))
    command = _FORGER.format(path=str(path))
    monkeypatch.setattr(guarded, "_WORKER_COMMAND", command)
    analyser = GuardedAnalyser(timeout=30.0, address_space=None)
    try:
        return analyser.analyse(b"any bytes", options)
    finally:
        analyser.close()


@pytest.mark.slow
@pytest.mark.parametrize(
    "reply",
    [
        pytest.param(lambda: forged_reply(encode(photo((2000, 1000)), "JPEG")), id="larger-than-asked"),
        pytest.param(lambda: forged_reply(b"<!doctype html><script>x</script>", "text/html"), id="not-an-image"),
        pytest.param(lambda: forged_reply(encode(photo((300, 200)), "PNG")), id="png-claimed-jpeg"),
        pytest.param(
            lambda: forged_reply(encode(photo((300, 200)), "JPEG") + b"\0" * MAX_THUMBNAIL_BYTES), id="oversized"
        ),
        pytest.param(
            lambda: {**forged_reply(b""), "thumbnail": {"mime_type": "image/jpeg", "data": "not base64!"}},
            id="bad-base64",
        ),
    ],
)
def test_a_forged_thumbnail_from_a_worker_is_refused(monkeypatch, tmp_path, reply):
    with pytest.raises(CorruptImage, match="invalid thumbnail"):
        run_forger(monkeypatch, tmp_path, reply(), OPTIONS)


@pytest.mark.slow
def test_a_thumbnail_nobody_asked_for_is_refused(monkeypatch, tmp_path):
    reply = forged_reply(encode(photo((300, 200)), "JPEG"))
    with pytest.raises(CorruptImage, match="invalid thumbnail"):
        run_forger(monkeypatch, tmp_path, reply, AnalysisOptions())
    # The same reply, asked for, passes: the refusals above are the checks, not the stand-in.
    fields, thumbnail = run_forger(monkeypatch, tmp_path, reply, OPTIONS)
    assert thumbnail is not None
    assert (thumbnail.width, fields["width"]) == (300, 300)


@pytest.mark.slow
def test_a_genuine_worker_sends_the_thumbnail_made_in_process():
    data = encode(photo((900, 600)), "TIFF")  # not an ordinary file: analysed in a worker
    analyser = GuardedAnalyser(timeout=30.0, address_space=memory_limit(10**7))
    try:
        fields, thumbnail = analyser.analyse(data, OPTIONS)
    finally:
        analyser.close()
    expected = analyse_in_process(data, OPTIONS)
    assert thumbnail == expected.thumbnail
    assert fields["width"] == 900
    # And through the entry point, which chooses the worker itself.
    result = analyse_image(data, AnalysisOptions(thumbnail_size=320, thumbnail_redecode=True))
    assert result.thumbnail == expected.thumbnail


def test_a_thumbnail_that_cannot_be_made_costs_only_the_thumbnail(monkeypatch):
    from media_analysis.engine.image import analyse

    def broken(*args, **kwargs):
        raise OSError("encoder error -2")

    monkeypatch.setattr(analyse, "make_thumbnail", broken)
    result = analyse_image(encode(photo((300, 200)), "PNG"), OPTIONS)
    assert result.thumbnail is None
    assert result.width == 300


def test_without_a_second_decode_a_large_jpeg_thumbnail_is_the_analysis_draft():
    data = encode(photo((1200, 800)), "JPEG", quality=88)
    _, img = thumbnail_of(data, AnalysisOptions(thumbnail_size=320, thumbnail_redecode=False, timeout=None))
    assert img.size == (150, 100)
    assert sum(img.getpixel((147, 97))) > 600
