from PIL import Image

from media_analysis.engine.image import analyse_image
from tests.analysis.conftest import encode, gradient


def test_opaque_rgba_is_not_transparent():
    img = gradient().convert("RGBA")

    result = analyse_image(encode(img, "PNG"))

    assert result.color_mode == "RGBA"
    assert result.has_transparency is False


def test_rgba_with_one_translucent_pixel_inside():
    img = gradient().convert("RGBA")
    img.putpixel((150, 100), (10, 20, 30, 254))

    assert analyse_image(encode(img, "PNG")).has_transparency is True


def test_rgba_transparent_corner():
    img = gradient().convert("RGBA")
    img.putpixel((0, 0), (0, 0, 0, 0))

    assert analyse_image(encode(img, "PNG")).has_transparency is True


def test_la_modes():
    opaque = gradient().convert("LA")
    translucent = opaque.copy()
    translucent.putalpha(200)

    assert analyse_image(encode(opaque, "PNG")).has_transparency is False
    result = analyse_image(encode(translucent, "PNG"))
    assert result.color_mode == "LA"
    assert result.has_transparency is True


def test_palette_with_transparent_index_in_use():
    img = Image.new("P", (200, 200), 1)
    img.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0])
    img.paste(2, (0, 0, 50, 50))

    used = analyse_image(encode(img, "PNG", transparency=2))
    unused = analyse_image(encode(img, "PNG", transparency=0))

    assert used.color_mode == "P"
    assert used.has_transparency is True
    # Index 0 is declared transparent but no pixel uses it.
    assert unused.has_transparency is False


def test_palette_with_per_index_alpha():
    img = Image.new("P", (100, 100), 0)
    img.putpalette([255, 0, 0, 0, 0, 255])
    img.paste(1, (0, 0, 10, 10))

    result = analyse_image(encode(img, "PNG", transparency=bytes([255, 128])))

    assert result.has_transparency is True


def test_gif_transparency():
    img = Image.new("P", (120, 120), 0)
    img.putpalette([255, 255, 255, 0, 0, 0])
    img.paste(1, (30, 30, 90, 90))

    assert analyse_image(encode(img, "GIF", transparency=0)).has_transparency is True
    assert analyse_image(encode(img, "GIF")).has_transparency is False


def test_rgba_palette_image():
    img = Image.new("RGBA", (64, 64), (255, 0, 0, 255))
    img.paste((0, 0, 255, 0), (0, 0, 8, 8))
    palette_img = img.quantize(4)

    # Pillow quantizes RGBA to a palette whose entries carry alpha.
    result = analyse_image(encode(palette_img, "PNG"))

    assert result.has_transparency is True


def test_truecolour_colour_key():
    img = gradient()
    img.paste((1, 2, 3), (0, 0, 10, 10))

    keyed = analyse_image(encode(img, "PNG", transparency=(1, 2, 3)))
    absent = analyse_image(encode(img, "PNG", transparency=(4, 5, 6)))

    assert keyed.has_transparency is True
    assert absent.has_transparency is False


def test_jpeg_never_transparent(photo):
    assert analyse_image(encode(photo, "JPEG")).has_transparency is False
