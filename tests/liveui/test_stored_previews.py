"""Every page that shows media loads stored thumbnails only: no crawled URL is ever an image source."""

from __future__ import annotations

import re
from typing import Any

import pytest

from lands.models import AnalysisStatus, Media
from media_analysis.clusters import compute
from media_analysis.models import ImageCluster
from tests.factories import make_expression, make_land, make_media, stored_key

pytestmark = pytest.mark.django_db

SOURCES = re.compile(r"""\b(?:src|srcset|poster|data)\s*=\s*["']([^"']*)["']""", re.IGNORECASE)
CRAWLED = "crawled.example"


def analysed(page, n: int, **fields) -> Media:
    values: dict[str, Any] = {
        "url": f"https://{CRAWLED}/picture-{n}.jpg",
        "analysis_status": AnalysisStatus.DONE,
        "is_processed": True,
        "width": 640,
        "height": 480,
        "format": "JPEG",
        "phash": "8f0f0f0f0f0f0f0f",
        "dhash": "0f0f0f0f0f0f0f0f",
        "image_hash": f"{n:064x}",
        "thumbnail_key": stored_key(n),
    }
    values.update(fields)
    return make_media(page, **values)


@pytest.fixture
def land():
    land = make_land("Stored")
    page = make_expression(land)
    for n in range(3):
        analysed(page, n)
    # Refused or not analysed: never a picture, always a reason.
    make_media(
        page,
        url=f"https://{CRAWLED}/huge.png",
        analysis_status=AnalysisStatus.FAILED,
        error_class="too_large",
    )
    make_media(
        page,
        url=f"https://{CRAWLED}/bomb.png",
        analysis_status=AnalysisStatus.FAILED,
        error_class="decompression_bomb",
    )
    make_media(page, url=f"https://{CRAWLED}/later.jpg")
    # Analysed before thumbnails were kept.
    analysed(page, 9, thumbnail_key=None)
    compute.recluster_land(land.pk)
    return land


def page_sources(client, url: str) -> tuple[str, list[str]]:
    response = client.get(url)
    assert response.status_code == 200, url
    html = response.content.decode()
    return html, SOURCES.findall(html)


def assert_only_local_sources(sources: list[str]) -> None:
    assert sources, "the page shows no image at all"
    crawled = [s for s in sources if CRAWLED in s or s.startswith(("http:", "https:", "//"))]
    assert crawled == []


def test_gallery(admin_client, land):
    html, sources = page_sources(admin_client, f"/admin/medianalyse/lands/{land.pk}/gallery/")
    assert_only_local_sources(sources)
    stored = [s for s in sources if s.startswith("/admin/medianalyse/stored/thumbnails/")]
    assert len(stored) == 3
    for reason in ("refused: too large", "refused: too many pixels", "not analysed yet", "no stored preview"):
        assert f">{reason}</span>" in html
    assert f'href="https://{CRAWLED}/huge.png" rel="noopener noreferrer"' in html


def test_cluster_pages(admin_client, land):
    _, sources = page_sources(admin_client, f"/admin/medianalyse/clusters/lands/{land.pk}/")
    assert_only_local_sources(sources)
    cluster = ImageCluster.objects.get(land=land)
    html, sources = page_sources(admin_client, f"/admin/medianalyse/clusters/{cluster.pk}/")
    assert_only_local_sources(sources)
    assert f'href="https://{CRAWLED}/picture-0.jpg" rel="noopener noreferrer"' in html
    _, sources = page_sources(admin_client, "/admin/media_analysis/imagecluster/")
    assert_only_local_sources(sources)


def test_media_list_and_media_page(admin_client, land):
    html, sources = page_sources(admin_client, "/admin/lands/media/")
    assert_only_local_sources(sources)
    assert ">refused: too large</span>" in html
    for media in Media.objects.filter(expression__land=land):
        html, sources = page_sources(admin_client, f"/admin/lands/media/{media.pk}/change/")
        assert not [s for s in sources if CRAWLED in s]
        if media.thumbnail_key:
            assert f'src="/admin/medianalyse/stored/{media.thumbnail_key}"' in html
        assert f'href="{media.url}" rel="noopener noreferrer"' in html
