"""EXIF metadata of an opened Pillow image, reduced to JSON-safe values.

Only a curated set of tags is kept: the ones researchers filter and group on
(camera, dates, orientation, software, position). Maker notes and thumbnails are
large binary blobs that would bloat every row for nothing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from numbers import Rational
from typing import Any

from PIL import Image

EXIF_IFD = 0x8769
GPS_IFD = 0x8825

IFD0_TAGS: dict[int, str] = {
    0x0100: "ImageWidth",
    0x0101: "ImageLength",
    0x010E: "ImageDescription",
    0x010F: "Make",
    0x0110: "Model",
    0x0112: "Orientation",
    0x011A: "XResolution",
    0x011B: "YResolution",
    0x0128: "ResolutionUnit",
    0x0131: "Software",
    0x0132: "DateTime",
    0x013B: "Artist",
    0x8298: "Copyright",
}

EXIF_IFD_TAGS: dict[int, str] = {
    0x829A: "ExposureTime",
    0x829D: "FNumber",
    0x8827: "ISOSpeedRatings",
    0x9003: "DateTimeOriginal",
    0x9004: "DateTimeDigitized",
    0x920A: "FocalLength",
    0xA002: "ExifImageWidth",
    0xA003: "ExifImageHeight",
    0xA433: "LensMake",
    0xA434: "LensModel",
}

GPS_LATITUDE_REF, GPS_LATITUDE, GPS_LONGITUDE_REF, GPS_LONGITUDE = 1, 2, 3, 4
GPS_ALTITUDE = 6

# Long enough for any real tag value; a longer one is junk or an attempt to bloat rows.
MAX_TEXT = 1024


@dataclass
class ExifSummary:
    data: dict[str, Any] = field(default_factory=dict)
    make: str | None = None
    model: str | None = None
    datetime: str | None = None
    gps_latitude: float | None = None
    gps_longitude: float | None = None


def json_safe(value: Any) -> Any:
    """The value as JSON-safe data, or None when it has no meaningful JSON form.

    Rationals become floats (None when the denominator is zero), tuples become
    lists, bytes are kept only when they are text, NULs are stripped from strings
    (PostgreSQL refuses them in text and JSON).
    """
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, Rational | float):
        try:
            number = float(value)
        except (ZeroDivisionError, ValueError, OverflowError):
            return None
        return number if math.isfinite(number) else None
    if isinstance(value, bytes):
        try:
            text = value.decode("utf-8")
        except UnicodeDecodeError:
            return None
        return _clean_text(text)
    if isinstance(value, str):
        return _clean_text(value)
    if isinstance(value, tuple | list):
        items = [json_safe(item) for item in value]
        return items if all(item is not None for item in items) else None
    return None


def _clean_text(text: str) -> str | None:
    text = text.replace("\x00", "").strip()
    if not text or not text.isprintable():
        # Binary junk decoded as text (control characters) is no use to anyone.
        text = "".join(ch for ch in text if ch.isprintable()).strip()
    return text[:MAX_TEXT] or None


def _degrees(value: Any, ref: Any, negative_ref: str, limit: float) -> float | None:
    parts = json_safe(value)
    if not isinstance(parts, list) or not 1 <= len(parts) <= 3:
        return None
    if not all(isinstance(part, int | float) and part >= 0 for part in parts):
        return None
    degrees = sum(part / 60**index for index, part in enumerate(parts))
    if degrees > limit:
        return None
    if isinstance(ref, bytes):
        ref = ref.decode("ascii", "ignore")
    if isinstance(ref, str) and ref.replace("\x00", "").strip().upper() == negative_ref:
        degrees = -degrees
    return round(degrees, 7)


def extract_exif(img: Image.Image) -> ExifSummary:
    """The curated EXIF tags of ``img`` plus the top-level fields derived from them.

    Broken EXIF never fails an image: whatever can be read is returned.
    """
    summary = ExifSummary()
    try:
        exif = img.getexif()
    except Exception:
        return summary
    if not exif:
        return summary
    data: dict[str, Any] = {}
    _collect(exif, IFD0_TAGS, data)
    for ifd_tag, names in ((EXIF_IFD, EXIF_IFD_TAGS),):
        try:
            _collect(exif.get_ifd(ifd_tag), names, data)
        except Exception:
            pass
    try:
        gps = exif.get_ifd(GPS_IFD)
    except Exception:
        gps = {}
    if gps:
        summary.gps_latitude = _degrees(gps.get(GPS_LATITUDE), gps.get(GPS_LATITUDE_REF), "S", 90.0)
        summary.gps_longitude = _degrees(gps.get(GPS_LONGITUDE), gps.get(GPS_LONGITUDE_REF), "W", 180.0)
        if summary.gps_latitude is not None and summary.gps_longitude is not None:
            data["GPSLatitude"] = summary.gps_latitude
            data["GPSLongitude"] = summary.gps_longitude
            altitude = json_safe(gps.get(GPS_ALTITUDE))
            if isinstance(altitude, float | int):
                data["GPSAltitude"] = altitude
        else:
            # Half a position is not a position.
            summary.gps_latitude = summary.gps_longitude = None
    summary.data = data
    summary.make = _text_field(data.get("Make"), 255)
    summary.model = _text_field(data.get("Model"), 255)
    summary.datetime = _text_field(data.get("DateTimeOriginal") or data.get("DateTime"), 64)
    return summary


def _collect(ifd: Any, names: dict[int, str], into: dict[str, Any]) -> None:
    for tag, name in names.items():
        try:
            raw = ifd.get(tag)
        except Exception:
            continue
        value = json_safe(raw) if raw is not None else None
        if value is not None:
            into[name] = value


def _text_field(value: Any, max_length: int) -> str | None:
    if value is None:
        return None
    text = value if isinstance(value, str) else str(value)
    return text[:max_length] or None
