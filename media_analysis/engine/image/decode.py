"""Analysis of one downloaded image: bytes in, ``ImageAnalysis`` out.

Pure code: no Django, no I/O, safe to call from several threads at once. Every
input either yields a result or raises ``NotAnImage``, ``CorruptImage`` or
``DecompressionBomb``.

Dominant colours reproduce the predecessor's (scikit-learn k-means on a 100x100
resize of the full image, random_state=42): whenever the full image is decoded,
the very same sample is clustered with the very same seeding (see colors.py).

Speed comes from decoding no more pixels than the results need. Large JPEGs are
decoded by libjpeg's DCT scaling to about 100 pixels on their short side (entropy
decoding, which no scale avoids, is then most of the cost); PNG and still WebP by
imagecodecs, faster than Pillow for the same pixels (for PNG, libdeflate inflates the
image data and libpng undoes the row filters). Colours come from one 100x100
sample, pHash, dHash and the average hash from block means (see _hash_grids), the
colour hash from a nearest-neighbour sample. Decoders and Pillow release the GIL.
"""

from __future__ import annotations

import hashlib
import io
import struct
import threading
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
from PIL import Image, ImageFile, UnidentifiedImageError
from threadpoolctl import threadpool_limits

try:
    import imagecodecs
except ImportError:  # optional: Pillow decodes everything without it, a little slower
    imagecodecs = None

from media_analysis.engine.errors import CorruptImage, DecompressionBomb, MediaFailure, NotAnImage
from media_analysis.engine.image.colours import dominant_colours, websafe_palette
from media_analysis.engine.image.exif import ExifSummary, extract_exif

# JPEGs whose short side is at least JPEG_DRAFT_MIN are decoded by DCT scaling to
# no less than JPEG_DRAFT_SIDE on their short side. Smaller ones keep their exact
# pixels, hence exactly the predecessor's colours (see docs/benchmarks/analysis.md).
JPEG_DRAFT_MIN = 400
JPEG_DRAFT_SIDE = 100
# Images up to this short side are hashed from their full greyscale, as imagehash does;
# larger ones from the means of blocks, at least HASH_SIDE of them on the short side.
HASH_SIDE = 200
# Short side of the nearest-neighbour sample the colour hash counts pixels on:
# sampling, unlike averaging, leaves the fractions of black, grey and saturated
# pixels unbiased. A JPEG decoded at reduced scale is already averaged, so a
# larger sample would cost time without removing that bias.
COLORHASH_SIDE = 128
DRAFTED_COLORHASH_SIDE = 64
COLOUR_SAMPLE = (100, 100)  # the predecessor's k-means input, aspect ratio ignored

# Raster formats met on the web. Pillow can open more, but some hand the bytes to
# outside programs (EPS runs Ghostscript) or exist only in laboratories; content
# in any other format is reported as not an image.
IMAGE_FORMATS = ("JPEG", "PNG", "GIF", "WEBP", "AVIF", "BMP", "DIB", "TIFF", "ICO", "JPEG2000", "TGA", "PSD", "QOI")

_ALPHA_MODES = frozenset({"RGBA", "LA", "PA", "RGBa", "La"})
_HIGH_DEPTH_MODES = frozenset({"I", "I;16", "I;16L", "I;16B", "I;16N", "F"})
_KEYED_MODES = frozenset({"1", "L", "RGB", "I", "I;16"})


@dataclass(frozen=True)
class AnalysisOptions:
    n_colors: int = 5
    colors: bool = True
    exif: bool = True
    hashes: bool = True
    min_width: int = 200
    min_height: int = 200
    max_file_size: int = 10 * 1024 * 1024
    max_pixels: int = 89_478_485


DEFAULT_OPTIONS = AnalysisOptions()


@dataclass
class ImageAnalysis:
    """The analysis fields of ``lands.models.Media``, under the same names."""

    width: int
    height: int
    format: str | None
    color_mode: str
    file_size: int
    mime_type: str | None
    aspect_ratio: float
    frames: int
    has_transparency: bool
    image_hash: str
    exif_data: dict[str, Any] = field(default_factory=dict)
    exif_make: str | None = None
    exif_model: str | None = None
    exif_datetime: str | None = None
    gps_latitude: float | None = None
    gps_longitude: float | None = None
    dominant_colors: list[dict[str, Any]] = field(default_factory=list)
    websafe_colors: dict[str, float] = field(default_factory=dict)
    phash: str | None = None
    dhash: str | None = None
    ahash: str | None = None
    colorhash: str | None = None
    is_conforming: bool = True
    conformity_reason: str | None = None

    def as_fields(self) -> dict[str, Any]:
        """Field name -> value, ready to set on a ``Media`` row."""
        return asdict(self)


# Images are analysed on several threads at once, and the hash grids are small
# matrix products. OpenBLAS would run each on its own thread pool, whose spinning
# threads then fight the analysis threads for the cores: measured, two analysis
# threads went from 1.86x one thread's throughput to 1.12x. One BLAS thread per caller.
threadpool_limits(limits=1, user_api="blas")


# --- Pillow's own pixel limit --------------------------------------------------

_limit_lock = threading.Lock()


def _allow_pixels(max_pixels: int) -> None:
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


# --- Content sniffing ------------------------------------------------------------

_RASTER_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"BM", "image/bmp"),
    (b"II*\x00", "image/tiff"),
    (b"MM\x00*", "image/tiff"),
    (b"\x00\x00\x01\x00", "image/x-icon"),
    (b"\xff\x0a", "image/jxl"),
    (b"\x00\x00\x00\x0cjP  ", "image/jp2"),
)


def sniff_mime(content: bytes) -> str:
    """A best guess of the media type of bytes Pillow could not open."""
    if not content:
        return "application/x-empty"
    head = content[:16]
    for magic, mime in _RASTER_MAGIC:
        if head.startswith(magic):
            return mime
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in (b"avif", b"avis"):
            return "image/avif"
        if brand in (b"heic", b"heix", b"mif1", b"msf1"):
            return "image/heic"
        if brand.startswith(b"M4A"):
            return "audio/mp4"
        return "video/mp4"
    if head.startswith(b"%PDF"):
        return "application/pdf"
    if head.startswith((b"%!PS", b"\xc5\xd0\xd3\xc6")):
        return "application/postscript"
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return "application/zip"
    if head.startswith(b"\x1f\x8b"):
        return "application/gzip"
    if head.startswith((b"ID3", b"\xff\xfb", b"\xff\xf3")):
        return "audio/mpeg"
    if head.startswith(b"OggS"):
        return "audio/ogg"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "video/webm"
    return _sniff_text(content[:2048])


def _sniff_text(head: bytes) -> str:
    if b"\x00" in head:
        return "application/octet-stream"
    text = head.decode("utf-8", "ignore").lstrip("\ufeff \t\r\n").lower()
    if not text:
        return "text/plain"
    if "<svg" in text and (text.startswith(("<svg", "<?xml", "<!--", "<!doctype svg"))):
        return "image/svg+xml"
    if text.startswith(("<!doctype html", "<html", "<head", "<body", "<!--", "<meta", "<title", "<div", "<p>")):
        return "text/html"
    if text.startswith("<?xml") or text.startswith("<"):
        return "application/xml" if "<html" not in text else "text/html"
    if text[0] in "{[":
        return "application/json"
    return "text/plain"


# --- Decoding --------------------------------------------------------------------


def _frame_count(img: Image.Image) -> int:
    try:
        return max(1, int(getattr(img, "n_frames", 1)))
    finally:
        # The first frame is the one analysed.
        if img.tell() != 0:
            img.seek(0)


Box = tuple[float, float, float, float]


def _decode(img: ImageFile.ImageFile, content: bytes) -> tuple[Image.Image, Box | None]:
    """The first frame, decoded: large JPEGs at the smallest DCT scale keeping JPEG_DRAFT_SIDE pixels.

    Returns the decoded image (``img`` itself, loaded, or an equal image decoded
    by a faster codec) and, for a JPEG decoded at reduced scale, the region of the
    decoded image that maps the original exactly (DCT scaling rounds the size up).
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
    else:
        try:
            fast = _fast_decoded(img, content)
        except Exception:
            # Whatever imagecodecs refuses (damaged or unusual data), Pillow decodes
            # or reports as it always has.
            fast = None
        if fast is not None:
            return fast, None
    img.load()
    return img, box


# PNG and still WebP decode faster with imagecodecs than with Pillow (PNG: libdeflate
# inflates, libpng undoes the row filters with SIMD; WebP: libwebp without Pillow's
# animation layer), and release the GIL as Pillow does. The pixels are the same, so
# only the simplest, most common cases take that path: 8-bit, non-interlaced, one
# frame, no colour key, and the image mode Pillow itself reports.
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


# A zlib stream of stored blocks: the image data as it is, in pieces of at most this size.
_STORED_BLOCK = 0xFFFF
_IEND_CHUNK = b"\x00\x00\x00\x00IEND\xaeB`\x82"


def _png_with_stored_image_data(content: bytes, size: tuple[int, int], channels: int) -> bytes | None:
    """The same PNG with its image data inflated by libdeflate and stored uncompressed.

    Inflating is most of a PNG's decoding time, and libdeflate inflates a whole buffer
    in under half the time zlib 1.2.13 takes. libpng then only has to copy the stored
    blocks and undo the row filters, which it does with SIMD. None when the file is not
    a plain 8-bit, non-interlaced PNG whose IDAT chunks inflate to exactly the expected
    size (the caller then decodes the original file); imagecodecs' DeflateError when
    the data does not inflate (the caller then leaves the file to Pillow).
    """
    width, height = size
    if content[12:16] != b"IHDR" or content[24] != 8 or content[28] != 0:
        return None
    view = memoryview(content)
    pieces: list[memoryview] = []
    first_data = 8
    for kind, position, length in _png_chunks(content):
        if kind == b"IDAT":
            if not pieces:
                first_data = position
            pieces.append(view[position + 8 : position + 8 + length])
        elif pieces:
            break  # image data must be contiguous; whatever follows is not needed
    if not pieces:
        return None
    expected = height * (1 + width * channels)  # a filter byte, then the row
    raw = imagecodecs.deflate_decode(b"".join(pieces), out=expected)  # checks the Adler-32
    if len(raw) != expected:
        return None
    raw_view = memoryview(raw)
    stream: list[bytes | memoryview] = [b"\x78\x01"]
    for start in range(0, expected, _STORED_BLOCK):
        block = raw_view[start : start + _STORED_BLOCK]
        final = start + _STORED_BLOCK >= expected
        stream.append(struct.pack("<BHH", final, len(block), len(block) ^ 0xFFFF))  # BFINAL, LEN, NLEN
        stream.append(block)
    stream.append(imagecodecs.deflate_adler32(raw).to_bytes(4, "big"))
    stream_length = sum(len(part) for part in stream)
    crc = imagecodecs.deflate_crc32(b"IDAT")
    for part in stream:
        crc = imagecodecs.deflate_crc32(part, crc)
    return b"".join(
        [
            view[:first_data],
            stream_length.to_bytes(4, "big"),
            b"IDAT",
            *stream,
            crc.to_bytes(4, "big"),
            _IEND_CHUNK,
        ]
    )


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
        stored = _png_with_stored_image_data(content, img.size, channels)
        pixels = imagecodecs.png_decode(stored or content)
        del stored  # no more than two copies of the pixels at once, as without it
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


def _read_exif(img: ImageFile.ImageFile, decoded: Image.Image) -> ExifSummary:
    if decoded is not img and img.format == "PNG" and "exif" not in img.info:
        # Pillow's getexif() would decode the pixels once more to look past the image
        # data; the fast path is only taken when the file holds no EXIF there.
        return ExifSummary()
    return extract_exif(img)


def _normalised(img: Image.Image) -> Image.Image:
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


def _has_transparency(img: Image.Image) -> bool:
    """True when at least one pixel of the (loaded) image is not fully opaque."""
    mode = img.mode
    if mode in _ALPHA_MODES:
        # Transparent images are usually transparent in a corner: look there before
        # scanning the whole alpha band.
        width, height = img.size
        for x, y in ((0, 0), (width - 1, 0), (0, height - 1), (width - 1, height - 1)):
            if img.getpixel((x, y))[-1] < 255:
                return True
        return img.getchannel(len(mode) - 1).getextrema()[0] < 255
    transparency = img.info.get("transparency")
    if mode == "P":
        alphas = _palette_alphas(img, transparency)
        if alphas is None:
            return False
        histogram = img.histogram()
        return any(count and alphas[index] < 255 for index, count in enumerate(histogram[: len(alphas)]))
    if transparency is not None and mode in _KEYED_MODES:
        # A colour key (PNG tRNS on grey or truecolour): Pillow applies it when adding alpha.
        return img.convert("RGBA").getextrema()[3][0] < 255
    return False


def _palette_alphas(img: Image.Image, transparency: Any) -> list[int] | None:
    alphas: list[int] | None = None
    palette = img.palette
    if palette is not None and palette.mode == "RGBA":
        raw = palette.tobytes()
        alphas = list(raw[3::4])
    if isinstance(transparency, int):
        alphas = alphas or [255] * 256
        alphas += [255] * (256 - len(alphas))
        if 0 <= transparency < len(alphas):
            alphas[transparency] = 0
    elif isinstance(transparency, bytes | bytearray):
        alphas = list(transparency) + [255] * (256 - len(transparency))
    if alphas is None:
        return None
    return alphas + [255] * (256 - len(alphas))


def _sampled(img: Image.Image, side: int) -> Image.Image:
    """A nearest-neighbour sample of ``img`` with ``side`` pixels on its short side.

    Images up to twice that size are counted whole: sampling them would save little
    time and add sampling noise to the colour hash.
    """
    width, height = img.size
    short = min(width, height)
    if short <= 2 * side:
        return img
    return img.resize((max(1, width * side // short), max(1, height * side // short)), Image.Resampling.NEAREST)


# --- Perceptual hashes -------------------------------------------------------------
# Same definitions as the imagehash library (pHash, dHash, average hash, colour hash)
# computed from block means or samples rather than from the full image; the bench checks the
# Hamming distances to imagehash on fully decoded images.


def _dct_matrix(size: int, keep: int) -> np.ndarray:
    # Rows of the (unnormalised) DCT-II; only the low frequencies are kept.
    n = np.arange(size)
    k = np.arange(keep)[:, None]
    return 2.0 * np.cos(np.pi * k * (2 * n + 1) / (2 * size))


_DCT_32_8 = _dct_matrix(32, 8)
_LANCZOS = Image.Resampling.LANCZOS


def _bits_to_hex(bits: np.ndarray) -> str:
    """imagehash's hex form: the bits, first one most significant, as zero-padded hex."""
    flat = np.asarray(bits, dtype=bool).reshape(-1)
    count = len(flat)
    value = int.from_bytes(np.packbits(flat).tobytes(), "big") >> (-count % 8)
    return f"{value:0{(count + 3) // 4}x}"


def phash(pixels: np.ndarray) -> str:
    """pHash of the 32x32 greyscale grid."""
    low = _DCT_32_8 @ pixels.astype(np.float64) @ _DCT_32_8.T
    ordered = np.sort(low, axis=None)
    median = (ordered[31] + ordered[32]) / 2  # np.median of 64 values, without its overhead
    return _bits_to_hex(low > median)


def dhash(pixels: np.ndarray) -> str:
    """dHash of the 9 wide, 8 high greyscale grid."""
    pixels = pixels.astype(np.int16)
    return _bits_to_hex(pixels[:, 1:] > pixels[:, :-1])


def ahash(pixels: np.ndarray) -> str:
    """Average hash of the 8x8 greyscale grid."""
    pixels = pixels.astype(np.float64)
    return _bits_to_hex(pixels > pixels.mean())


# The grids imagehash resizes the full greyscale image to with Lanczos (width, height).
HASH_GRIDS = {"phash": (32, 32), "dhash": (9, 8), "ahash": (8, 8)}


def _lanczos(x: np.ndarray) -> np.ndarray:
    return np.where((x >= -3.0) & (x < 3.0), np.sinc(x) * np.sinc(x / 3.0), 0.0)


@lru_cache(maxsize=64)
def _block_weights(in_size: int, out_size: int, block: int) -> np.ndarray:
    """Pillow's Lanczos weights from ``in_size`` pixels to ``out_size``, summed over blocks of ``block`` pixels.

    Shape (out_size, ceil(in_size / block)). Applied to the means of those blocks,
    they give nearly what the full resize gives (the filter spans many blocks, so it
    varies little within one). The coefficients are computed as Pillow's Resample.c
    computes them.
    """
    scale = in_size / out_size
    filterscale = max(scale, 1.0)
    support = 3.0 * filterscale
    centres = (np.arange(out_size) + 0.5) * scale
    first = np.maximum((centres - support + 0.5).astype(np.int64), 0)
    stop = np.minimum((centres + support + 0.5).astype(np.int64), in_size)
    lengths = np.maximum(stop - first, 0)
    rows = np.repeat(np.arange(out_size), lengths)
    starts = np.cumsum(lengths) - lengths
    positions = np.arange(int(lengths.sum())) - np.repeat(starts, lengths) + np.repeat(first, lengths)
    weights = _lanczos((positions - centres[rows] + 0.5) / filterscale)
    totals = np.bincount(rows, weights, minlength=out_size)
    weights /= np.where(totals != 0.0, totals, 1.0)[rows]
    blocks = -(-in_size // block)
    summed = np.bincount(rows * blocks + positions // block, weights, minlength=out_size * blocks)
    summed = summed.reshape(out_size, blocks)
    summed.flags.writeable = False
    return summed


def _hash_grids(base: Image.Image, draft_box: Box | None, size: tuple[int, int]) -> dict[str, np.ndarray]:
    """The greyscale grids pHash, dHash and aHash are computed from, as imagehash makes them.

    imagehash resizes the full greyscale image with Lanczos. A small image is
    resized just so. A larger one is first reduced to the means of square blocks
    (a JPEG decoded at reduced DCT scale already is: libjpeg keeps each block's
    mean), and the same Lanczos weights, summed per block, are applied to those
    means in floating point, then clipped and rounded as Pillow does. On fully
    decoded photos the 9x8 grid is then within 0.03 to 0.07 grey levels of Pillow's
    own on average. DCT-scaled JPEGs differ more: only a full decode clamps every
    pixel to 0..255, which darkens bright grainy areas a little (measured in
    docs/benchmarks/analysis.md).
    """
    grey = base.convert("L")
    if draft_box is None and min(grey.size) <= HASH_SIDE:
        return {name: np.asarray(grey.resize(grid, _LANCZOS)) for name, grid in HASH_GRIDS.items()}
    if draft_box is not None:
        block = max(1, round(size[0] / draft_box[2]))
    else:
        block = max(1, min(grey.size) // HASH_SIDE)
        if block > 1:
            grey = grey.reduce(block)
    means = np.asarray(grey, dtype=np.float64)
    width, height = size
    rows, columns = -(-height // block), -(-width // block)
    # DCT scaling rounds the decoded size up; only the blocks of the original count,
    # as many as _block_weights has columns for.
    means = means[:rows, :columns]
    grids = {}
    for name, (grid_width, grid_height) in HASH_GRIDS.items():
        horizontal = _block_weights(width, grid_width, block)
        vertical = _block_weights(height, grid_height, block)
        # Pillow resizes rows first and clips them to 0..255 before the vertical
        # pass; Lanczos overshoots near bright or dark edges, so the clip matters.
        rows_first = np.clip(means @ horizontal.T, 0.0, 255.0)
        grids[name] = np.clip(np.floor(vertical @ rows_first + 0.5), 0, 255).astype(np.uint8)
    return grids


def _colorhash_table() -> np.ndarray:
    """Bin of every (saturation, hue) pair: 0 grey, 1-6 faint hues, 7-12 bright hues, 13 neither."""
    s = np.arange(256)[:, None]
    h = np.arange(256)[None, :]
    hue_bin = np.minimum(h * 6 // 255, 5)  # numpy.histogram's six equal bins over 0..255
    table = np.full((256, 256), 13, dtype=np.uint8)
    table = np.where(s < 256 * 2 // 3, 1 + hue_bin, table)
    table = np.where(s > 256 * 2 // 3, 7 + hue_bin, table)
    table = np.where(s < 256 // 3, 0, table)
    return np.ascontiguousarray(table, dtype=np.uint8).reshape(-1)


_COLORHASH_BINS = _colorhash_table()
_BLACK_BIN = 14


def colorhash(rgb: Image.Image, binbits: int = 3) -> str:
    """Fractions of black, grey, and faint/bright pixels per hue, ``binbits`` bits each."""
    intensity = np.asarray(rgb.convert("L")).reshape(-1)
    hsv = np.asarray(rgb.convert("HSV")).reshape(-1, 3)
    index = hsv[:, 1].astype(np.uint16) << 8
    index |= hsv[:, 0]
    bins = _COLORHASH_BINS.take(index)
    bins[intensity < 256 // 8] = _BLACK_BIN
    counts = np.bincount(bins, minlength=15)
    total = len(bins)
    coloured = max(1, total - int(counts[_BLACK_BIN]) - int(counts[0]))
    top = 2**binbits
    values = [min(top - 1, int(counts[_BLACK_BIN] / total * top)), min(top - 1, int(counts[0] / total * top))]
    values += [min(top - 1, int(int(count) * top * 1.0 / coloured)) for count in counts[1:13]]
    bits = [value // (2 ** (binbits - i - 1)) % 2 ** (binbits - i) > 0 for value in values for i in range(binbits)]
    return _bits_to_hex(np.array(bits))


# --- Conformity -------------------------------------------------------------------


def conformity(width: int, height: int, file_size: int, options: AnalysisOptions) -> tuple[bool, str | None]:
    reasons = []
    if width < options.min_width:
        reasons.append(f"width {width} < {options.min_width}")
    if height < options.min_height:
        reasons.append(f"height {height} < {options.min_height}")
    if file_size > options.max_file_size:
        reasons.append(f"file size {file_size} > {options.max_file_size}")
    return (not reasons, "; ".join(reasons) or None)


# --- Entry point ----------------------------------------------------------------------


def analyse_image(content: bytes, options: AnalysisOptions = DEFAULT_OPTIONS) -> ImageAnalysis:
    """Analyse one image file; raise NotAnImage, CorruptImage or DecompressionBomb otherwise."""
    size = len(content)
    if not content:
        raise NotAnImage("empty content", mime_type="application/x-empty", size=0)
    _allow_pixels(options.max_pixels)
    mime: str | None = None
    try:
        try:
            img = Image.open(io.BytesIO(content), formats=IMAGE_FORMATS)
        except UnidentifiedImageError as exc:
            mime = sniff_mime(content)
            if mime.startswith("image/") and mime != "image/svg+xml":
                raise CorruptImage(f"unreadable {mime} data", mime_type=mime, size=size) from exc
            raise NotAnImage(f"not an image ({mime})", mime_type=mime, size=size) from exc
        with img:
            mime = img.get_format_mimetype() or sniff_mime(content)
            return _analyse_opened(img, content, mime, options)
    except MediaFailure:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise DecompressionBomb(str(exc), mime_type=mime or sniff_mime(content), size=size) from exc
    except MemoryError as exc:
        raise DecompressionBomb(
            "not enough memory to decode", mime_type=mime or sniff_mime(content), size=size
        ) from exc
    except Exception as exc:
        # Pillow reports broken data through many exception types (OSError, SyntaxError,
        # ValueError, struct.error, EOFError...); all of them mean the same thing here.
        message = f"{type(exc).__name__}: {exc}"
        raise CorruptImage(message, mime_type=mime or sniff_mime(content), size=size) from exc


def _analyse_opened(img: ImageFile.ImageFile, content: bytes, mime: str, options: AnalysisOptions) -> ImageAnalysis:
    size = len(content)
    width, height = img.size
    if width <= 0 or height <= 0:
        raise CorruptImage(f"invalid dimensions {width}x{height}", mime_type=mime, size=size)
    if width * height > options.max_pixels:
        raise DecompressionBomb(
            f"{width}x{height} = {width * height} pixels exceeds {options.max_pixels}", mime_type=mime, size=size
        )
    image_format = img.format
    color_mode = img.mode
    frames = _frame_count(img)
    # Decode before reading EXIF: for PNG, getexif() loads the image itself, and a
    # failed load must surface here rather than be taken for missing EXIF.
    decoded, draft_box = _decode(img, content)
    exif = _read_exif(img, decoded) if options.exif else ExifSummary()
    conforming, reason = conformity(width, height, size, options)
    result = ImageAnalysis(
        width=width,
        height=height,
        format=image_format,
        color_mode=color_mode,
        file_size=size,
        mime_type=mime,
        aspect_ratio=round(width / height, 2),
        frames=frames,
        has_transparency=_has_transparency(decoded),
        image_hash=hashlib.sha256(content).hexdigest(),
        exif_data=exif.data,
        exif_make=exif.make,
        exif_model=exif.model,
        exif_datetime=exif.datetime,
        gps_latitude=exif.gps_latitude,
        gps_longitude=exif.gps_longitude,
        is_conforming=conforming,
        conformity_reason=reason,
    )
    if options.colors or options.hashes:
        _fill_pixels_fields(result, _normalised(decoded), draft_box, options)
    return result


def _colour_sample(base: Image.Image, draft_box: Box | None) -> Image.Image:
    if draft_box is not None:
        # A JPEG decoded at reduced scale cannot give the predecessor's exact sample;
        # the same filter over the same region of the original comes closest.
        return base.resize(COLOUR_SAMPLE, Image.Resampling.BICUBIC, box=draft_box)
    # The full image is decoded anyway: take the very sample the predecessor clustered
    # (Pillow's default filter, which is nearest neighbour for palette images).
    return base.resize(COLOUR_SAMPLE)


def _fill_pixels_fields(
    result: ImageAnalysis, base: Image.Image, draft_box: Box | None, options: AnalysisOptions
) -> None:
    if options.colors:
        # Only the colours need this sample since the hashes come from block means.
        colour_sample = _colour_sample(base, draft_box)
        pixels = np.asarray(colour_sample if colour_sample.mode == "RGB" else colour_sample.convert("RGB"))
        if draft_box is not None:
            # The predecessor's exact palette is out of reach once a JPEG is decoded at
            # reduced scale (k-means lands in another optimum about as often as with
            # another random seed); a quarter of the sample gives equally good palettes
            # at a quarter of the cost.
            pixels = pixels[::2, ::2]
        pixels = pixels.reshape(-1, 3)
        result.dominant_colors = dominant_colours(pixels, options.n_colors)
        result.websafe_colors = websafe_palette(result.dominant_colors)
    if options.hashes:
        grids = _hash_grids(base, draft_box, (result.width, result.height))
        result.phash = phash(grids["phash"])
        result.dhash = dhash(grids["dhash"])
        result.ahash = ahash(grids["ahash"])
        sample = _sampled(base, COLORHASH_SIDE if draft_box is None else DRAFTED_COLORHASH_SIDE)
        result.colorhash = colorhash(sample if sample.mode == "RGB" else sample.convert("RGB"))
