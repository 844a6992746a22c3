"""The image wall's page and its PNG download: adapters around media_analysis.web.wall.

Both read the same GET parameters through ``WallQueryForm``; a bad value answers 400 naming
each rejected parameter. Both need the view permission on media and on lands
(``permissions.can_view_wall``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIRequest
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse

from lands.models import Land
from media_analysis.models import ImageCluster
from media_analysis.web import wall
from media_analysis.web.admin.pages import _context, _reverse_or, land_links, require
from media_analysis.web.permissions import can_view_land, can_view_media, can_view_wall

VIEW_WALL_NEEDED = "The image wall needs the view permission on media and on lands."


def _invalid(problems: dict[str, list[str]]) -> HttpResponse:
    lines = [f"{name}: {message}" for name, messages in problems.items() for message in messages]
    return HttpResponse(
        "Invalid parameters.\n" + "\n".join(lines) + "\n", status=400, content_type="text/plain; charset=utf-8"
    )


def _change_url(template: str, media_id: int) -> str:
    # The media admin's URL for id 0 with the cell's id swapped in: one reverse for a page of hundreds.
    return template.replace("/0/", f"/{media_id}/", 1) if template else ""


def _scope(query: wall.WallQuery) -> tuple[Land, ImageCluster | None]:
    if query.cluster_id is not None:
        clusters = ImageCluster.objects.select_related("land")
        if query.land_id is not None:
            clusters = clusters.filter(land_id=query.land_id)
        cluster = get_object_or_404(clusters, pk=query.cluster_id)
        return cluster.land, cluster
    return get_object_or_404(Land, pk=query.land_id), None


def wall_view(request: HttpRequest) -> HttpResponse:
    require(can_view_wall(request.user), VIEW_WALL_NEEDED)
    form = wall.WallQueryForm(request.GET)
    if not form.is_valid():
        return _invalid(form.problems())
    query = form.wall_query()
    land, cluster = _scope(query)
    page = wall.wall_page(query)
    width, height = query.png_pixels
    media_change = _reverse_or("admin:lands_media_change", "", [0]) if can_view_media(request.user) else ""
    context: dict[str, Any] = _context(
        request,
        f"Image wall: {land.name}" + (f", cluster {cluster.pk}" if cluster else ""),
        land=land,
        cluster=cluster,
        query=query,
        page=page,
        sorts=wall.SORTS,
        tiles=(32, 48, 64, 96, 128),
        items=[(item, _change_url(media_change, item.media_id)) for item in page.items],
        png_url=reverse("medianalyse:wall-png")
        + "?"
        + query.as_query(max_media=query.max_media, columns=query.columns),
        png_width=width,
        png_height=height,
        max_media_limit=wall.max_media_limit(),
        links=land_links(land.pk, request.user),
        cluster_url=reverse("medianalyse_clusters:cluster-detail", args=[cluster.pk])
        if cluster and can_view_land(request.user)
        else "",
    )
    return render(request, "media_analysis/wall.html", context)


def _next_chunk(chunks: Iterator[bytes]) -> bytes | None:
    return next(chunks, None)


async def _async_chunks(chunks: Iterator[bytes]) -> AsyncIterator[bytes]:
    # Each chunk is composed in a worker thread (storage reads, decoding) and sent as soon as it is made.
    while (chunk := await sync_to_async(_next_chunk, thread_sensitive=False)(chunks)) is not None:
        yield chunk


def served(request: HttpRequest, chunks: Iterator[bytes]) -> Iterator[bytes] | AsyncIterator[bytes]:
    """``chunks`` as the server streams them: under ASGI, Django would read a synchronous
    iterator to its end before sending a byte (the whole PNG in memory), so it gets an asynchronous one."""
    return _async_chunks(chunks) if isinstance(request, ASGIRequest) else chunks


def wall_png_view(request: HttpRequest) -> HttpResponse | StreamingHttpResponse:
    require(can_view_wall(request.user), VIEW_WALL_NEEDED)
    form = wall.WallQueryForm(request.GET)
    if not form.is_valid():
        return _invalid(form.problems())
    query = form.wall_query()
    land, cluster = _scope(query)
    name = f"wall-land-{land.pk}" + (f"-cluster-{cluster.pk}" if cluster else "") + f"-{query.sort}.png"
    response = StreamingHttpResponse(served(request, wall.wall_png(query)), content_type="image/png")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
