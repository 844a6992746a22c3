"""Cheap structural checks of an image file, before any decoder spends time or memory on it.

A file under the size cap can still cost minutes of CPU or gigabytes of memory:
a progressive JPEG whose scans are repeated thousands of times (each scan is a
pass over the whole image), an ICO whose directory announces a small icon but
embeds a huge PNG or BMP (Pillow opens the embedded image without its pixel
check), a TIFF or GIF with so many frames that counting them is the cost
(Pillow's TIFF count is quadratic). These checks read only headers and marker or
block structure, in linear time with a cap on what they count, and raise before
Pillow is called:

* ``TooComplex`` when a JPEG has more scans than ``max_scans`` or an image more
  frames than ``max_frames``;
* ``DecompressionBomb`` when an image embedded in an ICO or CUR has more pixels
  than ``max_pixels``.

``inspect`` also says whether a file is *ordinary*: a format whose decoding cost
grows with its pixels only, under a pixel count and a number of scans small
enough that in-process decoding is bounded by construction. Other files (TIFF,
JPEG 2000, PSD, AVIF, large images, JPEGs with unusually many scans) are
analysed in a guarded worker process (guarded.py) that is killed at the time limit.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass

from media_analysis.engine.errors import DecompressionBomb, TooComplex

# Formats whose decoders can cost far more than their pixels suggest (tiles,
# layers, wavelets, many codecs): always analysed in a guarded process.
_GUARDED_KINDS = frozenset({"tiff", "jpeg2000", "psd", "isobmff"})
# Progressive JPEG encoders write about ten scans; more than this is unusual
# enough to go to a guarded process, although still under the cap.
ORDINARY_SCANS = 20
# Above this many pixels an ordinary format is decoded in a guarded process too,
# so that the in-process bound stays small.
ORDINARY_PIXELS = 16_000_000

_JPEG_MARKER = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")  # a marker; not stuffing, restart or fill
_SOS, _EOI, _SOI = 0xDA, 0xD9, 0xD8
_STANDALONE = frozenset({0x01, _SOI, *range(0xD0, 0xD8)})
# Start-of-frame markers: every SOFn except DHT (C4), JPG (C8) and DAC (CC).
_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_PROGRESSIVE_SOF = frozenset({0xC2, 0xC6, 0xCA, 0xCE})


@dataclass(frozen=True)
class Structure:
    """What the checks learnt of a file: its kind and, when known, its pixels and scans."""

    kind: str | None
    pixels: int | None = None
    scans: int = 0

    @property
    def ordinary(self) -> bool:
        """True when in-process analysis is bounded by the caps: a pixel-bound format, not too large.

        Content of no known kind (TGA, which has no signature, and everything that is
        not an image) is ordinary: Pillow refuses it at once or decodes it linearly.
        """
        if self.kind in _GUARDED_KINDS:
            return False
        return (self.pixels is None or self.pixels <= ORDINARY_PIXELS) and self.scans <= ORDINARY_SCANS


def inspect(content: bytes, *, max_pixels: int, max_scans: int, max_frames: int) -> Structure:
    """Raise TooComplex or DecompressionBomb for what the caps refuse; say what the file is otherwise.

    Malformed structure is never refused here: the decoder reports it as it always has.
    """
    head = content[:16]
    if head.startswith(b"\xff\xd8"):
        return _jpeg(content, max_scans)
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return _png(content, max_frames)
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return _gif(content, max_frames)
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return _webp(content, max_frames)
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return _tiff(content, max_frames)
    if head[:4] in (b"\x00\x00\x01\x00", b"\x00\x00\x02\x00"):
        return _ico(content, max_pixels)
    if head.startswith(b"BM") and len(content) >= 26:
        width, height = _bmp_size(content, 14)
        return Structure("bmp", width * height if width is not None and height is not None else None)
    if head.startswith((b"\x00\x00\x00\x0cjP  \r\n\x87\n", b"\xff\x4f\xff\x51")):
        return Structure("jpeg2000")
    if head.startswith(b"8BPS"):
        return Structure("psd")
    if head[4:8] == b"ftyp":
        return Structure("isobmff")  # AVIF, HEIF
    if head.startswith(b"qoif") and len(content) >= 12:
        width, height = struct.unpack(">II", content[4:12])
        return Structure("qoi", width * height)
    return Structure(None)


# --- JPEG -------------------------------------------------------------------------------


def _jpeg(content: bytes, max_scans: int) -> Structure:
    """Count the scans (SOS segments) of the first image, up to its EOI, when the decoder reads them all.

    libjpeg reads every scan up to the EOI only in multi-scan mode: a progressive
    frame, or a first scan holding fewer components than the frame. A sequential
    image whose first scan holds every component is decoded from that scan alone,
    so its further scans cost nothing and are not searched for.

    Entropy-coded data never holds the bytes of a marker (a 0xFF there is followed
    by 0 or a restart code), so the number of SOS byte pairs after the first scan
    bounds the scans from above at the cost of a byte search; only a file over the
    ordinary count is walked marker by marker, for the exact figure.
    """
    frame, first_scan = _jpeg_header(content)
    if frame is None or first_scan is None or first_scan + 5 > len(content):
        return Structure("jpeg", frame.pixels if frame else None)
    if not frame.progressive and content[first_scan + 4] >= frame.components:
        return Structure("jpeg", frame.pixels, 1)
    bound = content.count(b"\xff\xda", first_scan)
    scans = bound if bound <= min(ORDINARY_SCANS, max_scans) else _jpeg_scans(content, first_scan, max_scans)
    return Structure("jpeg", frame.pixels, scans)


@dataclass(frozen=True)
class _Frame:
    pixels: int
    components: int
    progressive: bool


def _jpeg_header(content: bytes) -> tuple[_Frame | None, int | None]:
    """The frame (SOF) and the offset of the first SOS, walking the segments before it."""
    frame: _Frame | None = None
    position = 2
    while position + 4 <= len(content):
        if content[position] != 0xFF:
            break  # damaged: the decoder says so
        marker = content[position + 1]
        if marker == 0xFF:  # fill byte before a marker
            position += 1
            continue
        if marker == _EOI:
            break
        if marker == _SOS:
            return frame, position
        if marker in _STANDALONE:
            position += 2
            continue
        length = int.from_bytes(content[position + 2 : position + 4], "big")
        if marker in _SOF and frame is None and length >= 8 and position + 10 <= len(content):
            height, width, components = struct.unpack(">HHB", content[position + 5 : position + 10])
            frame = _Frame(width * height, components, marker in _PROGRESSIVE_SOF)
        position += 2 + length
    return frame, None


def _jpeg_scans(content: bytes, position: int, max_scans: int) -> int:
    """Walk the segments from the first SOS to the EOI, counting scans; refuse past ``max_scans``."""
    scans = 0
    end = len(content)
    while position + 4 <= end and content[position] == 0xFF:
        marker = content[position + 1]
        if marker == 0xFF:
            position += 1
            continue
        if marker == _EOI:
            break
        if marker in _STANDALONE:
            position += 2
            continue
        segment_end = position + 2 + int.from_bytes(content[position + 2 : position + 4], "big")
        if marker == _SOS:
            scans += 1
            if scans > max_scans:
                raise TooComplex(f"more than {max_scans} JPEG scans", mime_type="image/jpeg", size=end)
            found = _JPEG_MARKER.search(content, segment_end)
            segment_end = found.start() if found else end
        position = segment_end
    return scans


# --- PNG, APNG ---------------------------------------------------------------------------


def _png(content: bytes, max_frames: int) -> Structure:
    pixels = None
    if len(content) >= 24 and content[12:16] == b"IHDR":
        width, height = struct.unpack(">II", content[16:24])
        pixels = width * height
    position = 8
    while position + 8 <= len(content):
        length = int.from_bytes(content[position : position + 4], "big")
        kind = content[position + 4 : position + 8]
        if kind == b"acTL" and position + 12 <= len(content):
            # Pillow takes the animation's frame count from this chunk.
            frames = int.from_bytes(content[position + 8 : position + 12], "big")
            _check_frames(frames, max_frames, "image/apng", content)
        elif kind in (b"IDAT", b"IEND"):
            break  # acTL must come before the image data
        position += length + 12
    return Structure("png", pixels)


# --- GIF ---------------------------------------------------------------------------------


def _gif(content: bytes, max_frames: int) -> Structure:
    """Count image descriptors by walking the blocks, skipping data sub-blocks."""
    if len(content) < 13:
        return Structure("gif")
    width, height, flags = struct.unpack("<HHB", content[6:11])
    position = 13
    if flags & 0x80:
        position += 3 << ((flags & 7) + 1)
    frames = 0
    end = len(content)
    while position < end:
        block = content[position]
        if block == 0x3B:  # trailer
            break
        if block == 0x21:  # extension: label, then sub-blocks
            position = _skip_sub_blocks(content, position + 2)
        elif block == 0x2C:  # image descriptor
            frames += 1
            _check_frames(frames, max_frames, "image/gif", content)
            if position + 10 > end:
                break
            local = content[position + 9]
            position += 10
            if local & 0x80:
                position += 3 << ((local & 7) + 1)
            position = _skip_sub_blocks(content, position + 1)  # after the LZW code size
        else:
            break  # damaged: the decoder says so
    return Structure("gif", width * height)


def _skip_sub_blocks(content: bytes, position: int) -> int:
    end = len(content)
    while position < end:
        size = content[position]
        position += 1 + size
        if size == 0:
            break
    return position


# --- WebP --------------------------------------------------------------------------------


def _webp(content: bytes, max_frames: int) -> Structure:
    pixels = None
    frames = 0
    position = 12
    end = len(content)
    while position + 8 <= end:
        kind = content[position : position + 4]
        size = int.from_bytes(content[position + 4 : position + 8], "little")
        data = position + 8
        if kind == b"VP8X" and data + 10 <= end:
            width = int.from_bytes(content[data + 4 : data + 7], "little") + 1
            height = int.from_bytes(content[data + 7 : data + 10], "little") + 1
            pixels = width * height
        elif kind == b"VP8 " and pixels is None and data + 10 <= end:
            width, height = struct.unpack("<HH", content[data + 6 : data + 10])
            pixels = (width & 0x3FFF) * (height & 0x3FFF)
        elif kind == b"VP8L" and pixels is None and data + 5 <= end:
            bits = int.from_bytes(content[data + 1 : data + 5], "little")
            pixels = ((bits & 0x3FFF) + 1) * (((bits >> 14) & 0x3FFF) + 1)
        elif kind == b"ANMF":
            frames += 1
            _check_frames(frames, max_frames, "image/webp", content)
        position = data + size + (size & 1)
    return Structure("webp", pixels)


# --- TIFF --------------------------------------------------------------------------------


def _tiff(content: bytes, max_frames: int) -> Structure:
    """Follow the chain of image file directories, as Pillow does, with a cap on its length."""
    order = "<" if content[:2] == b"II" else ">"
    big = content[2:4] in (b"+\x00", b"\x00+")
    if big:
        offset_format, count_format, entry_size, first = "Q", "Q", 20, 8
    else:
        offset_format, count_format, entry_size, first = "I", "H", 12, 4
    count_size = struct.calcsize(count_format)
    try:
        (offset,) = struct.unpack_from(order + offset_format, content, first)
    except struct.error:
        return Structure("tiff")
    seen: set[int] = set()
    while offset and offset not in seen:
        seen.add(offset)
        _check_frames(len(seen), max_frames, "image/tiff", content)
        try:
            (count,) = struct.unpack_from(order + count_format, content, offset)
            (offset,) = struct.unpack_from(order + offset_format, content, offset + count_size + count * entry_size)
        except struct.error:
            break  # a truncated directory ends the chain for Pillow too
    return Structure("tiff")


# --- ICO, CUR ----------------------------------------------------------------------------


def _ico(content: bytes, max_pixels: int) -> Structure:
    """Read the size of every embedded image from its own header, not from the directory."""
    (count,) = struct.unpack_from("<H", content, 4)
    largest = 0
    for index in range(count):
        entry = 6 + 16 * index
        if entry + 16 > len(content):
            break
        (offset,) = struct.unpack_from("<I", content, entry + 12)
        if content[offset : offset + 8] == b"\x89PNG\r\n\x1a\n" and offset + 24 <= len(content):
            width, height = struct.unpack_from(">II", content, offset + 16)
            pixels: int | None = width * height
        else:
            bmp_width, bmp_height = _bmp_size(content, offset)
            # The height of an icon's bitmap counts its colour and mask halves.
            pixels = bmp_width * (bmp_height // 2) if bmp_width is not None and bmp_height is not None else None
        if pixels is None:
            continue
        if pixels > max_pixels:
            raise DecompressionBomb(
                f"embedded image of {pixels} pixels exceeds {max_pixels}", mime_type="image/x-icon", size=len(content)
            )
        largest = max(largest, pixels)
    return Structure("ico", largest)


def _bmp_size(content: bytes, offset: int) -> tuple[int | None, int | None]:
    """Width and absolute height of the bitmap whose info header starts at ``offset``."""
    try:
        (header_size,) = struct.unpack_from("<I", content, offset)
        if header_size == 12:
            width, height = struct.unpack_from("<HH", content, offset + 4)
        elif header_size >= 40:
            width, height = struct.unpack_from("<ii", content, offset + 4)
        else:
            return None, None
    except struct.error:
        return None, None
    return abs(width), abs(height)


def _check_frames(frames: int, max_frames: int, mime: str, content: bytes) -> None:
    if frames > max_frames:
        raise TooComplex(f"more than {max_frames} frames", mime_type=mime, size=len(content))
