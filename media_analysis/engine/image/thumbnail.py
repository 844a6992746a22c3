"""A small preview of an analysed image, made from the pixels the analysis already decoded.

No second decode: a large JPEG is decoded by DCT scaling (decode.py) to the
smallest scale keeping ``size`` pixels on its long side, which the analysis
reads box-reduced; every image is reduced to ``size`` pixels on its long side,
never enlarged. The thumbnail is turned as its EXIF orientation says (the
analysis's values, hashes included, are of the pixels as stored), first frame only.

Opaque images are encoded as JPEG, images with transparency as WebP (JPEG has
no alpha); ``webp=True`` encodes every image as WebP, smaller and slower to
encode (docs/benchmarks/analysis.md, "Thumbnails").
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image

from media_analysis.engine.image.decode import normalised

JPEG_QUALITY = 80
WEBP_QUALITY = 75
WEBP_METHOD = 2  # libwebp's effort, 0-6: past 2 the files shrink little for much more time
# Anything larger than this is not a thumbnail of at most a few hundred pixels a side.
MAX_THUMBNAIL_BYTES = 512 * 1024

_DEEP_MODES = frozenset({"I", "I;16", "I;16L", "I;16B", "I;16N", "F"})

JPEG_MIME = "image/jpeg"
WEBP_MIME = "image/webp"
EXTENSIONS = {JPEG_MIME: "jpg", WEBP_MIME: "webp"}


@dataclass(frozen=True)
class Thumbnail:
    data: bytes
    mime_type: str  # image/jpeg or image/webp
    width: int
    height: int

    @property
    def extension(self) -> str:
        return EXTENSIONS[self.mime_type]


# EXIF orientation -> the transposition that shows the picture upright.
_UPRIGHT = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def make_thumbnail(
    decoded: Image.Image, size: int, *, transparent: bool, webp: bool = False, orientation: int = 1
) -> Thumbnail:
    """The thumbnail of ``decoded`` (the analysis's decoded first frame), at most ``size`` px on its long side.

    ``orientation`` is the file's EXIF orientation: the thumbnail is turned upright.
    """
    img = _displayable(decoded, transparent)
    width, height = img.size
    scale = min(1.0, size / max(width, height))
    if scale < 1.0:
        target = (max(1, round(width * scale)), max(1, round(height * scale)))
        if scale > 0.5:
            # Under a factor of two no whole-factor reduction applies, and bicubic over every pixel
            # costs several times more than the area average (docs/benchmarks/analysis.md, "Thumbnails").
            img = img.resize(target, Image.Resampling.BOX)
        else:
            # reducing_gap 1: a box reduction by the whole factor first (cheap), then the
            # filter over a few pixels only; a filter over the full image costs several times more.
            img = img.resize(target, Image.Resampling.BICUBIC, reducing_gap=1.0)
    if orientation in _UPRIGHT:
        img = img.transpose(_UPRIGHT[orientation])  # on the small image: nearly free
    out = io.BytesIO()
    if transparent or webp:
        img.save(out, "WEBP", quality=WEBP_QUALITY, method=WEBP_METHOD)
        mime = WEBP_MIME
    else:
        img.save(out, "JPEG", quality=JPEG_QUALITY)
        mime = JPEG_MIME
    return Thumbnail(out.getvalue(), mime, img.width, img.height)


def _displayable(img: Image.Image, transparent: bool) -> Image.Image:
    """``img`` in RGB, RGBA or L: the modes both encoders take."""
    if img.mode in _DEEP_MODES:
        img = normalised(img)  # 16-bit and float greyscale, scaled to 8 bits rather than clipped
    if transparent:
        return img if img.mode == "RGBA" else img.convert("RGBA")
    if img.mode in ("RGB", "L"):
        return img
    if img.mode == "RGBX":
        return img.convert("RGB")
    if img.mode in ("LA", "La"):
        return img.convert("L")
    # Palette, CMYK, YCbCr, LAB, HSV, 1-bit, RGBa...: Pillow converts each to RGB.
    return img.convert("RGB")


def checked_thumbnail(data: bytes, mime_type: str, size: int) -> Thumbnail:
    """``data`` as a thumbnail if it is one: ValueError otherwise.

    What an analysis process answers is untrusted (it decoded hostile bytes):
    the thumbnail must be of the type it claims, under the byte cap, and no larger
    than ``size`` pixels a side. Only the header is parsed; nothing is decoded.
    """
    if mime_type not in EXTENSIONS:
        raise ValueError(f"thumbnail of unexpected type {mime_type!r}")
    if not data or len(data) > MAX_THUMBNAIL_BYTES:
        raise ValueError(f"thumbnail of {len(data)} bytes")
    if mime_type == JPEG_MIME and not data.startswith(b"\xff\xd8\xff"):
        raise ValueError("thumbnail is not a JPEG file")
    if mime_type == WEBP_MIME and not (data[:4] == b"RIFF" and data[8:12] == b"WEBP"):
        raise ValueError("thumbnail is not a WebP file")
    try:
        with Image.open(io.BytesIO(data), formats=("JPEG" if mime_type == JPEG_MIME else "WEBP",)) as img:
            width, height = img.size
    except Exception as exc:
        raise ValueError(f"unreadable thumbnail: {type(exc).__name__}") from exc
    if not (0 < width <= size and 0 < height <= size):
        raise ValueError(f"thumbnail of {width}x{height} pixels, more than {size}")
    return Thumbnail(data, mime_type, width, height)
