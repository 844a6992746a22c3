"""A land whose pictures carry texts, and another land with the same words (kept out of every result)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from lands.models import Land, Media
from tests.factories import make_domain, make_expression, make_land, make_media, make_text


@dataclass
class TextScene:
    land: Land
    other_land: Land
    media: dict[str, Media]


@pytest.fixture
def texts(db) -> TextScene:
    land = make_land("Slogans")
    north, south = make_domain("north.example"), make_domain("south.example")
    early = make_expression(land, north, published_at=datetime(2021, 3, 1, tzinfo=UTC), title="Early post")
    late = make_expression(land, south, fetched_at=datetime(2023, 7, 1, tzinfo=UTC), title="Late post")
    media = {
        "banner": make_media(early, format="JPEG"),
        "sign": make_media(late, format="PNG"),
        "meme": make_media(late, format="JPEG"),
        "photo": make_media(early, format="JPEG"),
        "unread": make_media(early, format="JPEG"),
    }
    make_text(media["banner"], "Climate justice now!\nClimate justice NOW")
    make_text(media["sign"], "No climate, no justice")
    make_text(media["meme"], "<b>when</b> you see it & climate")
    make_text(media["photo"], "", status="skipped", language="", confidence=None, text_area=None)
    other_land = make_land("Elsewhere")
    make_text(make_media(make_expression(other_land)), "climate justice now")
    return TextScene(land, other_land, media)
