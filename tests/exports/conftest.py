"""A small land that exercises every export rule, and one other land that must never leak in."""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from django.db import connection
from PIL import Image

from lands.models import AnalysisStatus, Domain, Expression, ExpressionLink, Land, Media, Tag, TaggedContent
from media_analysis.engine.version import ANALYSIS_VERSION
from media_analysis.stored import thumbnail_key
from tests.factories import make_domain, make_expression, make_land, make_media, make_text

HASH_SHARED = "a" * 64
HASH_OTHER = "b" * 64


def hostile_text() -> str:
    """Quotes, separators, CR/LF, tabs, XML specials, controls, astral characters; NUL where the database takes it."""
    nul = "\x00" if connection.vendor == "sqlite" else ""
    return f'He said "hi", then;\nleft\r\nagain\ttab {nul}nul \x01\x08\x1f ctrl & <b>bold</b> é 😀 \ufffe end'


def image_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (320, 240), (200, 30, 40)).save(buffer, "PNG")
    return buffer.getvalue()


@dataclass
class Corpus:
    land: Land
    other_land: Land
    domains: dict[str, Domain]
    pages: dict[str, Expression]
    media: dict[str, Media]


@pytest.fixture
def corpus(db) -> Corpus:
    land = make_land("Corpus Été/2024: test")
    other_land = make_land("other")
    domains = {
        "a": make_domain("a.example", title="Site A", description="About A", keywords="a,b"),
        "b": make_domain("b.example", title="Site B"),
        "c": make_domain("c.example"),
    }
    pages = {
        "p1": make_expression(
            land,
            domains["a"],
            "https://a.example/1",
            title=hostile_text(),
            description="first",
            keywords="k1",
            readable="x" * 200_000,
            relevance=3,
            depth=0,
            published_at=datetime(2024, 1, 10, 9, 0, tzinfo=UTC),
            fetched_at=datetime(2024, 2, 1, 18, 0, tzinfo=UTC),
        ),
        "p2": make_expression(land, domains["a"], "https://a.example/2", title="two", relevance=1, depth=1),
        # Never dated by its site: a dynamic graph falls back to when the crawler fetched it.
        "p3": make_expression(
            land,
            domains["b"],
            "https://b.example/3",
            title="three",
            relevance=2,
            depth=1,
            fetched_at=datetime(2024, 3, 5, 7, 0, tzinfo=UTC),
        ),
        "p4": make_expression(land, domains["c"], "https://c.example/4", title="four", relevance=0, depth=2),
        "p5": make_expression(
            land,
            domains["b"],
            "https://b.example/5",
            title="five",
            relevance=6,
            depth=3,
            published_at=datetime(2023, 12, 1, 23, 30, tzinfo=UTC),
        ),
        "p6": make_expression(land, domains["c"], "https://c.example/6", title="six", relevance=None, depth=1),
        "q1": make_expression(other_land, domains["a"], "https://a.example/q", relevance=9, depth=0),
    }
    for source, target in [
        ("p1", "p2"),  # same domain: never an edge
        ("p1", "p3"),
        ("p2", "p3"),
        ("p3", "p1"),
        ("p1", "p4"),  # p4 is below minrel 1
        ("p5", "p1"),
        ("p3", "p5"),  # same domain
        ("q1", "p3"),  # from another land
        ("p3", "q1"),  # into another land
    ]:
        ExpressionLink.objects.create(source=pages[source], target=pages[target])

    alpha = Tag.objects.create(land=land, name="alpha")
    beta = Tag.objects.create(land=land, name="beta")
    for tag, page in [(beta, "p1"), (alpha, "p1"), (alpha, "p1"), (beta, "p3")]:
        TaggedContent.objects.create(tag=tag, expression=pages[page], text="snippet")

    analysed: dict[str, Any] = {
        "analysis_status": "done",
        "is_processed": True,
        "width": 320,
        "height": 240,
        "file_size": len(image_bytes()),
        "format": "PNG",
        "color_mode": "RGB",
        "mime_type": "image/png",
        "has_transparency": False,
        "aspect_ratio": 1.33,
        "frames": 1,
        "image_hash": HASH_SHARED,
        "phash": "f0f0f0f0f0f0f0f0",
        "dhash": "0f0f0f0f0f0f0f0f",
        "ahash": "ffff0000ffff0000",
        "colorhash": "07000000000",
        "dominant_colors": [
            {"hex": "#C81E28", "rgb": [200, 30, 40], "percentage": 91.5},
            {"rgb": [10, 10, 10], "percentage": 8.5},
        ],
        "websafe_colors": {"#cc3333": 91.5, "#000000": 8.5},
        "exif_make": "Canon",
        "exif_model": "EOS 5D",
        "exif_datetime": "2021:06:01 10:00:00",
        "gps_latitude": 48.8566,
        "gps_longitude": 2.3522,
        "is_conforming": True,
        "analyzed_at": datetime(2024, 5, 1, 12, 30, tzinfo=UTC),
        "analysis_version": ANALYSIS_VERSION,
        "values_at": datetime(2024, 5, 1, 12, 30, tzinfo=UTC),
    }
    media = {
        "m1": make_media(
            pages["p1"], "https://cdn.example/red.png", **analysed, thumbnail_key=thumbnail_key(HASH_SHARED, 320, "jpg")
        ),
        # Re-checked later: a 304 confirmed the values.
        "m2": make_media(
            pages["p3"],
            "https://b.example/copy-of-red.png",
            **analysed,
            checked_at=datetime(2024, 6, 2, 8, 0, tzinfo=UTC),
        ),
        "m3": make_media(pages["p5"], "https://b.example/red-again.png", **analysed),
        "m4": make_media(pages["p1"], "https://cdn.example/pending.jpg"),
        "m5": make_media(pages["p2"], "https://cdn.example/pending.jpg"),
        "m6": make_media(pages["p3"], "https://b.example/clip.mp4", type="video", duration=12.5),
        "m7": make_media(pages["p4"], "https://c.example/low.png"),
        "m8": make_media(
            pages["p2"],
            "https://cdn.example/broken.gif",
            analysis_status="failed",
            is_processed=True,
            image_hash=HASH_OTHER,
            error_class="corrupt_image",
            analysis_error=hostile_text(),
            # Kept from an earlier success, like its values.
            thumbnail_key=thumbnail_key(HASH_OTHER, 320, "jpg"),
        ),
        "n1": make_media(pages["q1"], "https://a.example/other-land.png", image_hash=HASH_SHARED),
    }
    return Corpus(land=land, other_land=other_land, domains=domains, pages=pages, media=media)


# Values that CSV writers get wrong, for the media CSV's paths compared with the row-by-row one.
AWKWARD_TEXTS = [
    'He said "hi", then, left',
    "two\nlines\r\nand a tab\t",
    "é 😀 \u2028 ünïcode",
    "=SUM(A1)",
    "+x",
    "-3",
    "-1e-05",
    "@me",
    "\tstarts with a tab",
    "",
    '"',
    "a,b",
]
AWKWARD_FLOATS = [0.1, 1e-07, 100.0, -0.0, 1e15, 1234567890123456.8, 1e16, 33.333333333333336, 2.5e-05, 0.0001]


@pytest.fixture
def awkward(corpus):
    page = corpus.pages["p1"]
    for number, text in enumerate(AWKWARD_TEXTS):
        value = AWKWARD_FLOATS[number % len(AWKWARD_FLOATS)]
        media = make_media(
            page,
            f"https://cdn.example/{number}/{text}",
            analysis_status=AnalysisStatus.DONE if number % 3 else AnalysisStatus.FAILED,
            analyzed_at=datetime(2024, 2, 29, 23, 59, 59, number * 1000, tzinfo=UTC),
            values_at=datetime(2026, 3, 2, 8, 15, tzinfo=UTC),
            aspect_ratio=value,
            duration=-value,
            gps_latitude=value * 3,
            has_transparency=bool(number % 2),
            is_conforming=None if number % 4 else False,
            format=text[:20],
            exif_make=text,
            conformity_reason=text,
            analysis_error=text if number % 3 == 0 else None,
            dominant_colors=[] if number % 5 == 0 else [{"rgb": [1, 2, 3], "hex": "#010203", "percentage": value}],
            websafe_colors={} if number % 5 == 0 else {"#003333": value, "#cccc99": 50},
            thumbnail_key=None if number % 4 == 0 else f"thumbnails/320/{text}" if number % 2 else text,
            width=-number,
        )
        make_text(media, text, confidence=value, text_area=None if number % 2 else value / 7, language="")
    for value in (math.nan, math.inf, -math.inf, 5e-324, 1.7976931348623157e308):
        make_media(page, analysis_status=AnalysisStatus.DONE, aspect_ratio=value)
    # A failed media keeping the values of an earlier success; a never analysed one.
    make_media(
        corpus.pages["p2"],
        analysis_status=AnalysisStatus.FAILED,
        width=10,
        aspect_ratio=0.5,
        dominant_colors=[{"rgb": [9, 9, 9], "percentage": 1}],
        values_at=datetime(2025, 1, 1, tzinfo=UTC),
    )
    make_media(corpus.pages["p2"], analysis_status=AnalysisStatus.PENDING)
    return corpus
