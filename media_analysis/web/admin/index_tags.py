"""``{% research_pages %}``: the admin home's links to the custom pages, as far as the user may follow them.

Registered as the template library ``medianalyse_admin`` (TEMPLATES' ``libraries`` in the settings).
"""

from __future__ import annotations

from typing import Any

from django import template
from django.urls import reverse

from lands.models import Land
from media_analysis.web.admin.pages import lands_changelist_url
from media_analysis.web.permissions import can_view_land

register = template.Library()

# The home lists this many lands by name; the lands list holds the others.
INDEX_LANDS = 8


@register.simple_tag(takes_context=True)
def research_pages(context: dict[str, Any]) -> dict[str, Any]:
    user = context["request"].user
    general = [
        ("Your API tokens", reverse("medianalyse:api-tokens"), "keys for scripts and notebooks, shown once"),
        ("API documentation", reverse("api-docs"), "every endpoint, to try in the browser (Swagger UI)"),
        ("API reference", reverse("api-redoc"), "the same, to read (ReDoc)"),
    ]
    lands: list[dict[str, Any]] = []
    land_count = 0
    if can_view_land(user):
        land_count = Land.objects.count()
        for land_id, name in Land.objects.order_by("name").values_list("id", "name")[:INDEX_LANDS]:
            lands.append(
                {
                    "name": name,
                    "analysis": reverse("medianalyse:land-analysis", args=[land_id]),
                    "gallery": reverse("medianalyse:land-gallery", args=[land_id]),
                    "clusters": reverse("medianalyse_clusters:land-clusters", args=[land_id]),
                }
            )
    return {
        "general": general,
        "lands": lands,
        "land_count": land_count,
        "more_lands": land_count > len(lands),
        "lands_url": lands_changelist_url(user),
    }
