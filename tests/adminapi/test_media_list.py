"""The media list and change page: domain, page, cluster and size columns, searches, plain labels, map links."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from lands.admin import MediaAdmin, human_bytes, osm_url
from lands.models import Media
from media_analysis.models import ImageCluster
from tests.factories import make_domain, make_expression, make_media

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/lands/media/"


def change(pk: int) -> str:
    return reverse("admin:lands_media_change", args=[pk])


def listed(admin_client, query: str = "") -> list[int]:
    response = admin_client.get(CHANGELIST + query)
    assert response.status_code == 200
    return sorted(m.pk for m in response.context["cl"].result_list)


def test_the_list_shows_domain_page_cluster_and_size_in_human_units(admin_client, corpus):
    cluster = ImageCluster.objects.create(land=corpus.land, key=corpus.jpeg.pk, size=2)
    Media.objects.filter(pk=corpus.jpeg.pk).update(cluster=cluster, file_size=60_000)

    content = admin_client.get(CHANGELIST).content.decode()

    row = content[content.index(f"/admin/lands/media/{corpus.jpeg.pk}/change/") :]
    row = row[: row.index("</tr>")]
    assert 'overflow-wrap:anywhere">news.example</span></td>' in row
    assert '<td class="field-page_title"><a href="' in row
    assert ">Home</a>" in row
    assert f'<a href="/admin/medianalyse/clusters/{cluster.pk}/">{cluster.pk}</a>' in row
    assert "58.6\xa0KB" in row
    assert "JPEG · 640 x 427" in row
    assert len(MediaAdmin.list_display) <= 10


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("?q=news.example", {"jpeg", "png", "timeout", "video", "foreign"}),
        ("?q=Article", {"png", "timeout"}),
        ("?q=Gone", {"video"}),
        ("?q=clip.mp4", {"video"}),
    ],
)
def test_search_by_domain_and_page_title(admin_client, corpus, query, expected):
    assert listed(admin_client, query) == sorted(getattr(corpus, name).pk for name in expected)


def test_the_list_costs_the_same_queries_for_more_rows(admin_client, corpus):
    admin_client.get(CHANGELIST)

    def count() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert admin_client.get(CHANGELIST).status_code == 200
        return len(captured)

    before = count()
    for i in range(15):
        make_media(make_expression(corpus.land, make_domain()), url=f"https://cdn.example/more-{i}.jpg")
    assert count() == before


def test_the_change_page_speaks_plain_words_and_human_units(admin_client, corpus):
    Media.objects.filter(pk=corpus.jpeg.pk).update(
        gps_latitude=48.858370,
        gps_longitude=2.294481,
        file_size=60_000,
        analyzed_at=datetime(2026, 3, 4, 5, 6, tzinfo=UTC),
    )

    response = admin_client.get(change(corpus.jpeg.pk))

    content = response.content.decode()
    assert "GPS latitude" in content
    assert "Gps latitude" not in content
    assert "48.858370" in content
    assert "Page (id):</label>" in content
    assert "Expression:" not in content
    assert "Home</a> on <strong>news.example</strong>" in content
    assert "58.6\xa0KB (60,000 bytes)" in content
    assert "2026-03-04 05:06 UTC" in content
    # Colours are shown once: swatches with their hex, not the stored JSON as well.
    assert content.count("<code>#1f2a3b</code>") == 1
    assert "&quot;percentage&quot;" not in content
    # The map is a plain link: no page element loads anything from the map's site.
    link = osm_url(48.85837, 2.294481)
    assert f'<a href="{link.replace("&", "&amp;")}" rel="noopener noreferrer" target="_blank">' in content
    assert content.count("openstreetmap.org") == 1
    assert 'src="https://www.openstreetmap' not in content
    # The crawl's own fields (page, URL, type) are read-only like the analysis: nothing to edit.
    assert set(response.context["adminform"].form.fields) == set()


def test_a_view_only_user_sees_every_field_read_only(client, corpus):
    from tests.factories import make_staff

    client.force_login(make_staff("reader", "lands.view_media"))

    response = client.get(change(corpus.png.pk))

    assert response.status_code == 200
    content = response.content.decode()
    assert "Why not conforming" in content
    assert "smaller than 200x200" in content
    assert 'name="url"' not in content


def test_human_bytes():
    assert human_bytes(None) == "-"
    assert human_bytes(512) == "512 bytes"
    assert human_bytes(3 * 1024 * 1024) == "3.0\xa0MB (3,145,728 bytes)"


def test_the_cluster_link_is_only_for_those_who_may_open_cluster_pages(client, corpus):
    from tests.factories import make_staff

    cluster = ImageCluster.objects.create(land=corpus.land, key=corpus.jpeg.pk, size=2)
    Media.objects.filter(pk=corpus.jpeg.pk).update(cluster=cluster)
    client.force_login(make_staff("media-only", "lands.view_media"))

    for url in (CHANGELIST, change(corpus.jpeg.pk)):
        content = client.get(url).content.decode()
        assert f"/admin/medianalyse/clusters/{cluster.pk}/" not in content

    client.force_login(make_staff("both", "lands.view_media", "lands.view_land"))
    assert (
        f'<a href="/admin/medianalyse/clusters/{cluster.pk}/">' in client.get(change(corpus.jpeg.pk)).content.decode()
    )
