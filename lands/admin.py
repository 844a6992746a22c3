"""Admin for the corpus.

Lands hold up to a million media, so every changelist runs a fixed number of
queries and never counts a whole table: a land's counts are its stored
aggregates, foreign keys come from joins, filters from static choices where
possible, and the total of a list is an estimate (lands.pagination). Change pages never list related rows: no
inlines, and foreign keys use raw-id or autocomplete widgets.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from exports.admin_actions import export_land_action
from lands.aggregates import is_dense_land, refresh_land_aggregates
from lands.api import annotate_land_counts
from lands.models import Domain, Expression, Land, Media, MediaType, Tag
from lands.pagination import EstimatedCountPaginator
from lands.templatetags.media_display import media_preview_html, normalise_hex, original_link_html, swatches_html
from media_analysis.engine.errors import ERROR_CLASSES
from media_analysis.web.admin.actions import analyse_land_media_action, analyse_selected_media_action
from media_analysis.web.admin.pages import land_links
from media_analysis.web.permissions import can_run_analysis

if TYPE_CHECKING:
    from django.contrib.admin.options import _FieldsetSpec

PREVIEW_SIZE = 240
URL_DISPLAY_LENGTH = 80


def share_percent(part: int | None, whole: int | None) -> str:
    """``part`` as a percentage of ``whole``, one decimal; a dash when there is no whole."""
    if not whole:
        return "-"
    return f"{100.0 * (part or 0) / whole:.1f}%"


def truncate(text: str | None, length: int = URL_DISPLAY_LENGTH) -> str:
    if not text:
        return ""
    return text if len(text) <= length else text[: length - 1] + "…"


def pretty_json(value: Any) -> SafeString:
    if value in (None, "", [], {}):
        return format_html("{}", "-")
    text = json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str)
    return format_html('<pre style="white-space:pre-wrap;max-height:30em;overflow:auto">{}</pre>', text)


class ChangelistDeferMixin(admin.ModelAdmin):
    """Leave the columns named in ``changelist_defer`` out of changelist pages (change pages need them).

    A ModelAdmin itself so that ``super().get_queryset`` and ``self.model`` are known; it comes before
    ``admin.ModelAdmin`` in the bases of the admins that use it, so their method order is unchanged.
    """

    changelist_defer: list[str] = []

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        queryset = super().get_queryset(request)
        opts = self.model._meta
        match = request.resolver_match
        if self.changelist_defer and match and match.url_name == f"{opts.app_label}_{opts.model_name}_changelist":
            queryset = queryset.defer(*self.changelist_defer)
        return queryset


# --- Lands and domains -----------------------------------------------------------


@admin.register(Land)
class LandAdmin(admin.ModelAdmin):
    list_display = ["name", "lang", "created_at", "expression_total", "media_total", "analysed_share", "failed"]
    search_fields = ["name"]
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    fields = [
        "name",
        "description",
        "lang",
        "created_at",
        "expression_total",
        "media_total",
        "analysed_share",
        "failed",
    ]
    readonly_fields = ["created_at", "expression_total", "media_total", "analysed_share", "failed"]
    actions = [analyse_land_media_action, export_land_action, "refresh_aggregates"]

    def has_run_analysis_permission(self, request: HttpRequest) -> bool:
        return can_run_analysis(request.user)

    def render_change_form(
        self,
        request: HttpRequest,
        context: dict[str, Any],
        add: bool = False,
        change: bool = False,
        form_url: str = "",
        obj: Land | None = None,
    ) -> HttpResponse:
        if obj is not None and obj.pk is not None:
            # The object tools link only to the pages this user may open.
            context["land_links"] = land_links(obj.pk, request.user)
        return super().render_change_form(request, context, add=add, change=change, form_url=form_url, obj=obj)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Land]:
        queryset = super().get_queryset(request)
        match = request.resolver_match
        if match and match.url_name == "autocomplete":
            # Other models' land pickers need names only, not three counts per land.
            return queryset
        return annotate_land_counts(queryset)

    @admin.action(description="Recount the selected lands and their charts", permissions=["change"])
    def refresh_aggregates(self, request: HttpRequest, queryset: QuerySet[Land]) -> None:
        land_ids = list(queryset.values_list("pk", flat=True))
        for land_id in land_ids:
            refresh_land_aggregates(land_id)
        self.message_user(request, f"Recounted {len(land_ids)} land(s).")

    @admin.display(description="Expressions", ordering="expression_count")
    def expression_total(self, land: Land) -> int:
        # Not named "expressions": the admin would sort that column by the reverse relation of the same
        # name, joining every page of every land.
        return getattr(land, "expression_count", 0)

    @admin.display(description="Media", ordering="media_count")
    def media_total(self, land: Land) -> int:  # not "media": ModelAdmin.media is its assets
        return getattr(land, "media_count", 0)

    @admin.display(description="Analysed", ordering="analysed_count")
    def analysed_share(self, land: Land) -> str:
        return share_percent(getattr(land, "analysed_count", 0), getattr(land, "media_count", 0))

    @admin.display(description="Failed", ordering="failed_count")
    def failed(self, land: Land) -> int:
        return getattr(land, "failed_count", 0)


@admin.register(Domain)
class DomainAdmin(admin.ModelAdmin):
    list_display = ["name", "http_status", "title", "fetched_at"]
    search_fields = ["name"]
    show_full_result_count = False
    paginator = EstimatedCountPaginator


# --- Expressions ----------------------------------------------------------------


class MinRelevanceFilter(admin.SimpleListFilter):
    """Relevance at least N, as the crawler's ``--minrel`` selects pages."""

    title = "relevance"
    parameter_name = "minrel"
    thresholds = (0, 1, 2, 3, 5, 10, 20)

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [(str(value), f"≥ {value}") for value in self.thresholds]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        value = self.value()
        if value is None:
            return queryset
        try:
            return queryset.filter(Expression.selection(minrel=int(value)))
        except ValueError:
            return queryset.none()


@admin.register(Expression)
class ExpressionAdmin(ChangelistDeferMixin, admin.ModelAdmin):
    # The readable text can weigh megabytes per page and is never listed.
    changelist_defer = ["readable"]
    list_display = ["short_url", "land", "domain", "title", "relevance", "depth", "http_status"]
    list_filter = ["land", "depth", MinRelevanceFilter, "http_status"]
    search_fields = ["url", "title"]
    list_select_related = ["land", "domain"]
    autocomplete_fields = ["land", "domain"]
    show_full_result_count = False
    paginator = EstimatedCountPaginator

    @admin.display(description="URL", ordering="url")
    def short_url(self, expression: Expression) -> str:
        return truncate(expression.url)


# --- Media ----------------------------------------------------------------------


class ErrorClassFilter(admin.SimpleListFilter):
    """Static choices: a DISTINCT over 100,000 rows to list eleven codes is wasted work."""

    title = "error class"
    parameter_name = "error_class"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [(code, code) for code in ERROR_CLASSES]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        value = self.value()
        return queryset.filter(error_class=value) if value else queryset


class EarlierValuesFilter(admin.SimpleListFilter):
    """Media whose latest attempt did not succeed but which keep the values of an earlier one."""

    title = "values from an earlier attempt"
    parameter_name = "earlier_values"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [("yes", "Yes (failed or pending now)"), ("no", "No")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() == "yes":
            return queryset.filter(Media.holds_earlier_values())
        if self.value() == "no":
            return queryset.exclude(Media.holds_earlier_values())
        return queryset


class MediaLandFilter(admin.RelatedFieldListFilter):
    """The land filter of the media list, shaped for the land's share of all media (``Media.in_land``)."""

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet | None:
        values = self.used_parameters.get(self.lookup_kwarg)
        if set(self.used_parameters) == {self.lookup_kwarg} and isinstance(values, list) and len(values) == 1:
            try:
                land_id = int(values[0])
            except (TypeError, ValueError):
                return super().queryset(request, queryset)
            return queryset.filter(Media.in_land(land_id, dense=is_dense_land(land_id)))
        return super().queryset(request, queryset)


MEDIA_FIELDSETS_BASE: list[tuple[str | None, list[str]]] = [
    (None, ["expression", "url", "type", "mime_type"]),
    ("Preview", ["preview", "dominant_swatches", "websafe_swatches"]),
    (
        "Analysis status",
        [
            "analysis_status",
            "is_processed",
            "error_class",
            "analysis_error",
            "attempts",
            "analyzed_at",
            "values_origin",
            "analysis_version",
            "values_at",
            "checked_at",
            "http_etag",
            "http_last_modified",
        ],
    ),
    (
        "Image",
        [
            "width",
            "height",
            "aspect_ratio",
            "file_size",
            "format",
            "color_mode",
            "has_transparency",
            "frames",
            "duration",
            "is_conforming",
            "conformity_reason",
        ],
    ),
    ("Colours", ["dominant_colors", "websafe_colors"]),
    ("Hashes", ["image_hash", "phash", "dhash", "ahash", "colorhash"]),
    ("EXIF", ["exif_make", "exif_model", "exif_datetime", "gps_latitude", "gps_longitude", "exif_pretty"]),
    ("Other", ["content_tags", "nsfw_score"]),
]
MEDIA_EDITABLE_FIELDS = {"expression", "url", "type"}


def media_field_groups() -> list[tuple[str | None, list[str]]]:
    """The groups above, plus any model field they do not name yet, so none is hidden."""
    named = {name for _, names in MEDIA_FIELDSETS_BASE for name in names}
    # exif_data is shown as pretty JSON (exif_pretty) instead of its raw value.
    missing = [
        field.name
        for field in Media._meta.concrete_fields
        if field.name not in named and field.name not in {"id", "exif_data"}
    ]
    groups = list(MEDIA_FIELDSETS_BASE)
    if missing:
        groups.append(("More", missing))
    return groups


def media_fieldsets() -> _FieldsetSpec:
    """The admin fieldsets: each group of ``media_field_groups()`` as ``(title, {"fields": names})``."""
    return [(title, {"fields": list(names)}) for title, names in media_field_groups()]


def media_readonly_fields() -> list[str]:
    return [name for _, names in media_field_groups() for name in names if name not in MEDIA_EDITABLE_FIELDS]


@admin.register(Media)
class MediaAdmin(ChangelistDeferMixin, admin.ModelAdmin):
    actions = [analyse_selected_media_action]
    changelist_defer = ["exif_data", "websafe_colors", "content_tags", "analysis_error"]
    list_display = [
        "thumbnail",
        "short_url",
        "land",
        "type",
        "analysis_status",
        "values_origin",
        "format",
        "dimensions",
        "swatches",
        "error_class",
    ]
    list_display_links = ["short_url"]
    list_filter = [
        "type",
        "analysis_status",
        "format",
        ErrorClassFilter,
        EarlierValuesFilter,
        "is_conforming",
        ("expression__land", MediaLandFilter),
    ]
    search_fields = ["url"]
    list_select_related = ["expression__land"]
    raw_id_fields = ["expression"]
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    fieldsets = media_fieldsets()
    readonly_fields = media_readonly_fields()

    def has_run_analysis_permission(self, request: HttpRequest) -> bool:
        return can_run_analysis(request.user)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Media]:
        # The joined expression is only needed for its land: leave its long texts behind.
        return (
            super()
            .get_queryset(request)
            .select_related("expression__land")
            .defer("expression__readable", "expression__description", "expression__keywords")
        )

    @admin.display(description="Preview")
    def thumbnail(self, media: Media) -> SafeString:
        if media.type != MediaType.IMAGE:
            return format_html("{}", media.get_type_display())
        return media_preview_html(media)

    @admin.display(description="URL", ordering="url")
    def short_url(self, media: Media) -> str:
        return truncate(media.url)

    @admin.display(description="Land", ordering="expression__land__name")
    def land(self, media: Media) -> Land:
        return media.expression.land

    @admin.display(description="Values", ordering="values_at")
    def values_origin(self, media: Media) -> str:
        # The status says what the latest attempt found; this says where the values shown come from.
        return media.values_note

    @admin.display(description="Size")
    def dimensions(self, media: Media) -> str:
        if media.width is None or media.height is None:
            return "-"
        return f"{media.width} x {media.height}"

    @admin.display(description="Colours")
    def swatches(self, media: Media) -> SafeString:
        return swatches_html(media.dominant_colors)

    @admin.display(description="Preview")
    def preview(self, media: Media) -> SafeString:
        if media.type != MediaType.IMAGE:
            return format_html("{}", "-")
        return format_html(
            "{}<br>{}", media_preview_html(media, size=PREVIEW_SIZE), original_link_html(media.url, "open the original")
        )

    @admin.display(description="Dominant colours")
    def dominant_swatches(self, media: Media) -> SafeString:
        return swatches_html(media.dominant_colors, with_text=True)

    @admin.display(description="Web-safe colours")
    def websafe_swatches(self, media: Media) -> SafeString:
        return swatches_html(media.websafe_colors, with_text=True)

    @admin.display(description="EXIF")
    def exif_pretty(self, media: Media) -> SafeString:
        return pretty_json(media.exif_data)


# --- Tags -----------------------------------------------------------------------


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    list_display = ["name", "land", "parent", "sorting", "colour"]
    list_filter = ["land"]
    search_fields = ["name"]
    list_select_related = ["land", "parent"]
    autocomplete_fields = ["land"]
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    raw_id_fields = ["parent"]

    @admin.display(description="Color", ordering="color")
    def colour(self, tag: Tag) -> SafeString:
        if not normalise_hex(tag.color):
            return format_html("{}", tag.color or "-")
        return swatches_html([tag.color], with_text=True)
