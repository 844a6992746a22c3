"""GET /api/lands/{id}/export/."""

from __future__ import annotations

import io
import re

import networkx as nx
import pytest
from asgiref.sync import async_to_sync
from django.test import AsyncClient
from drf_spectacular.generators import SchemaGenerator

from exports.views import stream_async
from tests.exports.helpers import read_csv, run_export
from tests.factories import grant

pytestmark = pytest.mark.urls("tests.exports.urls")


def url(land_id: int, **query: str) -> str:
    suffix = "&".join(f"{key}={value}" for key, value in query.items())
    return f"/api/lands/{land_id}/export/" + (f"?{suffix}" if suffix else "")


def body(response) -> bytes:
    assert response.streaming
    return b"".join(response.streaming_content)


def test_csv_is_streamed_with_its_headers(staff_api_client, corpus):
    response = staff_api_client.get(url(corpus.land.pk, type="mediacsv", minrel="0", media_types="img"))
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert re.fullmatch(
        r'attachment; filename="export_land_Corpus_Ete_2024_test_mediacsv_\d{8}_\d{6}\.csv"',
        response["Content-Disposition"],
    )
    data = body(response)
    assert data == run_export(corpus.land, "mediacsv", minrel=0, media_types="img")[0]
    assert len(read_csv(data)[1]) == 7


def test_gexf_is_streamed_with_its_headers(staff_api_client, corpus):
    response = staff_api_client.get(url(corpus.land.pk, type="nodegexf", depth="1"))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/gexf+xml"
    assert re.fullmatch(
        r'attachment; filename="export_land_\w+_nodegexf_\d{8}_\d{6}\.gexf"', response["Content-Disposition"]
    )
    graph = nx.read_gexf(io.BytesIO(body(response)), version="1.3")
    assert set(graph.nodes) == {str(corpus.domains["a"].pk), str(corpus.domains["b"].pk)}


def test_exporting_needs_the_view_permission_on_lands(api_client, plain_user, corpus):
    api_client.force_authenticate(plain_user)
    refused = api_client.get(url(corpus.land.pk, type="pagecsv"), HTTP_ACCEPT="text/csv")
    assert refused.status_code == 403
    assert refused["Content-Type"] == "application/json"
    assert "view permission on lands" in refused.json()["detail"]

    api_client.force_authenticate(grant(plain_user, "lands.view_land"))
    response = api_client.get(url(corpus.land.pk, type="pagecsv"), HTTP_ACCEPT="text/csv")
    assert response.status_code == 200
    assert len(read_csv(body(response))[1]) == 4


def test_anonymous_gets_401(api_client, corpus):
    response = api_client.get(url(corpus.land.pk, type="pagecsv"))
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"


def test_unknown_land_gets_404(staff_api_client, db):
    response = staff_api_client.get(url(999999, type="pagecsv"))
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert "detail" in response.json()


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ({}, "type", "An export type is required"),
        ({"type": "xlsx"}, "type", "Unknown export type 'xlsx'"),
        ({"type": "pagecsv", "minrel": "1.5"}, "minrel", "minrel must be a non-negative integer"),
        ({"type": "pagecsv", "depth": "-2"}, "depth", "depth must be a non-negative integer, got -2"),
        ({"type": "mediacsv", "media_types": "photo"}, "media_types", "Unknown media type(s) photo"),
        ({"type": "mediagexf", "nodes": "tag"}, "nodes", "nodes must be one of page, domain"),
        ({"type": "nodecsv", "nodes": "page"}, "nodes", "nodes applies to mediagexf only"),
    ],
)
def test_bad_parameters_get_a_clear_400(staff_api_client, corpus, query, field, message):
    # Even a client that only accepts CSV gets its error as JSON.
    response = staff_api_client.get(url(corpus.land.pk, **query), HTTP_ACCEPT="text/csv")
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    payload = response.json()
    assert message in payload["detail"]
    assert message in payload["errors"][field][0]


def test_endpoint_is_in_the_openapi_schema():
    schema = SchemaGenerator(urlconf="tests.exports.urls").get_schema(request=None, public=True)
    operation = schema["paths"]["/api/lands/{land_id}/export/"]["get"]
    assert operation["operationId"] == "lands_export"
    parameters = {parameter["name"]: parameter for parameter in operation["parameters"]}
    assert parameters["type"]["required"] is True
    assert "mediagexf" in parameters["type"]["schema"]["enum"]
    assert {"minrel", "depth", "media_types", "nodes", "dates", "include_failed", "dynamic"} <= set(parameters)
    assert set(operation["responses"]["200"]["content"]) == {"text/csv", "application/gexf+xml", "application/zip"}
    assert {"400", "401", "404"} <= set(operation["responses"])


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_asgi_streams_without_buffering(corpus, admin_user, recwarn):
    """Under ASGI the view hands Django an async iterator, so nothing is collected in memory first."""
    client = AsyncClient()
    await client.aforce_login(admin_user)
    response = await client.get(url(corpus.land.pk, type="pagecsv"))
    assert response.status_code == 200
    assert response.is_async
    data = b"".join([chunk async for chunk in response.streaming_content])
    assert len(read_csv(data)[1]) == 4
    assert not [w for w in recwarn if "iterators" in str(w.message)]


def test_async_stream_closes_its_source_when_abandoned():
    closed = []

    def source():
        try:
            yield b"first"
            yield b"second"
        finally:
            closed.append(True)

    async def take_one() -> bytes:
        stream = stream_async(source())
        first = await anext(stream)
        await stream.aclose()  # what the server does when the client goes away
        return first

    assert async_to_sync(take_one)() == b"first"
    assert closed == [True]


@pytest.mark.parametrize("query", ["minrel=99999999999999999999999", "depth=2147483648", "minrel=%C2%B2"])
def test_numbers_out_of_range_are_a_400_naming_the_parameter(staff_api_client, corpus, query):
    response = staff_api_client.get(f"/api/lands/{corpus.land.pk}/export/?type=pagecsv&{query}")
    assert response.status_code == 400
    assert query.split("=")[0] in response.json()["errors"]
