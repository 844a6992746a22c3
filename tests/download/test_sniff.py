from __future__ import annotations

import io
import random

import pytest
from PIL import Image, features

from media_analysis.engine.sniff import sniff_image_mime, sniff_mime
from tests.support import av_samples as av


def pillow_bytes(format: str, mode: str = "RGB", size=(32, 24), **params) -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, (200, 30, 90) if mode == "RGB" else 128).save(buffer, format=format, **params)
    return buffer.getvalue()


def cursor_bytes() -> bytes:
    """A cursor: an icon file whose header says type 2."""
    data = bytearray(pillow_bytes("ICO"))
    data[2] = 2
    return bytes(data)


# Every signature either of the two former sniffers (downloading, image analysis) knew, with the answer of
# each contract: ``sniff_mime`` (None when nothing is clear) and ``sniff_image_mime`` (always a media type).
SIGNATURES = [
    # raster images
    ("jpeg", b"\xff\xd8\xff\xe0\x00\x10JFIF\x00", "image/jpeg", "image/jpeg"),
    ("png", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "image/png", "image/png"),
    ("gif87a", b"GIF87a\x01\x00\x01\x00", "image/gif", "image/gif"),
    ("gif89a", b"GIF89a\x01\x00\x01\x00", "image/gif", "image/gif"),
    ("webp", b"RIFF\x24\x00\x00\x00WEBPVP8 ", "image/webp", "image/webp"),
    ("bmp", b"BM\x46\x00\x00\x00\x00\x00\x00\x00\x36\x00\x00\x00", "image/bmp", "image/bmp"),
    ("text starting with BM", b"BMW and Mercedes, a comparison", None, "text/plain"),
    ("bare BM", b"BM", None, "text/plain"),
    ("tiff little-endian", b"II*\x00\x08\x00\x00\x00" + bytes(8), "image/tiff", "image/tiff"),
    ("tiff big-endian", b"MM\x00*\x00\x00\x00\x08" + bytes(8), "image/tiff", "image/tiff"),
    ("ico", b"\x00\x00\x01\x00\x01\x00\x10\x10" + bytes(8), "image/x-icon", "image/x-icon"),
    ("cur", b"\x00\x00\x02\x00\x01\x00\x10\x10" + bytes(8), "image/x-icon", "image/x-icon"),
    ("icon header without images", b"\x00\x00\x01\x00\x00\x00" + bytes(10), None, "application/octet-stream"),
    ("jpeg xl codestream", b"\xff\x0a\xfa\x7f\x01\x90\x08", "image/jxl", "image/jxl"),
    ("jpeg xl container", b"\x00\x00\x00\x0cJXL \r\n\x87\n" + bytes(8), "image/jxl", "image/jxl"),
    ("jpeg 2000", b"\x00\x00\x00\x0cjP  \r\n\x87\n" + bytes(8), "image/jp2", "image/jp2"),
    # ISO media brands
    ("avif", av.box(b"ftyp", b"avif" + bytes(4) + b"avif"), "image/avif", "image/avif"),
    ("avif sequence", av.box(b"ftyp", b"avis" + bytes(4) + b"avis"), "image/avif", "image/avif"),
    ("heic", av.box(b"ftyp", b"heic" + bytes(4) + b"heic"), "image/heic", "image/heic"),
    ("heix", av.box(b"ftyp", b"heix" + bytes(4) + b"heix"), "image/heic", "image/heic"),
    ("heic sequence", av.box(b"ftyp", b"hevc" + bytes(4) + b"hevc"), "image/heic", "image/heic"),
    ("heif mif1", av.box(b"ftyp", b"mif1" + bytes(4) + b"mif1"), "image/heif", "image/heif"),
    ("heif msf1", av.box(b"ftyp", b"msf1" + bytes(4) + b"msf1"), "image/heif", "image/heif"),
    ("mp4 isom", av.box(b"ftyp", b"isom" + bytes(4) + b"isom"), "video/mp4", "video/mp4"),
    ("quicktime brand", av.box(b"ftyp", b"qt  " + bytes(4) + b"qt  "), "video/quicktime", "video/quicktime"),
    ("quicktime without ftyp", b"\x00\x00\x00\x08moov", "video/quicktime", "video/quicktime"),
    ("m4a", av.box(b"ftyp", b"M4A " + bytes(4) + b"M4A "), "audio/mp4", "audio/mp4"),
    ("m4b", av.box(b"ftyp", b"M4B " + bytes(4) + b"M4B "), "audio/mp4", "audio/mp4"),
    # video and audio
    ("webm", av.webm(), "video/webm", "video/webm"),
    ("matroska", av.webm(doc_type=b"matroska"), "video/x-matroska", "video/x-matroska"),
    ("ogg vorbis", av.ogg_vorbis(), "audio/ogg", "audio/ogg"),
    ("ogg theora", b"OggS\x00\x02" + bytes(22) + b"\x80theora", "video/ogg", "video/ogg"),
    ("wav", av.wav(seconds=0.01), "audio/wav", "audio/wav"),
    ("avi", b"RIFF\x00\x00\x00\x00AVI LIST", "video/x-msvideo", "video/x-msvideo"),
    ("flac", av.flac(), "audio/flac", "audio/flac"),
    ("mp3 with id3", av.mp3_cbr(tag=True), "audio/mpeg", "audio/mpeg"),
    ("mp3 frames", av.mp3_cbr(tag=False), "audio/mpeg", "audio/mpeg"),
    ("mpeg sync alone", b"\xff\xfb", None, "text/plain"),
    # documents and archives
    ("pdf", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3", "application/pdf", "application/pdf"),
    ("postscript", b"%!PS-Adobe-3.0 EPSF-3.0\n", "application/postscript", "application/postscript"),
    ("eps with binary header", b"\xc5\xd0\xd3\xc6" + bytes(12), "application/postscript", "application/postscript"),
    ("zip", b"PK\x03\x04\x14\x00" + bytes(10), "application/zip", "application/zip"),
    ("empty zip", b"PK\x05\x06" + bytes(18), "application/zip", "application/zip"),
    ("gzip", b"\x1f\x8b\x08\x00" + bytes(6), "application/gzip", "application/gzip"),
    # markup and text
    ("svg", b'<svg xmlns="http://www.w3.org/2000/svg" width="10"/>', "image/svg+xml", "image/svg+xml"),
    ("svg with xml prolog", b'<?xml version="1.0"?>\n<svg xmlns="x"/>', "image/svg+xml", "image/svg+xml"),
    ("svg after bom and comment", b"\xef\xbb\xbf<!-- drawn -->\n<svg/>", "image/svg+xml", "image/svg+xml"),
    ("svg doctype", b'<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN">\n<svg/>', "image/svg+xml", "image/svg+xml"),
    (
        "svg after a long prolog",
        b'<?xml version="1.0"?>\n<!--' + b"x" * 3000 + b"-->\n<svg/>",
        "image/svg+xml",
        "image/svg+xml",
    ),
    ("xhtml with inline svg", b'<?xml version="1.0"?>\n<html><body><svg/></body></html>', "text/html", "text/html"),
    ("html doctype", b"<!DOCTYPE html>\n<html><head><title>404</title></head></html>", "text/html", "text/html"),
    ("html after space", b"  \n<HTML><BODY>Not found</BODY></HTML>", "text/html", "text/html"),
    ("html after comment", b"<!-- cached page -->\n<html lang=fr>", "text/html", "text/html"),
    ("html fragment div", b"<div>Not found</div>", "text/html", "text/html"),
    ("html fragment p", b"<p>Not found</p>", "text/html", "text/html"),
    ("xml prolog", b'<?xml version="1.0"?><rss version="2.0"></rss>', "application/xml", "application/xml"),
    ("markup without prolog", b'<rss version="2.0"></rss>', None, "application/xml"),
    ("json object", b'{"error": "not found"}', "application/json", "application/json"),
    ("json array", b"[1, 2, 3]", "application/json", "application/json"),
    ("binary starting like json", b"[\x00\x01\x02\x03", None, "application/octet-stream"),
    ("plain text", b"just some text", None, "text/plain"),
    ("binary", bytes(range(256)) * 4, None, "application/octet-stream"),
    ("zeros", bytes(100), None, "application/octet-stream"),
    ("empty", b"", None, "application/x-empty"),
]


@pytest.mark.parametrize(("data", "mime"), [pytest.param(row[1], row[2], id=row[0]) for row in SIGNATURES])
def test_signatures(data, mime):
    assert sniff_mime(data) == mime


@pytest.mark.parametrize(("data", "mime"), [pytest.param(row[1], row[3], id=row[0]) for row in SIGNATURES])
def test_signatures_for_image_analysis(data, mime):
    assert sniff_image_mime(data) == mime


def test_cursor_written_from_an_icon():
    assert sniff_mime(cursor_bytes()) == sniff_image_mime(cursor_bytes()) == "image/x-icon"


@pytest.mark.parametrize(
    ("format", "mime"),
    [
        ("JPEG", "image/jpeg"),
        ("PNG", "image/png"),
        ("GIF", "image/gif"),
        ("WEBP", "image/webp"),
        ("BMP", "image/bmp"),
        ("TIFF", "image/tiff"),
        ("ICO", "image/x-icon"),
    ],
)
def test_images_written_by_pillow(format, mime):
    assert sniff_mime(pillow_bytes(format)) == mime


@pytest.mark.skipif(not features.check("avif"), reason="Pillow built without AVIF")
def test_avif_written_by_pillow():
    assert sniff_mime(pillow_bytes("AVIF")) == "image/avif"


def test_real_photos(china_jpeg, flower_png):
    assert sniff_mime(china_jpeg) == "image/jpeg"
    assert sniff_mime(flower_png) == "image/png"


@pytest.mark.parametrize(
    ("data", "mime"),
    [
        (av.mp4(), "video/mp4"),
        (av.mp4(brand=b"qt  "), "video/quicktime"),
        (av.webm(), "video/webm"),
        (av.webm(doc_type=b"matroska"), "video/x-matroska"),
        (av.ogg_vorbis(), "audio/ogg"),
        (av.mp3_cbr(tag=True), "audio/mpeg"),
        (av.mp3_cbr(tag=False), "audio/mpeg"),
        (av.wav(seconds=0.01), "audio/wav"),
        (av.flac(), "audio/flac"),
    ],
)
def test_video_and_audio_containers(data, mime):
    assert sniff_mime(data) == mime


def test_random_bytes_do_not_raise():
    rng = random.Random(7)
    for _ in range(500):
        data = bytes(rng.randrange(256) for _ in range(rng.randrange(64)))
        result = sniff_mime(data)
        assert result is None or "/" in result
        assert "/" in sniff_image_mime(data)
