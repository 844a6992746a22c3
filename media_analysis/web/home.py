"""The site's landing page ("View site" in the admin) and the user guides, readable without a login.

The guides are the Markdown files of docs/, served as plain text: only those named here.
"""

from __future__ import annotations

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

GUIDES = {
    "analysis": ("MEDIA_ANALYSIS_GUIDE.md", "Media analysis guide"),
    "live-progress": ("LIVE_PROGRESS.md", "The admin pages"),
    "exports": ("EXPORTS.md", "Exports and data dictionary"),
    "architecture": ("ARCHITECTURE.md", "Architecture"),
}


def home_view(request: HttpRequest) -> HttpResponse:
    guides = [(slug, label) for slug, (_, label) in GUIDES.items()]
    return render(request, "medianalyse/home.html", {"guides": guides})


def guide_view(request: HttpRequest, slug: str) -> HttpResponse:
    if slug not in GUIDES:
        raise Http404("No such guide.")
    path = settings.BASE_DIR / "docs" / GUIDES[slug][0]
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as missing:  # an install without the docs folder
        raise Http404("This guide is not installed here.") from missing
    return HttpResponse(text, content_type="text/plain; charset=utf-8")
