"""Content sniffing: the media type the first bytes of a body reveal (magic numbers)."""

from __future__ import annotations

from media_analysis.engine.av_probe import probe_av

_FTYP_BRANDS = {
    b"avif": "image/avif",
    b"avis": "image/avif",
    b"heic": "image/heic",
    b"heix": "image/heic",
    b"heim": "image/heic",
    b"heis": "image/heic",
    b"hevc": "image/heic",
    b"hevx": "image/heic",
    b"mif1": "image/heif",
    b"msf1": "image/heif",
    b"qt  ": "video/quicktime",
    b"M4A ": "audio/mp4",
    b"M4B ": "audio/mp4",
}


def _sniff_text(head: bytes) -> str | None:
    text = head[:4096]
    for bom in (b"\xef\xbb\xbf",):
        if text.startswith(bom):
            text = text[len(bom) :]
    stripped = text.lstrip().lower()
    if not stripped:
        return None
    if stripped[:1] in (b"{", b"["):
        return "application/json"
    if not stripped.startswith(b"<"):
        return None
    if stripped.startswith(b"<svg") or (
        stripped.startswith((b"<?xml", b"<!--", b"<!doctype svg")) and b"<svg" in stripped and b"<html" not in stripped
    ):
        return "image/svg+xml"
    if stripped.startswith((b"<!doctype html", b"<html", b"<head", b"<body", b"<script", b"<title", b"<meta")):
        return "text/html"
    if b"<html" in stripped[:1024] or b"<!doctype html" in stripped[:1024]:
        return "text/html"
    if stripped.startswith(b"<?xml"):
        return "application/xml"
    return None


def sniff_mime(head: bytes) -> str | None:
    """The media type the first bytes of a body reveal (magic numbers), or None when they say nothing clear."""
    head = bytes(head[:8192])
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if head.startswith(b"RIFF") and len(head) >= 12:
        kind = head[8:12]
        if kind == b"WEBP":
            return "image/webp"
        if kind == b"WAVE":
            return "audio/wav"
        if kind == b"AVI ":
            return "video/x-msvideo"
    if head.startswith(b"BM") and len(head) >= 14 and head[6:10] == b"\0\0\0\0":
        return "image/bmp"
    if head.startswith((b"II*\x00", b"MM\x00*")):
        return "image/tiff"
    if head.startswith((b"\x00\x00\x01\x00", b"\x00\x00\x02\x00")) and len(head) >= 6 and head[4:6] != b"\0\0":
        return "image/x-icon"
    if len(head) >= 12 and head[4:8] == b"ftyp":
        return _FTYP_BRANDS.get(head[8:12], "video/mp4")
    if len(head) >= 8 and head[4:8] in (b"moov", b"mdat", b"wide", b"free"):
        return "video/quicktime"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "video/webm" if b"webm" in head[:64] else "video/x-matroska"
    if head.startswith(b"OggS"):
        if b"\x80theora" in head[:256]:
            return "video/ogg"
        return "audio/ogg"
    if head.startswith(b"fLaC"):
        return "audio/flac"
    if head.startswith(b"ID3"):
        return "audio/flac" if probe_av(head).mime_type == "audio/flac" else "audio/mpeg"
    if head.startswith(b"%PDF-"):
        return "application/pdf"
    info = probe_av(head)
    if info.mime_type == "audio/mpeg":
        return "audio/mpeg"
    return _sniff_text(head)
