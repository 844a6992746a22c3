"""Duration and frame size of video/audio files, read from their first bytes only.

The downloader fetches a bounded head of each video or audio file (a Range
request); this module extracts what that head cheaply reveals. It knows the
containers the web mostly serves: MP4/MOV, WebM/Matroska, WAV, MP3, OGG and
FLAC. Input is untrusted: every parser bounds its reads by the buffer it is
given, and ``probe_av`` never raises; what it cannot read is ``None``.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterator
from dataclasses import dataclass

__all__ = ["AvInfo", "probe_av"]


@dataclass(frozen=True)
class AvInfo:
    mime_type: str | None = None
    duration: float | None = None  # seconds
    width: int | None = None
    height: int | None = None


def probe_av(head: bytes, total_size: int | None = None) -> AvInfo:
    """Read what the first bytes of a video/audio file tell.

    ``total_size`` is the size of the whole file when the server told it; some
    formats (constant bitrate MP3, streamed WAV) only yield a duration from it.
    """
    head = bytes(head or b"")
    if total_size is not None and total_size < 0:
        total_size = None
    reader = _reader_for(head)
    if reader is None:
        return AvInfo()
    mime_type, parse = reader
    try:
        info = parse(head, total_size)
    except Exception:
        # The contract is "unknown -> None, never an exception": a malformed file
        # must not fail the media, whatever corner of a parser it trips.
        return AvInfo(mime_type=mime_type)
    return _sanitised(info, mime_type)


def _sanitised(info: AvInfo, fallback_mime: str) -> AvInfo:
    duration = info.duration
    if duration is not None and (not math.isfinite(duration) or duration < 0):
        duration = None
    width = info.width if info.width and info.width > 0 else None
    height = info.height if info.height and info.height > 0 else None
    if width is None or height is None:
        width = height = None
    return AvInfo(mime_type=info.mime_type or fallback_mime, duration=duration, width=width, height=height)


def _reader_for(head: bytes):
    if len(head) >= 12 and head[4:8] == b"ftyp":
        return "video/mp4", _probe_mp4
    if len(head) >= 8 and head[4:8] in (b"moov", b"mdat", b"free", b"wide", b"skip"):
        return "video/quicktime", _probe_mp4
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "video/x-matroska", _probe_matroska
    if len(head) >= 12 and head.startswith(b"RIFF") and head[8:12] == b"WAVE":
        return "audio/wav", _probe_wav
    if head.startswith(b"OggS"):
        return "application/ogg", _probe_ogg
    audio_start = _id3v2_end(head)
    if head[audio_start : audio_start + 4] == b"fLaC":
        return "audio/flac", _probe_flac
    if head.startswith(b"ID3") or _mp3_frame_at(head, 0) is not None:
        return "audio/mpeg", _probe_mp3
    return None


# --- MP4 / QuickTime ------------------------------------------------------------

_QUICKTIME_BRANDS = {b"qt  "}
_AUDIO_BRANDS = {b"M4A ", b"M4B ", b"M4P ", b"F4A ", b"F4B "}


def _boxes(data: bytes, start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    """(type, payload start, payload end) of the boxes in data[start:end], clipped to the data."""
    end = min(end, len(data))
    pos = start
    while pos + 8 <= end:
        size, kind = struct.unpack_from(">I4s", data, pos)
        header = 8
        if size == 1:
            if pos + 16 > end:
                return
            (size,) = struct.unpack_from(">Q", data, pos + 8)
            header = 16
        elif size == 0:
            size = end - pos
        if size < header:
            return
        yield kind, pos + header, min(pos + size, end)
        pos += size


def _probe_mp4(head: bytes, total_size: int | None) -> AvInfo:
    mime = "video/mp4"
    duration = None
    width = height = None
    handlers: list[bytes] = []
    for kind, start, end in _boxes(head, 0, len(head)):
        if kind == b"ftyp" and end - start >= 4:
            brand = head[start : start + 4]
            if brand in _QUICKTIME_BRANDS:
                mime = "video/quicktime"
            elif brand in _AUDIO_BRANDS:
                mime = "audio/mp4"
        elif kind == b"moov":
            duration, tracks = _parse_moov(head, start, end)
            for handler, track_width, track_height in tracks:
                handlers.append(handler)
                if handler in (b"vide", b"") and width is None and track_width and track_height:
                    width, height = track_width, track_height
            break
    if handlers and b"vide" not in handlers and width is None and mime == "video/mp4":
        # No picture in any track: an audio file in an MP4 container.
        mime = "audio/mp4"
    return AvInfo(mime_type=mime, duration=duration, width=width, height=height)


def _parse_moov(data: bytes, start: int, end: int) -> tuple[float | None, list[tuple[bytes, int, int]]]:
    duration = None
    tracks: list[tuple[bytes, int, int]] = []
    for kind, child_start, child_end in _boxes(data, start, end):
        if kind == b"mvhd":
            duration = _mvhd_duration(data, child_start, child_end)
        elif kind == b"trak":
            tracks.append(_parse_trak(data, child_start, child_end))
    return duration, tracks


def _mvhd_duration(data: bytes, start: int, end: int) -> float | None:
    version = data[start]
    if version == 1:
        if start + 32 > end:
            return None
        timescale, duration = struct.unpack_from(">IQ", data, start + 20)
    else:
        if start + 20 > end:
            return None
        timescale, duration = struct.unpack_from(">II", data, start + 12)
    # An all-ones duration means "unknown" (fragmented files).
    if not timescale or duration in (0xFFFFFFFF, 0xFFFFFFFFFFFFFFFF):
        return None
    return duration / timescale


def _parse_trak(data: bytes, start: int, end: int) -> tuple[bytes, int, int]:
    handler = b""
    width = height = 0
    for kind, child_start, child_end in _boxes(data, start, end):
        if kind == b"tkhd":
            # width/height are the last 8 bytes of tkhd, 16.16 fixed point.
            offset = child_start + (88 if data[child_start] == 1 else 76)
            if offset + 8 <= child_end:
                raw_width, raw_height = struct.unpack_from(">II", data, offset)
                width, height = raw_width >> 16, raw_height >> 16
        elif kind == b"mdia":
            for sub_kind, sub_start, sub_end in _boxes(data, child_start, child_end):
                if sub_kind == b"hdlr" and sub_start + 12 <= sub_end:
                    handler = data[sub_start + 8 : sub_start + 12]
    return handler, width, height


# --- WebM / Matroska (EBML) -----------------------------------------------------

_EBML_HEADER = 0x1A45DFA3
_DOC_TYPE = 0x4282
_SEGMENT = 0x18538067
_INFO = 0x1549A966
_TIMECODE_SCALE = 0x2AD7B1
_DURATION = 0x4489
_TRACKS = 0x1654AE6B
_TRACK_ENTRY = 0xAE
_TRACK_TYPE = 0x83
_VIDEO = 0xE0
_PIXEL_WIDTH = 0xB0
_PIXEL_HEIGHT = 0xBA
_CLUSTER = 0x1F43B675
_UNKNOWN_SIZE = -1


def _ebml_vint(data: bytes, pos: int, keep_marker: bool) -> tuple[int, int]:
    """A variable-length integer at pos: (value, length). Sizes drop the length marker, IDs keep it."""
    first = data[pos]
    length = 1
    mask = 0x80
    while length <= 8 and not first & mask:
        mask >>= 1
        length += 1
    if length > 8 or pos + length > len(data):
        raise ValueError("bad EBML variable-length integer")
    value = first if keep_marker else first & (mask - 1)
    all_ones = value == mask - 1
    for byte in data[pos + 1 : pos + length]:
        value = (value << 8) | byte
        all_ones = all_ones and byte == 0xFF
    if not keep_marker and all_ones:
        return _UNKNOWN_SIZE, length
    return value, length


def _ebml_elements(data: bytes, start: int, end: int) -> Iterator[tuple[int, int, int]]:
    """(id, payload start, payload end) of the elements in data[start:end], clipped to the data."""
    end = min(end, len(data))
    pos = start
    while pos < end:
        try:
            element_id, id_length = _ebml_vint(data, pos, keep_marker=True)
            size, size_length = _ebml_vint(data, pos + id_length, keep_marker=False)
        except (ValueError, IndexError):
            # Cut off by the end of the head: keep what was read so far.
            return
        payload = pos + id_length + size_length
        # An element of unknown size (live streams) runs to the end of its parent.
        payload_end = end if size == _UNKNOWN_SIZE else min(payload + size, end)
        yield element_id, payload, payload_end
        if size == _UNKNOWN_SIZE:
            return
        pos = payload + size


def _ebml_uint(data: bytes, start: int, end: int) -> int:
    return int.from_bytes(data[start:end], "big")


def _ebml_float(data: bytes, start: int, end: int) -> float | None:
    if end - start == 4:
        return struct.unpack_from(">f", data, start)[0]
    if end - start == 8:
        return struct.unpack_from(">d", data, start)[0]
    return None


def _probe_matroska(head: bytes, total_size: int | None) -> AvInfo:
    doc_type = b"matroska"
    timecode_scale = 1_000_000
    raw_duration = None
    width = height = None
    has_tracks = False
    has_video = False
    for element_id, start, end in _ebml_elements(head, 0, len(head)):
        if element_id == _EBML_HEADER:
            for child_id, child_start, child_end in _ebml_elements(head, start, end):
                if child_id == _DOC_TYPE:
                    doc_type = head[child_start:child_end].rstrip(b"\x00")
        elif element_id == _SEGMENT:
            for child_id, child_start, child_end in _ebml_elements(head, start, end):
                if child_id == _INFO:
                    for info_id, info_start, info_end in _ebml_elements(head, child_start, child_end):
                        if info_id == _TIMECODE_SCALE:
                            timecode_scale = _ebml_uint(head, info_start, info_end) or timecode_scale
                        elif info_id == _DURATION:
                            raw_duration = _ebml_float(head, info_start, info_end)
                elif child_id == _TRACKS:
                    has_tracks = True
                    for track_id, track_start, track_end in _ebml_elements(head, child_start, child_end):
                        if track_id != _TRACK_ENTRY:
                            continue
                        track_type, size = _matroska_track(head, track_start, track_end)
                        has_video = has_video or track_type == 1
                        if track_type == 1 and width is None and size is not None:
                            width, height = size
                elif child_id == _CLUSTER:
                    # Media data starts: the header elements we want come before it.
                    break
            break
    kind = "audio" if has_tracks and not has_video else "video"
    mime = f"{kind}/webm" if doc_type == b"webm" else f"{kind}/x-matroska"
    duration = raw_duration * timecode_scale / 1e9 if raw_duration is not None else None
    return AvInfo(mime_type=mime, duration=duration, width=width, height=height)


def _matroska_track(data: bytes, start: int, end: int) -> tuple[int | None, tuple[int, int] | None]:
    track_type = None
    size = None
    for element_id, child_start, child_end in _ebml_elements(data, start, end):
        if element_id == _TRACK_TYPE:
            track_type = _ebml_uint(data, child_start, child_end)
        elif element_id == _VIDEO:
            width = height = 0
            for video_id, video_start, video_end in _ebml_elements(data, child_start, child_end):
                if video_id == _PIXEL_WIDTH:
                    width = _ebml_uint(data, video_start, video_end)
                elif video_id == _PIXEL_HEIGHT:
                    height = _ebml_uint(data, video_start, video_end)
            if width and height:
                size = (width, height)
    return track_type, size


# --- WAV --------------------------------------------------------------------------


def _probe_wav(head: bytes, total_size: int | None) -> AvInfo:
    byte_rate = 0
    pos = 12
    while pos + 8 <= len(head):
        chunk_id, chunk_size = struct.unpack_from("<4sI", head, pos)
        body = pos + 8
        if chunk_id == b"fmt " and body + 12 <= len(head):
            (byte_rate,) = struct.unpack_from("<I", head, body + 8)
        elif chunk_id == b"data":
            if not byte_rate:
                return AvInfo(mime_type="audio/wav")
            data_size = chunk_size
            # Streamed WAVs leave the size at 0 or all ones; the file size still tells.
            if chunk_size in (0, 0xFFFFFFFF) or (total_size is not None and body + chunk_size > total_size):
                data_size = total_size - body if total_size is not None else None
            duration = data_size / byte_rate if data_size is not None and data_size >= 0 else None
            return AvInfo(mime_type="audio/wav", duration=duration)
        pos = body + chunk_size + (chunk_size & 1)
    return AvInfo(mime_type="audio/wav")


# --- MP3 --------------------------------------------------------------------------

# Bitrates in kbit/s, indexed by [MPEG-1?][layer][index]; layer 1 = Layer III.
_BITRATES = {
    (True, 1): (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    (True, 2): (0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384),
    (True, 3): (0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448),
    (False, 1): (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
    (False, 2): (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
    (False, 3): (0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256),
}
_SAMPLE_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}


@dataclass(frozen=True)
class _MpegFrame:
    mpeg1: bool
    layer: int  # 3 = Layer I, 2 = Layer II, 1 = Layer III (header bit values)
    bitrate: int  # bit/s
    sample_rate: int
    mono: bool
    length: int  # bytes

    @property
    def samples(self) -> int:
        if self.layer == 3:
            return 384
        if self.layer == 1 and not self.mpeg1:
            return 576
        return 1152


def _mp3_frame_at(data: bytes, pos: int) -> _MpegFrame | None:
    if pos + 4 > len(data):
        return None
    (header,) = struct.unpack_from(">I", data, pos)
    if header >> 21 != 0x7FF:
        return None
    version = (header >> 19) & 3
    layer = (header >> 17) & 3
    bitrate_index = (header >> 12) & 15
    rate_index = (header >> 10) & 3
    if version == 1 or layer == 0 or bitrate_index in (0, 15) or rate_index == 3:
        return None
    mpeg1 = version == 3
    bitrate = _BITRATES[(mpeg1, layer)][bitrate_index] * 1000
    sample_rate = _SAMPLE_RATES[version][rate_index]
    padding = (header >> 9) & 1
    if layer == 3:
        length = (12 * bitrate // sample_rate + padding) * 4
    else:
        per_frame = 144 if mpeg1 or layer == 2 else 72
        length = per_frame * bitrate // sample_rate + padding
    mono = (header >> 6) & 3 == 3
    return _MpegFrame(mpeg1, layer, bitrate, sample_rate, mono, length)


def _id3v2_end(data: bytes) -> int:
    if len(data) < 10 or not data.startswith(b"ID3"):
        return 0
    size = 0
    for byte in data[6:10]:
        size = (size << 7) | (byte & 0x7F)
    footer = 10 if data[5] & 0x10 else 0
    return 10 + size + footer


def _first_mp3_frame(data: bytes, start: int) -> tuple[int, _MpegFrame] | None:
    # Some encoders leave padding after the ID3 tag; look a little further, not through the whole head.
    limit = min(len(data) - 4, start + 64 * 1024)
    pos = start
    while pos <= limit:
        pos = data.find(b"\xff", pos, limit + 1)
        if pos < 0:
            return None
        frame = _mp3_frame_at(data, pos)
        if frame is not None:
            following = _mp3_frame_at(data, pos + frame.length)
            # A sync word followed by a second frame (when the head is long enough to hold it) is a real frame.
            if following is not None or pos + frame.length + 4 > len(data):
                return pos, frame
        pos += 1
    return None


def _probe_mp3(head: bytes, total_size: int | None) -> AvInfo:
    audio_start = _id3v2_end(head)
    found = _first_mp3_frame(head, audio_start)
    if found is None:
        return AvInfo(mime_type="audio/mpeg")
    pos, frame = found
    frames = _vbr_frame_count(head, pos, frame)
    if frames:
        return AvInfo(mime_type="audio/mpeg", duration=frames * frame.samples / frame.sample_rate)
    if total_size is not None and total_size > pos and frame.bitrate:
        # Constant bitrate: the duration is the audio size over the byte rate.
        return AvInfo(mime_type="audio/mpeg", duration=(total_size - pos) * 8 / frame.bitrate)
    return AvInfo(mime_type="audio/mpeg")


def _vbr_frame_count(data: bytes, pos: int, frame: _MpegFrame) -> int | None:
    # Layer III side information precedes the Xing/Info tag; its size depends on version and channels.
    side_info = {(True, False): 32, (True, True): 17, (False, False): 17, (False, True): 9}[(frame.mpeg1, frame.mono)]
    xing = pos + 4 + side_info
    if data[xing : xing + 4] in (b"Xing", b"Info") and xing + 12 <= len(data):
        (flags,) = struct.unpack_from(">I", data, xing + 4)
        if flags & 1:
            return struct.unpack_from(">I", data, xing + 8)[0]
        return None
    vbri = pos + 36
    if data[vbri : vbri + 4] == b"VBRI" and vbri + 18 <= len(data):
        return struct.unpack_from(">I", data, vbri + 14)[0]
    return None


# --- OGG --------------------------------------------------------------------------


def _ogg_pages(data: bytes) -> Iterator[tuple[int, int, int, bytes]]:
    """(header type, granule position, serial, first packet bytes) of each complete page."""
    pos = 0
    while pos + 27 <= len(data) and data[pos : pos + 4] == b"OggS":
        header_type, granule, serial = struct.unpack_from("<BqI", data, pos + 5)
        segments = data[pos + 26]
        table_end = pos + 27 + segments
        if table_end > len(data):
            return
        body_size = sum(data[pos + 27 : table_end])
        if table_end + body_size > len(data):
            return
        yield header_type, granule, serial, data[table_end : table_end + body_size]
        pos = table_end + body_size


def _probe_ogg(head: bytes, total_size: int | None) -> AvInfo:
    codec = None
    serial = None
    rate = 0
    pre_skip = 0
    last_granule = None
    for header_type, granule, page_serial, body in _ogg_pages(head):
        if codec is None:
            serial = page_serial
            if body.startswith(b"\x01vorbis") and len(body) >= 16:
                codec = "vorbis"
                (rate,) = struct.unpack_from("<I", body, 12)
            elif body.startswith(b"OpusHead") and len(body) >= 12:
                codec = "opus"
                # Opus granule positions always count 48 kHz samples.
                rate = 48000
                (pre_skip,) = struct.unpack_from("<H", body, 10)
            elif body.startswith(b"\x80theora"):
                codec = "theora"
            elif body.startswith(b"\x7fFLAC"):
                codec = "flac"
            else:
                codec = "unknown"
        # Only the end-of-stream page's granule is the total length: it is in the head
        # only when the whole file fits in it.
        elif page_serial == serial and header_type & 0x04 and granule >= 0:
            last_granule = granule
    mime = {"vorbis": "audio/ogg", "opus": "audio/ogg", "flac": "audio/ogg", "theora": "video/ogg"}.get(
        codec or "", "application/ogg"
    )
    duration = None
    if last_granule is not None and rate:
        duration = max(last_granule - pre_skip, 0) / rate
    return AvInfo(mime_type=mime, duration=duration)


# --- FLAC -------------------------------------------------------------------------


def _probe_flac(head: bytes, total_size: int | None) -> AvInfo:
    start = _id3v2_end(head) + 4
    if start + 4 + 18 > len(head):
        return AvInfo(mime_type="audio/flac")
    block_type = head[start] & 0x7F
    if block_type != 0:  # STREAMINFO must come first
        return AvInfo(mime_type="audio/flac")
    # Bytes 10..17 of STREAMINFO: sample rate (20 bits), channels (3), bits per sample (5), total samples (36).
    (packed,) = struct.unpack_from(">Q", head, start + 4 + 10)
    sample_rate = packed >> 44
    total_samples = packed & ((1 << 36) - 1)
    if not sample_rate or not total_samples:
        return AvInfo(mime_type="audio/flac")
    return AvInfo(mime_type="audio/flac", duration=total_samples / sample_rate)
