"""Opening and decoding an image: Pillow's pixel limit, frame count, the first frame, normalisation.

Speed comes from decoding no more pixels than the results need. Large JPEGs are
decoded by libjpeg's DCT scaling to about 100 pixels on their short side (entropy
decoding, which no scale avoids, is then most of the cost); PNG and still WebP by
imagecodecs (libpng, libwebp), faster than Pillow for the same pixels. Decoders and
Pillow release the GIL.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageFile

try:
    import imagecodecs
except ImportError:  # optional: Pillow decodes everything without it, a little slower
    imagecodecs = None  # type: ignore[assignment]

from media_analysis.engine.image.exif import ExifSummary, extract_exif

# JPEGs whose short side is at least JPEG_DRAFT_MIN are decoded by DCT scaling to
# no less than JPEG_DRAFT_SIDE on their short side. Smaller ones keep their exact
# pixels, hence exactly the predecessor's colours (see docs/benchmarks/analysis.md).
JPEG_DRAFT_MIN = 400
JPEG_DRAFT_SIDE = 100

# The image formats decoded by default (Pillow's names; the setting
# MEDIA_ANALYSIS_IMAGE_FORMATS replaces the list): raster formats met on the web.
# Pillow can open more, but some hand the bytes to outside programs (EPS runs
# Ghostscript) or exist only in laboratories, and every decoder is attack surface;
# an image in any other format fails as unsupported_format, naming the format.
# MPO (multi-picture JPEG) is read by the JPEG plugin; a cursor (CUR) is an icon.
IMAGE_FORMATS = (
    "JPEG",
    "PNG",
    "GIF",
    "WEBP",
    "AVIF",
    "BMP",
    "DIB",
    "TIFF",
    "ICO",
    "CUR",
    "JPEG2000",
    "TGA",
    "PSD",
    "QOI",
)


def image_formats(names: Iterable[str]) -> tuple[str, ...]:
    """``names`` as Pillow's format names (upper case); ValueError for any Pillow cannot read."""
    Image.init()
    wanted = tuple(dict.fromkeys(name.strip().upper() for name in names if name.strip()))
    unknown = [name for name in wanted if name not in Image.OPEN]
    if unknown:
        raise ValueError(
            f"image formats Pillow cannot read: {', '.join(unknown)} (it reads {', '.join(sorted(Image.OPEN))})"
        )
    if not wanted:
        raise ValueError("no image format allowed")
    return wanted


def detected_format(content: bytes) -> str | None:
    """The format any of Pillow's readers recognises ``content`` as, or None.

    Opens with every reader Pillow has, which parses the header only: nothing is
    decoded. A reader that refuses a decompression bomb has already recognised
    its format, which its signature test then names.
    """
    try:
        with Image.open(io.BytesIO(content)) as img:
            return img.format
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        prefix = content[:16]
        for name in Image.ID:
            accept = Image.OPEN[name][1]
            if accept is not None and accept(prefix):
                return name
        return None
    except Exception:
        return None


_HIGH_DEPTH_MODES = frozenset({"I", "I;16", "I;16L", "I;16B", "I;16N", "F"})


_limit_lock = threading.Lock()


def allow_pixels(max_pixels: int) -> None:
    """Make sure Pillow's process-wide limit does not refuse what the options allow.

    The limit is only ever raised, under a lock, so no thread can see it lowered
    under its feet; each call enforces its own ``max_pixels`` right after opening.
    """
    current = Image.MAX_IMAGE_PIXELS
    if current is None or current >= max_pixels:
        return
    with _limit_lock:
        if Image.MAX_IMAGE_PIXELS is not None and max_pixels > Image.MAX_IMAGE_PIXELS:
            Image.MAX_IMAGE_PIXELS = max_pixels


def frame_count(img: Image.Image) -> int:
    first = img.tell()  # the first frame, which is analysed: 1 for a Photoshop file, whose 0 is no layer
    try:
        return max(1, int(getattr(img, "n_frames", 1)))
    finally:
        if img.tell() != first:
            img.seek(first)


Box = tuple[float, float, float, float]


def decode_first_frame(img: ImageFile.ImageFile, content: bytes) -> tuple[Image.Image, Box | None]:
    """The first frame, decoded: large JPEGs at the smallest DCT scale keeping JPEG_DRAFT_SIDE pixels.

    Returns the decoded image (``img`` itself, loaded, or an equal image decoded
    by a faster codec) and, for a JPEG decoded at reduced scale, the region of the
    decoded image that maps the original exactly (DCT scaling rounds the size up).
    """
    frame = decode_frame(img, content)
    return frame.image, frame.box


@dataclass(frozen=True)
class DecodedFrame:
    image: Image.Image  # what the analysis reads
    box: Box | None  # for a JPEG decoded at reduced scale, the region of ``image`` mapping the original
    preview: Image.Image  # what a thumbnail is made from: ``image``, or a larger draft of a large JPEG


def decode_frame(img: ImageFile.ImageFile, content: bytes, preview_side: int = 0) -> DecodedFrame:
    """The first frame decoded for the analysis, and the image a thumbnail of ``preview_side`` px is made from.

    A large JPEG is decoded at the smallest DCT scale keeping JPEG_DRAFT_SIDE
    pixels on its short side (the analysis's values depend on those pixels and
    on nothing else). When that draft is smaller than the thumbnail, the
    thumbnail comes from a draft of its own, decoded again at the smallest
    scale keeping ``preview_side`` pixels on its long side.
    """
    box: Box | None = None
    if img.format in ("JPEG", "MPO"):
        width, height = img.size
        short = min(width, height)
        if short >= max(JPEG_DRAFT_MIN, 2 * JPEG_DRAFT_SIDE):
            target = max(1, JPEG_DRAFT_SIDE * width // short), max(1, JPEG_DRAFT_SIDE * height // short)
            drafted = img.draft(None, target)
            if drafted is not None and img.size != (width, height):
                box = drafted[1]
        img.load()
        preview: Image.Image = img
        if preview_side > 0 and max(img.size) < min(preview_side, max(width, height)):
            preview = _jpeg_preview(content, (width, height), preview_side) or img
        return DecodedFrame(img, box, preview)
    try:
        fast = _fast_decoded(img, content)
    except Exception:
        # Whatever imagecodecs refuses (damaged or unusual data), Pillow decodes
        # or reports as it always has.
        fast = None
    if fast is not None:
        return DecodedFrame(fast, None, fast)
    img.load()
    return DecodedFrame(img, None, img)


def jpeg_draft(content: bytes, side: int, grey: bool = False) -> Image.Image | None:
    """A JPEG decoded at the smallest DCT scale keeping ``side`` px on its long side (or whole); None if it fails.

    ``grey``: a colour JPEG is decoded as its luma alone (mode "L"), skipping the
    chroma and the colour conversion, for a reader that wants grey levels only.
    """
    try:
        with Image.open(io.BytesIO(content), formats=("JPEG", "MPO")) as probe:
            size = probe.size
    except Exception:
        return None
    return _jpeg_preview(content, size, min(side, max(size)), "L" if grey else None)


def _jpeg_preview(content: bytes, size: tuple[int, int], side: int, mode: str | None = None) -> Image.Image | None:
    """A JPEG decoded again at the smallest DCT scale keeping ``side`` pixels on its long side; None if it fails.

    Only the analysis's own decode is trusted to report damaged data: a preview
    that cannot be made costs the preview.
    """
    width, height = size
    long = max(width, height)
    target = max(1, -(-side * width // long)), max(1, -(-side * height // long))
    try:
        again = Image.open(io.BytesIO(content), formats=("JPEG", "MPO"))
        again.draft(mode, target)
        again.load()
    except Exception:
        return None
    return again


# PNG and still WebP decode faster with imagecodecs than with Pillow (PNG: libpng,
# which undoes the row filters with SIMD; WebP: libwebp without Pillow's animation
# layer), and release the GIL as Pillow does. The pixels are the same, so only the
# simplest, most common cases take that path: 8-bit, one frame, no colour key, and
# the image mode Pillow itself reports. PNG image data is handed to libpng as it is:
# re-inflating it with a faster inflater was measured and dropped (see "PNG decoding:
# decision" in docs/benchmarks/analysis.md).
_FAST_PNG_CHANNELS = {"RGB": 3, "RGBA": 4, "L": 1, "LA": 2}
# libpng hands over packed RGB which Pillow then copies into its own four-byte
# layout: two copies of the pixels at once. Above this many pixels the memory
# matters more than the time, and Pillow decodes alone.
FAST_PNG_MAX_PIXELS = 16_000_000
# Chunks Pillow reads only when it loads the pixels, EXIF among them: a file with
# any of them after its image data takes Pillow's path, so EXIF reads as before.
_LATE_PNG_CHUNKS = frozenset({b"eXIf", b"tEXt", b"zTXt", b"iTXt"})


def _png_chunks(content: bytes) -> Iterator[tuple[bytes, int, int]]:
    """(kind, offset, data length) of each chunk whose header is in ``content``."""
    position = 8  # after the signature
    while position + 8 <= len(content):
        length = int.from_bytes(content[position : position + 4], "big")
        yield content[position + 4 : position + 8], position, length
        position += length + 12  # length, kind, data, CRC


def _png_has_late_metadata(content: bytes) -> bool:
    """True if an EXIF or text chunk follows the image data (or the chunk list is broken)."""
    seen_data = False
    for kind, _, _ in _png_chunks(content):
        if kind == b"IDAT":
            seen_data = True
        elif kind == b"IEND":
            return False
        elif seen_data and kind in _LATE_PNG_CHUNKS:
            return True
    return True  # truncated: Pillow's own path reports it as it always has


def _fast_decoded(img: ImageFile.ImageFile, content: bytes) -> Image.Image | None:
    if imagecodecs is None or "transparency" in img.info or getattr(img, "n_frames", 1) != 1:
        return None
    mode = img.mode
    if img.format == "PNG":
        tile = img.tile
        if (
            mode not in _FAST_PNG_CHANNELS
            or img.width * img.height > FAST_PNG_MAX_PIXELS
            or len(tile) != 1
            or tile[0].codec_name != "zip"
            or tile[0].args != mode
            or "Raw profile type exif" in img.info
            or _png_has_late_metadata(content)
        ):
            return None
        channels = _FAST_PNG_CHANNELS[mode]
        pixels = imagecodecs.png_decode(content)
        expected = (img.height, img.width) if channels == 1 else (img.height, img.width, channels)
        if pixels.dtype != np.uint8 or pixels.shape != expected:
            return None  # not what Pillow would have made of it: let Pillow decode
        decoded = Image.fromarray(pixels, mode)
    elif img.format == "WEBP" and mode in ("RGB", "RGBA"):
        # Four channels whatever the mode: an opaque image becomes an RGBX image
        # (Pillow's own layout of RGB, which every later step takes as RGB) over the
        # decoded buffer, without a copy.
        pixels = imagecodecs.webp_decode(content, hasalpha=True)
        if pixels.dtype != np.uint8 or pixels.shape != (img.height, img.width, 4):
            return None
        decoded = Image.frombuffer(mode, img.size, pixels, "raw", "RGBX" if mode == "RGB" else "RGBA", 0, 1)
    else:
        return None
    decoded.info = dict(img.info)
    return decoded


# Formats whose EXIF Pillow reads from the header, without decoding the pixels.
_HEADER_EXIF_FORMATS = frozenset({"JPEG", "MPO", "WEBP", "TIFF"})
_ORIENTATION_TAG = 0x0112


def exif_orientation(img: ImageFile.ImageFile) -> int:
    """The EXIF orientation (1 to 8) of an opened image; 1 when it has none or it cannot be read cheaply."""
    if img.format not in _HEADER_EXIF_FORMATS and "exif" not in img.info:
        return 1  # PNG's getexif() would decode the pixels once more to look past the image data
    try:
        value = img.getexif().get(_ORIENTATION_TAG, 1)
    except Exception:
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def read_exif(img: ImageFile.ImageFile, decoded: Image.Image) -> ExifSummary:
    if decoded is not img and img.format == "PNG" and "exif" not in img.info:
        # Pillow's getexif() would decode the pixels once more to look past the image
        # data; the fast path is only taken when the file holds no EXIF there.
        return ExifSummary()
    return extract_exif(img)


def normalised(img: Image.Image) -> Image.Image:
    """The decoded image in a mode that resizes and converts to RGB faithfully.

    Called once transparency is known (it may drop palette transparency). Deep
    greyscale (16-bit, 32-bit int, float) becomes 8-bit "L", scaled rather than
    clipped: Pillow's own conversion clips at 255, which turns most 16-bit images
    white. Palette-with-alpha cannot be averaged and becomes RGBA; exotic colour
    spaces become RGB. The other modes stay as they are, so that the colour sample
    is the one the predecessor took.
    """
    mode = img.mode
    if mode == "P":
        # Transparency is already measured; the colour sample, like the predecessor's,
        # takes palette colours as they are. Pillow warns when converting a palette
        # with per-index alpha unless the key is gone.
        img.info.pop("transparency", None)
        return img
    if mode == "PA":
        return img.convert("RGBA")
    if mode in ("LAB", "HSV", "YCbCr"):
        return img.convert("RGB")
    if mode not in _HIGH_DEPTH_MODES:
        return img
    values = np.asarray(img).astype(np.float64)
    values = np.nan_to_num(values, nan=0.0, posinf=0.0, neginf=0.0)
    low, high = (float(values.min()), float(values.max())) if values.size else (0.0, 0.0)
    if mode.startswith("I;16"):
        low, high = 0.0, 65535.0
    elif low >= 0 and high <= 1.0 and mode == "F":
        low, high = 0.0, 1.0  # float images conventionally hold 0..1
    elif low >= 0 and high <= 255:
        low, high = 0.0, 255.0
    # Otherwise (32-bit integers, odd float ranges) the data's own range is stretched.
    scaled = (values - low) * (255.0 / (high - low if high > low else 1.0))
    return Image.fromarray(np.clip(np.rint(scaled), 0, 255).astype(np.uint8), "L")
