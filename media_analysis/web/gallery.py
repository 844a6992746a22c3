"""The land gallery's queries: validated filters and keyset pages.

A land may hold 100,000 media, so nothing here reads a whole land into memory
or counts it exactly: pages are fetched by keyset on (sort value, id) (no OFFSET,
no COUNT), the "how many match" figure is a count capped at COUNT_CAP; the land's chart data
lives in lands.figures.

The colour filter matches a media whose first dominant colour is nearer to the
chosen named colour than to every other one of NAMED_COLOURS: each such
comparison is a linear inequality in r, g and b, so the database decides it.

The text filter keeps the media whose text (read by OCR) holds every word typed and
every quoted phrase (``media_analysis.texts.search``, which defines the syntax).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode

from django import forms
from django.db.models import (
    DateTimeField,
    Expression,
    F,
    IntegerField,
    Q,
    QuerySet,
    Value,
)
from django.db.models.fields.json import KT
from django.db.models.functions import Cast, Coalesce
from django.db.models.lookups import LessThan, LessThanOrEqual

from lands.aggregates import is_dense_land

# The land's figures moved to lands.figures; the pages and tests still read them here.
from lands.figures import (  # noqa: F401
    DIMENSION_EDGES,
    FILE_SIZE_EDGES,
    PALETTE_CHUNK,
    PALETTE_TOP,
    _palette_entries,
    accumulate_palette,
    dimension_bins,
    edge_labels,
    failure_counts,
    file_size_bins,
    format_counts,
    human_bytes,
    land_palette,
)
from lands.models import AnalysisStatus, Domain, Media, MediaType
from media_analysis.clusters.params import APPEARED_AT
from media_analysis.engine.errors import ERROR_CLASSES
from media_analysis.texts.search import BadTextQuery, parse_query, with_text

PAGE_SIZE = 48
COUNT_CAP = 10_000
MAX_DIMENSION = 1_000_000
DOMAIN_CHOICES_SHOWN = 1_000
CONFORMITY_CHOICES = {"yes": True, "no": False, "unknown": None}
EARLIER_VALUES_CHOICES = (("yes", "Kept from an earlier attempt"), ("no", "None kept from an earlier attempt"))
YES_NO_CHOICES = (("yes", "yes"), ("no", "no"))
# The formats the analysis names (Pillow's names) and those imported lands hold.
GALLERY_FORMATS = ("JPEG", "PNG", "GIF", "WEBP", "BMP", "TIFF", "ICO", "MPO", "SVG", "AVIF", "HEIF")
# A small palette a researcher can name; the first dominant colour goes to the nearest.
NAMED_COLOURS: dict[str, tuple[int, int, int]] = {
    "black": (0, 0, 0),
    "grey": (128, 128, 128),
    "white": (255, 255, 255),
    "red": (210, 30, 30),
    "orange": (240, 140, 30),
    "yellow": (240, 220, 50),
    "green": (50, 160, 60),
    "cyan": (40, 200, 210),
    "blue": (30, 80, 210),
    "purple": (130, 50, 170),
    "pink": (240, 130, 180),
    "brown": (130, 80, 40),
}
SORTS = {
    "id": "order found",
    "spread": "spread of its cluster (most domains first)",
    "size": "file size (largest first)",
    "date": "first appearance (earliest first)",
}
# Sort values of rows that have none: after every real one in each order.
_NO_DATE = datetime(9999, 12, 31, tzinfo=UTC)
# Pillow's format names are short upper-case words; anything else is a typo or an attack.
_HEX_RE = re.compile(r"#[0-9a-fA-F]{6}")
GALLERY_FIELDS = (
    "id",
    "url",
    "type",
    "width",
    "height",
    "format",
    "file_size",
    "analysis_status",
    "error_class",
    "thumbnail_key",
    "is_conforming",
    "dominant_colors",
    "analysis_version",
    "values_at",
    "analysis_error",
    "cluster_id",
    "expression__id",
    "expression__title",
    "expression__domain__id",
    "expression__domain__name",
    "ocr__status",
    "ocr__text",
)
# A card shows the start of a picture's text; the media's page shows it whole.
CARD_TEXT_CHARACTERS = 160


@dataclass(frozen=True)
class GalleryFilters:
    format: str | None = None
    min_width: int | None = None
    max_width: int | None = None
    min_height: int | None = None
    max_height: int | None = None
    conforming: str | None = None  # "yes", "no" or "unknown"
    status: str | None = None
    error_class: str | None = None
    type: str | None = None
    earlier_values: str | None = None  # "yes" or "no"
    domain: int | None = None
    cluster: int | None = None
    appeared_from: date | None = None
    appeared_to: date | None = None
    colour: str | None = None  # a key of NAMED_COLOURS
    has_exif: str | None = None  # "yes" or "no"
    has_gps: str | None = None  # "yes" or "no"
    text: str | None = None  # words the picture's text must all hold
    sort: str = "id"

    def as_query(self) -> dict[str, str]:
        """The filters as GET parameters (for pagination links)."""
        return {
            name: str(value)
            for name, value in asdict(self).items()
            if value not in (None, "") and not (name == "sort" and value == "id")
        }

    @property
    def active(self) -> bool:
        return bool({name for name in self.as_query() if name != "sort"})


FILTER_NAMES = tuple(GalleryFilters.__dataclass_fields__)
DIMENSION_PAIRS = (("min_width", "max_width"), ("min_height", "max_height"))


def _spoken(name: str) -> str:
    return name.replace("_", " ")


def _dimension_field(name: str) -> forms.IntegerField:
    out_of_range = f"{_spoken(name)} must be between 0 and {MAX_DIMENSION:,}"
    return forms.IntegerField(
        required=False,
        min_value=0,
        max_value=MAX_DIMENSION,
        error_messages={
            "invalid": f"{_spoken(name)} must be a whole number of pixels",
            "min_value": out_of_range,
            "max_value": out_of_range,
        },
    )


def _cursor_field(name: str) -> forms.IntegerField:
    # Media ids are positive bigints: anything longer is not one.
    not_an_id = f"{name} must be a media id"
    return forms.IntegerField(
        required=False,
        min_value=0,
        max_value=10**18 - 1,
        error_messages={"invalid": not_an_id, "min_value": not_an_id, "max_value": not_an_id},
    )


class _StrippedChoiceField(forms.ChoiceField):
    # Like every other gallery parameter, a choice typed into a URL may carry spaces.
    def to_python(self, value: Any) -> str:
        return super().to_python(value).strip()


def _choice_field(choices: Iterable[tuple[str, str]], invalid: str) -> forms.ChoiceField:
    return _StrippedChoiceField(required=False, choices=list(choices), error_messages={"invalid_choice": invalid})


class _TextQueryField(forms.CharField):
    """Words and quoted phrases to find in the pictures' text: refused (not emptied) when nothing would be searched."""

    def validate(self, value: Any) -> None:
        super().validate(value)
        if value:
            try:
                parse_query(value)
            except BadTextQuery as bad:
                raise forms.ValidationError(str(bad), code="invalid") from bad


class _UpperChoiceField(_StrippedChoiceField):
    def to_python(self, value: Any) -> str:
        return super().to_python(value).upper()


def _id_field(name: str, what: str) -> forms.IntegerField:
    not_an_id = f"{name} must be {what}"
    return forms.IntegerField(
        required=False,
        min_value=1,
        max_value=10**18 - 1,
        error_messages={"invalid": not_an_id, "min_value": not_an_id, "max_value": not_an_id},
    )


def _date_field(name: str) -> forms.DateField:
    return forms.DateField(
        required=False,
        input_formats=["%Y-%m-%d"],
        error_messages={"invalid": f"{_spoken(name)} must be a date YYYY-MM-DD"},
    )


class GalleryQueryForm(forms.Form):
    """The gallery's GET parameters, the one validator of them: filters, sort and keyset position.

    The page answers 400 naming each parameter ``problems()`` reports, so a
    mistyped URL is explained rather than silently widened.
    """

    format = _UpperChoiceField(
        required=False,
        choices=[(name, name) for name in GALLERY_FORMATS],
        error_messages={"invalid_choice": f"unknown format %(value).32r: choose among {', '.join(GALLERY_FORMATS)}"},
    )
    min_width = _dimension_field("min_width")
    max_width = _dimension_field("max_width")
    min_height = _dimension_field("min_height")
    max_height = _dimension_field("max_height")
    conforming = _choice_field(
        ((value, value) for value in CONFORMITY_CHOICES), f"conformity must be one of {', '.join(CONFORMITY_CHOICES)}"
    )
    status = _choice_field(AnalysisStatus.choices, f"status must be one of {', '.join(AnalysisStatus.values)}")
    # The form metaclass moves declared fields into ``base_fields``, so this does not shadow
    # ``BaseForm.error_class`` at run time; the stubs cannot know that.
    error_class = _choice_field(  # type: ignore[assignment]
        ((code, code) for code in ERROR_CLASSES), "unknown error class %(value).42r"
    )
    type = _choice_field(MediaType.choices, f"type must be one of {', '.join(MediaType.values)}")
    earlier_values = _choice_field(EARLIER_VALUES_CHOICES, "earlier values must be yes or no")
    domain = _id_field("domain", "a domain id")
    cluster = _id_field("cluster", "a cluster id")
    appeared_from = _date_field("appeared_from")
    appeared_to = _date_field("appeared_to")
    colour = _choice_field(
        ((name, name) for name in NAMED_COLOURS), f"colour must be one of {', '.join(NAMED_COLOURS)}"
    )
    has_exif = _choice_field(YES_NO_CHOICES, "has exif must be yes or no")
    has_gps = _choice_field(YES_NO_CHOICES, "has gps must be yes or no")
    text = _TextQueryField(required=False)
    sort = _choice_field(((name, name) for name in SORTS), f"sort must be one of {', '.join(SORTS)}")
    after = _cursor_field("after")
    before = _cursor_field("before")

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        for low, high in DIMENSION_PAIRS:
            if cleaned.get(low) is not None and cleaned.get(high) is not None and cleaned[low] > cleaned[high]:
                self.add_error(low, f"{_spoken(low)} is larger than {_spoken(high)}")
                cleaned.pop(high)
        start, end = cleaned.get("appeared_from"), cleaned.get("appeared_to")
        if start is not None and end is not None and start > end:
            self.add_error("appeared_from", "appeared from is later than appeared to")
        if cleaned.get("after") is not None and cleaned.get("before") is not None:
            self.add_error("before", "give either after or before, not both")
        return cleaned

    def problems(self) -> dict[str, list[str]]:
        """A message per rejected parameter (validates the form on first use)."""
        return {name: [str(message) for message in messages] for name, messages in self.errors.items()}

    def filters(self) -> GalleryFilters:
        """The accepted filters; call after ``problems()`` or ``is_valid()``."""
        values = {name: self.cleaned_data.get(name) for name in FILTER_NAMES}
        # An empty field is no filter; 0 is a filter (width >= 0 leaves out unknown widths).
        return GalleryFilters(**{name: value for name, value in values.items() if value not in (None, "")})

    def sorted_by(self) -> str:
        return self.cleaned_data.get("sort") or "id"

    def cursor(self) -> tuple[int | None, int | None]:
        """``(after, before)``: the keyset position, ``after`` for next pages, ``before`` for previous ones."""
        return self.cleaned_data.get("after"), self.cleaned_data.get("before")


def filter_media(queryset: QuerySet[Media], filters: GalleryFilters) -> QuerySet[Media]:
    if filters.format:
        queryset = queryset.filter(format__iexact=filters.format)
    if filters.min_width is not None:
        queryset = queryset.filter(width__gte=filters.min_width)
    if filters.max_width is not None:
        queryset = queryset.filter(width__lte=filters.max_width)
    if filters.min_height is not None:
        queryset = queryset.filter(height__gte=filters.min_height)
    if filters.max_height is not None:
        queryset = queryset.filter(height__lte=filters.max_height)
    if filters.conforming is not None:
        wanted = CONFORMITY_CHOICES[filters.conforming]
        queryset = (
            queryset.filter(is_conforming__isnull=True) if wanted is None else queryset.filter(is_conforming=wanted)
        )
    if filters.status:
        queryset = queryset.filter(analysis_status=filters.status)
    if filters.error_class:
        queryset = queryset.filter(error_class=filters.error_class)
    if filters.type:
        queryset = queryset.filter(type=filters.type)
    if filters.earlier_values == "yes":
        queryset = queryset.filter(Media.holds_earlier_values())
    elif filters.earlier_values == "no":
        queryset = queryset.exclude(Media.holds_earlier_values())
    if filters.domain is not None:
        queryset = queryset.filter(expression__domain_id=filters.domain)
    if filters.cluster is not None:
        queryset = queryset.filter(cluster_id=filters.cluster)
    if filters.appeared_from is not None or filters.appeared_to is not None:
        queryset = queryset.annotate(appeared=APPEARED_AT)
        if filters.appeared_from is not None:
            queryset = queryset.filter(appeared__gte=datetime.combine(filters.appeared_from, time.min, UTC))
        if filters.appeared_to is not None:
            end = datetime.combine(filters.appeared_to + timedelta(days=1), time.min, UTC)
            queryset = queryset.filter(appeared__lt=end)
    if filters.colour:
        queryset = queryset.annotate(**_first_colour()).filter(nearest_colour_q(filters.colour))
    if filters.has_exif:
        queryset = queryset.filter(HAS_EXIF) if filters.has_exif == "yes" else queryset.exclude(HAS_EXIF)
    if filters.has_gps:
        queryset = queryset.filter(HAS_GPS) if filters.has_gps == "yes" else queryset.exclude(HAS_GPS)
    if filters.text:
        queryset = with_text(queryset, filters.text)
    return queryset


HAS_GPS = Q(gps_latitude__isnull=False, gps_longitude__isnull=False)
# The crawler kept only the raw EXIF dictionary, the analysis also its make, model and date.
HAS_EXIF = (
    Q(exif_make__isnull=False)
    | Q(exif_model__isnull=False)
    | Q(exif_datetime__isnull=False)
    | (Q(exif_data__isnull=False) & ~Q(exif_data={}))
)


def _first_colour() -> dict[str, Expression]:
    return {
        f"colour_{channel}": Cast(KT(f"dominant_colors__0__rgb__{index}"), IntegerField())
        for index, channel in enumerate("rgb")
    }


def nearest_colour(rgb: tuple[int, int, int] | list[int]) -> str:
    """The name in NAMED_COLOURS nearest to ``rgb`` (ties go to the first named)."""
    r, g, b = rgb[:3]
    return min(
        NAMED_COLOURS,
        key=lambda name: (
            (r - NAMED_COLOURS[name][0]) ** 2 + (g - NAMED_COLOURS[name][1]) ** 2 + (b - NAMED_COLOURS[name][2]) ** 2
        ),
    )


def nearest_colour_q(name: str) -> Q:
    """Media whose first dominant colour (annotated by ``_first_colour``) is nearest to ``name``.

    |c - p|² < |c - q|² is 2 c·(q - p) < |q|² - |p|²: linear, so plain SQL arithmetic;
    ties go to the colour named first, as in ``nearest_colour``.
    """
    names = list(NAMED_COLOURS)
    p = NAMED_COLOURS[name]
    condition = Q(colour_r__isnull=False, colour_g__isnull=False, colour_b__isnull=False)
    for other in names:
        if other == name:
            continue
        q = NAMED_COLOURS[other]
        bound = sum(v * v for v in q) - sum(v * v for v in p)
        lhs = 2 * ((q[0] - p[0]) * F("colour_r") + (q[1] - p[1]) * F("colour_g") + (q[2] - p[2]) * F("colour_b"))
        lookup = LessThan if names.index(other) < names.index(name) else LessThanOrEqual
        condition &= Q(lookup(lhs, Value(bound)))
    return condition


def gallery_queryset(land_id: int, filters: GalleryFilters) -> QuerySet[Media]:
    return (
        filter_media(Media.objects.of_land_by_id(land_id, is_dense_land(land_id)), filters)
        .select_related("expression__domain", "ocr")
        .only(*GALLERY_FIELDS)
    )


def sort_expression(sort: str) -> tuple[Any, bool] | None:
    """The sort value and whether it goes descending; None for the id order."""
    if sort == "spread":
        return Coalesce(F("cluster__distinct_domains"), Value(0)), True
    if sort == "size":
        return Coalesce(F("file_size"), Value(-1)), True
    if sort == "date":
        return Coalesce(APPEARED_AT, Value(_NO_DATE), output_field=DateTimeField()), False
    return None


def land_domains(land_id: int) -> list[tuple[int, str]]:
    """The land's domains for the filter's choice, by name (the first DOMAIN_CHOICES_SHOWN)."""
    return list(
        Domain.objects.filter(expressions__land_id=land_id)
        .distinct()
        .order_by("name")
        .values_list("id", "name")[:DOMAIN_CHOICES_SHOWN]
    )


@dataclass
class GalleryPage:
    items: list[Media]
    has_next: bool
    has_previous: bool
    matched: int
    matched_capped: bool
    filters: GalleryFilters = field(default_factory=GalleryFilters)

    @property
    def next_after(self) -> int | None:
        return self.items[-1].pk if self.items and self.has_next else None

    @property
    def previous_before(self) -> int | None:
        return self.items[0].pk if self.items and self.has_previous else None

    def link(self, **cursor: int | None) -> str:
        query = self.filters.as_query()
        query.update({name: str(value) for name, value in cursor.items() if value is not None})
        return "?" + urlencode(query) if query else "?"

    @property
    def next_link(self) -> str | None:
        return self.link(after=self.next_after) if self.next_after is not None else None

    @property
    def previous_link(self) -> str | None:
        return self.link(before=self.previous_before) if self.previous_before is not None else None

    @property
    def first_link(self) -> str:
        return self.link()

    @property
    def filter_query(self) -> str:
        """The filters alone as GET parameters, without the gallery's order (for the image wall's link)."""
        return urlencode({name: value for name, value in self.filters.as_query().items() if name != "sort"})


def capped_count(queryset: QuerySet, cap: int = COUNT_CAP) -> tuple[int, bool]:
    """``(n, capped)``: an exact count up to ``cap``, never reading more than cap + 1 rows."""
    n = queryset.order_by().values("pk")[: cap + 1].count()
    return (cap, True) if n > cap else (n, False)


def gallery_page(
    land_id: int,
    filters: GalleryFilters,
    *,
    after: int | None = None,
    before: int | None = None,
    per_page: int | None = None,
) -> GalleryPage:
    """One page of the gallery in the filters' sort order, then id.

    Two queries whatever the land's size, three when a sorted page starts after or
    before a media (its sort value is read first).
    """
    per_page = per_page or PAGE_SIZE
    base = gallery_queryset(land_id, filters)
    ordering = sort_expression(filters.sort)
    if ordering is None:
        keyed = base
        forward: list[Any] = ["pk"]
        backward: list[Any] = ["-pk"]

        def past(pk: int, going_back: bool) -> Q:
            return Q(pk__lt=pk) if going_back else Q(pk__gt=pk)

    else:
        value, descending = ordering
        keyed = base.annotate(sort_value=value)
        first = F("sort_value").desc() if descending else F("sort_value").asc()
        last = F("sort_value").asc() if descending else F("sort_value").desc()
        forward, backward = [first, "pk"], [last, "-pk"]

        def past(pk: int, going_back: bool) -> Q:
            anchor = Media.objects.filter(pk=pk).annotate(sort_value=value).values_list("sort_value", flat=True).first()
            if anchor is None:
                return Q(pk__in=[])
            later = (descending and not going_back) or (going_back and not descending)
            beyond = Q(sort_value__lt=anchor) if later else Q(sort_value__gt=anchor)
            return beyond | Q(sort_value=anchor, **{"pk__lt" if going_back else "pk__gt": pk})

    if before is not None:
        rows = list(keyed.filter(past(before, True)).order_by(*backward)[: per_page + 1])
        has_previous = len(rows) > per_page
        items = list(reversed(rows[:per_page]))
        has_next = True
    else:
        queryset = keyed.filter(past(after, False)) if after is not None else keyed
        rows = list(queryset.order_by(*forward)[: per_page + 1])
        has_next = len(rows) > per_page
        items = rows[:per_page]
        has_previous = after is not None
    matched, capped = capped_count(base, COUNT_CAP)
    return GalleryPage(items, has_next, has_previous, matched, capped, filters)


def swatches(value: Any, limit: int = 6) -> list[tuple[str, float | None]]:
    """(hex, percent) of a stored ``dominant_colors`` list, only well-formed colours.

    The hex ends up in a ``style`` attribute, where escaping alone would not
    stop CSS injection from a hostile imported value, hence the strict check.
    """
    if not isinstance(value, list):
        return []
    found: list[tuple[str, float | None]] = []
    for entry in value:
        if not isinstance(entry, dict):
            continue
        hex_value = entry.get("hex")
        rgb = entry.get("rgb")
        if not (isinstance(hex_value, str) and _HEX_RE.fullmatch(hex_value)):
            if isinstance(rgb, list) and len(rgb) >= 3 and all(isinstance(c, int) and 0 <= c <= 255 for c in rgb[:3]):
                hex_value = "#{:02x}{:02x}{:02x}".format(*rgb[:3])
            else:
                continue
        percent = entry.get("percentage")
        if isinstance(percent, bool) or not isinstance(percent, int | float):
            percent = None
        found.append((hex_value.lower(), None if percent is None else float(percent)))
        if len(found) >= limit:
            break
    return found
