"""The API's root: every collection of the API, and where the per-land endpoints and the docs are."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.decorators import api_view
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.reverse import reverse


@extend_schema(exclude=True)
@api_view(["GET"])
def api_index(request: Request, format: str | None = None) -> Response:
    def url(name: str) -> str:
        return reverse(name, request=request, format=format)

    # Endpoints of one land or one cluster take its id: shown as templates, {id} to fill in.
    land_template = url("land-list") + "{id}/"
    return Response(
        {
            "lands": url("land-list"),
            "expressions": url("expression-list"),
            "media": url("media-list"),
            "jobs": url("analysisjob-list"),
            "clusters": land_template + "clusters/",
            "cluster": reverse("api-index", request=request) + "clusters/{id}/",
            "start_analysis": land_template + "medianalyse/",
            "exports": land_template + "export/?type={type}",
            "docs": reverse("api-docs", request=request),
            "schema": reverse("schema", request=request),
        }
    )
