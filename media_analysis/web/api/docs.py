"""The API's reference page (ReDoc), kept to this site.

ReDoc's bundle shows its maker's logo from a CDN, whatever its options: the page's Content-Security-Policy
lets it load only from this site, so the browser never asks (offline, the page is whole all the same).
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from drf_spectacular.views import SpectacularRedocView
from rest_framework.request import Request
from rest_framework.response import Response

OWN_SITE_ONLY = "; ".join(
    [
        "default-src 'self'",
        # ReDoc sets styles inline and starts its search worker from a blob.
        "style-src 'self' 'unsafe-inline'",
        "script-src 'self' 'unsafe-inline'",
        "worker-src 'self' blob:",
        "img-src 'self' data:",
        "font-src 'self' data:",
    ]
)


class OwnSiteRedocView(SpectacularRedocView):
    template_name = "medianalyse/redoc.html"

    # Overriding ``get`` drops the parent's exclusion from the schema: the page is no endpoint of the API.
    @extend_schema(exclude=True)
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        response = super().get(request, *args, **kwargs)
        response["Content-Security-Policy"] = OWN_SITE_ONLY
        return response
