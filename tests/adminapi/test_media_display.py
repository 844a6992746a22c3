"""Thumbnail and swatch fragments: accepted colour shapes, escaping."""

from __future__ import annotations

import re

import pytest
from PIL import Image
from sklearn.datasets import load_sample_image

from lands.models import AnalysisStatus, Media, MediaType
from lands.templatetags.media_display import (
    media_preview_html,
    normalise_hex,
    original_link_html,
    parse_colors,
    swatches_html,
)


def palette_of(name: str, colours: int = 4) -> list[dict]:
    """Dominant colours of a real photo, in the stored shape (hex + percentage)."""
    image = Image.fromarray(load_sample_image(name)).convert("RGB")
    image.thumbnail((128, 128))
    quantised = image.quantize(colors=colours)
    palette = quantised.getpalette()
    assert palette is not None  # quantize() always gives a palette image
    pixels = image.width * image.height
    # (pixel count, palette index) of each colour used, the most frequent first.
    counts = sorted(((count, index) for index, count in enumerate(quantised.histogram()) if count), reverse=True)
    return [
        {
            "hex": "#{:02x}{:02x}{:02x}".format(*palette[3 * index : 3 * index + 3]),
            "percentage": round(100.0 * count / pixels, 1),
        }
        for count, index in counts
    ]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("#A1B2C3", "#a1b2c3"),
        ("a1b2c3", "#a1b2c3"),
        ("#abc", "#aabbcc"),
        (" #00ff00 ", "#00ff00"),
        ("#12345", None),
        ("red", None),
        ("#123456;background:url(x)", None),
        (None, None),
        (0x123456, None),
    ],
)
def test_normalise_hex(value, expected):
    assert normalise_hex(value) == expected


def test_parse_colors_accepts_every_stored_shape():
    assert parse_colors([{"hex": "#FF0000", "percentage": 60.0}, {"rgb": [0, 0, 255], "ratio": 0.4}]) == [
        ("#ff0000", 60.0),
        ("#0000ff", 40.0),
    ]
    assert parse_colors(["#00ff00", [255, 255, 255], (1, 2, 3)]) == [
        ("#00ff00", None),
        ("#ffffff", None),
        ("#010203", None),
    ]
    assert parse_colors({"#336699": 12.5}) == [("#336699", 12.5)]
    # Unusable entries are dropped, never rendered.
    assert parse_colors([{"hex": "nope"}, [300, 0, 0], "x", 42, {"rgb": "abc"}]) == []
    assert parse_colors(None) == []
    assert parse_colors("#ffffff") == []


def test_swatches_of_a_real_photo_name_each_colour():
    colours = palette_of("china.jpg")
    assert len(colours) == 4
    assert sum(colour["percentage"] for colour in colours) == pytest.approx(100.0, abs=0.5)
    html = str(swatches_html(colours, with_text=True))
    for colour in colours:
        assert f"background:{colour['hex']}" in html
        assert f"<code>{colour['hex']}</code> ({colour['percentage']:.1f}%)" in html
    # Largest share first, as the palette was given.
    assert re.findall(r"<code>(#[0-9a-f]{6})</code>", html) == [colour["hex"] for colour in colours]
    assert palette_of("flower.jpg") != colours


def test_swatch_shares_given_as_fractions_read_as_percentages():
    html = str(swatches_html([{"hex": "#102030", "ratio": 0.25}, {"hex": "#405060", "percentage": 0.5}]))
    assert 'title="#102030 (25.0%)"' in html
    assert 'title="#405060 (0.5%)"' in html


def test_swatches_without_colours_show_a_dash():
    assert str(swatches_html(None)) == "-"
    assert str(swatches_html([])) == "-"


def test_swatch_count_is_bounded():
    html = str(swatches_html([f"#0000{index:02x}" for index in range(40)]))
    assert html.count('class="swatch"') == 16


KEY = "thumbnails/320/ab/cd/" + "abcd" * 16 + ".jpg"


def test_preview_is_the_stored_thumbnail_never_the_crawled_url():
    media = Media(pk=7, url="https://img.example/a.jpg", type=MediaType.IMAGE, thumbnail_key=KEY)
    html = str(media_preview_html(media))
    assert html.startswith(f'<img src="/admin/medianalyse/stored/{KEY}"')
    assert 'loading="lazy"' in html
    assert 'width="64" height="64"' in html
    assert "img.example" not in html


@pytest.mark.parametrize(
    ("values", "reason"),
    [
        ({"analysis_status": AnalysisStatus.PENDING}, "not analysed yet"),
        ({"analysis_status": AnalysisStatus.FAILED, "error_class": "too_large"}, "refused: too large"),
        ({"analysis_status": AnalysisStatus.FAILED, "error_class": "decompression_bomb"}, "refused: too many pixels"),
        ({"analysis_status": AnalysisStatus.FAILED, "error_class": "not_an_image"}, "failed: not an image"),
        ({"analysis_status": AnalysisStatus.FAILED, "error_class": "new_kind"}, "failed: new_kind"),
        ({"analysis_status": AnalysisStatus.DONE}, "no stored preview"),
        ({"analysis_status": AnalysisStatus.DONE, "thumbnail_key": "../../etc/passwd"}, "no stored preview"),
        ({"type": MediaType.VIDEO}, "Video: no preview"),
    ],
)
def test_without_a_stored_thumbnail_a_placeholder_says_why(values, reason):
    media = Media(pk=7, url="https://img.example/a.jpg", **{"type": MediaType.IMAGE, **values})
    html = str(media_preview_html(media, size=96))
    assert "<img" not in html
    assert "img.example" not in html
    assert 'class="ma-placeholder"' in html
    assert f">{reason}</span>" in html
    assert "width:96px;height:96px" in html


def test_a_failed_attempt_still_shows_the_thumbnail_of_the_earlier_success():
    media = Media(pk=7, type=MediaType.IMAGE, analysis_status=AnalysisStatus.FAILED, error_class="network")
    media.thumbnail_key = KEY
    assert str(media_preview_html(media)).startswith("<img")


def test_original_link_is_escaped_and_withholds_the_opener_and_referrer():
    html = str(original_link_html('https://img.example/a.jpg?x=1&y="><script>alert(1)</script>'))
    assert html.startswith('<a href="https://img.example/a.jpg?x=1&amp;y=&quot;&gt;&lt;script&gt;')
    assert 'rel="noopener noreferrer"' in html
    assert "<script>" not in html


@pytest.mark.parametrize("url", ["javascript:alert(1)", "data:image/png;base64,AAAA", "", None, "//cdn.example/a.png"])
def test_original_link_only_for_http_urls(url):
    assert str(original_link_html(url)) == ""
