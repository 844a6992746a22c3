"""API-wide behaviour shared by every app's views."""

from __future__ import annotations

from typing import Any

from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler
from rest_framework.views import set_rollback


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's handler, plus domain errors turned into clear 400s instead of 500s."""
    from media_analysis.errors import InvalidParameters
    from medianalyse_site.query_guard import is_statement_timeout, too_slow_message

    if isinstance(exc, InvalidParameters):
        return Response({"detail": str(exc), "errors": exc.errors}, status=400)
    if is_statement_timeout(exc):
        set_rollback()
        return Response({"detail": too_slow_message()}, status=503)
    return drf_exception_handler(exc, context)
