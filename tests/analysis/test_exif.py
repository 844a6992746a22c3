import json

import pytest
from PIL import Image, TiffImagePlugin

from media_analysis.engine.image import AnalysisOptions, analyse_image
from media_analysis.engine.image.exif import json_safe
from tests.analysis.conftest import encode, gradient


def _rational(numerator: int, denominator: int) -> TiffImagePlugin.IFDRational:
    return TiffImagePlugin.IFDRational(numerator, denominator)


def _camera_exif(lat_ref: str = "N", lon_ref: str = "W") -> Image.Exif:
    exif = Image.Exif()
    exif[0x0100] = 320  # ImageWidth
    exif[0x0101] = 240  # ImageLength
    exif[0x010F] = "Canon\x00"
    exif[0x0110] = "Canon EOS 5D Mark IV"
    exif[0x0112] = 6
    exif[0x0131] = "GIMP 2.10"
    exif[0x0132] = "2024:05:01 12:00:00"
    exif[0x011A] = _rational(300, 1)
    exif.get_ifd(0x8769)[0x9003] = "2024:04:30 08:15:00"
    gps = exif.get_ifd(0x8825)
    gps[1] = lat_ref
    gps[2] = (_rational(48, 1), _rational(51, 1), _rational(2964, 100))
    gps[3] = lon_ref
    gps[4] = (_rational(2, 1), _rational(17, 1), _rational(402, 10))
    return exif


def test_exif_tags_and_gps_from_jpeg():
    data = encode(gradient((320, 240)), "JPEG", exif=_camera_exif())

    result = analyse_image(data)

    assert result.exif_data["ImageWidth"] == 320
    assert result.exif_data["ImageLength"] == 240
    assert result.exif_data["Make"] == "Canon"  # NUL stripped
    assert result.exif_data["Model"] == "Canon EOS 5D Mark IV"
    assert result.exif_data["Orientation"] == 6
    assert result.exif_data["Software"] == "GIMP 2.10"
    assert result.exif_data["DateTime"] == "2024:05:01 12:00:00"
    assert result.exif_data["DateTimeOriginal"] == "2024:04:30 08:15:00"
    assert result.exif_data["XResolution"] == 300.0
    assert result.exif_make == "Canon"
    assert result.exif_model == "Canon EOS 5D Mark IV"
    assert result.exif_datetime == "2024:04:30 08:15:00"  # the original, not the modification
    assert result.gps_latitude == pytest.approx(48 + 51 / 60 + 29.64 / 3600, abs=1e-6)
    assert result.gps_longitude == pytest.approx(-(2 + 17 / 60 + 40.2 / 3600), abs=1e-6)
    assert result.exif_data["GPSLatitude"] == result.gps_latitude
    json.dumps(result.exif_data)


def test_southern_eastern_hemisphere():
    data = encode(gradient((320, 240)), "JPEG", exif=_camera_exif("S", "E"))

    result = analyse_image(data)

    assert result.gps_latitude < 0 < result.gps_longitude


def test_datetime_falls_back_to_modification_date():
    exif = Image.Exif()
    exif[0x0132] = "2023:01:02 03:04:05"

    result = analyse_image(encode(gradient(), "JPEG", exif=exif))

    assert result.exif_datetime == "2023:01:02 03:04:05"
    assert result.gps_latitude is None
    assert result.gps_longitude is None


def test_exif_in_png_and_webp():
    exif = _camera_exif()
    for fmt in ("PNG", "WEBP"):
        result = analyse_image(encode(gradient(), fmt, exif=exif))
        assert result.exif_make == "Canon", fmt
        assert result.gps_latitude == pytest.approx(48.858233, abs=1e-5), fmt


def test_no_exif():
    result = analyse_image(encode(gradient(), "PNG"))

    assert result.exif_data == {}
    assert result.exif_make is result.exif_model is result.exif_datetime is None


def test_exif_option_off():
    result = analyse_image(encode(gradient(), "JPEG", exif=_camera_exif()), AnalysisOptions(exif=False))

    assert result.exif_data == {}
    assert result.exif_make is None
    assert result.gps_latitude is None


def test_out_of_range_gps_is_dropped():
    exif = _camera_exif()
    exif.get_ifd(0x8825)[2] = (_rational(123, 1), _rational(0, 1), _rational(0, 1))

    result = analyse_image(encode(gradient(), "JPEG", exif=exif))

    assert result.gps_latitude is None
    assert result.gps_longitude is None
    assert "GPSLatitude" not in result.exif_data


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (_rational(1, 3), pytest.approx(1 / 3)),
        (_rational(1, 0), None),
        ((1, 2, _rational(3, 2)), [1, 2, 1.5]),
        (b"Nikon\x00\x00", "Nikon"),
        (b"\xff\xfe\x00\x81binary", None),
        ("text\x00with nul", "textwith nul"),
        (float("nan"), None),
        (True, True),
        ({"a": 1}, None),
    ],
)
def test_json_safe(value, expected):
    assert json_safe(value) == expected
