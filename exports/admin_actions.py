"""The "Export" action of the land changelist.

Wired in the land admin with ``actions = [export_land_action]``. It shows one
small form (type and filters) for the single selected land, then redirects to
the API export URL, which the browser downloads with the admin session: the
admin serves no file itself, so the API stays the one place exports are made.
"""

from __future__ import annotations

from urllib.parse import urlencode

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse

from exports.services import EXPORT_TYPES, NODE_MODES, export_request
from lands.models import Land, MediaType
from media_analysis.errors import InvalidParameters


class ExportLandForm(forms.Form):
    type = forms.ChoiceField(
        choices=[(name, f"{name}: {spec.description}") for name, spec in EXPORT_TYPES.items()],
        initial="pagecsv",
    )
    minrel = forms.IntegerField(min_value=0, initial=1, label="Minimum relevance")
    depth = forms.IntegerField(min_value=0, required=False, label="Maximum depth")
    media_types = forms.MultipleChoiceField(
        choices=MediaType.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="mediacsv and mediagexf only; none ticked means all.",
    )
    nodes = forms.ChoiceField(
        choices=[(mode, mode) for mode in NODE_MODES], initial="page", help_text="mediagexf only."
    )
    stale_values = forms.BooleanField(
        required=False,
        label="Values kept from earlier attempts",
        help_text="mediacsv only. Unticked, analysis values are written only for media whose latest attempt "
        "succeeded; ticked, also the values kept for media that failed since or are pending (their status says so).",
    )
    raw = forms.BooleanField(
        required=False,
        label="Raw values",
        help_text="CSV only: keep cells starting with =, +, -, @ as they are, for scripts. Left unticked, a quote "
        "is put before them so that a spreadsheet does not run crawled text as a formula.",
    )

    def export_query(self) -> dict[str, str]:
        """The API query string for the cleaned data, checked by the export service itself."""
        data = self.cleaned_data
        query = {"type": data["type"], "minrel": str(data["minrel"])}
        if data.get("depth") is not None:
            query["depth"] = str(data["depth"])
        if EXPORT_TYPES[data["type"]].media and data.get("media_types"):
            query["media_types"] = ",".join(data["media_types"])
        if data["type"] == "mediagexf":
            query["nodes"] = data["nodes"]
        if data["type"] == "mediacsv" and data.get("stale_values"):
            query["stale_values"] = "true"
        if data.get("raw") and EXPORT_TYPES[data["type"]].extension == "csv":
            query["raw"] = "true"
        return query


# "view": the admin's view (or change) permission on lands, the rule of the export endpoint it redirects to.
@admin.action(description="Export the selected land (CSV / GEXF)", permissions=["view"])
def export_land_action(
    modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[Land]
) -> HttpResponse | None:
    lands = list(queryset[:2])
    if len(lands) != 1:
        modeladmin.message_user(request, "Select exactly one land to export.", messages.WARNING)
        return None
    land = lands[0]

    form = ExportLandForm(request.POST if "apply" in request.POST else None)
    if form.is_valid():
        try:
            export_request(land, form.export_query())
        except InvalidParameters as error:
            form.add_error(None, str(error))
        else:
            url = reverse("exports:land-export", kwargs={"land_id": land.pk})
            return HttpResponseRedirect(f"{url}?{urlencode(form.export_query())}")

    context = {
        **modeladmin.admin_site.each_context(request),
        "title": f"Export land “{land.name}”",
        "land": land,
        "form": form,
        "opts": modeladmin.model._meta,
        "action_name": "export_land_action",
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
    }
    return TemplateResponse(request, "exports/export_land.html", context)
