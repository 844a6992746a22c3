import hashlib
import json
from pathlib import Path

import pytest
from PIL import Image

from media_analysis.engine.image import AnalysisOptions, ImageAnalysis, analyse_image
from tests.analysis.conftest import encode, gradient


def test_jpeg_fields(photo):
    data = encode(photo, "JPEG", quality=90)

    result = analyse_image(data)

    assert (result.width, result.height) == (640, 427)
    assert result.format == "JPEG"
    assert result.mime_type == "image/jpeg"
    assert result.color_mode == "RGB"
    assert result.file_size == len(data)
    assert result.aspect_ratio == 1.5
    assert result.frames == 1
    assert result.has_transparency is False
    assert result.image_hash == hashlib.sha256(data).hexdigest()
    assert len(result.dominant_colors) == 5
    assert result.is_conforming is True
    assert result.conformity_reason is None


def test_dominant_colours_are_sorted_and_well_formed(photo):
    result = analyse_image(encode(photo, "PNG"))

    shares = [colour["percentage"] for colour in result.dominant_colors]
    assert shares == sorted(shares, reverse=True)
    assert sum(shares) == pytest.approx(100, abs=0.05)
    for colour in result.dominant_colors:
        r, g, b = colour["rgb"]
        assert all(0 <= v <= 255 for v in (r, g, b))
        assert colour["hex"] == f"#{r:02x}{g:02x}{b:02x}"


def test_websafe_palette_sums_dominant_shares(photo):
    result = analyse_image(encode(photo, "JPEG"))

    assert sum(result.websafe_colors.values()) == pytest.approx(100, abs=0.05)
    for key in result.websafe_colors:
        levels = [int(key[i : i + 2], 16) for i in (1, 3, 5)]
        assert all(level % 51 == 0 for level in levels)


def test_two_colour_image_gives_exactly_two_colours():
    # 100x100 is the colour sample's own size: no resampling blends the two colours.
    img = Image.new("RGB", (100, 100), (230, 20, 20))
    img.paste((20, 20, 230), (0, 0, 30, 100))

    result = analyse_image(encode(img, "PNG"))

    assert [c["hex"] for c in result.dominant_colors] == ["#e61414", "#1414e6"]
    assert [c["percentage"] for c in result.dominant_colors] == [70.0, 30.0]
    assert result.websafe_colors == {"#ff0000": 70.0, "#0000ff": 30.0}


def test_large_jpeg_is_analysed_at_reduced_scale_with_full_size_fields(china):
    big = china.resize((2400, 1600))
    data = encode(big, "JPEG", quality=85)

    result = analyse_image(data)

    assert (result.width, result.height, result.aspect_ratio) == (2400, 1600, 1.5)
    assert len(result.dominant_colors) == 5
    assert all(len(h) == 16 for h in (result.phash, result.dhash, result.ahash))


def test_hash_formats(photo):
    result = analyse_image(encode(photo, "WEBP"))

    assert result.format == "WEBP"
    assert result.mime_type == "image/webp"
    for value in (result.phash, result.dhash, result.ahash):
        assert len(value) == 16
        int(value, 16)
    assert len(result.colorhash) == 11  # 14 bins x 3 bits
    int(result.colorhash, 16)


def test_aspect_ratio_rounded_to_two_decimals():
    result = analyse_image(encode(gradient((300, 7)), "PNG"))

    assert result.aspect_ratio == 42.86


def test_animated_gif_frame_count():
    frames = [gradient((120, 80)).rotate(angle).convert("P") for angle in (0, 90, 180, 270)]
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=80, loop=0)

    result = analyse_image(data)

    assert result.format == "GIF"
    assert result.frames == 4


def test_animated_webp_and_apng_frame_counts():
    frames = [gradient((90, 60)).rotate(angle) for angle in (0, 90, 180)]

    webp = analyse_image(encode(frames[0], "WEBP", save_all=True, append_images=frames[1:], duration=50))
    apng = analyse_image(encode(frames[0], "PNG", save_all=True, append_images=frames[1:], duration=50))

    assert webp.frames == 3
    assert apng.frames == 3


@pytest.mark.parametrize(
    ("size", "file_size_limit", "expected"),
    [
        ((300, 300), 10 * 1024 * 1024, None),
        ((120, 300), 10 * 1024 * 1024, "width 120 < 200"),
        ((300, 150), 10 * 1024 * 1024, "height 150 < 200"),
        ((120, 150), 100, "width 120 < 200; height 150 < 200; file size {size} > 100"),
    ],
)
def test_conformity(size, file_size_limit, expected):
    data = encode(gradient(size), "PNG")

    result = analyse_image(data, AnalysisOptions(max_file_size=file_size_limit))

    assert result.is_conforming is (expected is None)
    assert result.conformity_reason == (expected.format(size=len(data)) if expected else None)


def test_options_switch_parts_off(china):
    data = encode(china, "JPEG")

    result = analyse_image(data, AnalysisOptions(colors=False, hashes=False, exif=False))

    assert result.dominant_colors == []
    assert result.websafe_colors == {}
    assert result.phash is result.dhash is result.ahash is result.colorhash is None
    assert result.width == 640


@pytest.mark.parametrize("n_colors", [3, 10])
def test_n_colors_option(china, n_colors):
    result = analyse_image(encode(china, "PNG"), AnalysisOptions(n_colors=n_colors))

    assert len(result.dominant_colors) == n_colors


def test_as_fields_is_json_safe_and_complete(photo):
    result = analyse_image(encode(photo, "JPEG"))

    fields = result.as_fields()

    json.dumps(fields)
    assert set(fields) == {f for f in ImageAnalysis.__dataclass_fields__} - {"thumbnail", "text"}
    assert fields["image_hash"] == result.image_hash


def test_as_fields_keys_are_media_fields():
    from lands.models import Media

    media_fields = {field.name for field in Media._meta.get_fields()}
    result = analyse_image(encode(gradient(), "PNG"))

    assert set(result.as_fields()) <= media_fields


@pytest.mark.slow
def test_module_does_not_import_django():
    import subprocess
    import sys

    code = (
        "import importlib, pkgutil, sys; import media_analysis.engine.image as image; "
        "[importlib.import_module(m.name) for m in pkgutil.iter_modules(image.__path__, image.__name__ + '.')]; "
        "print(any(name == 'django' or name.startswith('django.') for name in sys.modules))"
    )
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True, cwd=root)
    assert out.stdout.strip() == "False"


def test_a_digest_the_caller_already_took_is_the_image_hash_and_changes_nothing_else(photo):
    data = encode(photo, "JPEG", quality=90)
    digest = hashlib.sha256(data).hexdigest()

    given = analyse_image(data, sha256=digest)

    assert given.image_hash == digest
    assert given == analyse_image(data)
