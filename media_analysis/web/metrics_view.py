"""Plain Django views of media_analysis."""

from __future__ import annotations

import hmac

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django_prometheus.exports import ExportToDjangoView

from media_analysis.jobs.metrics import register_job_collector


def metrics_view(request: HttpRequest) -> HttpResponse:
    """Prometheus metrics, for a bearer token (MEDIANALYSE_METRICS_TOKEN) or a logged-in staff user."""
    token = settings.MEDIANALYSE_METRICS_TOKEN
    header = request.headers.get("Authorization", "")
    by_token = bool(token) and hmac.compare_digest(header.encode(), f"Bearer {token}".encode())
    by_session = request.user.is_authenticated and request.user.is_staff
    if not (by_token or by_session):
        response = HttpResponse("Authentication required for /metrics\n", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    register_job_collector()
    return ExportToDjangoView(request)
