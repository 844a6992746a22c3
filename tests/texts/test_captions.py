"""A near-duplicate cluster's texts side by side, and its distinct captions with where and when."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.urls import reverse

from media_analysis.models import ImageCluster
from media_analysis.texts import captions
from tests.factories import make_domain, make_expression, make_land, make_media, make_text

pytestmark = pytest.mark.django_db


@pytest.fixture
def recaptioned(db):
    """One picture re-captioned: two captions, one of them seen twice with different punctuation."""
    land = make_land("Memes")
    cluster = ImageCluster.objects.create(land=land, key=0, size=4, distinct_domains=2)
    early = make_expression(land, make_domain("first.example"), published_at=datetime(2020, 1, 1, tzinfo=UTC))
    later = make_expression(land, make_domain("second.example"), published_at=datetime(2021, 6, 1, tzinfo=UTC))
    latest = make_expression(land, early.domain, fetched_at=datetime(2022, 1, 1, tzinfo=UTC))
    original = make_media(early, cluster=cluster)
    repost = make_media(latest, cluster=cluster)
    variant = make_media(later, cluster=cluster)
    blank = make_media(later, cluster=cluster)
    cluster.representative = original
    cluster.save()
    make_text(original, "ONE DOES NOT SIMPLY\nwalk into Mordor")
    make_text(repost, "One does not simply walk into Mordor!")
    make_text(variant, "One does not simply <script>ship</script> on Friday")
    make_text(blank, "", status="empty")
    return cluster, original, repost, variant


def test_distinct_captions_with_where_and_when(recaptioned, django_assert_num_queries):
    cluster, original, repost, variant = recaptioned
    with django_assert_num_queries(1):
        found = captions.cluster_captions(cluster.pk)
    assert [caption.pictures for caption in found] == [2, 1]
    first, second = found
    assert first.text == "ONE DOES NOT SIMPLY\nwalk into Mordor"
    assert [place.media_id for place in first.places] == [original.pk, repost.pk]
    assert first.first.seen_at == datetime(2020, 1, 1, tzinfo=UTC)
    assert first.domains == {"first.example"}
    assert second.first.media_id == variant.pk
    assert second.first.domain == "second.example"


def test_cluster_page_shows_member_texts_and_captions_escaped(recaptioned, admin_client):
    cluster, _original, _repost, _variant = recaptioned
    content = admin_client.get(reverse("medianalyse_clusters:cluster-detail", args=[cluster.pk])).content.decode()
    assert 'id="mc-captions"' in content
    assert content.count('class="mc-text"') == 3
    assert "ONE DOES NOT SIMPLY<br>walk into Mordor" in content
    assert "&lt;script&gt;ship&lt;/script&gt;" in content
    assert "<script>ship" not in content
    assert 'data-pictures="2"' in content
