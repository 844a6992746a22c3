"""Admin for the corpus.

Lands hold up to a million media, so every changelist runs a fixed number of
queries and never counts a whole table: a land's counts are its stored
aggregates, foreign keys come from joins, filters from static choices where
possible, and the total of a list is an estimate (lands.pagination). Change pages never list related rows: no
inlines, and foreign keys use raw-id or autocomplete widgets.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from django.contrib import admin
from django.core.exceptions import ObjectDoesNotExist
from django.db.models import QuerySet, Value
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.template.defaultfilters import filesizeformat
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from exports.admin_actions import export_land_action
from lands.aggregates import is_dense_land, refresh_land_aggregates
from lands.api import annotate_land_counts
from lands.models import Domain, Expression, Land, Media, MediaType, Tag
from lands.pagination import EstimatedCountPaginator
from lands.templatetags.media_display import (
    http_url,
    media_preview_html,
    normalise_hex,
    original_link_html,
    swatches_html,
)
from media_analysis.engine.errors import ERROR_CLASSES
from media_analysis.texts.records import text_of
from media_analysis.texts.search import BadTextQuery, parse_query, with_text
from media_analysis.web.admin.actions import analyse_land_media_action, analyse_selected_media_action
from media_analysis.web.admin.pages import land_links
from media_analysis.web.permissions import can_run_analysis, can_view_land

if TYPE_CHECKING:
    from django.contrib.admin.options import _FieldsetSpec

PREVIEW_SIZE = 240
URL_DISPLAY_LENGTH = 80
LIST_URL_LENGTH = 36
LIST_TITLE_LENGTH = 40
# Long URLs, titles and codes wrap inside their column rather than widen the list past the window.
WRAP_ANYWHERE = "display:inline-block;min-width:6em;max-width:10em;overflow-wrap:anywhere"
WRAP_URL = "display:inline-block;min-width:9em;max-width:12em;overflow-wrap:anywhere"


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


# A land's page: the crawl's record and its counts, all read-only.
LAND_FIELDS = (
    "name",
    "description",
    "lang",
    "created_at",
    "expression_total",
    "media_total",
    "analysed_share",
    "failed",
)


@admin.register(Land)
class LandAdmin(admin.ModelAdmin):
    list_display = ["name", "lang", "created_at", "expression_total", "media_total", "analysed_share", "failed"]
    search_fields = ["name"]
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    # What the crawl recorded is read here, never edited: a re-import would undo an edit, and exports quote it.
    fields = LAND_FIELDS
    readonly_fields = LAND_FIELDS
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


class TextSearchFilter(admin.ListFilter):
    """Media whose text (read by OCR) holds every word and quoted phrase typed: a search box, not a list of choices."""

    title = "words in the picture"
    parameter_name = "text"
    template = "admin/lands/media/text_filter.html"

    def __init__(self, request: HttpRequest, params: dict[str, Any], model: Any, model_admin: Any) -> None:
        super().__init__(request, params, model, model_admin)
        if self.parameter_name in params:
            value = params.pop(self.parameter_name)
            text = (value[-1] if isinstance(value, list) else value).strip()
            if text:
                self.used_parameters[self.parameter_name] = text

    def value(self) -> str:
        return str(self.used_parameters.get(self.parameter_name, ""))

    def has_output(self) -> bool:
        return True

    def expected_parameters(self) -> list[str | None]:
        return [self.parameter_name]

    def choices(self, changelist: Any) -> Iterator[Mapping[str, object]]:
        # The other filters and the search stay as they are; a new search starts at the first page.
        kept = [
            (name, value)
            for name, values in changelist.params.items()
            for value in (values if isinstance(values, list) else [values])
            if name not in (self.parameter_name, "p")
        ]
        yield {
            "name": self.parameter_name,
            "value": self.value(),
            "kept": kept,
            "clear": changelist.get_query_string(remove=[self.parameter_name, "p"]),
        }

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        text = self.value()
        # Checked before the list is drawn (MediaAdmin.changelist_view answers 400): valid here.
        return with_text(queryset, text) if text else queryset


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


def short_url_text(url: str, length: int = LIST_URL_LENGTH) -> str:
    """The host and the file name, the middle elided: what tells two media apart in a narrow column."""
    if len(url) <= length:
        return url
    parts = urlsplit(url)
    name = parts.path.rstrip("/").rsplit("/", 1)[-1]
    short = f"{parts.netloc}/…/{name}" if parts.netloc and name else url
    return truncate(short, length)


def human_bytes(value: int | None) -> str:
    """``58.6 KB (60,000 bytes)``: binary units, the exact count alongside."""
    if value is None:
        return "-"
    return f"{filesizeformat(value)} ({value:,} bytes)" if value >= 1024 else f"{value:,} bytes"


def human_datetime(value: datetime | None) -> str:
    return "-" if value is None else value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _yes_no(value: bool | None) -> str:
    return "unknown" if value is None else ("yes" if value else "no")


def _plain_text(value: Any) -> str:
    return "-" if value in (None, "") else str(value)


def osm_url(latitude: float, longitude: float) -> str:
    """The point on openstreetmap.org: a plain link, nothing of it loads with the page."""
    return (
        f"https://www.openstreetmap.org/?mlat={latitude:.6f}&mlon={longitude:.6f}#map=15/{latitude:.6f}/{longitude:.6f}"
    )


# Analysis fields shown under a plain-words label (and in human units): field -> (label, formatter).
# Each becomes a read-only display named "shown_<field>" on the media admin.
PLAIN_FIELDS: dict[str, tuple[str, Callable[[Any], str]]] = {
    "mime_type": ("MIME type", _plain_text),
    "analysis_error": ("Error message", _plain_text),
    "analyzed_at": ("Latest attempt ended", human_datetime),
    "values_at": ("Values computed", human_datetime),
    "checked_at": ("Last confirmed unchanged", human_datetime),
    "http_etag": ("HTTP ETag", _plain_text),
    "http_last_modified": ("HTTP Last-Modified", _plain_text),
    "file_size": ("File size", human_bytes),
    "aspect_ratio": ("Aspect ratio (width / height)", lambda v: "-" if v is None else f"{v:.3f}"),
    "color_mode": ("Colour mode", _plain_text),
    "has_transparency": ("Transparency", _yes_no),
    "duration": ("Duration", lambda v: "-" if v is None else f"{v:.1f} s"),
    "is_conforming": ("Conforming", _yes_no),
    "conformity_reason": ("Why not conforming", _plain_text),
    "image_hash": ("SHA-256 of the file", _plain_text),
    "phash": ("Perceptual hash (pHash)", _plain_text),
    "dhash": ("Difference hash (dHash)", _plain_text),
    "ahash": ("Average hash (aHash)", _plain_text),
    "colorhash": ("Colour hash", _plain_text),
    "exif_make": ("Camera make", _plain_text),
    "exif_model": ("Camera model", _plain_text),
    "exif_datetime": ("Taken at (EXIF date)", _plain_text),
    "gps_latitude": ("GPS latitude", lambda v: "-" if v is None else f"{v:.6f}"),
    "gps_longitude": ("GPS longitude", lambda v: "-" if v is None else f"{v:.6f}"),
    "nsfw_score": ("NSFW score", lambda v: "-" if v is None else f"{v:.2f}"),
    "thumbnail_key": ("Stored thumbnail", _plain_text),
}
# Fields shown through another display: the raw value would repeat it.
SHOWN_BY: dict[str, str] = {
    "dominant_colors": "dominant_swatches",
    "websafe_colors": "websafe_swatches",
    "exif_data": "exif_pretty",
    "cluster": "cluster_link",
    "expression": "page_id",
    **{name: f"shown_{name}" for name in PLAIN_FIELDS},
}

MEDIA_FIELDSETS_BASE: list[tuple[str | None, list[str]]] = [
    (None, ["page_id", "page", "url", "type", "shown_mime_type"]),
    ("Preview and colours", ["preview", "dominant_swatches", "websafe_swatches"]),
    (
        "Analysis status",
        [
            "analysis_status",
            "is_processed",
            "error_class",
            "shown_analysis_error",
            "attempts",
            "shown_analyzed_at",
            "values_origin",
            "analysis_version",
            "shown_values_at",
            "shown_checked_at",
            "shown_http_etag",
            "shown_http_last_modified",
        ],
    ),
    (
        "Image",
        [
            "width",
            "height",
            "shown_aspect_ratio",
            "shown_file_size",
            "format",
            "shown_color_mode",
            "shown_has_transparency",
            "frames",
            "shown_duration",
            "shown_is_conforming",
            "shown_conformity_reason",
            "shown_thumbnail_key",
        ],
    ),
    (
        "Near-duplicates",
        ["cluster_link", "shown_image_hash", "shown_phash", "shown_dhash", "shown_ahash", "shown_colorhash"],
    ),
    (
        "EXIF",
        [
            "shown_exif_make",
            "shown_exif_model",
            "shown_exif_datetime",
            "shown_gps_latitude",
            "shown_gps_longitude",
            "gps_map",
            "exif_pretty",
        ],
    ),
    ("Text in the picture", ["recognised_text", "recognition"]),
    ("Other", ["content_tags", "shown_nsfw_score"]),
]
# None: the media's URL, type and page are the crawl's record, read-only like every analysis field.
MEDIA_EDITABLE_FIELDS: set[str] = set()


def media_field_groups() -> list[tuple[str | None, list[str]]]:
    """The groups above, plus any model field they do not show yet, so none is hidden."""
    named = {name for _, names in MEDIA_FIELDSETS_BASE for name in names}
    covered = named | {field for field, display in SHOWN_BY.items() if display in named}
    missing = [field.name for field in Media._meta.concrete_fields if field.name not in covered and field.name != "id"]
    groups = list(MEDIA_FIELDSETS_BASE)
    if missing:
        groups.append(("More", missing))
    return groups


def media_fieldsets() -> _FieldsetSpec:
    """The admin fieldsets: each group of ``media_field_groups()`` as ``(title, {"fields": names})``."""
    return [(title, {"fields": list(names)}) for title, names in media_field_groups()]


def media_readonly_fields() -> list[str]:
    return [name for _, names in media_field_groups() for name in names if name not in MEDIA_EDITABLE_FIELDS]


def _plain_display(name: str, label: str, formatter: Callable[[Any], str]) -> Callable[[Any, Media], str]:
    def show(self: Any, media: Media) -> str:
        return formatter(getattr(media, name))

    show.__name__ = f"shown_{name}"
    return admin.display(description=label)(show)


@admin.register(Media)
class MediaAdmin(ChangelistDeferMixin, admin.ModelAdmin):
    actions = [analyse_selected_media_action]
    changelist_defer = ["exif_data", "websafe_colors", "content_tags", "analysis_error"]
    # Kept narrow enough for 1440 px with the sidebar open: one column per question.
    list_display = [
        "thumbnail",
        "short_url",
        "domain",
        "page_title",
        "land",
        "status",
        "image",
        "size",
        "cluster_column",
    ]
    list_display_links = ["short_url"]
    list_filter = [
        TextSearchFilter,
        "type",
        "analysis_status",
        "format",
        ErrorClassFilter,
        EarlierValuesFilter,
        "is_conforming",
        ("expression__land", MediaLandFilter),
    ]
    search_fields = ["url", "expression__domain__name", "expression__title"]
    search_help_text = "Search the media URL, the page's domain or the page's title."
    list_select_related = ["expression__land", "expression__domain"]
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    fieldsets = media_fieldsets()
    readonly_fields = media_readonly_fields()

    def has_run_analysis_permission(self, request: HttpRequest) -> bool:
        return can_run_analysis(request.user)

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        text = request.GET.get(TextSearchFilter.parameter_name, "").strip()
        if text and self.has_view_or_change_permission(request):
            try:
                parse_query(text)
            except BadTextQuery as bad:
                # Named, never dropped: a list silently widened to every media would be misread.
                return HttpResponseBadRequest(f"text: {bad}", content_type="text/plain; charset=utf-8")
        return super().changelist_view(request, extra_context)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Media]:
        # The joined page is only needed for its land, domain and title: leave its long texts behind.
        return (
            super()
            .get_queryset(request)
            .select_related("expression__land", "expression__domain")
            .defer("expression__readable", "expression__description", "expression__keywords")
            # The cluster pages are a land's: only those who may open them get the link.
            .annotate(viewer_sees_clusters=Value(can_view_land(request.user)))
        )

    @admin.display(description="Preview")
    def thumbnail(self, media: Media) -> SafeString:
        if media.type != MediaType.IMAGE:
            return format_html("{}", media.get_type_display())
        # The colours under the image they describe: one column less to fit the window.
        if not media.dominant_colors:
            return media_preview_html(media)
        return format_html("{}<br>{}", media_preview_html(media), swatches_html(media.dominant_colors))

    def get_list_display(self, request: HttpRequest) -> list[Any]:
        # A list already narrowed to one land need not repeat it on every row.
        if request.GET.get("expression__land__id__exact"):
            return [name for name in self.list_display if name != "land"]
        return list(self.list_display)

    @admin.display(description="URL", ordering="url")
    def short_url(self, media: Media) -> SafeString:
        return format_html('<span style="{}" title="{}">{}</span>', WRAP_URL, media.url, short_url_text(media.url))

    @admin.display(description="Domain", ordering="expression__domain__name")
    def domain(self, media: Media) -> SafeString:
        return format_html('<span style="{}">{}</span>', WRAP_ANYWHERE, media.expression.domain.name)

    @admin.display(description="Page", ordering="expression__title")
    def page_title(self, media: Media) -> SafeString:
        page = media.expression
        text = truncate(page.title or page.url, LIST_TITLE_LENGTH)
        href = http_url(page.url)
        if not href:
            return format_html('<span style="{}">{}</span>', WRAP_ANYWHERE, text)
        return format_html(
            '<a href="{}" rel="noopener noreferrer" title="{}" style="{}">{}</a>', href, page.url, WRAP_ANYWHERE, text
        )

    @admin.display(description="Land", ordering="expression__land__name")
    def land(self, media: Media) -> Land:
        return media.expression.land

    @admin.display(description="Status", ordering="analysis_status")
    def status(self, media: Media) -> SafeString:
        # The status says what the latest attempt found; the note where the values shown come from.
        note = media.values_note if media.has_earlier_values else ""
        return format_html(
            "{}{}{}",
            media.get_analysis_status_display(),
            format_html('<br><code style="{}">{}</code>', WRAP_ANYWHERE, media.error_class)
            if media.error_class
            else "",
            format_html('<br><span class="help">{}</span>', note) if note else "",
        )

    @admin.display(description="Image")
    def image(self, media: Media) -> str:
        parts = [media.format or "?"]
        if media.width is not None and media.height is not None:
            parts.append(f"{media.width} x {media.height}")
        return " · ".join(parts)

    @admin.display(description="File size", ordering="file_size")
    def size(self, media: Media) -> str:
        return "-" if media.file_size is None else filesizeformat(media.file_size)

    @admin.display(description="Colours")
    def swatches(self, media: Media) -> SafeString:
        return swatches_html(media.dominant_colors)

    @staticmethod
    def _cluster_html(media: Media, text: str) -> SafeString:
        if not getattr(media, "viewer_sees_clusters", False):
            return format_html("{}", text)
        url = reverse("medianalyse_clusters:cluster-detail", args=[media.cluster_id])
        return format_html('<a href="{}">{}</a>', url, text)

    @admin.display(description="Cluster", ordering="cluster_id")
    def cluster_column(self, media: Media) -> SafeString:
        if media.cluster_id is None:
            return format_html("{}", "-")
        return self._cluster_html(media, str(media.cluster_id))

    @admin.display(description="Near-duplicate cluster")
    def cluster_link(self, media: Media) -> SafeString:
        if media.cluster_id is None:
            return format_html("{}", "none (no near-duplicate found)")
        return self._cluster_html(media, f"Cluster {media.cluster_id}")

    @admin.display(description="Page")
    def page(self, media: Media) -> SafeString:
        page = media.expression
        href = http_url(page.url)
        title = page.title or page.url
        link = format_html('<a href="{}" rel="noopener noreferrer">{}</a>', href, title) if href else title
        return format_html("{} on <strong>{}</strong>", link, page.domain.name)

    @admin.display(description="Page (id)")
    def page_id(self, media: Media) -> int:
        # The crawl's own link, read-only: the page's id as the API and the exports name it.
        return media.expression_id

    @admin.display(description="Values")
    def values_origin(self, media: Media) -> str:
        return media.values_note

    @admin.display(description="Map")
    def gps_map(self, media: Media) -> SafeString:
        if media.gps_latitude is None or media.gps_longitude is None:
            return format_html("{}", "no GPS position")
        return format_html(
            '<a href="{}" rel="noopener noreferrer" target="_blank">Open the position on OpenStreetMap</a>',
            osm_url(media.gps_latitude, media.gps_longitude),
        )

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

    @admin.display(description="Text (OCR)")
    def recognised_text(self, media: Media) -> SafeString:
        text = text_of(media)
        if not text:
            return format_html("{}", "-")
        return format_html(
            '<pre id="media-ocr-text" style="white-space:pre-wrap;max-height:30em;overflow:auto">{}</pre>', text
        )

    @admin.display(description="Recognition")
    def recognition(self, media: Media) -> str:
        try:
            record = media.ocr
        except ObjectDoesNotExist:
            return "not read (no analysis with OCR yet)"
        parts = [record.get_status_display()]
        if record.language:
            parts.append(f"language {record.language}")
        if record.confidence is not None:
            parts.append(f"mean confidence {record.confidence:.0f}/100")
        if record.text_area is not None:
            parts.append(f"text covers {100 * record.text_area:.1f}% of the picture")
        if record.error:
            parts.append(record.error)
        parts.append(human_datetime(record.recognised_at))
        if not record.is_current:
            parts.append(f"read by an older OCR step (version {record.version}): a job with OCR reads it again")
        return " · ".join(parts)


for _name, (_label, _formatter) in PLAIN_FIELDS.items():
    setattr(MediaAdmin, f"shown_{_name}", _plain_display(_name, _label, _formatter))


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
