"""A small corpus shared by the admin and API tests, plus helpers to grow it."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from lands.models import AnalysisStatus, Domain, Expression, Land, Media, MediaType
from tests.factories import make_domain, make_expression, make_land, make_media, stored_key


@dataclass
class Corpus:
    land: Land
    other_land: Land
    domain: Domain
    home: Expression
    article: Expression
    missing: Expression
    elsewhere: Expression
    jpeg: Media
    png: Media
    timeout: Media
    video: Media
    foreign: Media


@pytest.fixture
def corpus(db) -> Corpus:
    land = make_land("Climate", lang="fr,en")
    other_land = make_land("Elsewhere")
    domain = make_domain("news.example")
    home = make_expression(land, domain, depth=0, relevance=5, http_status="200", title="Home")
    article = make_expression(land, domain, depth=1, relevance=2, http_status="200", title="Article")
    missing = make_expression(land, domain, depth=2, relevance=0, http_status="404", title="Gone")
    elsewhere = make_expression(other_land, domain, depth=0, relevance=9, http_status="200")
    jpeg = make_media(
        home,
        analysis_status=AnalysisStatus.DONE,
        is_processed=True,
        format="JPEG",
        width=640,
        height=427,
        is_conforming=True,
        dominant_colors=[{"hex": "#1f2a3b", "percentage": 41.5}, {"hex": "#c0ffee", "percentage": 20.0}],
        exif_data={"Make": "Canon", "Model": "EOS 5D"},
        thumbnail_key=stored_key("corpus jpeg"),
    )
    png = make_media(
        article,
        analysis_status=AnalysisStatus.DONE,
        is_processed=True,
        format="PNG",
        width=120,
        height=80,
        is_conforming=False,
        conformity_reason="smaller than 200x200",
    )
    timeout = make_media(
        article, analysis_status=AnalysisStatus.FAILED, is_processed=True, error_class="timeout", attempts=3
    )
    video = make_media(missing, url="https://cdn.example/clip.mp4", type=MediaType.VIDEO)
    foreign = make_media(elsewhere, analysis_status=AnalysisStatus.DONE, format="JPEG", is_conforming=True)
    return Corpus(land, other_land, domain, home, article, missing, elsewhere, jpeg, png, timeout, video, foreign)
