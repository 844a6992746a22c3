"""Minimal, structurally valid video/audio files built in memory with ``struct``.

Each builder returns the bytes of a small file whose duration and frame size
are known, for the probing code and for servers that serve media.
"""

from __future__ import annotations

import struct

# --- MP4 / QuickTime ------------------------------------------------------------

_MATRIX = struct.pack(">9I", 0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)


def box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I4s", 8 + len(payload), kind) + payload


def full_box(kind: bytes, version: int, payload: bytes, flags: int = 0) -> bytes:
    return box(kind, bytes([version]) + flags.to_bytes(3, "big") + payload)


def mvhd(timescale: int, duration: int, version: int = 0) -> bytes:
    if version == 1:
        times = struct.pack(">QQIQ", 0, 0, timescale, duration)
    else:
        times = struct.pack(">IIII", 0, 0, timescale, duration)
    rest = struct.pack(">IH10x", 0x10000, 0x100) + _MATRIX + bytes(24) + struct.pack(">I", 3)
    return full_box(b"mvhd", version, times + rest)


def tkhd(track_id: int, duration: int, width: int, height: int, version: int = 0) -> bytes:
    if version == 1:
        times = struct.pack(">QQI4xQ", 0, 0, track_id, duration)
    else:
        times = struct.pack(">III4xI", 0, 0, track_id, duration)
    rest = bytes(8) + struct.pack(">hhhH", 0, 0, 0, 0) + _MATRIX + struct.pack(">II", width << 16, height << 16)
    return full_box(b"tkhd", version, times + rest, flags=3)


def trak(track_id: int, handler: bytes, duration: int, width: int = 0, height: int = 0, version: int = 0) -> bytes:
    hdlr = full_box(b"hdlr", 0, struct.pack(">I4s12x", 0, handler) + b"Handler\x00")
    mdhd = full_box(b"mdhd", 0, struct.pack(">IIIIHH", 0, 0, 1000, duration, 0x55C4, 0))
    return box(b"trak", tkhd(track_id, duration, width, height, version) + box(b"mdia", mdhd + hdlr))


def mp4(
    *,
    timescale: int = 1000,
    duration: int = 12_345,
    width: int = 640,
    height: int = 360,
    brand: bytes = b"isom",
    version: int = 0,
    moov_first: bool = True,
    audio_only: bool = False,
    mdat_size: int = 4096,
) -> bytes:
    ftyp = box(b"ftyp", brand + struct.pack(">I", 0x200) + brand + b"mp41")
    tracks = b""
    if not audio_only:
        tracks += trak(1, b"vide", duration, width, height, version)
    tracks += trak(2, b"soun", duration, version=version)
    moov = box(b"moov", mvhd(timescale, duration, version) + tracks)
    mdat = box(b"mdat", bytes(mdat_size))
    return ftyp + moov + mdat if moov_first else ftyp + mdat + moov


# --- WebM / Matroska --------------------------------------------------------------

UNKNOWN_SIZE = b"\x01\xff\xff\xff\xff\xff\xff\xff"


def ebml_size(size: int) -> bytes:
    for length in range(1, 9):
        if size < (1 << (7 * length)) - 1:
            return (size | (1 << (7 * length))).to_bytes(length, "big")
    raise ValueError("size too large for EBML")


def element(element_id: int, payload: bytes, size: bytes | None = None) -> bytes:
    encoded_id = element_id.to_bytes((element_id.bit_length() + 7) // 8, "big")
    return encoded_id + (size if size is not None else ebml_size(len(payload))) + payload


def uint(value: int) -> bytes:
    return value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big")


def webm(
    *,
    duration: float = 5000.0,
    timecode_scale: int = 1_000_000,
    width: int = 1280,
    height: int = 720,
    doc_type: bytes = b"webm",
    float_size: int = 8,
    unknown_segment_size: bool = True,
    audio_only: bool = False,
    cluster_bytes: int = 2048,
) -> bytes:
    header = element(
        0x1A45DFA3,
        element(0x4286, uint(1)) + element(0x42F7, uint(1)) + element(0x4282, doc_type) + element(0x4287, uint(4)),
    )
    duration_bytes = struct.pack(">d" if float_size == 8 else ">f", duration)
    info = element(0x1549A966, element(0x2AD7B1, uint(timecode_scale)) + element(0x4489, duration_bytes))
    entries = b""
    if not audio_only:
        video = element(0xE0, element(0xB0, uint(width)) + element(0xBA, uint(height)))
        entries += element(0xAE, element(0xD7, uint(1)) + element(0x83, uint(1)) + element(0x86, b"V_VP9") + video)
    entries += element(0xAE, element(0xD7, uint(2)) + element(0x83, uint(2)) + element(0x86, b"A_OPUS"))
    tracks = element(0x1654AE6B, entries)
    void = element(0xEC, bytes(16))
    cluster = element(0x1F43B675, element(0xE7, uint(0)) + element(0xA3, bytes(cluster_bytes)))
    body = void + info + tracks + cluster
    segment = element(0x18538067, body, size=UNKNOWN_SIZE if unknown_segment_size else None)
    return header + segment


# --- WAV --------------------------------------------------------------------------


def wav(
    *,
    seconds: float = 0.5,
    sample_rate: int = 44100,
    channels: int = 2,
    bits: int = 16,
    streamed: bool = False,
    extra_chunk: bool = True,
) -> bytes:
    block_align = channels * bits // 8
    byte_rate = sample_rate * block_align
    data = bytes(int(seconds * sample_rate) * block_align)
    fmt = struct.pack("<HHIIHH", 1, channels, sample_rate, byte_rate, block_align, bits)
    chunks = b"fmt " + struct.pack("<I", len(fmt)) + fmt
    if extra_chunk:
        # An odd-sized chunk: readers must skip its padding byte.
        info = b"INFOISFT\x05\x00\x00\x00test\x00"
        chunks += b"LIST" + struct.pack("<I", len(info)) + info + b"\x00"
    data_size = 0xFFFFFFFF if streamed else len(data)
    chunks += b"data" + struct.pack("<I", data_size) + data
    riff_size = 0xFFFFFFFF if streamed else 4 + len(chunks)
    return b"RIFF" + struct.pack("<I", riff_size) + b"WAVE" + chunks


# --- MP3 --------------------------------------------------------------------------

_MPEG1_L3_BITRATES = (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320)


def mp3_header(bitrate_kbps: int = 128, *, mono: bool = False, padding: int = 0) -> bytes:
    """An MPEG-1 Layer III frame header at 44.1 kHz."""
    index = _MPEG1_L3_BITRATES.index(bitrate_kbps)
    header = 0xFFE00000 | (3 << 19) | (1 << 17) | (1 << 16) | (index << 12) | (0 << 10) | (padding << 9)
    header |= (3 if mono else 0) << 6
    return struct.pack(">I", header)


def mp3_frame(bitrate_kbps: int = 128, *, mono: bool = False, payload: bytes = b"") -> bytes:
    length = 144 * bitrate_kbps * 1000 // 44100
    body = payload.ljust(length - 4, b"\x00")
    return mp3_header(bitrate_kbps, mono=mono) + body


def id3v2(payload_size: int = 100) -> bytes:
    frame = b"TIT2" + struct.pack(">I", payload_size - 10) + b"\x00\x00" + bytes(payload_size - 10)
    size = len(frame)
    syncsafe = bytes([(size >> 21) & 0x7F, (size >> 14) & 0x7F, (size >> 7) & 0x7F, size & 0x7F])
    return b"ID3\x04\x00\x00" + syncsafe + frame


def mp3_vbr(*, frames: int = 1000, audio_frames: int = 8, mono: bool = False, tag: bool = True) -> bytes:
    """A VBR MP3 whose first frame is a Xing tag announcing ``frames`` frames."""
    side_info = 17 if mono else 32
    xing = bytes(side_info) + b"Xing" + struct.pack(">II", 0x1, frames)
    data = mp3_frame(128, mono=mono, payload=xing)
    data += b"".join(mp3_frame(128, mono=mono) for _ in range(audio_frames))
    return (id3v2() if tag else b"") + data


def mp3_cbr(*, audio_frames: int = 16, bitrate_kbps: int = 128, tag: bool = True) -> bytes:
    return (id3v2() if tag else b"") + b"".join(mp3_frame(bitrate_kbps) for _ in range(audio_frames))


# --- OGG --------------------------------------------------------------------------


def _ogg_crc_table() -> list[int]:
    table = []
    for index in range(256):
        value = index << 24
        for _ in range(8):
            value = ((value << 1) ^ 0x04C11DB7) if value & 0x80000000 else value << 1
        table.append(value & 0xFFFFFFFF)
    return table


_OGG_CRC = _ogg_crc_table()


def ogg_page(packet: bytes, *, granule: int, serial: int = 0x1234, sequence: int = 0, header_type: int = 0) -> bytes:
    lacing = [255] * (len(packet) // 255) + [len(packet) % 255]
    header = struct.pack("<4sBBqIIIB", b"OggS", 0, header_type, granule, serial, sequence, 0, len(lacing))
    page = bytearray(header + bytes(lacing) + packet)
    crc = 0
    for byte in page:
        crc = ((crc << 8) & 0xFFFFFFFF) ^ _OGG_CRC[((crc >> 24) & 0xFF) ^ byte]
    page[22:26] = struct.pack("<I", crc)
    return bytes(page)


def ogg_vorbis(*, sample_rate: int = 44100, total_samples: int = 441_000, with_last_page: bool = True) -> bytes:
    ident = b"\x01vorbis" + struct.pack("<IBIiiiBB", 0, 2, sample_rate, 0, 128_000, 0, 0xB8, 1)
    comment = b"\x03vorbis" + struct.pack("<I", 4) + b"test" + struct.pack("<I", 0) + b"\x01"
    pages = [
        ogg_page(ident, granule=0, sequence=0, header_type=0x02),
        ogg_page(comment, granule=0, sequence=1),
        ogg_page(bytes(400), granule=total_samples // 2, sequence=2),
    ]
    if with_last_page:
        pages.append(ogg_page(bytes(400), granule=total_samples, sequence=3, header_type=0x04))
    return b"".join(pages)


def ogg_opus(*, seconds: float = 3.0, pre_skip: int = 312, with_last_page: bool = True) -> bytes:
    head = b"OpusHead" + struct.pack("<BBHIhB", 1, 2, pre_skip, 48000, 0, 0)
    tags = b"OpusTags" + struct.pack("<I", 4) + b"test" + struct.pack("<I", 0)
    total = int(seconds * 48000) + pre_skip
    pages = [
        ogg_page(head, granule=0, sequence=0, header_type=0x02),
        ogg_page(tags, granule=0, sequence=1),
        ogg_page(bytes(300), granule=total // 2, sequence=2),
    ]
    if with_last_page:
        pages.append(ogg_page(bytes(300), granule=total, sequence=3, header_type=0x04))
    return b"".join(pages)


# --- FLAC -------------------------------------------------------------------------


def flac(*, sample_rate: int = 44100, total_samples: int = 441_000, channels: int = 2, bits: int = 16) -> bytes:
    packed = (sample_rate << 44) | ((channels - 1) << 41) | ((bits - 1) << 36) | total_samples
    streaminfo = struct.pack(">HH", 4096, 4096) + bytes(6) + struct.pack(">Q", packed) + bytes(16)
    block_header = bytes([0x80]) + len(streaminfo).to_bytes(3, "big")  # last metadata block, type 0
    return b"fLaC" + block_header + streaminfo + bytes(64)
