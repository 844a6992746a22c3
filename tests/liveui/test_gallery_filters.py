"""The gallery's new filters and sort orders, its cards' domain and cluster, and failure reasons."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest
from django.urls import reverse

from lands.models import AnalysisStatus, Media
from media_analysis.models import ImageCluster
from media_analysis.web import gallery
from tests.factories import make_domain, make_expression, make_land, make_media

pytestmark = pytest.mark.django_db


def gallery_url(land) -> str:
    return reverse("medianalyse:land-gallery", args=[land.pk])


def shown(response) -> list[int]:
    assert response.status_code == 200, response.context and response.context.get("errors")
    return [item["media"].pk for item in response.context["items"]]


def colour(r: int, g: int, b: int) -> list[dict]:
    return [{"rgb": [r, g, b], "hex": f"#{r:02x}{g:02x}{b:02x}", "percentage": 50.0}]


@pytest.fixture
def scene(db):
    """Two domains, pages of known dates, a cluster, EXIF and GPS on some media."""
    land = make_land("Scene")
    north, south = make_domain("north.example"), make_domain("south.example")
    old = make_expression(land, north, published_at=datetime(2020, 5, 1, tzinfo=UTC), title="Old news")
    new = make_expression(land, south, fetched_at=datetime(2024, 6, 1, 12, tzinfo=UTC), title="New post")
    undated = make_expression(land, south, title="No date")
    cluster = ImageCluster.objects.create(land=land, key=0, size=2, distinct_domains=2)
    other = ImageCluster.objects.create(land=land, key=0, size=5, distinct_domains=1)
    media = {
        "red": make_media(
            old, dominant_colors=colour(200, 40, 30), cluster=cluster, file_size=500, exif_make="Canon", format="JPEG"
        ),
        "blue": make_media(
            new,
            dominant_colors=colour(20, 60, 230),
            cluster=cluster,
            file_size=9000,
            gps_latitude=48.85,
            gps_longitude=2.35,
            format="PNG",
        ),
        "white": make_media(new, dominant_colors=colour(250, 250, 245), cluster=other, file_size=100),
        "plain": make_media(undated, exif_data={}, file_size=None),
        "failed": make_media(
            undated,
            analysis_status=AnalysisStatus.FAILED,
            error_class="http_error",
            analysis_error="HTTP 404 Not Found from cdn.example",
        ),
    }
    return land, media, north, south, cluster, other


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"domain": "NORTH"}, ["red"]),
        ({"cluster": "CLUSTER"}, ["red", "blue"]),
        # A page without a date appeared when it was crawled: today, after 2024-06-01.
        ({"appeared_from": "2024-06-01"}, ["blue", "white", "plain", "failed"]),
        ({"appeared_to": "2020-12-31"}, ["red"]),
        ({"appeared_from": "2024-06-01", "appeared_to": "2024-06-01"}, ["blue", "white"]),
        ({"colour": "red"}, ["red"]),
        ({"colour": "blue"}, ["blue"]),
        ({"colour": "white"}, ["white"]),
        ({"colour": "green"}, []),
        ({"has_exif": "yes"}, ["red"]),
        ({"has_exif": "no"}, ["blue", "white", "plain", "failed"]),
        ({"has_gps": "yes"}, ["blue"]),
        ({"has_gps": "no", "domain": "SOUTH"}, ["white", "plain", "failed"]),
        ({"format": "png"}, ["blue"]),
    ],
)
def test_each_filter_narrows_the_gallery(admin_client, scene, query, expected):
    land, media, north, south, cluster, _ = scene
    values = {"NORTH": north.pk, "SOUTH": south.pk, "CLUSTER": cluster.pk}
    query = {name: str(values.get(value, value)) for name, value in query.items()}

    response = admin_client.get(gallery_url(land), query)

    assert shown(response) == [media[name].pk for name in expected]


def test_the_colour_filter_agrees_with_the_nearest_named_colour(db):
    land = make_land()
    page = make_expression(land)
    rng = random.Random(7)
    made = {}
    for _ in range(120):
        rgb = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
        made[make_media(page, dominant_colors=colour(*rgb)).pk] = gallery.nearest_colour(rgb)
    make_media(page, dominant_colors=None)
    make_media(page, dominant_colors=[{"hex": "#ffffff"}])  # no rgb: matches no colour

    found = {}
    for name in gallery.NAMED_COLOURS:
        for pk in gallery.gallery_queryset(land.pk, gallery.GalleryFilters(colour=name)).values_list("pk", flat=True):
            assert pk not in found, "a media matched two colours"
            found[pk] = name

    assert found == made


@pytest.mark.parametrize(
    ("sort", "key", "descending"),
    [
        ("size", lambda m: m.file_size if m.file_size is not None else -1, True),
        ("spread", lambda m: m.cluster.distinct_domains if m.cluster else 0, True),
        ("date", lambda m: m.expression.published_at or m.expression.fetched_at or m.expression.created_at, False),
    ],
)
def test_sorted_pages_walk_forward_and_back_without_gaps(admin_client, monkeypatch, sort, key, descending):
    monkeypatch.setattr(gallery, "PAGE_SIZE", 4)
    land = make_land()
    clusters = [ImageCluster.objects.create(land=land, key=0, size=2, distinct_domains=n) for n in (1, 3)]
    pages = [make_expression(land, published_at=datetime(2021, 1, 1 + i % 3, tzinfo=UTC)) for i in range(4)]
    for i in range(11):
        make_media(
            pages[i % 4], file_size=(i % 3) * 1000 if i % 5 else None, cluster=clusters[i % 2] if i % 3 else None
        )
    everything = sorted(
        Media.objects.of_land(land.pk).select_related("cluster", "expression"),
        key=lambda m: (
            (-key(m).timestamp() if descending else key(m).timestamp())
            if sort == "date"
            else (-key(m) if descending else key(m)),
            m.pk,
        ),
    )
    expected = [m.pk for m in everything]

    walked, link = [], "?sort=" + sort
    for _ in range(5):
        response = admin_client.get(gallery_url(land) + link)
        walked += shown(response)
        link = response.context["page"].next_link
        if link is None:
            break
    assert walked == expected
    back = admin_client.get(gallery_url(land) + response.context["page"].previous_link)
    assert shown(back) == expected[4:8]


def test_cards_show_domain_cluster_and_failure_reason(admin_client, scene):
    land, media, north, _south, cluster, _ = scene

    content = admin_client.get(gallery_url(land)).content.decode()

    card = content[content.index(f'data-media="{media["red"].pk}"') :]
    card = card[: card.index("</li>")]
    assert f'<a href="?domain={north.pk}" title="Only this domain">north.example</a>' in card
    assert f'<a href="/admin/medianalyse/clusters/{cluster.pk}/">Cluster {cluster.pk}</a>' in card
    failed = content[content.index(f'data-media="{media["failed"].pk}"') :]
    assert "HTTP 404 Not Found from cdn.example" in failed[: failed.index("</li>")]
    assert '<select name="format">' in content
    assert '<option value="north.example"' not in content  # domains are chosen by id
    assert f'<option value="{north.pk}">north.example</option>' in content


def test_sorted_and_filtered_pages_cost_a_fixed_number_of_queries(admin_client, scene, django_assert_num_queries):
    land, media, *_ = scene
    admin_client.get(gallery_url(land))
    # session, user, land, the land's share of all media (lands.aggregates.is_dense_land), page, capped count,
    # domains
    with django_assert_num_queries(7):
        admin_client.get(gallery_url(land), {"sort": "spread", "colour": "red", "has_gps": "no"})
    # and the sort value of the media the page starts after
    with django_assert_num_queries(8):
        admin_client.get(gallery_url(land), {"sort": "date", "after": media["red"].pk})
