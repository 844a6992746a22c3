"""Analysis of one downloaded image: bytes in, ``ImageAnalysis`` out.

Pure code: no Django, no I/O, safe to call from several threads at once. Every
input either yields a result or raises ``NotAnImage``, ``UnsupportedFormat``,
``CorruptImage`` or ``DecompressionBomb``.

Dominant colours reproduce the predecessor's (scikit-learn k-means on a 100x100
resize of the full image, random_state=42): whenever the full image is decoded,
the very same sample is clustered with the very same seeding (see colours.py).
Decoding (decode.py) reads no more pixels than the results need; colours come from
one 100x100 sample, the four perceptual hashes from imagehash itself on the decoded
image (hashes.py).
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from PIL import Image, ImageFile, UnidentifiedImageError

from media_analysis.engine.errors import (
    CorruptImage,
    DecompressionBomb,
    MediaFailure,
    NotAnImage,
    UnsupportedFormat,
)
from media_analysis.engine.image.colours import dominant_colours, websafe_palette
from media_analysis.engine.image.decode import (
    IMAGE_FORMATS,
    Box,
    DecodedFrame,
    allow_pixels,
    decode_frame,
    detected_format,
    exif_orientation,
    frame_count,
    image_formats,
    jpeg_draft,
    normalised,
    read_exif,
)
from media_analysis.engine.image.exif import ExifSummary
from media_analysis.engine.image.guarded import guarded_analyser, memory_limit
from media_analysis.engine.image.hashes import perceptual_hashes
from media_analysis.engine.image.limits import inspect
from media_analysis.engine.image.regions import region_hashes
from media_analysis.engine.image.thumbnail import Thumbnail, make_thumbnail
from media_analysis.engine.image.transparency import has_transparency
from media_analysis.engine.sniff import sniff_image_mime
from media_analysis.engine.text import TextOptions, TextReading

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
    # Pillow's names of the formats decoded; any other image fails as unsupported_format.
    image_formats: tuple[str, ...] = IMAGE_FORMATS
    max_scans: int = 100
    max_frames: int = 10_000
    timeout: float | None = 30.0  # seconds per image in a guarded process; None analyses every image in process
    thumbnail_size: int = 0  # long side of the stored preview in pixels; 0 makes none
    thumbnail_webp: bool = False  # every thumbnail as WebP; otherwise JPEG, and WebP only for transparency
    # A large JPEG whose analysis draft is smaller than the thumbnail is decoded again to reach the size
    # (about a second decode); otherwise its thumbnail is that draft, at no cost.
    thumbnail_redecode: bool = False
    # Read the text in the picture (OCR) after the analysis; None leaves it unread.
    text: TextOptions | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "image_formats", image_formats(self.image_formats))


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
    region_hashes: str | None = None
    is_conforming: bool = True
    conformity_reason: str | None = None
    # Not a column: the caller stores the file and records its key.
    thumbnail: Thumbnail | None = field(default=None, repr=False)
    # Not a column either: the text read in the picture, when the options asked for it.
    text: TextReading | None = field(default=None, repr=False)

    def as_fields(self) -> dict[str, Any]:
        """Field name -> value, ready to set on a ``Media`` row (the thumbnail and the text are not ones)."""
        values = asdict(self)
        del values["thumbnail"]
        del values["text"]
        return values


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


def analyse_image(
    content: bytes, options: AnalysisOptions = DEFAULT_OPTIONS, *, sha256: str | None = None
) -> ImageAnalysis:
    """Analyse one image file within the caps and the time limit (see limits.py and guarded.py).

    ``sha256``: the content's SHA-256 (hex) when the caller has already taken it, so that the
    bytes are not hashed twice; it becomes ``image_hash`` as given.
    """
    allow_pixels(options.max_pixels)  # in this process too, whichever analyses the file
    structure = inspect(
        content, max_pixels=options.max_pixels, max_scans=options.max_scans, max_frames=options.max_frames
    )
    if options.timeout is None or structure.ordinary:
        return analyse_in_process(content, options, sha256=sha256)
    analyser = guarded_analyser(options.timeout, memory_limit(options.max_pixels))
    try:
        values, thumbnail, text = analyser.analyse_with_text(content, options)
        return ImageAnalysis(**values, thumbnail=thumbnail, text=text)
    except MediaFailure as failure:
        failure.mime_type = failure.mime_type or sniff_image_mime(content)
        raise


def analyse_in_process(
    content: bytes, options: AnalysisOptions = DEFAULT_OPTIONS, *, sha256: str | None = None
) -> ImageAnalysis:
    """Analyse one image file; raise NotAnImage, UnsupportedFormat, CorruptImage or DecompressionBomb otherwise.

    ``sha256`` as for ``analyse_image``.
    """
    size = len(content)
    if not content:
        raise NotAnImage("empty content", mime_type="application/x-empty", size=0)
    allow_pixels(options.max_pixels)
    mime: str | None = None
    try:
        try:
            img = Image.open(io.BytesIO(content), formats=options.image_formats)
        except UnidentifiedImageError as exc:
            raise _unopened(content, options.image_formats) from exc
        with img:
            mime = img.get_format_mimetype() or sniff_image_mime(content)
            return _analyse_opened(img, content, mime, options, sha256)
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


# The formats behind the media types the sniffer names, as Pillow names them.
_SNIFFED_FORMATS = {
    "image/jpeg": ("JPEG",),
    "image/png": ("PNG",),
    "image/gif": ("GIF",),
    "image/webp": ("WEBP",),
    "image/bmp": ("BMP", "DIB"),
    "image/tiff": ("TIFF",),
    "image/jp2": ("JPEG2000",),
    "image/avif": ("AVIF",),
    "image/heic": ("HEIC",),
    "image/heif": ("HEIF",),
    "image/jxl": ("JXL",),
}


def _sniffed_formats(content: bytes, mime: str) -> tuple[str, ...]:
    if mime == "image/x-icon":
        # Icons and cursors share a header; its type field tells them apart.
        return ("CUR",) if content[2:4] == b"\x02\x00" else ("ICO",)
    return _SNIFFED_FORMATS.get(mime, ())


def _unopened(content: bytes, allowed: tuple[str, ...]) -> MediaFailure:
    """Why no allowed reader opened ``content``: corrupt, unsupported, or not an image at all.

    A clear signature of an allowed format means damaged data. Otherwise any image
    format that Pillow's other readers or the sniffer recognise is named as
    unsupported; what neither recognises is not an image.
    """
    size = len(content)
    mime = sniff_image_mime(content)
    sniffed = _sniffed_formats(content, mime)
    if any(name in allowed for name in sniffed):
        return CorruptImage(f"unreadable {mime} data", mime_type=mime, size=size)
    detected = detected_format(content)
    if detected is not None and detected not in allowed:
        return UnsupportedFormat(
            f"unsupported image format: {detected}", mime_type=Image.MIME.get(detected, mime), size=size
        )
    if sniffed:
        return UnsupportedFormat(f"unsupported image format: {sniffed[0]}", mime_type=mime, size=size)
    if mime.startswith("image/") and mime != "image/svg+xml":
        return CorruptImage(f"unreadable {mime} data", mime_type=mime, size=size)
    return NotAnImage(f"not an image ({mime})", mime_type=mime, size=size)


def _analyse_opened(
    img: ImageFile.ImageFile, content: bytes, mime: str, options: AnalysisOptions, sha256: str | None
) -> ImageAnalysis:
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
    frame = decode_frame(img, content, options.thumbnail_size if options.thumbnail_redecode else 0)
    decoded, draft_box = frame.image, frame.box
    exif = read_exif(img, decoded) if options.exif else ExifSummary()
    conforming, reason = conformity(width, height, size, options)
    transparent = has_transparency(decoded)
    thumbnail = None
    if options.thumbnail_size > 0:
        # Before normalised(), which drops a palette's transparency.
        try:
            thumbnail = make_thumbnail(
                frame.preview,
                options.thumbnail_size,
                transparent=transparent,
                webp=options.thumbnail_webp,
                orientation=exif_orientation(img),
            )
        except MemoryError:
            raise
        except Exception:
            # A preview that cannot be encoded (an unusual mode, an encoder's limit) costs the
            # preview, never the analysis: the page then says there is none.
            thumbnail = None
    result = ImageAnalysis(
        width=width,
        height=height,
        format=image_format,
        color_mode=color_mode,
        file_size=size,
        mime_type=mime,
        aspect_ratio=round(width / height, 2),
        frames=frames,
        has_transparency=transparent,
        image_hash=sha256 or hashlib.sha256(content).hexdigest(),
        exif_data=exif.data,
        exif_make=exif.make,
        exif_model=exif.model,
        exif_datetime=exif.datetime,
        gps_latitude=exif.gps_latitude,
        gps_longitude=exif.gps_longitude,
        is_conforming=conforming,
        conformity_reason=reason,
        thumbnail=thumbnail,
    )
    if options.colors or options.hashes:
        _fill_pixels_fields(result, normalised(decoded), draft_box, options)
    if options.text is not None:
        from media_analysis.engine.text.read import read_text  # scipy and Tesseract: only when text is read

        result.text = read_text(_text_picture(frame, content, options.text), options.text)
    return result


def _text_picture(frame: DecodedFrame, content: bytes, options: TextOptions) -> Image.Image:
    """The decoded picture the text is read from: the analysis's own, unless it was decoded at reduced scale.

    A large JPEG is analysed from a draft too small for any text; it is decoded
    again at the smallest DCT scale keeping the recognition's long side, as its
    luma alone: the text is read in grey levels.
    """
    if frame.box is None:
        return frame.image
    return jpeg_draft(content, options.max_side, grey=True) or frame.preview


def _colour_sample(base: Image.Image, draft_box: Box | None) -> Image.Image:
    if draft_box is not None:
        # A JPEG decoded at reduced scale cannot give the predecessor's exact sample;
        # the same filter over the same region of the original comes closest.
        return base.resize(COLOUR_SAMPLE, Image.Resampling.BICUBIC, box=draft_box)
    # The full image is decoded anyway: take the very sample the predecessor clustered
    # (Pillow's default filter, which is nearest neighbour for palette images).
    return base.resize(COLOUR_SAMPLE)


def sample_colours(colour_sample: Image.Image, draft_box: Box | None, n_colors: int) -> list[dict[str, Any]]:
    """The dominant colours of the colour sample.

    A JPEG decoded at reduced scale gives only an approximation of the predecessor's
    sample, where one k-means run lands in another optimum about as often as another
    random seed would: its sample goes to the consensus k-means (colours.py).
    """
    pixels = np.asarray(colour_sample if colour_sample.mode == "RGB" else colour_sample.convert("RGB"))
    return dominant_colours(pixels.reshape(-1, 3), n_colors, approximate=draft_box is not None)


def _fill_pixels_fields(
    result: ImageAnalysis, base: Image.Image, draft_box: Box | None, options: AnalysisOptions
) -> None:
    if options.colors:
        # Only the colours need this sample: imagehash resizes the decoded image itself.
        colour_sample = _colour_sample(base, draft_box)
        result.dominant_colors = sample_colours(colour_sample, draft_box, options.n_colors)
        result.websafe_colors = websafe_palette(result.dominant_colors)
    if options.hashes:
        # ``base`` is the decoded image in a faithful 8-bit mode: for every 8-bit mode
        # the very image imagehash is given after Image.open(); deep images are scaled
        # to 8 bits, where Pillow's own conversion would clip them to white.
        hashes = perceptual_hashes(base)
        result.phash, result.dhash = hashes.phash, hashes.dhash
        result.ahash, result.colorhash = hashes.ahash, hashes.colorhash
        _fill_region_hashes(result, base)


def _fill_region_hashes(result: ImageAnalysis, base: Image.Image) -> None:
    # Not imagehash's: hashes of regions after trimming a frame, for framed and cropped copies.
    result.region_hashes = region_hashes(base).hex()
