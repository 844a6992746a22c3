"""The allow-list of decodable formats: what is on it is analysed, any other image fails naming its format."""

import struct

import pytest

from media_analysis.engine.errors import ERROR_CLASSES, CorruptImage, NotAnImage, UnsupportedFormat
from media_analysis.engine.image import AnalysisOptions, analyse_image
from media_analysis.engine.image.decode import IMAGE_FORMATS
from tests.analysis.conftest import encode, gradient


def _saved(fmt: str, mode: str = "RGB", size: tuple[int, int] = (64, 48)) -> bytes:
    return encode(gradient(size).convert(mode), fmt)


def minimal_xpm() -> bytes:
    return b'/* XPM */\nstatic char *x[] = {\n"4 2 2 1",\n"a c #FF0000",\n"b c #0000FF",\n"abab",\n"baba"\n};\n'


def minimal_fli() -> bytes:
    # A 128-byte FLI header (magic 0xAF11), one frame chunk holding no sub-chunk.
    header = struct.pack("<IHHHHHH", 128 + 16, 0xAF11, 1, 32, 16, 8, 0) + b"\x00" * (128 - 16)
    frame = struct.pack("<IHH", 16, 0xF1FA, 0) + b"\x00" * 8
    return header + frame


def minimal_psd(width: int = 40, height: int = 30) -> bytes:
    """A flat RGB Photoshop file: header, three empty sections, raw channel planes."""
    header = b"8BPS" + struct.pack(">H6xHIIHH", 1, 3, height, width, 8, 3)
    sections = struct.pack(">III", 0, 0, 0)
    planes = bytes([200]) * (width * height) + bytes([40]) * (width * height) + bytes([90]) * (width * height)
    return header + sections + struct.pack(">H", 0) + planes


def cursor() -> bytes:
    """An icon file turned into a cursor: type 2, a hotspot where an icon keeps planes and depth."""
    ico = bytearray(encode(gradient((32, 32)), "ICO", sizes=[(32, 32)], bitmap_format="bmp"))
    ico[2] = 2
    ico[6 + 4 : 6 + 8] = struct.pack("<HH", 3, 5)
    return bytes(ico)


UNSUPPORTED = {
    "DDS": lambda: _saved("DDS"),
    "PCX": lambda: _saved("PCX"),
    "SGI": lambda: _saved("SGI"),
    "ICNS": lambda: _saved("ICNS", size=(64, 64)),
    "PPM": lambda: _saved("PPM"),
    "XBM": lambda: _saved("XBM", "1"),
    "MSP": lambda: _saved("MSP", "1"),
    "SPIDER": lambda: _saved("SPIDER", "F"),
    "EPS": lambda: _saved("EPS"),
    "XPM": minimal_xpm,
    "FLI": minimal_fli,
}


@pytest.mark.parametrize("fmt", sorted(UNSUPPORTED))
def test_formats_off_the_list_fail_naming_the_format(fmt):
    with pytest.raises(UnsupportedFormat) as caught:
        analyse_image(UNSUPPORTED[fmt]())

    assert str(caught.value) == f"unsupported image format: {fmt}"
    assert caught.value.error_class == "unsupported_format"
    assert caught.value.mime_type


@pytest.mark.parametrize(
    ("make", "fmt"),
    [
        (lambda: _saved("TGA"), "TGA"),
        (lambda: _saved("QOI"), "QOI"),
        (lambda: _saved("JPEG2000"), "JPEG2000"),
        (minimal_psd, "PSD"),  # no layers: the flat image is the only frame
        (cursor, "CUR"),
        (lambda: _saved("BMP"), "BMP"),
    ],
)
def test_formats_on_the_list_are_analysed(make, fmt):
    result = analyse_image(make())

    assert result.format == fmt
    assert result.phash is not None


def test_the_list_is_an_option():
    pcx = _saved("PCX")
    png = _saved("PNG")

    assert analyse_image(pcx, AnalysisOptions(image_formats=(*IMAGE_FORMATS, "pcx"))).format == "PCX"
    with pytest.raises(UnsupportedFormat, match="unsupported image format: PNG"):
        analyse_image(png, AnalysisOptions(image_formats=("JPEG",)))


def test_a_format_pillow_cannot_read_is_refused_in_the_options():
    with pytest.raises(ValueError, match="SVG"):
        AnalysisOptions(image_formats=("PNG", "SVG"))


@pytest.mark.parametrize(
    ("data", "fmt"),
    [
        (b"\x00\x00\x00\x0cJXL \r\n\x87\n" + b"\x00" * 64, "JXL"),
        (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 64, "HEIC"),
    ],
)
def test_formats_only_the_sniffer_knows_are_named(data, fmt):
    with pytest.raises(UnsupportedFormat, match=f"unsupported image format: {fmt}"):
        analyse_image(data)


def test_damaged_files_of_allowed_formats_stay_corrupt_and_non_images_stay_non_images():
    with pytest.raises(CorruptImage):
        analyse_image(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    with pytest.raises(CorruptImage):
        analyse_image(b"\x00\x00\x02\x00\x01\x00" + b"\x00" * 40)  # a cursor header, nothing behind it
    with pytest.raises(NotAnImage):
        analyse_image(b"<!DOCTYPE html><html><body>404</body></html>")


def test_a_postscript_file_pillow_reads_as_eps_is_named():
    # PostScript with a bounding box is an image format to Pillow (vector, drawn by Ghostscript).
    with pytest.raises(UnsupportedFormat, match="EPS") as caught:
        analyse_image(b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n")
    assert caught.value.mime_type == "application/postscript"


def test_the_error_class_is_listed():
    assert "unsupported_format" in ERROR_CLASSES


def test_an_oversized_unsupported_image_is_still_named():
    # Pillow refuses to open it at all (a decompression bomb); its signature still names it.
    header = bytearray(_saved("PCX"))
    struct.pack_into("<HH", header, 8, 40000, 40000)  # the last pixel's coordinates
    with pytest.raises(UnsupportedFormat, match="PCX"):
        analyse_image(bytes(header))


def test_default_setting_is_the_engines_list(settings):
    from media_analysis.jobs.batch import analysis_options

    assert tuple(settings.MEDIA_ANALYSIS_IMAGE_FORMATS) == IMAGE_FORMATS
    assert analysis_options().image_formats == IMAGE_FORMATS


def test_the_setting_reaches_the_engine(settings):
    from media_analysis.jobs.batch import analysis_options

    settings.MEDIA_ANALYSIS_IMAGE_FORMATS = ["jpeg", "png"]

    assert analysis_options().image_formats == ("JPEG", "PNG")
