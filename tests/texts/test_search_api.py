"""``?text=`` on the media list of the REST API: the gallery's search, with the API's validation and paging."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from drf_spectacular.generators import SchemaGenerator

from lands.aggregates import ensure_land_counts
from lands.models import Media
from media_analysis.texts.search import MAX_QUERY_WORDS, with_text
from tests.factories import make_expression, make_media, make_text

pytestmark = pytest.mark.django_db

URL = "/api/media/"


def ids(response) -> set[int]:
    assert response.status_code == 200, response.content[:500]
    return {row["id"] for row in response.json()["results"]}


def test_text_filters_the_media_list_as_the_gallery_does(texts, staff_api_client):
    media = texts.media
    for text in ("climate", "JUSTICE climate", '"climate justice"', '"justice climate"', "when see"):
        expected = set(with_text(Media.objects.all(), text).values_list("pk", flat=True))
        assert ids(staff_api_client.get(URL, {"text": text})) == expected, text
    # The other land's picture says it too; the land filter keeps it out.
    assert ids(staff_api_client.get(URL, {"text": "climate justice", "land": texts.land.pk})) == {
        media["banner"].pk,
        media["sign"].pk,
    }
    assert ids(staff_api_client.get(URL, {"text": '"climate justice now"', "land": texts.land.pk})) == {
        media["banner"].pk
    }
    assert ids(staff_api_client.get(URL, {"text": "climate", "format": "png"})) == {media["sign"].pk}
    assert ids(staff_api_client.get(URL, {"text": "elephant"})) == set()


def test_text_pages_follow_the_cursor_with_the_filter_kept(texts, staff_api_client):
    page = make_expression(texts.land)
    said = {make_text(make_media(page), f"climate poster {n}").media_id for n in range(5)}
    make_text(make_media(page), "no poster here")
    walked: list[int] = []
    url: str | None = f"{URL}?text=climate+poster&land={texts.land.pk}&page_size=2"
    while url:
        body = staff_api_client.get(url).json()
        walked.extend(row["id"] for row in body["results"])
        assert len(body["results"]) <= 2
        url = body["next"]
        if url:
            assert "text=climate+poster" in url
    assert walked == sorted(said)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("!", "text must hold a word"),
        ("a", "text must hold a word"),
        ('"a b"', "a quoted phrase must hold a word"),
        ("x" * 201, "200 characters"),
        (" ".join(f"w{n}" for n in range(MAX_QUERY_WORDS + 1)), f"at most {MAX_QUERY_WORDS} words"),
    ],
)
def test_a_bad_text_is_a_400_naming_text(db, staff_api_client, text, message):
    response = staff_api_client.get(URL, {"text": text, "land": "abc"})
    assert response.status_code == 400
    body = response.json()
    assert set(body["errors"]) == {"text", "land"}
    assert message in " ".join(body["errors"]["text"])


def test_an_empty_text_is_no_filter(texts, staff_api_client):
    assert ids(staff_api_client.get(URL, {"text": ""})) == set(Media.objects.values_list("pk", flat=True))


# One page (no count: media are paged by cursor), after the land's share of all media when filtered by land.
PINNED = {
    "?text=climate": 1,
    '?text="climate justice" now': 1,
    "?text=climate+justice&land={land}&format=jpeg": 2,
}


@pytest.mark.parametrize(("query", "expected"), list(PINNED.items()))
def test_text_search_costs_fixed_queries_whatever_the_matches(
    texts, staff_api_client, django_assert_num_queries, query, expected
):
    ensure_land_counts()
    url = URL + query.format(land=texts.land.pk)
    with django_assert_num_queries(expected):
        first = ids(staff_api_client.get(url))
    page = make_expression(texts.land)
    for n in range(60):
        make_text(make_media(page, format="JPEG"), f"Climate justice now {n}")
    with CaptureQueriesContext(connection) as captured:
        more = ids(staff_api_client.get(url))
    assert len(captured) == expected
    assert len(more) > len(first)


def test_the_schema_documents_text(db):
    schema = SchemaGenerator().get_schema(request=None, public=True)
    parameters = {param["name"]: param for param in schema["paths"]["/api/media/"]["get"]["parameters"]}
    text = parameters["text"]
    assert text["in"] == "query"
    assert text["schema"]["maxLength"] == 200
    assert "double quotes" in text["description"]
