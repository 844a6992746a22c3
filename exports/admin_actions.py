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

from exports.services import DATED_TYPES, DEFAULT_MINREL, EXPORT_TYPES, MEDIA_CSV_TYPES, MINREL_ALL, export_request
from lands.models import Land, MediaType
from media_analysis.errors import InvalidParameters

# What each type is called in the form; a type without a label here shows its name and description.
TYPE_LABELS = {
    "mediacsv": "Media (CSV): every analysis field, with the page's URL and dates",
    "archive": "Media dataset (zip): the media CSV and the stored thumbnails",
    "mediagexf": "Media graph (GEXF): pages or domains and the media they show",
    "clustercsv": "Near-duplicate clusters (CSV)",
    "pagecsv": "Pages (CSV), the crawler's columns",
    "fullpagecsv": "Pages with their readable text (CSV), the crawler's columns",
    "nodecsv": "Domains (CSV), the crawler's columns",
    "pagegexf": "Page graph (GEXF): pages linked across domains",
    "nodegexf": "Domain graph (GEXF): domains linked by their pages",
    "textcsv": "Words in pictures (CSV): each picture's words read by OCR, with their counts",
    "textgexf": "Text graph (GEXF): pictures or clusters and the words they carry",
}


def _type_choices() -> list[tuple[str, str]]:
    ordered = [name for name in TYPE_LABELS if name in EXPORT_TYPES] + [
        name for name in EXPORT_TYPES if name not in TYPE_LABELS
    ]
    return [(name, TYPE_LABELS.get(name, f"{name}: {EXPORT_TYPES[name].description}")) for name in ordered]


class ExportLandForm(forms.Form):
    type = forms.ChoiceField(label="Export", choices=_type_choices, initial="mediacsv")
    minrel = forms.IntegerField(
        min_value=0,
        initial=DEFAULT_MINREL,
        required=False,
        label="Minimum relevance",
        help_text="Pages whose relevance is at least this. Empty: every page, scored or not (what an analysis job "
        "takes by default).",
    )
    depth = forms.IntegerField(min_value=0, required=False, label="Maximum depth", help_text="Empty: any depth.")
    media_types = forms.MultipleChoiceField(
        choices=MediaType.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Media types",
        help_text="Media exports only; none ticked means all.",
    )
    nodes = forms.ChoiceField(
        choices=[("page", "Pages"), ("domain", "Domains")],
        initial="page",
        label="Graph nodes holding the media",
        help_text="Media graph only.",
    )
    merge_clusters = forms.BooleanField(
        required=False,
        label="Merge near-duplicate clusters",
        help_text="Media and text graphs only: one node per cluster of near-duplicate images instead of one per "
        "file (or per picture).",
    )
    include_failed = forms.BooleanField(
        required=False,
        label="Keep failed media",
        help_text="Media graph only. Unticked, media whose latest analysis failed are left out: what failed is "
        "often no image at all (an HTML error page).",
    )
    dynamic = forms.BooleanField(
        required=False,
        label="Dynamic graph (timeline)",
        help_text="Media graph only: each node and edge starts at its first appearance (the page's publication "
        "date, or else when it was fetched), so that Gephi's timeline replays the circulation.",
    )
    dates = forms.BooleanField(
        required=False,
        label="Page dates",
        help_text="Page exports (pages CSV, full pages CSV, page graph): add the page's published_at and fetched_at "
        "after the crawler's columns, which keep their places.",
    )
    stale_values = forms.BooleanField(
        required=False,
        label="Values kept from earlier attempts",
        help_text="Media CSV and dataset only. Unticked, analysis values are written only for media whose latest "
        "attempt succeeded; ticked, also the values kept for media that failed since or are pending (their status "
        "says so).",
    )
    raw = forms.BooleanField(
        required=False,
        label="Raw values",
        help_text="CSV only: keep cells starting with =, +, -, @ as they are, for scripts. Left unticked, a quote "
        "is put before them so that a spreadsheet does not run crawled text as a formula.",
    )

    def export_query(self) -> dict[str, str]:
        """The API query string for the cleaned data, checked by the export service itself.

        Options that do not apply to the chosen type are left out, so that a box
        ticked for another type does not turn the export into an error.
        """
        data = self.cleaned_data
        name = data["type"]
        spec = EXPORT_TYPES[name]
        query = {"type": name, "minrel": MINREL_ALL if data.get("minrel") is None else str(data["minrel"])}
        if data.get("depth") is not None:
            query["depth"] = str(data["depth"])
        if spec.media and data.get("media_types"):
            query["media_types"] = ",".join(data["media_types"])
        if name == "mediagexf":
            query["nodes"] = data["nodes"]
            for option in ("merge_clusters", "include_failed", "dynamic"):
                if data.get(option):
                    query[option] = "true"
        if name == "textgexf" and data.get("merge_clusters"):
            query["merge_clusters"] = "true"
        if name in DATED_TYPES and data.get("dates"):
            query["dates"] = "true"
        if name in MEDIA_CSV_TYPES and data.get("stale_values"):
            query["stale_values"] = "true"
        if data.get("raw") and spec.extension != "gexf":
            query["raw"] = "true"
        return query


# "view": the admin's view (or change) permission on lands, the rule of the export endpoint it redirects to.
@admin.action(description="Export the selected land (CSV / GEXF / zip dataset)", permissions=["view"])
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
