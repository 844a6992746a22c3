"""The media type of bytes Pillow could not open, guessed from their first bytes.

Image-side sniffer only: it names what the failure reports say the content was.
"""

from __future__ import annotations

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
