"""Serves stored thumbnails to the admin pages that show them.

Content-addressed files never change, so the browser may keep them for a year
without asking again; they are private to users who may view lands, as the pages
showing them are. When pages use the storage's own URLs instead
(``MEDIA_ANALYSIS_STORAGE_URLS``, e.g. S3 signed URLs), this view is not used.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpRequest

from media_analysis import stored
from media_analysis.web.permissions import can_view_land

CACHE_CONTROL = "private, max-age=31536000, immutable"


def thumbnail_view(request: HttpRequest, key: str) -> FileResponse:
    if not can_view_land(request.user):
        raise PermissionDenied("Seeing media needs the permission to view lands.")
    if not stored.is_thumbnail_key(key):
        raise Http404("No such thumbnail.")
    try:
        handle = stored.media_storage().open(key, "rb")
    except (FileNotFoundError, OSError) as exc:
        raise Http404("No such thumbnail.") from exc
    response = FileResponse(handle, content_type=stored.content_type(key))
    response["Cache-Control"] = CACHE_CONTROL
    response["Content-Security-Policy"] = "default-src 'none'"
    return response
