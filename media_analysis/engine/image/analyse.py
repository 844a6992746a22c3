"""Analysis of one downloaded image: bytes in, ``ImageAnalysis`` out.

Pure code: no Django, no I/O, safe to call from several threads at once. Every
input either yields a result or raises ``NotAnImage``, ``CorruptImage`` or
``DecompressionBomb``.

Dominant colours reproduce the predecessor's (scikit-learn k-means on a 100x100
resize of the full image, random_state=42): whenever the full image is decoded,
the very same sample is clustered with the very same seeding (see colours.py).
Decoding (decode.py) reads no more pixels than the results need; colours come from
one 100x100 sample, pHash, dHash and the average hash from block means, the colour
hash from a nearest-neighbour sample (hashes.py).
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from PIL import Image, ImageFile, UnidentifiedImageError

from media_analysis.engine.errors import CorruptImage, DecompressionBomb, MediaFailure, NotAnImage
from media_analysis.engine.image.colours import dominant_colours, websafe_palette
from media_analysis.engine.image.decode import (
    IMAGE_FORMATS,
    Box,
    allow_pixels,
    decode_first_frame,
    frame_count,
    normalised,
    read_exif,
)
from media_analysis.engine.image.exif import ExifSummary
from media_analysis.engine.image.guarded import guarded_analyser, memory_limit
from media_analysis.engine.image.hashes import (
    COLORHASH_SIDE,
    DRAFTED_COLORHASH_SIDE,
    ahash,
    colorhash,
    dhash,
    hash_grids,
    phash,
    sampled,
)
from media_analysis.engine.image.limits import inspect
from media_analysis.engine.image.transparency import has_transparency
from media_analysis.engine.sniff import sniff_image_mime

COLOUR_SAMPLE = (100, 100)  # the predecessor's k-means input, aspect ratio ignored


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
    max_scans: int = 100
    max_frames: int = 10_000
    timeout: float | None = 30.0  # seconds per image in a guarded process; None analyses every image in process


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
    """Analyse one image file within the caps and the time limit (see limits.py and guarded.py)."""
    allow_pixels(options.max_pixels)  # in this process too, whichever analyses the file
    structure = inspect(
        content, max_pixels=options.max_pixels, max_scans=options.max_scans, max_frames=options.max_frames
    )
    if options.timeout is None or structure.ordinary:
        return analyse_in_process(content, options)
    analyser = guarded_analyser(options.timeout, memory_limit(options.max_pixels))
    try:
        return ImageAnalysis(**analyser.analyse(content, options))
    except MediaFailure as failure:
        failure.mime_type = failure.mime_type or sniff_image_mime(content)
        raise


def analyse_in_process(content: bytes, options: AnalysisOptions = DEFAULT_OPTIONS) -> ImageAnalysis:
    """Analyse one image file; raise NotAnImage, CorruptImage or DecompressionBomb otherwise."""
    size = len(content)
    if not content:
        raise NotAnImage("empty content", mime_type="application/x-empty", size=0)
    allow_pixels(options.max_pixels)
    mime: str | None = None
    try:
        try:
            img = Image.open(io.BytesIO(content), formats=IMAGE_FORMATS)
        except UnidentifiedImageError as exc:
            mime = sniff_image_mime(content)
            if mime.startswith("image/") and mime != "image/svg+xml":
                raise CorruptImage(f"unreadable {mime} data", mime_type=mime, size=size) from exc
            raise NotAnImage(f"not an image ({mime})", mime_type=mime, size=size) from exc
        with img:
            mime = img.get_format_mimetype() or sniff_image_mime(content)
            return _analyse_opened(img, content, mime, options)
    except MediaFailure:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise DecompressionBomb(str(exc), mime_type=mime or sniff_image_mime(content), size=size) from exc
    except MemoryError as exc:
        raise DecompressionBomb(
            "not enough memory to decode", mime_type=mime or sniff_image_mime(content), size=size
        ) from exc
    except Exception as exc:
        # Pillow reports broken data through many exception types (OSError, SyntaxError,
        # ValueError, struct.error, EOFError...); all of them mean the same thing here.
        message = f"{type(exc).__name__}: {exc}"
        raise CorruptImage(message, mime_type=mime or sniff_image_mime(content), size=size) from exc


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
    frames = frame_count(img)
    # Decode before reading EXIF: for PNG, getexif() loads the image itself, and a
    # failed load must surface here rather than be taken for missing EXIF.
    decoded, draft_box = decode_first_frame(img, content)
    exif = read_exif(img, decoded) if options.exif else ExifSummary()
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
        has_transparency=has_transparency(decoded),
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
        _fill_pixels_fields(result, normalised(decoded), draft_box, options)
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
        grids = hash_grids(base, draft_box, (result.width, result.height))
        result.phash = phash(grids["phash"])
        result.dhash = dhash(grids["dhash"])
        result.ahash = ahash(grids["ahash"])
        sample = sampled(base, COLORHASH_SIDE if draft_box is None else DRAFTED_COLORHASH_SIDE)
        result.colorhash = colorhash(sample if sample.mode == "RGB" else sample.convert("RGB"))
