"""GET /api/lands/{id}/export/: a land export (CSV, GEXF or a zip dataset) streamed as a file."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Iterator

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIRequest
from django.http import StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.utils.http import content_disposition_header
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.views import APIView

from exports.services import ExportRequestSerializer, export_request
from lands.models import Land
from media_analysis.web.permissions import CanViewLands


def _next_chunk(chunks: Iterator[bytes]) -> bytes | None:
    return next(chunks, None)


async def stream_async(chunks: Iterator[bytes]) -> AsyncGenerator[bytes, None]:
    """Feed a synchronous chunk iterator to an ASGI server one chunk at a time.

    Given a synchronous iterator, Django's ASGI handler first collects it into a
    list, which would hold a whole export in memory. Each ``next`` runs in the
    request's thread-sensitive thread, where the view's database connection lives.
    """
    pull = sync_to_async(_next_chunk, thread_sensitive=True)
    try:
        while (chunk := await pull(chunks)) is not None:
            yield chunk
    finally:
        # A client that disconnects mid-download must not leave a cursor open.
        close = getattr(chunks, "close", None)
        if close is not None:
            await sync_to_async(close, thread_sensitive=True)()


class LandExportView(APIView):
    # An export is the land's data: the same view permission as the land itself.
    permission_classes = [CanViewLands]

    def perform_content_negotiation(self, request: Request, force: bool = False):
        # The success body is a file built here, not a rendered representation:
        # whatever the client accepts (text/csv...), errors fall back to JSON.
        return super().perform_content_negotiation(request, force=True)

    @extend_schema(
        operation_id="lands_export",
        summary="Export a land as CSV, GEXF or a zip dataset",
        description=(
            "Streams the export as a file download. Pages are selected by relevance >= minrel "
            "(default 1, or all: every page) and, when given, depth <= depth. type=archive is a zip of the mediacsv "
            "and the stored thumbnails it names. See docs/EXPORTS.md for every column."
        ),
        parameters=[ExportRequestSerializer],
        responses={
            (200, "text/csv"): OpenApiTypes.BINARY,
            (200, "application/gexf+xml"): OpenApiTypes.BINARY,
            (200, "application/zip"): OpenApiTypes.BINARY,
            400: OpenApiResponse(description="Unknown type or invalid parameter (JSON: detail, errors)"),
            401: OpenApiResponse(description="Not authenticated"),
            403: OpenApiResponse(description="No view permission on lands"),
            404: OpenApiResponse(description="No such land"),
        },
    )
    def get(self, request: Request, land_id: int) -> StreamingHttpResponse:
        land = get_object_or_404(Land, pk=land_id)
        export = export_request(land, request.query_params)
        chunks = export.chunks()
        content = stream_async(chunks) if isinstance(request._request, ASGIRequest) else chunks
        response = StreamingHttpResponse(content, content_type=export.content_type)
        response["Content-Disposition"] = content_disposition_header(as_attachment=True, filename=export.filename)
        # Proxies (nginx) would otherwise buffer the stream they are meant to pass through.
        response["X-Accel-Buffering"] = "no"
        return response
