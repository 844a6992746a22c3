"""Read API: authentication, counts, filters, pagination, query counts, schema."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.db.models import F
from drf_spectacular.drainage import GENERATOR_STATS
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.validation import validate_schema
from rest_framework.test import APIClient

from lands.aggregates import ensure_land_counts
from lands.models import Media
from media_analysis.models import ApiToken
from tests.adminapi.helpers import count_queries, grow_land
from tests.factories import CORPUS_READER, grant

LIST_URLS = ["/api/lands/", "/api/expressions/", "/api/media/"]


def ids(response) -> set[int]:
    return {row["id"] for row in response.json()["results"]}


# --- Authentication ----------------------------------------------------------------


@pytest.mark.parametrize("url", LIST_URLS)
def test_anonymous_request_is_401_with_token_challenge(db, api_client, url):
    response = api_client.get(url)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"


@pytest.mark.parametrize("url", LIST_URLS)
def test_token_authentication(corpus, api_client, plain_user, url):
    _, key = ApiToken.issue(grant(plain_user, *CORPUS_READER))
    response = api_client.get(url, HTTP_AUTHORIZATION=f"Token {key}")
    assert response.status_code == 200
    assert response.json()["results"]


def test_wrong_token_is_401(db, api_client):
    response = api_client.get("/api/lands/", HTTP_AUTHORIZATION="Token not-a-real-key")
    assert response.status_code == 401


def test_session_authentication(corpus, client, plain_user):
    grant(plain_user, "lands.view_land")
    assert client.login(username="reader", password="reader-password")
    response = client.get("/api/lands/")
    assert response.status_code == 200
    assert [land["name"] for land in response.json()["results"]] == ["Climate", "Elsewhere"]


def test_create_api_token_command(corpus, api_client, plain_user, capsys):
    grant(plain_user, "lands.view_media")
    call_command("create_api_token", "reader", "--name", "script")
    key = capsys.readouterr().out.strip()
    assert ApiToken.objects.get(user=plain_user).name == "script"
    response = api_client.get("/api/media/", HTTP_AUTHORIZATION=f"Token {key}")
    assert response.status_code == 200


# --- Lands --------------------------------------------------------------------------


def test_land_list_counts(corpus, staff_api_client):
    response = staff_api_client.get("/api/lands/")
    assert response.status_code == 200
    rows = {row["name"]: row for row in response.json()["results"]}
    climate = rows["Climate"]
    assert climate["expression_count"] == 3
    assert climate["media_count"] == 4
    assert climate["analysed_count"] == 2
    assert climate["failed_count"] == 1
    assert climate["languages"] == ["fr", "en"]
    elsewhere = rows["Elsewhere"]
    assert (elsewhere["expression_count"], elsewhere["media_count"], elsewhere["analysed_count"]) == (1, 1, 1)
    assert elsewhere["failed_count"] == 0


def test_land_counts_are_not_multiplied_by_joins(corpus, staff_api_client):
    # Three pages with two media each: a naive double Count join would report 6 pages.
    grow_land(corpus.land, pages=3)
    response = staff_api_client.get(f"/api/lands/{corpus.land.pk}/")
    body = response.json()
    assert body["expression_count"] == 6
    assert body["media_count"] == 10
    assert body["analysed_count"] == 5
    assert body["failed_count"] == 4


def test_empty_land_counts_are_zero(db, staff_api_client):
    from tests.factories import make_land

    land = make_land("Empty")
    body = staff_api_client.get(f"/api/lands/{land.pk}/").json()
    assert (body["expression_count"], body["media_count"], body["analysed_count"], body["failed_count"]) == (
        0,
        0,
        0,
        0,
    )


def test_unknown_land_is_404(db, staff_api_client):
    assert staff_api_client.get("/api/lands/999999/").status_code == 404


# --- Expressions --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", {"home", "article", "missing", "elsewhere"}),
        ("land={land}", {"home", "article", "missing"}),
        ("land={land}&depth=1", {"article"}),
        ("land={land}&depth=0", {"home"}),
        ("minrel=2", {"home", "article", "elsewhere"}),
        ("land={land}&minrel=5", {"home"}),
        ("http_status=404", {"missing"}),
        ("land={land}&http_status=200&minrel=3", {"home"}),
        ("land={land}&depth=", {"home", "article", "missing"}),
    ],
)
def test_expression_filters(corpus, staff_api_client, query, expected):
    response = staff_api_client.get("/api/expressions/?" + query.format(land=corpus.land.pk))
    assert response.status_code == 200
    assert ids(response) == {getattr(corpus, name).pk for name in expected}


def test_expression_list_leaves_readable_to_detail(corpus, staff_api_client):
    corpus.home.readable = "Long readable text"
    corpus.home.save()
    row = staff_api_client.get(f"/api/expressions/?land={corpus.land.pk}&depth=0").json()["results"][0]
    assert "readable" not in row
    assert row["domain_name"] == "news.example"
    assert row["land"] == corpus.land.pk
    detail = staff_api_client.get(f"/api/expressions/{corpus.home.pk}/").json()
    assert detail["readable"] == "Long readable text"
    assert detail["title"] == "Home"


# --- Media --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("land={land}", {"jpeg", "png", "timeout", "video"}),
        ("land={other}", {"foreign"}),
        ("type=video", {"video"}),
        ("land={land}&type=img", {"jpeg", "png", "timeout"}),
        ("status=done", {"jpeg", "png", "foreign"}),
        ("land={land}&status=failed", {"timeout"}),
        ("status=pending", {"video"}),
        ("format=JPEG", {"jpeg", "foreign"}),
        ("format=jpeg&land={land}", {"jpeg"}),
        ("format=png", {"png"}),
        ("error_class=timeout", {"timeout"}),
        ("error_class=network", set()),
        ("is_conforming=true", {"jpeg", "foreign"}),
        ("is_conforming=false", {"png"}),
        ("land={land}&is_conforming=true&format=JPEG&status=done&type=img", {"jpeg"}),
        ("expression={article}", {"png", "timeout"}),
    ],
)
def test_media_filters(corpus, staff_api_client, query, expected):
    url = "/api/media/?" + query.format(land=corpus.land.pk, other=corpus.other_land.pk, article=corpus.article.pk)
    response = staff_api_client.get(url)
    assert response.status_code == 200, response.content
    assert ids(response) == {getattr(corpus, name).pk for name in expected}


def test_media_detail_has_every_analysis_field(corpus, staff_api_client):
    response = staff_api_client.get(f"/api/media/{corpus.jpeg.pk}/")
    assert response.status_code == 200
    body = response.json()
    for field in Media._meta.concrete_fields:
        assert field.name in body, field.name
    assert body["land"] == corpus.land.pk
    assert body["expression"] == corpus.home.pk
    assert body["width"] == 640
    assert body["height"] == 427
    assert body["format"] == "JPEG"
    assert body["analysis_status"] == "done"
    assert body["dominant_colors"][0] == {"hex": "#1f2a3b", "percentage": 41.5}
    assert body["exif_data"] == {"Make": "Canon", "Model": "EOS 5D"}


def test_media_list_rows_match_detail(corpus, staff_api_client):
    listed = {row["id"]: row for row in staff_api_client.get("/api/media/").json()["results"]}
    detail = staff_api_client.get(f"/api/media/{corpus.timeout.pk}/").json()
    assert listed[corpus.timeout.pk] == detail
    assert detail["error_class"] == "timeout"
    assert detail["attempts"] == 3


def test_media_format_query_parameter_is_a_filter_not_a_renderer(corpus, staff_api_client):
    # DRF would otherwise look for a renderer called "JPEG" and answer 404.
    response = staff_api_client.get("/api/media/?format=JPEG")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert staff_api_client.get("/api/media.json").status_code == 200


@pytest.mark.parametrize(
    ("url", "parameter"),
    [
        ("/api/expressions/?land=abc", "land"),
        ("/api/expressions/?land=0", "land"),
        ("/api/expressions/?depth=-1", "depth"),
        ("/api/expressions/?depth=one", "depth"),
        ("/api/expressions/?minrel=high", "minrel"),
        ("/api/expressions/?http_status=20000", "http_status"),
        ("/api/media/?land=abc", "land"),
        ("/api/media/?type=gif", "type"),
        ("/api/media/?status=weird", "status"),
        ("/api/media/?error_class=gremlins", "error_class"),
        ("/api/media/?is_conforming=perhaps", "is_conforming"),
        ("/api/media/?expression=-4", "expression"),
        ("/api/media/?format=" + "X" * 21, "format"),
        # Numbers no column can hold were a 500 (OverflowError) before they were bounded.
        ("/api/expressions/?land=" + "9" * 23, "land"),
        ("/api/expressions/?depth=99999999999999999999999", "depth"),
        ("/api/expressions/?minrel=2147483648", "minrel"),
        ("/api/media/?land=" + "9" * 23, "land"),
        ("/api/media/?expression=9223372036854775808", "expression"),
        ("/api/media/?land=\u00b2", "land"),
    ],
)
def test_bad_filter_values_are_400(db, staff_api_client, url, parameter):
    response = staff_api_client.get(url)
    assert response.status_code == 400
    body = response.json()
    assert parameter in body["errors"]
    assert parameter in body["detail"]
    assert body["errors"][parameter]


def test_bad_filters_report_every_parameter(db, staff_api_client):
    body = staff_api_client.get("/api/media/?type=gif&status=weird&land=1").json()
    assert set(body["errors"]) == {"type", "status"}
    assert "gif" in body["errors"]["type"][0]


# --- Pagination ---------------------------------------------------------------------


def _bulk_media(expression, count: int) -> None:
    Media.objects.bulk_create(
        Media(expression=expression, url=f"https://cdn.example/bulk-{index}.png") for index in range(count)
    )


def test_pagination_pages_and_links(corpus, staff_api_client):
    first = staff_api_client.get(f"/api/media/?land={corpus.land.pk}&page_size=3").json()
    assert set(first) == {"next", "previous", "results"}
    assert len(first["results"]) == 3
    assert first["previous"] is None
    assert "cursor=" in first["next"]
    assert f"land={corpus.land.pk}" in first["next"]
    second = staff_api_client.get(first["next"]).json()
    assert len(second["results"]) == 1
    assert second["next"] is None
    assert "cursor=" in second["previous"]
    assert ids_of(first) | ids_of(second) == {corpus.jpeg.pk, corpus.png.pk, corpus.timeout.pk, corpus.video.pk}
    back = staff_api_client.get(second["previous"]).json()
    assert ids_of(back) == ids_of(first)


def ids_of(body: dict) -> set[int]:
    return {row["id"] for row in body["results"]}


def walk(client, url: str) -> list[int]:
    ids: list[int] = []
    while url:
        body = client.get(url).json()
        ids.extend(row["id"] for row in body["results"])
        url = body["next"]
    return ids


def test_default_page_size_is_50_and_pages_follow_the_ids(corpus, staff_api_client):
    _bulk_media(corpus.home, 60)
    body = staff_api_client.get("/api/media/").json()
    assert len(body["results"]) == 50
    ids = walk(staff_api_client, "/api/media/")
    assert ids == sorted(Media.objects.values_list("pk", flat=True))


def test_expressions_are_paged_by_cursor_with_their_filters(corpus, staff_api_client):
    from lands.models import Expression

    ids = walk(staff_api_client, f"/api/expressions/?land={corpus.land.pk}&page_size=1")
    assert ids == sorted(Expression.objects.filter(land=corpus.land).values_list("pk", flat=True))


@pytest.mark.parametrize(
    ("query", "parameter"),
    [("cursor=not-a-cursor", "cursor"), ("cursor=", None), ("page=2", "page"), ("cursor=%FF%FE", "cursor")],
)
def test_a_bad_cursor_or_a_page_number_is_a_400_naming_it(corpus, staff_api_client, query, parameter):
    for path in ("/api/media/", "/api/expressions/"):
        response = staff_api_client.get(f"{path}?{query}")
        if parameter is None:  # an empty value is no cursor: the first page
            assert response.status_code == 200
            continue
        assert response.status_code == 400
        assert parameter in response.json()["errors"]


def test_page_size_is_capped_at_500(corpus, staff_api_client):
    _bulk_media(corpus.home, 510)
    body = staff_api_client.get("/api/media/?page_size=10000").json()
    assert len(body["results"]) == 500
    assert len(staff_api_client.get("/api/media/?page_size=120").json()["results"]) == 120


# --- Query counts -------------------------------------------------------------------

# A page of media or expressions of any size costs one SELECT (paged by cursor, no COUNT), after the
# land's share of all media when media are filtered by land (lands.aggregates.is_dense_land); lands, a
# COUNT and a SELECT after looking for lands without stored counts; details a single SELECT.
PINNED_LIST_QUERIES = {
    "/api/lands/": 3,
    "/api/expressions/?land={land}&minrel=1": 1,
    "/api/media/?land={land}&status=done&page_size=100": 2,
    "/api/media/": 1,
}


@pytest.mark.parametrize(("url", "expected"), [pytest.param(*item, id=item[0]) for item in PINNED_LIST_QUERIES.items()])
def test_list_query_counts_are_pinned_and_do_not_grow(
    corpus, staff_api_client, django_assert_num_queries, url, expected
):
    url = url.format(land=corpus.land.pk)
    ensure_land_counts()
    with django_assert_num_queries(expected):
        assert staff_api_client.get(url).status_code == 200
    grow_land(corpus.land, pages=15)
    grow_land(corpus.other_land, pages=5)
    assert count_queries(staff_api_client, url) == expected


def test_detail_query_counts(corpus, staff_api_client, django_assert_num_queries):
    ensure_land_counts()
    for url, expected in (
        (f"/api/lands/{corpus.land.pk}/", 2),
        (f"/api/expressions/{corpus.home.pk}/", 1),
        (f"/api/media/{corpus.jpeg.pk}/", 1),
    ):
        with django_assert_num_queries(expected):
            assert staff_api_client.get(url).status_code == 200


def test_token_request_adds_one_query(corpus, api_client, plain_user, django_assert_num_queries):
    _, key = ApiToken.issue(grant(plain_user, "lands.view_media"))
    # The first use writes when the token was last used; later ones within a minute write nothing.
    assert api_client.get("/api/media/", HTTP_AUTHORIZATION=f"Token {key}").status_code == 200
    # The token with its user, then the permission check (the user's own permissions and its groups'), then the
    # page (no count: media are paged by cursor).
    with django_assert_num_queries(4):
        response = api_client.get("/api/media/", HTTP_AUTHORIZATION=f"Token {key}")
    assert response.status_code == 200


def test_media_land_comes_from_the_join(corpus):
    # The serializer's land field reads this annotation; no per-row lookup of the expression.
    from lands.api import MediaViewSet

    row = MediaViewSet.queryset.get(pk=corpus.png.pk)
    assert row.land_id == corpus.land.pk
    assert MediaViewSet.queryset.filter(land_id=F("expression__land_id")).count() == 5


# --- Schema and docs ----------------------------------------------------------------


def test_openapi_schema_validates_without_warnings_from_the_corpus_api():
    GENERATOR_STATS.reset()
    schema = SchemaGenerator().get_schema(request=None, public=True)
    validate_schema(schema)
    own = [message for message in GENERATOR_STATS._warn_cache if "lands/api" in message]
    own += [message for message in GENERATOR_STATS._error_cache if "lands/api" in message]
    assert own == []
    for path in ("/api/lands/", "/api/lands/{id}/", "/api/expressions/", "/api/media/", "/api/media/{id}/"):
        assert path in schema["paths"]
    media_params = {param["name"] for param in schema["paths"]["/api/media/"]["get"]["parameters"]}
    assert {"land", "type", "status", "format", "error_class", "is_conforming", "cursor", "page_size"} <= media_params
    expression_params = {param["name"] for param in schema["paths"]["/api/expressions/"]["get"]["parameters"]}
    assert {"land", "depth", "minrel", "http_status"} <= expression_params
    land = schema["components"]["schemas"]["Land"]["properties"]
    assert land["media_count"]["type"] == "integer"


def test_schema_and_docs_endpoints(db, staff_api_client):
    anonymous = APIClient()
    assert anonymous.get("/api/docs/").status_code == 401
    assert anonymous.get("/api/schema/").status_code == 401
    assert staff_api_client.get("/api/docs/").status_code == 200
    response = staff_api_client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    assert "/api/media/" in response.json()["paths"]
