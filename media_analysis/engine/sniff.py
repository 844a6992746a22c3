"""Content sniffing: the media type the first bytes of a body reveal.

The one sniffer of the engine, with two contracts:

* ``sniff_mime(head) -> str | None`` answers only when a signature says it
  clearly (magic number, ISO media brand, markup at the start of a text) and
  None otherwise, so that downloading and probing can fall back on what the
  server declared;
* ``sniff_image_mime(content) -> str`` always answers, because image analysis
  must name what it could not decode: where ``sniff_mime`` has nothing to say it
  adds the coarse kinds (empty, binary, markup, plain text).
"""

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


# Starts of a document that make it HTML (SVG, possibly after an XML prolog or a comment, is checked first).
_HTML_STARTS = (
    b"<!doctype html",
    b"<html",
    b"<head",
    b"<body",
    b"<script",
    b"<title",
    b"<meta",
    b"<!--",
    b"<div",
    b"<p>",
)


def _text_window(head: bytes) -> bytes | None:
    """The start of ``head`` as lower-case markup or JSON without BOM and leading space; None when binary."""
    text = head[:4096]
    if b"\x00" in text:
        return None
    for bom in (b"\xef\xbb\xbf",):
        if text.startswith(bom):
            text = text[len(bom) :]
    return text.lstrip().lower()


def _sniff_text(head: bytes) -> str | None:
    stripped = _text_window(head)
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
    if stripped.startswith(_HTML_STARTS):
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
    # "BM" alone starts many texts: the reserved fields of a bitmap file header are zero.
    if head.startswith(b"BM") and len(head) >= 14 and head[6:10] == b"\0\0\0\0":
        return "image/bmp"
    if head.startswith((b"II*\x00", b"MM\x00*")):
        return "image/tiff"
    # Icons (type 1) and cursors (type 2) share a header; an image count of zero is no icon.
    if head.startswith((b"\x00\x00\x01\x00", b"\x00\x00\x02\x00")) and len(head) >= 6 and head[4:6] != b"\0\0":
        return "image/x-icon"
    if head.startswith((b"\xff\x0a", b"\x00\x00\x00\x0cJXL \r\n\x87\n")):
        return "image/jxl"
    if head.startswith(b"\x00\x00\x00\x0cjP  "):
        return "image/jp2"
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
    if head.startswith((b"%!PS", b"\xc5\xd0\xd3\xc6")):
        return "application/postscript"
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return "application/zip"
    if head.startswith(b"\x1f\x8b"):
        return "application/gzip"
    info = probe_av(head)
    if info.mime_type == "audio/mpeg":
        return "audio/mpeg"
    return _sniff_text(head)


def sniff_image_mime(content: bytes) -> str:
    """A best guess of the media type of bytes Pillow could not open (or named no media type for); never None.

    ``sniff_mime`` when a signature is clear; otherwise "application/x-empty"
    for no bytes, "application/octet-stream" for binary data, "application/xml"
    for other markup and "text/plain" for any other text.
    """
    if not content:
        return "application/x-empty"
    sniffed = sniff_mime(content)
    if sniffed is not None:
        return sniffed
    text = _text_window(content)
    if text is None:
        return "application/octet-stream"
    if text.startswith(b"<"):
        return "application/xml"
    return "text/plain"
