from __future__ import annotations

import io
import random

import pytest
from PIL import Image, features

from media_analysis.engine.sniff import sniff_mime
from tests.support import av_samples as av


def pillow_bytes(format: str, mode: str = "RGB", size=(32, 24), **params) -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, (200, 30, 90) if mode == "RGB" else 128).save(buffer, format=format, **params)
    return buffer.getvalue()


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


def test_big_endian_tiff():
    assert sniff_mime(b"MM\x00*\x00\x00\x00\x08" + bytes(32)) == "image/tiff"


@pytest.mark.skipif(not features.check("avif"), reason="Pillow built without AVIF")
def test_avif_written_by_pillow():
    assert sniff_mime(pillow_bytes("AVIF")) == "image/avif"


@pytest.mark.parametrize(
    ("brand", "mime"),
    [(b"avif", "image/avif"), (b"heic", "image/heic"), (b"mif1", "image/heif"), (b"isom", "video/mp4")],
)
def test_iso_media_brands(brand, mime):
    assert sniff_mime(av.box(b"ftyp", brand + bytes(4) + brand)) == mime


def test_real_photos(china_jpeg, flower_png):
    assert sniff_mime(china_jpeg) == "image/jpeg"
    assert sniff_mime(flower_png) == "image/png"


@pytest.mark.parametrize(
    ("data", "mime"),
    [
        (b'<svg xmlns="http://www.w3.org/2000/svg" width="10"/>', "image/svg+xml"),
        (b'\xef\xbb\xbf<?xml version="1.0"?>\n<!-- drawn by hand -->\n<svg xmlns="x"></svg>', "image/svg+xml"),
        (b"<!DOCTYPE html>\n<html><head><title>404</title></head></html>", "text/html"),
        (b"  \n<HTML><BODY>Not found</BODY></HTML>", "text/html"),
        (b"<!-- cached page -->\n<html lang=fr>", "text/html"),
        (b'{"error": "not found"}', "application/json"),
        (b"[1, 2, 3]", "application/json"),
        (b'<?xml version="1.0"?><rss version="2.0"></rss>', "application/xml"),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3", "application/pdf"),
    ],
)
def test_text_and_document_formats(data, mime):
    assert sniff_mime(data) == mime


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


@pytest.mark.parametrize("data", [b"", b"hello", b"\x00" * 100, b"BM", b"\xff\xfb"])
def test_unclear_content_is_none(data):
    assert sniff_mime(data) is None


def test_random_bytes_do_not_raise():
    rng = random.Random(7)
    for _ in range(500):
        data = bytes(rng.randrange(256) for _ in range(rng.randrange(64)))
        result = sniff_mime(data)
        assert result is None or "/" in result
